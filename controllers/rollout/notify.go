package rollout

import (
	"context"
	"strings"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"

	rolloutsv1alpha1 "github.com/rampdev/ramp/apis/rollouts/v1alpha1"
	"github.com/rampdev/ramp/controllers/notify"
)

// AnnotationSlackChannel on a Rollout sends its notifications to that
// channel instead of the default one.
const AnnotationSlackChannel = "rollouts.ramp.dev/slack-channel"

// notifyEvent returns the notification for the change from orig to ro, if
// it is worth one: a phase change, or arriving at an approval gate.
func notifyEvent(orig, ro *rolloutsv1alpha1.Rollout, now time.Time) (notify.Event, bool) {
	st, was := &ro.Status, &orig.Status
	if st.Phase.Transitional() {
		// Notified once the traffic has moved and the phase is final.
		return notify.Event{}, false
	}
	atGate := isApprovalStep(&ro.Spec, st.CurrentStepIndex) && st.Phase == rolloutsv1alpha1.PhaseProgressing
	newGate := atGate && (stepLabel(was.CurrentStepIndex) != stepLabel(st.CurrentStepIndex) || was.Phase != st.Phase)
	if st.Phase == was.Phase && !newGate {
		return notify.Event{}, false
	}
	step := -1
	if st.CurrentStepIndex != nil {
		step = int(*st.CurrentStepIndex)
	}
	at := now
	if st.StepStartedAt != nil {
		at = st.StepStartedAt.Time
	}
	previous := was.Phase
	if previous.Transitional() {
		// Never announced: the change users saw is into the final phase.
		previous = ""
	}
	e := notify.Event{
		Namespace: ro.Namespace, Rollout: ro.Name, Phase: string(st.Phase), PreviousPhase: string(previous),
		Step: step, Steps: int(ro.Spec.NumSteps()), CanaryWeight: int(st.CanaryWeight),
		StableRevision: st.StableRevision, CanaryRevision: st.CanaryRevision, Generation: ro.Generation, Message: st.Message,
		Time: at, Channel: ro.Annotations[AnnotationSlackChannel],
	}
	if n := len(st.Measurements); n > 0 && st.Phase != rolloutsv1alpha1.PhaseAborted {
		last := st.Measurements[n-1]
		for _, m := range last.Metrics {
			line := m.Message
			if m.DryRun {
				line = "(dry run, does not decide) " + line
			}
			e.Evidence = append(e.Evidence, line)
		}
		if len(last.Templates) > 0 {
			e.Evidence = append(e.Evidence, "judged with "+strings.Join(last.Templates, ", "))
		}
	}
	switch {
	case atGate:
		e.Reason = "Waiting for approval"
		e.Actions = []string{notify.VerbApprove, notify.VerbAbort}
	case st.Phase == rolloutsv1alpha1.PhaseProgressing:
		e.Actions = []string{notify.VerbPromote, notify.VerbAbort}
	case st.Phase == rolloutsv1alpha1.PhasePaused:
		e.Actions = []string{notify.VerbApprove, notify.VerbRetry, notify.VerbAbort}
	case st.Phase == rolloutsv1alpha1.PhaseRolledBack || st.Phase == rolloutsv1alpha1.PhaseAborted:
		e.Actions = []string{notify.VerbRetry}
	}
	return e, true
}

func isApprovalStep(spec *rolloutsv1alpha1.RolloutSpec, i *int32) bool {
	c := spec.Strategy.Canary
	return c != nil && i != nil && *i >= 0 && int(*i) < len(c.Steps) && c.Steps[*i].Approval != nil
}

// notify posts the notification of a saved state change. It is
// best-effort: the notifier counts failures, and they are logged here.
func (r *Reconciler) notify(ctx context.Context, orig, ro *rolloutsv1alpha1.Rollout) {
	now := r.Clock.Now()
	if r.Lifecycle != nil {
		for _, l := range lifecycleEvents(orig, ro, now) {
			r.Lifecycle.Enqueue(l)
		}
	}
	if r.Notifier == nil {
		return
	}
	e, ok := notifyEvent(orig, ro, now)
	if !ok {
		return
	}
	if err := r.Notifier.Post(ctx, e); err != nil {
		ctrl.LoggerFrom(ctx).Info("Notification failed", "phase", e.Phase, "error", err.Error())
	}
}
