package rollout

import (
	"fmt"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	rolloutsv1alpha1 "github.com/rampdev/ramp/apis/rollouts/v1alpha1"
	"github.com/rampdev/ramp/controllers/internal/promreg"
)

// phases are every Rollout phase, for the phase gauge.
var phases = []rolloutsv1alpha1.Phase{
	rolloutsv1alpha1.PhaseProgressing, rolloutsv1alpha1.PhasePaused, rolloutsv1alpha1.PhaseHealthy,
	rolloutsv1alpha1.PhaseRollingBack, rolloutsv1alpha1.PhaseRolledBack,
	rolloutsv1alpha1.PhaseAborting, rolloutsv1alpha1.PhaseAborted,
}

// Recorder holds the rollout controller's metrics. A nil Recorder records
// nothing.
type Recorder struct {
	phase        *prometheus.GaugeVec
	step         *prometheus.GaugeVec
	weight       *prometheus.GaugeVec
	measurements *prometheus.CounterVec
	transitions  *prometheus.CounterVec
}

// NewRecorder registers the metrics on reg. Registering twice on the same
// registry (a second manager in one process) reuses the first metrics.
func NewRecorder(reg prometheus.Registerer) (*Recorder, error) {
	r := &Recorder{
		phase: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "ramp_rollout_phase",
			Help: "1 for the current phase of each Rollout, 0 for the others.",
		}, []string{"namespace", "rollout", "phase"}),
		step: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "ramp_rollout_step",
			Help: "Current step index of each Rollout (-1 when no step runs).",
		}, []string{"namespace", "rollout"}),
		weight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "ramp_rollout_canary_weight",
			Help: "Percentage of the traffic each Rollout's canary gets.",
		}, []string{"namespace", "rollout"}),
		measurements: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ramp_rollout_analysis_measurements_total",
			Help: "Analysis measurements recorded, by phase (Pass, Fail, Inconclusive, Error).",
		}, []string{"namespace", "phase"}),
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ramp_rollout_transitions_total",
			Help: "Rollout phase transitions, by the phase left and the phase entered.",
		}, []string{"namespace", "from", "to"}),
	}
	var err error
	if r.phase, err = register(reg, r.phase); err != nil {
		return nil, err
	}
	if r.step, err = register(reg, r.step); err != nil {
		return nil, err
	}
	if r.weight, err = register(reg, r.weight); err != nil {
		return nil, err
	}
	if r.measurements, err = register(reg, r.measurements); err != nil {
		return nil, err
	}
	if r.transitions, err = register(reg, r.transitions); err != nil {
		return nil, err
	}
	return r, nil
}

func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	c, err := promreg.Register(reg, c)
	if err != nil {
		return c, fmt.Errorf("registering rollout metrics: %w", err)
	}
	return c, nil
}

// Observe records a Rollout's phase, step and weight.
func (r *Recorder) Observe(ro *rolloutsv1alpha1.Rollout) {
	if r == nil {
		return
	}
	st := &ro.Status
	for _, p := range phases {
		v := 0.0
		if st.Phase == p {
			v = 1
		}
		r.phase.WithLabelValues(ro.Namespace, ro.Name, string(p)).Set(v)
	}
	step := -1.0
	if st.CurrentStepIndex != nil {
		step = float64(*st.CurrentStepIndex)
	}
	r.step.WithLabelValues(ro.Namespace, ro.Name).Set(step)
	r.weight.WithLabelValues(ro.Namespace, ro.Name).Set(float64(st.CanaryWeight))
}

// Measured counts a measurement.
func (r *Recorder) Measured(namespace, phase string) {
	if r == nil || phase == "" {
		return
	}
	r.measurements.WithLabelValues(namespace, phase).Inc()
}

// Transition counts a phase change; a new Rollout comes from "None".
func (r *Recorder) Transition(namespace string, from, to rolloutsv1alpha1.Phase) {
	if r == nil || from == to {
		return
	}
	if from == "" {
		from = "None"
	}
	r.transitions.WithLabelValues(namespace, string(from), string(to)).Inc()
}

// Forget drops the series of a deleted Rollout.
func (r *Recorder) Forget(namespace, name string) {
	if r == nil {
		return
	}
	labels := prometheus.Labels{"namespace": namespace, "rollout": name}
	r.phase.DeletePartialMatch(labels)
	r.step.DeletePartialMatch(labels)
	r.weight.DeletePartialMatch(labels)
}

// stepLabel formats a step index for messages and logs.
func stepLabel(i *int32) string {
	if i == nil {
		return "none"
	}
	return strconv.Itoa(int(*i))
}
