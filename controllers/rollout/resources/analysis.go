package resources

import (
	"errors"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/rampdev/ramp/analysis"
	rolloutsv1alpha1 "github.com/rampdev/ramp/apis/rollouts/v1alpha1"
)

// Analysis defaults when the controller is given none (its flags' defaults).
const (
	DefaultInterval          = 10 * time.Second
	DefaultWindow            = time.Minute
	DefaultFailureLimit      = 2
	DefaultInconclusiveLimit = 12
	DefaultMinRequests       = 50
)

// Defaults are the analysis settings of Rollouts that leave them out (the
// controller's --analysis-* flags). Zero fields take the package defaults.
type Defaults struct {
	Interval, Window                time.Duration
	MinRequests                     int64
	FailureLimit, InconclusiveLimit int32
}

// ApplyDefaults fills the settings a leaves out, in place, from d (then
// the package defaults), and raises a window shorter than the interval to
// it when either was defaulted.
func ApplyDefaults(a *rolloutsv1alpha1.Analysis, d Defaults) {
	if a == nil {
		return
	}
	pick := func(v, def time.Duration) time.Duration {
		if v > 0 {
			return v
		}
		return def
	}
	defaulted := a.Interval == nil || a.Window == nil
	if a.Interval == nil {
		a.Interval = &metav1.Duration{Duration: pick(d.Interval, DefaultInterval)}
	}
	if a.Window == nil {
		a.Window = &metav1.Duration{Duration: pick(d.Window, DefaultWindow)}
	}
	if defaulted && a.Window.Duration < a.Interval.Duration {
		a.Window.Duration = a.Interval.Duration
	}
	if a.MinRequests == nil {
		n := int64(DefaultMinRequests)
		if d.MinRequests > 0 {
			n = d.MinRequests
		}
		a.MinRequests = &n
	}
	if a.FailureLimit <= 0 {
		a.FailureLimit = DefaultFailureLimit
		if d.FailureLimit > 0 {
			a.FailureLimit = d.FailureLimit
		}
	}
	if a.InconclusiveLimit <= 0 {
		a.InconclusiveLimit = DefaultInconclusiveLimit
		if d.InconclusiveLimit > 0 {
			a.InconclusiveLimit = d.InconclusiveLimit
		}
	}
}

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
		MinRequests: ptr.Deref(a.MinRequests, DefaultMinRequests),
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
