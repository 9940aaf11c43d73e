package rollout

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	rolloutsv1alpha1 "github.com/rampdev/ramp/apis/rollouts/v1alpha1"
)

func TestNotifyEvent(t *testing.T) {
	now := time.Date(2026, 11, 22, 4, 0, 0, 0, time.UTC)
	spec := rolloutsv1alpha1.RolloutSpec{Strategy: rolloutsv1alpha1.Strategy{Canary: &rolloutsv1alpha1.CanaryStrategy{
		Steps: []rolloutsv1alpha1.CanaryStep{{Weight: ptr.To[int32](20)}, {Approval: &rolloutsv1alpha1.Approval{}}, {Weight: ptr.To[int32](100)}},
	}}}
	ro := func(phase rolloutsv1alpha1.Phase, step *int32) *rolloutsv1alpha1.Rollout {
		return &rolloutsv1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web"}, Spec: spec,
			Status: rolloutsv1alpha1.RolloutStatus{Phase: phase, CurrentStepIndex: step}}
	}
	cases := map[string]struct {
		from, to    *rolloutsv1alpha1.Rollout
		wantSent    bool
		wantActions []string
	}{
		"same phase and step: nothing": {from: ro("Progressing", ptr.To[int32](0)), to: ro("Progressing", ptr.To[int32](0))},
		"next weight step: nothing":    {from: ro("Progressing", ptr.To[int32](1)), to: ro("Progressing", ptr.To[int32](2))},
		"reaching the approval gate": {from: ro("Progressing", ptr.To[int32](0)), to: ro("Progressing", ptr.To[int32](1)),
			wantSent: true, wantActions: []string{"approve", "abort"}},
		"rolled back": {from: ro("Progressing", ptr.To[int32](0)), to: ro("RolledBack", nil),
			wantSent: true, wantActions: []string{"retry"}},
		"paused": {from: ro("Progressing", ptr.To[int32](0)), to: ro("Paused", ptr.To[int32](0)),
			wantSent: true, wantActions: []string{"approve", "retry", "abort"}},
		"healthy": {from: ro("Progressing", ptr.To[int32](2)), to: ro("Healthy", nil), wantSent: true},
		"a new canary starts": {from: ro("Healthy", nil), to: ro("Progressing", ptr.To[int32](0)),
			wantSent: true, wantActions: []string{"promote", "abort"}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			e, sent := notifyEvent(tc.from, tc.to, now)
			if sent != tc.wantSent {
				t.Fatalf("sent = %v, want %v", sent, tc.wantSent)
			}
			if !sent {
				return
			}
			if d := cmp.Diff(tc.wantActions, e.Actions); d != "" {
				t.Errorf("actions (-want +got):\n%s", d)
			}
			if e.Phase != string(tc.to.Status.Phase) || e.PreviousPhase != string(tc.from.Status.Phase) || e.Steps != 3 {
				t.Errorf("event %+v", e)
			}
		})
	}
}
