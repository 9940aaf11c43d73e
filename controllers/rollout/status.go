package rollout

import (
	"fmt"
	"strings"
	"time"

	"github.com/rampdev/ramp/analysis"
	rolloutsv1alpha1 "github.com/rampdev/ramp/apis/rollouts/v1alpha1"
	"github.com/rampdev/ramp/controllers/rollout/resources"
)

// SetConditions sets Progressing, Analysis and Ready from the planned
// status and what was observed; while progressing, the message says what
// the rollout waits for. It is pure.
func SetConditions(spec *rolloutsv1alpha1.RolloutSpec, st *rolloutsv1alpha1.RolloutStatus, obs Observed, now time.Time) {
	setProgressing(spec, st, obs, now)
	setAnalysis(spec, st)
	setAction(st)
	st.Summarize()
}

func setProgressing(spec *rolloutsv1alpha1.RolloutSpec, st *rolloutsv1alpha1.RolloutStatus, obs Observed, now time.Time) {
	const c = rolloutsv1alpha1.ConditionProgressing
	switch st.Phase {
	case rolloutsv1alpha1.PhaseHealthy:
		st.MarkFalse(c, rolloutsv1alpha1.ReasonCompleted, st.Message)
		return
	case rolloutsv1alpha1.PhaseRolledBack:
		st.MarkFalse(c, rolloutsv1alpha1.ReasonRolledBack, st.Message)
		return
	case rolloutsv1alpha1.PhaseRollingBack, rolloutsv1alpha1.PhaseAborting:
		reason := rolloutsv1alpha1.ReasonRollingBack
		if st.Phase == rolloutsv1alpha1.PhaseAborting {
			reason = rolloutsv1alpha1.ReasonAborting
		}
		msg := fmt.Sprintf("%s; waiting for the gateway to send all the traffic to %s", st.Message, st.StableRevision)
		if m := obs.Route.Message; m != "" && !obs.Route.Ready {
			msg += ": " + m
		}
		st.MarkTrue(c, reason, msg)
		return
	case rolloutsv1alpha1.PhaseAborted:
		st.MarkFalse(c, rolloutsv1alpha1.ReasonAborted, st.Message)
		return
	case rolloutsv1alpha1.PhasePaused:
		st.MarkFalse(c, rolloutsv1alpha1.ReasonPaused, st.Message)
		return
	}
	p := &planner{spec: spec, st: st, obs: obs, now: now}
	reason, msg := progress(p)
	st.Message = msg
	if reason == rolloutsv1alpha1.ReasonProgressDeadline {
		st.MarkFalse(c, reason, msg)
		return
	}
	st.MarkTrue(c, reason, msg)
}

// progress says what a progressing rollout waits for.
func progress(p *planner) (reason, msg string) {
	st, spec := p.st, p.spec
	if st.CurrentStepIndex == nil {
		rev := p.obs.Revision
		what := "Waiting for the Configuration to create the revision of template " + st.TemplateHash
		if rev.Name != "" {
			what = fmt.Sprintf("Waiting for revision %s to become ready", rev.Name)
		}
		if rev.Message != "" {
			what += ": " + rev.Message
		}
		if p.deadlinePassed() {
			// Only the first rollout gets here: with a stable revision the
			// planner has rolled back.
			return rolloutsv1alpha1.ReasonProgressDeadline, fmt.Sprintf("%s (progress deadline %s exceeded; there is no stable revision to roll back to)", what, spec.Deadline())
		}
		if st.PauseUntil != nil && rev.Ready {
			return rolloutsv1alpha1.ReasonWaitingForWindow, fmt.Sprintf("Revision %s is ready: holding its first step until the next promotion window opens at %s",
				rev.Name, st.PauseUntil.UTC().Format(time.RFC3339))
		}
		return rolloutsv1alpha1.ReasonWaitingForRevision, what
	}
	i := *st.CurrentStepIndex
	name := p.stepName(i)
	switch {
	case i >= spec.NumSteps():
		return rolloutsv1alpha1.ReasonPromoting, fmt.Sprintf("Promoting %s to 100%%: waiting for the gateway", st.CanaryRevision)
	case st.StepReadyAt == nil:
		msg := fmt.Sprintf("Started %s of %s: waiting for the gateway to apply %d%%", name, st.CanaryRevision, st.CanaryWeight)
		if !spec.IsCanary() {
			msg = fmt.Sprintf("Previewing %s at tag %s: waiting for the gateway", st.CanaryRevision, spec.PreviewTag())
		}
		if m := p.obs.Route.Message; m != "" && !p.obs.Route.Ready {
			msg += ": " + m
		}
		return rolloutsv1alpha1.ReasonWaitingForTraffic, msg
	case st.PauseUntil != nil && holdingForWindow(spec, st, p.now):
		return rolloutsv1alpha1.ReasonWaitingForWindow, fmt.Sprintf("At %s of %s: holding the next step until the next promotion window opens at %s",
			name, st.CanaryRevision, st.PauseUntil.UTC().Format(time.RFC3339))
	case st.PauseUntil != nil:
		return rolloutsv1alpha1.ReasonStepPaused, fmt.Sprintf("At %s of %s: paused until %s", name, st.CanaryRevision, st.PauseUntil.UTC().Format(time.RFC3339))
	case !spec.IsCanary():
		msg := fmt.Sprintf("Previewing %s at tag %s: approve or promote to send it all the traffic", st.CanaryRevision, spec.PreviewTag())
		if at, ok := autoPromoteAt(spec, st); ok {
			msg = fmt.Sprintf("Previewing %s at tag %s: promoting automatically from %s if the analysis passes", st.CanaryRevision, spec.PreviewTag(), at.UTC().Format(time.RFC3339))
		}
		return rolloutsv1alpha1.ReasonWaitingForPromotion, msg
	case p.step(i).Approval != nil:
		return rolloutsv1alpha1.ReasonWaitingForApproval, fmt.Sprintf("At %s of %s: waiting for an approve action (annotation %s: approve)", name, st.CanaryRevision, rolloutsv1alpha1.AnnotationAction)
	}
	if !spec.HasAnalysis() {
		return rolloutsv1alpha1.ReasonMeasuring, fmt.Sprintf("At %s of %s", name, st.CanaryRevision)
	}
	msg = fmt.Sprintf("At %s of %s: gathering evidence of non-regression", name, st.CanaryRevision)
	if pol, err := resources.StepPolicy(spec.Analysis); err == nil && st.StepReadyAt != nil {
		msg += fmt.Sprintf(" (%s of at least %s, at most %s, then %s)", p.now.Sub(st.StepReadyAt.Time).Round(time.Second),
			pol.MinStepTime, pol.MaxStepTime, pol.OnTimeout)
	}
	if n := len(st.Measurements); n > 0 && st.Measurements[n-1].Step != nil && *st.Measurements[n-1].Step == i {
		msg += ": " + st.Measurements[n-1].Message
	}
	return rolloutsv1alpha1.ReasonMeasuring, msg
}

func setAnalysis(spec *rolloutsv1alpha1.RolloutSpec, st *rolloutsv1alpha1.RolloutStatus) {
	const c = rolloutsv1alpha1.ConditionAnalysis
	if !spec.HasAnalysis() {
		st.MarkTrue(c, rolloutsv1alpha1.ReasonAnalysisNotConfigured, "Analysis disabled: steps pass once the gateway applies their traffic")
		return
	}
	if len(st.Measurements) == 0 {
		st.MarkUnknown(c, rolloutsv1alpha1.ReasonNoMeasurement, "No measurement yet")
		return
	}
	last := st.Measurements[len(st.Measurements)-1]
	switch analysis.Phase(last.Phase) {
	case analysis.Pass:
		st.MarkTrue(c, rolloutsv1alpha1.ReasonPassed, last.Message)
	case analysis.Fail:
		st.MarkFalse(c, rolloutsv1alpha1.ReasonFailed, last.Message)
	default:
		st.MarkUnknown(c, rolloutsv1alpha1.ReasonInconclusive, fmt.Sprintf("%s: %s", last.Phase, last.Message))
	}
}

func setAction(st *rolloutsv1alpha1.RolloutStatus) {
	a := st.LastAction
	if a == nil {
		return
	}
	const c = rolloutsv1alpha1.ConditionAction
	msg := fmt.Sprintf("%s (id %q): %s", a.Action, a.ID, a.Result)
	switch {
	case strings.HasPrefix(a.Result, "rejected:"):
		st.MarkFalse(c, rolloutsv1alpha1.ReasonActionRejected, msg)
	case strings.HasPrefix(a.Result, "ignored:"):
		st.MarkFalse(c, rolloutsv1alpha1.ReasonActionIgnored, msg)
	default:
		st.MarkTrue(c, rolloutsv1alpha1.ReasonActionApplied, msg)
	}
}

// holdingForWindow reports whether the rollout's PauseUntil is the next
// opening of its promotion windows (rather than a step's pause).
func holdingForWindow(spec *rolloutsv1alpha1.RolloutSpec, st *rolloutsv1alpha1.RolloutStatus, now time.Time) bool {
	w := promotionWindows(spec.PromotionWindows, now)
	return !w.Open && w.Err == nil && st.PauseUntil != nil && st.PauseUntil.Time.Equal(w.Next)
}
