package rollout

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	rolloutsv1alpha1 "github.com/rampdev/ramp/apis/rollouts/v1alpha1"
	"github.com/rampdev/ramp/controllers/notify"
)

func TestLifecycleEvents(t *testing.T) {
	now := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	at := func(s int) metav1.Time { return metav1.NewTime(now.Add(time.Duration(s) * time.Second)) }
	healthy := rolloutsv1alpha1.RolloutStatus{Phase: rolloutsv1alpha1.PhaseHealthy, StableRevision: "web-00001"}
	step := func(i int32, w int32) rolloutsv1alpha1.RolloutStatus {
		return rolloutsv1alpha1.RolloutStatus{Phase: rolloutsv1alpha1.PhaseProgressing, StableRevision: "web-00001", CanaryRevision: "web-00002",
			CurrentStepIndex: ptr.To(i), CanaryWeight: w, StepStartedAt: ptr.To(at(int(i)))}
	}
	look := func(st rolloutsv1alpha1.RolloutStatus, s int, phase string) rolloutsv1alpha1.RolloutStatus {
		st.Measurements = append(append([]rolloutsv1alpha1.Measurement(nil), st.Measurements...), rolloutsv1alpha1.Measurement{
			Time: at(s), Phase: phase, Step: st.CurrentStepIndex,
			Metrics: []rolloutsv1alpha1.MetricResult{{Name: "error-rate", Phase: phase, Message: "canary 1/100 vs stable 4/400"}}})
		return st
	}
	with := func(st rolloutsv1alpha1.RolloutStatus, f func(*rolloutsv1alpha1.RolloutStatus)) rolloutsv1alpha1.RolloutStatus {
		f(&st)
		return st
	}
	cases := map[string]struct {
		from, to rolloutsv1alpha1.RolloutStatus
		want     string
	}{
		"a new template starts a rollout": {healthy, with(step(0, 0), func(s *rolloutsv1alpha1.RolloutStatus) { s.CurrentStepIndex = nil }), notify.TypeStarted},
		"the first step":                  {with(step(0, 0), func(s *rolloutsv1alpha1.RolloutStatus) { s.CurrentStepIndex = nil }), step(0, 20), notify.TypeStepAdvanced},
		"a look, then the next step":      {step(0, 20), look(step(1, 50), 5, "Pass"), notify.TypeAnalysisLook + " " + notify.TypeStepAdvanced},
		"an old look is not sent again":   {look(step(0, 20), 5, "Pass"), look(look(step(0, 20), 5, "Pass"), 10, "Inconclusive"), notify.TypeAnalysisLook},
		"nothing changed":                 {step(0, 20), step(0, 20), ""},
		"paused":                          {step(0, 20), with(step(0, 20), func(s *rolloutsv1alpha1.RolloutStatus) { s.Phase = rolloutsv1alpha1.PhasePaused }), notify.TypePaused},
		"rolled back (after RollingBack)": {with(step(0, 0), func(s *rolloutsv1alpha1.RolloutStatus) { s.Phase = rolloutsv1alpha1.PhaseRollingBack }), with(step(0, 0), func(s *rolloutsv1alpha1.RolloutStatus) { s.Phase = rolloutsv1alpha1.PhaseRolledBack }), notify.TypeRolledBack},
		"aborted":                         {with(step(0, 0), func(s *rolloutsv1alpha1.RolloutStatus) { s.Phase = rolloutsv1alpha1.PhaseAborting }), with(step(0, 0), func(s *rolloutsv1alpha1.RolloutStatus) { s.Phase = rolloutsv1alpha1.PhaseAborted }), notify.TypeAborted},
		"promoted":                        {step(2, 100), rolloutsv1alpha1.RolloutStatus{Phase: rolloutsv1alpha1.PhaseHealthy, StableRevision: "web-00002"}, notify.TypePromoted},
		"approved, then the next step": {step(1, 50), with(step(2, 50), func(s *rolloutsv1alpha1.RolloutStatus) {
			s.LastAction = &rolloutsv1alpha1.ActionRecord{ID: "a1", Action: "approve", By: "alice", Time: at(7), Result: "approved step 2"}
		}), notify.TypeApproved + " " + notify.TypeStepAdvanced},
		"an ignored approve is no approval": {step(1, 50), with(step(1, 50), func(s *rolloutsv1alpha1.RolloutStatus) {
			s.LastAction = &rolloutsv1alpha1.ActionRecord{ID: "a1", Action: "approve", Result: "ignored: nothing to approve"}
		}), ""},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			orig := &rolloutsv1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web", Generation: 2}, Status: tc.from}
			orig.Spec.Strategy.Canary = &rolloutsv1alpha1.CanaryStrategy{Steps: []rolloutsv1alpha1.CanaryStep{{Weight: ptr.To[int32](20)}, {Weight: ptr.To[int32](50)}}}
			ro := orig.DeepCopy()
			ro.Status = tc.to
			var types []string
			for _, l := range lifecycleEvents(orig, ro, now) {
				types = append(types, l.Type)
				if l.Namespace != "shop" || l.Rollout != "web" || l.Generation != 2 || l.Steps != 2 {
					t.Errorf("event %+v", l)
				}
				if l.Type == notify.TypeAnalysisLook && (l.Look == nil || l.Look.Metrics[0].Evidence == "") {
					t.Errorf("a look without its evidence: %+v", l)
				}
				if l.Type == notify.TypeApproved && (l.Action == nil || l.Action.By != "alice") {
					t.Errorf("an approval without its action: %+v", l)
				}
			}
			if got := strings.Join(types, " "); got != tc.want {
				t.Errorf("events %q, want %q", got, tc.want)
			}
		})
	}
}
