package v1alpha1

import (
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Annotations a user (or the CLI) sets on a Rollout to act on it. The
// controller applies an action once per id and never removes them, so a
// GitOps tool sees no drift and a re-applied manifest cannot replay one.
const (
	// AnnotationAction is promote, abort, retry or approve.
	AnnotationAction = "rollouts.ramp.dev/action"
	// AnnotationActionID makes the action unique: it is applied only if it
	// differs from status.lastAction.id.
	AnnotationActionID = "rollouts.ramp.dev/action-id"
	// AnnotationActionBy optionally names who asked.
	AnnotationActionBy = "rollouts.ramp.dev/action-by"

	// AnnotationTemplateHash is set on the serving Service's template (and
	// so on each Revision) to tell which Rollout template made a Revision.
	AnnotationTemplateHash = "rollouts.ramp.dev/template-hash"
	// LabelRollout is set on the serving Service a Rollout owns.
	LabelRollout = "rollouts.ramp.dev/rollout"
)

// Actions.
const (
	// ActionPromote skips the remaining steps: the canary gets 100% now.
	ActionPromote = "promote"
	// ActionAbort sends all the traffic back to the stable revision.
	ActionAbort = "abort"
	// ActionRetry starts the canary over from step 0 (from Aborted,
	// RolledBack or Paused).
	ActionRetry = "retry"
	// ActionApprove passes an approval step, promotes a blue/green preview,
	// or resumes a Rollout paused by inconclusive analysis.
	ActionApprove = "approve"
)

// Route tags the Rollout gives the revisions in the Service's traffic.
const (
	TagStable = "stable"
	TagCanary = "canary"
	// DefaultPreviewTag is the blue/green preview tag when none is set.
	DefaultPreviewTag = "preview"
)

// Condition types.
const (
	// ConditionReady summarises: True when Healthy, False when rolled back
	// or aborted, Unknown while progressing or paused.
	ConditionReady = "Ready"
	// ConditionProgressing is True while a canary is being rolled out (the
	// reason says what it waits for), False otherwise.
	ConditionProgressing = "Progressing"
	// ConditionAnalysis reflects the last measurement: True if it passed,
	// False if it failed, Unknown otherwise.
	ConditionAnalysis = "Analysis"
	// ConditionAction reflects the last action: True if it was applied,
	// False if it was ignored (nothing to act on) or rejected (an unknown
	// action, or no id). It is not part of Ready.
	ConditionAction = "Action"
)

// Condition reasons.
const (
	ReasonHealthy            = "Healthy"
	ReasonWaitingForRevision = "WaitingForRevision"
	ReasonWaitingForTraffic  = "WaitingForTraffic"
	ReasonMeasuring          = "Measuring"
	ReasonStepPaused         = "StepPaused"
	// ReasonWaitingForWindow: the next step waits for a promotion window.
	ReasonWaitingForWindow    = "WaitingForPromotionWindow"
	ReasonWaitingForApproval  = "WaitingForApproval"
	ReasonWaitingForPromotion = "WaitingForPromotion"
	ReasonPromoting           = "Promoting"
	ReasonCompleted           = "Completed"
	ReasonPaused              = "Paused"
	ReasonRolledBack          = "RolledBack"
	ReasonRollingBack         = "RollingBack"
	ReasonAborting            = "Aborting"
	ReasonAborted             = "Aborted"
	ReasonProgressDeadline    = "ProgressDeadlineExceeded"
	ReasonNotOwned            = "NotOwned"
	// ReasonInvalidSpec: the spec got past admission (stored before the
	// webhook existed, or while it was down) but is invalid; the
	// controller does not act on it until it is fixed.
	ReasonInvalidSpec           = "InvalidSpec"
	ReasonPassed                = "Passed"
	ReasonFailed                = "Failed"
	ReasonInconclusive          = "Inconclusive"
	ReasonNoMeasurement         = "NoMeasurement"
	ReasonAnalysisNotConfigured = "NotConfigured"
	ReasonActionApplied         = "Applied"
	ReasonActionIgnored         = "Ignored"
	ReasonActionRejected        = "Rejected"
)

// GetCondition returns the condition of type t, or nil.
func (s *RolloutStatus) GetCondition(t string) *metav1.Condition {
	return meta.FindStatusCondition(s.Conditions, t)
}

// MarkTrue sets condition t to True.
func (s *RolloutStatus) MarkTrue(t, reason, msg string) { s.set(t, metav1.ConditionTrue, reason, msg) }

// MarkFalse sets condition t to False.
func (s *RolloutStatus) MarkFalse(t, reason, msg string) {
	s.set(t, metav1.ConditionFalse, reason, msg)
}

// MarkUnknown sets condition t to Unknown.
func (s *RolloutStatus) MarkUnknown(t, reason, msg string) {
	s.set(t, metav1.ConditionUnknown, reason, msg)
}

func (s *RolloutStatus) set(t string, st metav1.ConditionStatus, reason, msg string) {
	meta.SetStatusCondition(&s.Conditions, metav1.Condition{
		Type: t, Status: st, Reason: reason, Message: msg, ObservedGeneration: s.ObservedGeneration,
	})
}

// Transitional reports whether p is on its way to another phase once the
// traffic has moved: RollingBack (to RolledBack) or Aborting (to Aborted).
func (p Phase) Transitional() bool { return p == PhaseRollingBack || p == PhaseAborting }

// Settled is the phase a transitional phase becomes once the traffic has
// moved; other phases are their own.
func (p Phase) Settled() Phase {
	switch p {
	case PhaseRollingBack:
		return PhaseRolledBack
	case PhaseAborting:
		return PhaseAborted
	}
	return p
}

// IsReady reports whether Ready is True for the given generation.
func (s *RolloutStatus) IsReady(generation int64) bool {
	c := s.GetCondition(ConditionReady)
	return c != nil && c.Status == metav1.ConditionTrue && s.ObservedGeneration == generation
}

// Summarize sets Ready from the phase and the other conditions.
func (s *RolloutStatus) Summarize() {
	switch s.Phase {
	case PhaseHealthy:
		s.MarkTrue(ConditionReady, ReasonHealthy, s.Message)
	case PhaseRolledBack:
		s.MarkFalse(ConditionReady, ReasonRolledBack, s.Message)
	case PhaseRollingBack:
		s.MarkFalse(ConditionReady, ReasonRollingBack, s.Message)
	case PhaseAborting:
		s.MarkFalse(ConditionReady, ReasonAborting, s.Message)
	case PhaseAborted:
		s.MarkFalse(ConditionReady, ReasonAborted, s.Message)
	default:
		reason, msg := ReasonWaitingForRevision, s.Message
		if c := s.GetCondition(ConditionProgressing); c != nil {
			reason = c.Reason
			if c.Reason == ReasonProgressDeadline {
				s.MarkFalse(ConditionReady, reason, c.Message)
				return
			}
		}
		if s.Phase == PhasePaused {
			reason = ReasonPaused
		}
		s.MarkUnknown(ConditionReady, reason, msg)
	}
}

// IsCanary reports whether the strategy is canary steps.
func (s *RolloutSpec) IsCanary() bool { return s.Strategy.Canary != nil }

// HasAnalysis reports whether steps are judged by analysis: an analysis
// block that is not disabled. (The controller gives a Rollout without an
// analysis block the default one before it plans.)
func (s *RolloutSpec) HasAnalysis() bool { return s.Analysis != nil && !s.Analysis.Disabled }

// AnalysisDecides reports whether analysis decides steps: it is on and not
// a dry run (a dry run measures, but steps pass as with analysis off).
func (s *RolloutSpec) AnalysisDecides() bool { return s.HasAnalysis() && !s.Analysis.DryRun }

// NumSteps is the number of steps of the strategy: the canary's steps, or
// one (the preview) for blue/green.
func (s *RolloutSpec) NumSteps() int32 {
	if s.Strategy.Canary != nil {
		return int32(len(s.Strategy.Canary.Steps))
	}
	return 1
}

// PreviewTag is the blue/green preview tag, defaulted.
func (s *RolloutSpec) PreviewTag() string {
	if bg := s.Strategy.BlueGreen; bg != nil && bg.PreviewTag != "" {
		return bg.PreviewTag
	}
	return DefaultPreviewTag
}

// DefaultProgressDeadline applies when spec.progressDeadline is unset.
const DefaultProgressDeadline = 10 * time.Minute

// Deadline is spec.progressDeadline, defaulted.
func (s *RolloutSpec) Deadline() time.Duration {
	if s.ProgressDeadline == nil || s.ProgressDeadline.Duration <= 0 {
		return DefaultProgressDeadline
	}
	return s.ProgressDeadline.Duration
}
