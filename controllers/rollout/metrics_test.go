package rollout

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	rolloutsv1alpha1 "github.com/rampdev/ramp/apis/rollouts/v1alpha1"
)

func TestRecorder(t *testing.T) {
	reg := prometheus.NewRegistry()
	r, err := NewRecorder(reg)
	if err != nil {
		t.Fatal(err)
	}
	ro := &rolloutsv1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web"}}
	ro.Status = rolloutsv1alpha1.RolloutStatus{Phase: rolloutsv1alpha1.PhaseProgressing, CurrentStepIndex: ptr.To[int32](2), CanaryWeight: 20}
	r.Observe(ro)
	r.Measured("ns", "Pass")
	r.Measured("ns", "Fail")
	r.Measured("ns", "")
	r.Transition("ns", "", rolloutsv1alpha1.PhaseProgressing)
	// A rollback is two transitions: the intent, then the traffic moved.
	r.Transition("ns", rolloutsv1alpha1.PhaseProgressing, rolloutsv1alpha1.PhaseRollingBack)
	r.Transition("ns", rolloutsv1alpha1.PhaseRollingBack, rolloutsv1alpha1.PhaseRolledBack)
	r.Transition("ns", rolloutsv1alpha1.PhaseHealthy, rolloutsv1alpha1.PhaseHealthy)

	want := `
# HELP ramp_rollout_analysis_measurements_total Analysis measurements recorded, by phase (Pass, Fail, Inconclusive, Error).
# TYPE ramp_rollout_analysis_measurements_total counter
ramp_rollout_analysis_measurements_total{namespace="ns",phase="Fail"} 1
ramp_rollout_analysis_measurements_total{namespace="ns",phase="Pass"} 1
# HELP ramp_rollout_canary_weight Percentage of the traffic each Rollout's canary gets.
# TYPE ramp_rollout_canary_weight gauge
ramp_rollout_canary_weight{namespace="ns",rollout="web"} 20
# HELP ramp_rollout_phase 1 for the current phase of each Rollout, 0 for the others.
# TYPE ramp_rollout_phase gauge
ramp_rollout_phase{namespace="ns",phase="Aborted",rollout="web"} 0
ramp_rollout_phase{namespace="ns",phase="Aborting",rollout="web"} 0
ramp_rollout_phase{namespace="ns",phase="Healthy",rollout="web"} 0
ramp_rollout_phase{namespace="ns",phase="Paused",rollout="web"} 0
ramp_rollout_phase{namespace="ns",phase="Progressing",rollout="web"} 1
ramp_rollout_phase{namespace="ns",phase="RolledBack",rollout="web"} 0
ramp_rollout_phase{namespace="ns",phase="RollingBack",rollout="web"} 0
# HELP ramp_rollout_step Current step index of each Rollout (-1 when no step runs).
# TYPE ramp_rollout_step gauge
ramp_rollout_step{namespace="ns",rollout="web"} 2
# HELP ramp_rollout_transitions_total Rollout phase transitions, by the phase left and the phase entered.
# TYPE ramp_rollout_transitions_total counter
ramp_rollout_transitions_total{from="None",namespace="ns",to="Progressing"} 1
ramp_rollout_transitions_total{from="Progressing",namespace="ns",to="RollingBack"} 1
ramp_rollout_transitions_total{from="RollingBack",namespace="ns",to="RolledBack"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Error(err)
	}

	// A second recorder on the same registry shares the metrics.
	again, err := NewRecorder(reg)
	if err != nil {
		t.Fatalf("registering again: %v", err)
	}
	again.Measured("ns", "Pass")
	if got := testutil.ToFloat64(r.measurements.WithLabelValues("ns", "Pass")); got != 2 {
		t.Errorf("Pass measurements after the second recorder counted one = %v, want 2", got)
	}

	// While the traffic moves back, the gauge shows RollingBack alone.
	ro.Status = rolloutsv1alpha1.RolloutStatus{Phase: rolloutsv1alpha1.PhaseRollingBack}
	r.Observe(ro)
	for _, p := range phases {
		want := 0.0
		if p == rolloutsv1alpha1.PhaseRollingBack {
			want = 1
		}
		if got := testutil.ToFloat64(r.phase.WithLabelValues("ns", "web", string(p))); got != want {
			t.Errorf("phase gauge %s = %v while rolling back, want %v", p, got, want)
		}
	}

	r.Forget("ns", "web")
	if n := testutil.CollectAndCount(r.phase) + testutil.CollectAndCount(r.step) + testutil.CollectAndCount(r.weight); n != 0 {
		t.Errorf("%d series left after Forget, want 0", n)
	}

	var none *Recorder
	none.Observe(ro)
	none.Measured("ns", "Pass")
	none.Transition("ns", "", rolloutsv1alpha1.PhaseHealthy)
	none.Forget("ns", "web")
}
