package resources

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/rampdev/ramp/analysis"
	rolloutsv1alpha1 "github.com/rampdev/ramp/apis/rollouts/v1alpha1"
)

// Analysis defaults when the controller is given none (its flags' defaults).
const (
	DefaultInterval          = 5 * time.Second
	DefaultWindow            = time.Minute
	DefaultFailureLimit      = 2
	DefaultInconclusiveLimit = 12
	DefaultMinRequests       = 50
)

// Default metric names: what a Rollout without metrics is judged on.
const (
	DefaultErrorMetric   = "error-rate"
	DefaultLatencyMetric = "latency"
)

// DefaultMetrics are the metrics of a Rollout whose analysis names none:
// the error rate and the p90 latency, canary against stable, with the
// analysis package's default margins and tolerances.
func DefaultMetrics() []rolloutsv1alpha1.Metric {
	return []rolloutsv1alpha1.Metric{
		{Name: DefaultErrorMetric, Builtin: analysis.ErrorRate},
		{Name: DefaultLatencyMetric, Builtin: analysis.LatencyP90},
	}
}

// Defaults are the analysis settings of Rollouts that leave them out (the
// controller's --analysis-* flags). Zero fields take the package defaults.
type Defaults struct {
	Interval, Window                time.Duration
	MinRequests                     int64
	FailureLimit, InconclusiveLimit int32
	Alpha, Beta                     float64
	MinStepTime, MaxStepTime        time.Duration
	OnTimeout                       analysis.TimeoutPolicy
}

// ApplySpecDefaults gives a Rollout without an analysis block the default
// analysis, then fills its settings (ApplyDefaults). In memory only: the
// stored Rollout keeps what its author wrote.
func ApplySpecDefaults(spec *rolloutsv1alpha1.RolloutSpec, d Defaults) {
	if spec.Analysis == nil {
		spec.Analysis = &rolloutsv1alpha1.Analysis{}
	}
	ApplyDefaults(spec.Analysis, d)
}

// ApplyDefaults fills the settings a leaves out, in place, from d (then
// the package defaults), and raises a window shorter than the interval to
// it when either was defaulted. A disabled analysis is left alone.
func ApplyDefaults(a *rolloutsv1alpha1.Analysis, d Defaults) {
	if a == nil || a.Disabled {
		return
	}
	if len(a.Metrics) == 0 && len(a.Templates) == 0 {
		a.Metrics = DefaultMetrics()
	}
	if a.Alpha == nil {
		a.Alpha = ptr.To(formatFraction(pickFloat(d.Alpha, analysis.DefaultAlpha)))
	}
	if a.Beta == nil {
		a.Beta = ptr.To(formatFraction(pickFloat(d.Beta, analysis.DefaultBeta)))
	}
	minDefaulted, maxDefaulted := a.MinStepTime == nil, a.MaxStepTime == nil
	if a.MinStepTime == nil {
		minT := analysis.DefaultMinStepTime
		if d.MinStepTime > 0 {
			minT = d.MinStepTime
		}
		a.MinStepTime = &metav1.Duration{Duration: minT}
	}
	if a.MaxStepTime == nil {
		maxT := analysis.DefaultMaxStepTime
		if d.MaxStepTime > 0 {
			maxT = d.MaxStepTime
		}
		a.MaxStepTime = &metav1.Duration{Duration: maxT}
	}
	// Admission refuses minStepTime above maxStepTime only when both are
	// set: a default gives way to the one the Rollout sets.
	if a.MinStepTime.Duration > a.MaxStepTime.Duration {
		switch {
		case minDefaulted:
			a.MinStepTime.Duration = a.MaxStepTime.Duration
		case maxDefaulted:
			a.MaxStepTime.Duration = a.MinStepTime.Duration
		}
	}
	if a.OnTimeout == "" {
		a.OnTimeout = string(analysis.TimeoutRollback)
		if d.OnTimeout != "" {
			a.OnTimeout = string(d.OnTimeout)
		}
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

// ErrNoAnalysis means the Rollout's analysis is disabled (or, before
// ApplySpecDefaults, absent).
var ErrNoAnalysis = errors.New("rollout has no analysis")

func pickFloat(v, def float64) float64 {
	if v > 0 {
		return v
	}
	return def
}

func formatFraction(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// parseFraction parses alpha or beta: a number in (0, 0.5].
func parseFraction(field string, s *string, def float64) (float64, error) {
	if s == nil {
		return def, nil
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(*s), 64)
	if err != nil || !(v > 0 && v <= 0.5) {
		return 0, fmt.Errorf("%s %q: want a number in (0, 0.5], such as 0.01", field, *s)
	}
	return v, nil
}

// StepPolicy is how the analysis decides a weight step, defaulted; an
// error names the field.
func StepPolicy(a *rolloutsv1alpha1.Analysis) (analysis.StepPolicy, error) {
	p := analysis.StepPolicy{
		MinStepTime: analysis.DefaultMinStepTime, MaxStepTime: analysis.DefaultMaxStepTime,
		OnTimeout:    analysis.TimeoutRollback,
		FailureLimit: FailureLimit(a), ErrorLimit: InconclusiveLimit(a),
	}
	if a == nil {
		return p, nil
	}
	if a.MinStepTime != nil {
		p.MinStepTime = a.MinStepTime.Duration
	}
	if a.MaxStepTime != nil {
		p.MaxStepTime = a.MaxStepTime.Duration
	}
	switch analysis.TimeoutPolicy(a.OnTimeout) {
	case "":
	case analysis.TimeoutRollback, analysis.TimeoutPause:
		p.OnTimeout = analysis.TimeoutPolicy(a.OnTimeout)
	default:
		return p, fmt.Errorf("onTimeout %q: want %s or %s", a.OnTimeout, analysis.TimeoutRollback, analysis.TimeoutPause)
	}
	switch {
	case p.MinStepTime < 0:
		return p, fmt.Errorf("minStepTime %s must not be negative", p.MinStepTime)
	case p.MaxStepTime <= 0:
		return p, fmt.Errorf("maxStepTime %s must be positive", p.MaxStepTime)
	case p.MinStepTime > p.MaxStepTime:
		return p, fmt.Errorf("minStepTime %s is above maxStepTime %s", p.MinStepTime, p.MaxStepTime)
	}
	return p, nil
}

// ReplayConfig is the analysis `ramp analysis replay` runs for a Rollout
// whose defaults are applied: its metrics, its interval, its sequential
// settings and its step policy, exactly as the controller builds them.
func ReplayConfig(a *rolloutsv1alpha1.Analysis) (analysis.ReplayConfig, error) {
	if a == nil || a.Disabled {
		return analysis.ReplayConfig{}, ErrNoAnalysis
	}
	var cfg analysis.ReplayConfig
	var err error
	if cfg.Alpha, err = parseFraction("alpha", a.Alpha, analysis.DefaultAlpha); err != nil {
		return cfg, err
	}
	if cfg.Beta, err = parseFraction("beta", a.Beta, analysis.DefaultBeta); err != nil {
		return cfg, err
	}
	if cfg.Policy, err = StepPolicy(a); err != nil {
		return cfg, err
	}
	cfg.Interval = Interval(a)
	for i := range a.Metrics {
		m, err := makeMetric(&a.Metrics[i])
		if err != nil {
			return cfg, fmt.Errorf("metrics[%d] (%s): %w", i, a.Metrics[i].Name, err)
		}
		m.DryRun = m.DryRun || a.DryRun
		cfg.Metrics = append(cfg.Metrics, m)
	}
	return cfg, nil
}

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
// builtin name, a Prometheus counts metric's kind, or "" for a query.
func MetricKind(m *rolloutsv1alpha1.Metric) string {
	if m.Prometheus != nil && m.Prometheus.Kind != "" {
		return string(m.Prometheus.Kind)
	}
	return string(m.Builtin)
}

// MakeAnalysisSpec builds one measurement round of the Rollout's analysis:
// the canary against the stable revision of its status, over the window.
// A blue/green canary is measured on its preview tag's traffic only. A
// threshold the analysis package cannot parse is an error naming the
// metric and the field.
//
// Comparative metrics are judged sequentially on all the traffic since
// the step's traffic was applied (status.stepReadyAt).
func MakeAnalysisSpec(ro *rolloutsv1alpha1.Rollout) (analysis.Spec, error) {
	a := ro.Spec.Analysis
	if a == nil || a.Disabled {
		return analysis.Spec{}, ErrNoAnalysis
	}
	cfg, err := ReplayConfig(a)
	if err != nil {
		return analysis.Spec{}, err
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
		Metrics:     cfg.Metrics,
	}
	if st := ro.Status.StepReadyAt; st != nil {
		spec.Sequential = analysis.SequentialSpec{From: st.Time, Interval: cfg.Interval, Alpha: cfg.Alpha, Beta: cfg.Beta}
	}
	return spec, nil
}

func makeMetric(m *rolloutsv1alpha1.Metric) (analysis.Metric, error) {
	kind := MetricKind(m)
	out := analysis.Metric{Name: m.Name, Builtin: kind, DryRun: m.DryRun}
	if p := m.Prometheus; p != nil {
		out.Query, out.Provider = p.Query, analysis.PrometheusProvider
		out.Counts = analysis.CountsQueries{Requests: p.Requests, Errors: p.Errors, Histogram: p.Histogram}
	}
	if m.Web != nil {
		out.Web, out.Provider = makeWeb(m.Web), analysis.WebProvider
	}
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
	if analysis.Comparative(out.Builtin) {
		var err error
		if out.Margin, err = makeMargin("margin", kind, m.Margin, analysis.DefaultMargin(kind)); err != nil {
			return analysis.Metric{}, err
		}
		if out.Tolerance, err = makeMargin("tolerance", kind, m.Tolerance, analysis.DefaultTolerance(kind)); err != nil {
			return analysis.Metric{}, err
		}
	}
	return out, nil
}

// makeMargin parses a margin or tolerance; an unset one is def, an unset
// part of a set one is zero.
func makeMargin(field, kind string, m *rolloutsv1alpha1.MarginSpec, def analysis.Margin) (analysis.Margin, error) {
	if m == nil {
		return def, nil
	}
	var out analysis.Margin
	if m.Relative != nil {
		v, pct := strings.CutSuffix(strings.TrimSpace(*m.Relative), "%")
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 0 || math.IsInf(f, 0) || math.IsNaN(f) {
			return out, fmt.Errorf("%s.relative %q: want a percentage (20%%) or a fraction (0.2), not negative", field, *m.Relative)
		}
		if pct {
			f /= 100
		}
		out.Relative = f
	}
	if m.Absolute != nil {
		v, err := analysis.ParseThreshold(kind, string(*m.Absolute))
		if err != nil {
			return out, fmt.Errorf("%s.absolute: %w", field, err)
		}
		if v < 0 {
			return out, fmt.Errorf("%s.absolute %q must not be negative", field, *m.Absolute)
		}
		out.Absolute = v
	}
	return out, nil
}
