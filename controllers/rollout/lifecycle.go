package rollout

import (
	"strings"
	"time"

	"k8s.io/utils/ptr"

	rolloutsv1alpha1 "github.com/rampdev/ramp/apis/rollouts/v1alpha1"
	"github.com/rampdev/ramp/controllers/notify"
)

// LifecycleSink receives the lifecycle events of saved state changes
// (notify.CloudEvents queues them for its sinks); Enqueue must not block.
type LifecycleSink interface {
	Enqueue(notify.Lifecycle)
}

// lifecycleEvents are the lifecycle events of the change from orig to ro,
// in the order they happened: started, each new analysis look, approved,
// step advanced, then the phase reached (paused, promoted, rolled
// back, aborted).
func lifecycleEvents(orig, ro *rolloutsv1alpha1.Rollout, now time.Time) []notify.Lifecycle {
	st, was := &ro.Status, &orig.Status
	base := notify.Lifecycle{
		Namespace: ro.Namespace, Rollout: ro.Name, Phase: string(st.Phase), Step: int(ptr.Deref(st.CurrentStepIndex, -1)),
		Steps: int(ro.Spec.NumSteps()), CanaryWeight: int(st.CanaryWeight), StableRevision: st.StableRevision,
		CanaryRevision: st.CanaryRevision, Generation: ro.Generation, Message: st.Message, Time: now,
	}
	stepAt := now
	if st.StepStartedAt != nil {
		stepAt = st.StepStartedAt.Time
	}
	var out []notify.Lifecycle
	add := func(typ string, at time.Time, f func(*notify.Lifecycle)) {
		l := base
		l.Type, l.Time = typ, at
		if f != nil {
			f(&l)
		}
		out = append(out, l)
	}
	if st.CanaryRevision != "" && st.CanaryRevision != was.CanaryRevision {
		add(notify.TypeStarted, stepAt, func(l *notify.Lifecycle) { l.Step = -1 })
	}
	var newest time.Time
	if n := len(was.Measurements); n > 0 {
		newest = was.Measurements[n-1].Time.Time
	}
	for _, m := range st.Measurements {
		if !m.Time.After(newest) {
			continue
		}
		look := &notify.LookData{Phase: m.Phase, Metrics: []notify.LookMetric{}}
		for _, r := range m.Metrics {
			look.Metrics = append(look.Metrics, notify.LookMetric{Name: r.Name, Phase: r.Phase, Canary: r.Canary, Stable: r.Stable,
				Evidence: r.Message, DryRun: r.DryRun})
		}
		add(notify.TypeAnalysisLook, m.Time.Time, func(l *notify.Lifecycle) {
			l.Look = look
			if m.Step != nil {
				l.Step = int(*m.Step)
			}
		})
	}
	if a := st.LastAction; a != nil && a.Action == rolloutsv1alpha1.ActionApprove && (was.LastAction == nil || was.LastAction.ID != a.ID) &&
		!strings.HasPrefix(a.Result, "ignored") && !strings.HasPrefix(a.Result, "rejected") {
		add(notify.TypeApproved, a.Time.Time, func(l *notify.Lifecycle) {
			l.Action = &notify.ActionData{ID: a.ID, Action: a.Action, By: a.By, Result: a.Result}
		})
	}
	if st.CurrentStepIndex != nil && st.CanaryRevision != "" && st.Phase == rolloutsv1alpha1.PhaseProgressing &&
		(was.CurrentStepIndex == nil || *was.CurrentStepIndex != *st.CurrentStepIndex || was.CanaryRevision != st.CanaryRevision) {
		add(notify.TypeStepAdvanced, stepAt, nil)
	}
	if st.Phase != was.Phase {
		switch st.Phase {
		case rolloutsv1alpha1.PhasePaused:
			add(notify.TypePaused, now, nil)
		case rolloutsv1alpha1.PhaseHealthy:
			add(notify.TypePromoted, now, nil)
		case rolloutsv1alpha1.PhaseRolledBack:
			add(notify.TypeRolledBack, now, nil)
		case rolloutsv1alpha1.PhaseAborted:
			add(notify.TypeAborted, now, nil)
		}
	}
	return out
}
