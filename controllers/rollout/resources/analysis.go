package resources

import (
	"errors"
	"fmt"
	"time"

	"github.com/rampdev/ramp/analysis"
	rolloutsv1alpha1 "github.com/rampdev/ramp/apis/rollouts/v1alpha1"
)

// Analysis defaults, as in the CRD (a Rollout written before defaulting or
// by a client that skips it still works).
const (
	DefaultInterval          = 10 * time.Second
	DefaultWindow            = time.Minute
	DefaultFailureLimit      = 2
	DefaultInconclusiveLimit = 12
)

// ErrNoAnalysis means the Rollout has no analysis block.
var ErrNoAnalysis = errors.New("rollout has no analysis")

// Interval is the time between measurements, defaulted.
func Interval(a *rolloutsv1alpha1.Analysis) time.Duration {
	if a == nil || a.Interval == nil || a.Interval.Duration <= 0 {
		return DefaultInterval
	}
	return a.Interval.Duration
}

// Window is how far back a measurement looks, defaulted.
func Window(a *rolloutsv1alpha1.Analysis) time.Duration {
	if a == nil || a.Window == nil || a.Window.Duration <= 0 {
		return DefaultWindow
	}
	return a.Window.Duration
}

// FailureLimit is the number of consecutive failures that roll back,
// defaulted.
func FailureLimit(a *rolloutsv1alpha1.Analysis) int32 {
	if a == nil || a.FailureLimit <= 0 {
		return DefaultFailureLimit
	}
	return a.FailureLimit
}

// InconclusiveLimit is the number of consecutive inconclusive (or error)
// measurements that pause, defaulted.
func InconclusiveLimit(a *rolloutsv1alpha1.Analysis) int32 {
	if a == nil || a.InconclusiveLimit <= 0 {
		return DefaultInconclusiveLimit
	}
	return a.InconclusiveLimit
}

// MetricKind is what the analysis package calls a metric's kind: its
// builtin name, or "" for a query.
func MetricKind(m *rolloutsv1alpha1.Metric) string { return string(m.Builtin) }

// MakeAnalysisSpec builds one measurement round of the Rollout's analysis:
// the canary against the stable revision of its status, over the window.
// A blue/green canary is measured on its preview tag's traffic only. A
// threshold the analysis package cannot parse is an error naming the
// metric and the field.
func MakeAnalysisSpec(ro *rolloutsv1alpha1.Rollout) (analysis.Spec, error) {
	a := ro.Spec.Analysis
	if a == nil {
		return analysis.Spec{}, ErrNoAnalysis
	}
	canary := analysis.Target{Namespace: ro.Namespace, Revision: ro.Status.CanaryRevision}
	if !ro.Spec.IsCanary() {
		canary.Tag = ro.Spec.PreviewTag()
	}
	spec := analysis.Spec{
		Canary:      canary,
		Stable:      analysis.Target{Namespace: ro.Namespace, Revision: ro.Status.StableRevision},
		Window:      Window(a),
		MinRequests: a.MinRequests,
		Metrics:     make([]analysis.Metric, 0, len(a.Metrics)),
	}
	for i := range a.Metrics {
		m, err := makeMetric(&a.Metrics[i])
		if err != nil {
			return analysis.Spec{}, fmt.Errorf("metric %q: %w", a.Metrics[i].Name, err)
		}
		spec.Metrics = append(spec.Metrics, m)
	}
	return spec, nil
}

func makeMetric(m *rolloutsv1alpha1.Metric) (analysis.Metric, error) {
	out := analysis.Metric{Name: m.Name, Builtin: string(m.Builtin)}
	if m.Prometheus != nil {
		out.Query, out.Provider = m.Prometheus.Query, analysis.PrometheusProvider
	}
	kind := MetricKind(m)
	for _, th := range []struct {
		field string
		in    *rolloutsv1alpha1.Threshold
		out   **float64
	}{{"max", m.Max, &out.Max}, {"min", m.Min, &out.Min}, {"maxIncrease", m.MaxIncrease, &out.MaxIncrease}} {
		if th.in == nil {
			continue
		}
		v, err := analysis.ParseThreshold(kind, string(*th.in))
		if err != nil {
			return analysis.Metric{}, fmt.Errorf("%s: %w", th.field, err)
		}
		*th.out = &v
	}
	if m.MaxRatio != nil {
		v, err := analysis.ParseRatio(string(*m.MaxRatio))
		if err != nil {
			return analysis.Metric{}, fmt.Errorf("maxRatio: %w", err)
		}
		out.MaxRatio = &v
	}
	return out, nil
}
