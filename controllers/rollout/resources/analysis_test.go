package resources

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/rampdev/ramp/analysis"
	rolloutsv1alpha1 "github.com/rampdev/ramp/apis/rollouts/v1alpha1"
)

func threshold(s string) *rolloutsv1alpha1.Threshold { return ptr.To(rolloutsv1alpha1.Threshold(s)) }

func margin(relative, absolute string) *rolloutsv1alpha1.MarginSpec {
	m := &rolloutsv1alpha1.MarginSpec{}
	if relative != "" {
		m.Relative = ptr.To(relative)
	}
	if absolute != "" {
		m.Absolute = threshold(absolute)
	}
	return m
}

func TestMakeAnalysisSpec(t *testing.T) {
	withAnalysis := func(b *RolloutBuilder, a *rolloutsv1alpha1.Analysis) *rolloutsv1alpha1.Rollout {
		ro := b.Obj()
		ro.Spec.Analysis = a
		ro.Status.StableRevision, ro.Status.CanaryRevision = "web-00001", "web-00002"
		return ro
	}
	one := func(m rolloutsv1alpha1.Metric) *rolloutsv1alpha1.Analysis {
		return &rolloutsv1alpha1.Analysis{Metrics: []rolloutsv1alpha1.Metric{m}}
	}
	metrics := []rolloutsv1alpha1.Metric{
		{Name: "error-rate", Builtin: "errorRate", Max: threshold("1%"), MaxIncrease: threshold("0.005")},
		{Name: "p99", Builtin: "latencyP99", Max: threshold("500ms"), MaxRatio: ptr.To(rolloutsv1alpha1.Ratio("1.5"))},
		{Name: "rps", Builtin: "requestRate", Min: threshold("10/s")},
		{Name: "q", Prometheus: &rolloutsv1alpha1.PrometheusQuery{Query: "sum(x)"}, Max: threshold("5%")},
	}
	full := &rolloutsv1alpha1.Analysis{Interval: &metav1.Duration{Duration: 5 * time.Second}, Window: &metav1.Duration{Duration: 30 * time.Second},
		MinRequests: ptr.To[int64](20), Metrics: metrics}
	// Comparative builtins get the analysis package's default margin and
	// tolerance; requestRate and query metrics have neither.
	wantMetrics := []analysis.Metric{
		{Name: "error-rate", Builtin: "errorRate", Thresholds: analysis.Thresholds{Max: ptr.To(0.01), MaxIncrease: ptr.To(0.005)},
			Margin: analysis.DefaultMargin(analysis.ErrorRate), Tolerance: analysis.DefaultTolerance(analysis.ErrorRate)},
		{Name: "p99", Builtin: "latencyP99", Thresholds: analysis.Thresholds{Max: ptr.To(0.5), MaxRatio: ptr.To(1.5)},
			Margin: analysis.DefaultMargin(analysis.LatencyP99), Tolerance: analysis.DefaultTolerance(analysis.LatencyP99)},
		{Name: "rps", Builtin: "requestRate", Thresholds: analysis.Thresholds{Min: ptr.To(10.0)}},
		{Name: "q", Query: "sum(x)", Provider: analysis.PrometheusProvider, Thresholds: analysis.Thresholds{Max: ptr.To(0.05)}},
	}
	canary := analysis.Target{Namespace: "ns", Revision: "web-00002"}
	stable := analysis.Target{Namespace: "ns", Revision: "web-00001"}
	stepReadyAt := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	readyAt := func(ro *rolloutsv1alpha1.Rollout) *rolloutsv1alpha1.Rollout {
		ro.Status.StepReadyAt = &metav1.Time{Time: stepReadyAt}
		return ro
	}
	// Comparative metrics without thresholds are judged only sequentially,
	// which needs the step's traffic start.
	seq := analysis.SequentialSpec{From: stepReadyAt, Interval: DefaultInterval, Alpha: analysis.DefaultAlpha, Beta: analysis.DefaultBeta}
	cases := map[string]struct {
		ro      *rolloutsv1alpha1.Rollout
		want    analysis.Spec
		wantErr string
	}{
		"canary": {
			ro: withAnalysis(MakeRollout("x"), full),
			want: analysis.Spec{
				Canary: canary, Stable: stable,
				Window: 30 * time.Second, MinRequests: 20, Metrics: wantMetrics,
			},
		},
		"blue/green measures the preview tag; window and minRequests default": {
			ro: withAnalysis(MakeRollout("x").BlueGreen("pre"), &rolloutsv1alpha1.Analysis{Metrics: metrics[:1]}),
			want: analysis.Spec{
				Canary: analysis.Target{Namespace: "ns", Revision: "web-00002", Tag: "pre"}, Stable: stable,
				Window: time.Minute, MinRequests: DefaultMinRequests, Metrics: wantMetrics[:1],
			},
		},
		"the step's traffic start is where the sequential judge starts, with the package's alpha and beta": {
			ro: readyAt(withAnalysis(MakeRollout("x"), full)),
			want: analysis.Spec{
				Canary: canary, Stable: stable, Window: 30 * time.Second, MinRequests: 20, Metrics: wantMetrics,
				Sequential: analysis.SequentialSpec{From: stepReadyAt, Interval: 5 * time.Second,
					Alpha: analysis.DefaultAlpha, Beta: analysis.DefaultBeta},
			},
		},
		"the Rollout's alpha, beta and interval": {
			ro: readyAt(withAnalysis(MakeRollout("x"), &rolloutsv1alpha1.Analysis{
				Interval: &metav1.Duration{Duration: 2 * time.Second}, Alpha: ptr.To("0.05"), Beta: ptr.To(" 0.5 "), Metrics: metrics[:1]})),
			want: analysis.Spec{
				Canary: canary, Stable: stable, Window: time.Minute, MinRequests: DefaultMinRequests, Metrics: wantMetrics[:1],
				Sequential: analysis.SequentialSpec{From: stepReadyAt, Interval: 2 * time.Second, Alpha: 0.05, Beta: 0.5},
			},
		},
		"no thresholds on a comparative metric: judged on its margins alone": {
			ro: readyAt(withAnalysis(MakeRollout("x"), one(rolloutsv1alpha1.Metric{Name: "e", Builtin: "errorRate"}))),
			want: analysis.Spec{
				Canary: canary, Stable: stable, Window: time.Minute, MinRequests: DefaultMinRequests, Sequential: seq,
				Metrics: []analysis.Metric{{Name: "e", Builtin: "errorRate",
					Margin: analysis.DefaultMargin(analysis.ErrorRate), Tolerance: analysis.DefaultTolerance(analysis.ErrorRate)}},
			},
		},
		"error-rate margin and tolerance: percentages, fractions, points; an unset part of a set one is zero": {
			ro: readyAt(withAnalysis(MakeRollout("x"), one(rolloutsv1alpha1.Metric{Name: "e", Builtin: "errorRate",
				Margin: margin("25%", "2%"), Tolerance: margin("0.05", "")}))),
			want: analysis.Spec{
				Canary: canary, Stable: stable, Window: time.Minute, MinRequests: DefaultMinRequests, Sequential: seq,
				Metrics: []analysis.Metric{{Name: "e", Builtin: "errorRate",
					Margin: analysis.Margin{Relative: 0.25, Absolute: 0.02}, Tolerance: analysis.Margin{Relative: 0.05}}},
			},
		},
		"latency margin and tolerance: durations and seconds": {
			ro: readyAt(withAnalysis(MakeRollout("x"), one(rolloutsv1alpha1.Metric{Name: "p90", Builtin: "latencyP90",
				Margin: margin("", "10ms"), Tolerance: margin("5%", "0.5")}))),
			want: analysis.Spec{
				Canary: canary, Stable: stable, Window: time.Minute, MinRequests: DefaultMinRequests, Sequential: seq,
				Metrics: []analysis.Metric{{Name: "p90", Builtin: "latencyP90",
					Margin: analysis.Margin{Absolute: 0.01}, Tolerance: analysis.Margin{Relative: 0.05, Absolute: 0.5}}},
			},
		},
		"a tolerance alone keeps the default margin": {
			ro: readyAt(withAnalysis(MakeRollout("x"), one(rolloutsv1alpha1.Metric{Name: "p50", Builtin: "latencyP50", Tolerance: margin("0%", "")}))),
			want: analysis.Spec{
				Canary: canary, Stable: stable, Window: time.Minute, MinRequests: DefaultMinRequests, Sequential: seq,
				Metrics: []analysis.Metric{{Name: "p50", Builtin: "latencyP50", Margin: analysis.DefaultMargin(analysis.LatencyP50)}},
			},
		},
		"error rate above 100%": {
			ro:      withAnalysis(MakeRollout("x"), one(rolloutsv1alpha1.Metric{Name: "e", Builtin: "errorRate", Max: threshold("150%")})),
			wantErr: `metrics[0] (e): max: errorRate threshold "150%": a percentage must be from 0% to 100%`,
		},
		"bad ratio": {
			ro:      withAnalysis(MakeRollout("x"), one(rolloutsv1alpha1.Metric{Name: "e", Builtin: "errorRate", MaxRatio: ptr.To(rolloutsv1alpha1.Ratio("0"))})),
			wantErr: `metrics[0] (e): maxRatio: ratio "0"`,
		},
		"the failing metric's index": {
			ro: withAnalysis(MakeRollout("x"), &rolloutsv1alpha1.Analysis{Metrics: []rolloutsv1alpha1.Metric{
				metrics[0], {Name: "slow", Builtin: "latencyP99", Max: threshold("fast")}}}),
			wantErr: `metrics[1] (slow): max: latencyP99 threshold "fast"`,
		},
		"negative relative margin": {
			ro:      withAnalysis(MakeRollout("x"), one(rolloutsv1alpha1.Metric{Name: "e", Builtin: "errorRate", Margin: margin("-5%", "")})),
			wantErr: `metrics[0] (e): margin.relative "-5%": want a percentage (20%) or a fraction (0.2), not negative`,
		},
		"relative margin that is not a number": {
			ro:      withAnalysis(MakeRollout("x"), one(rolloutsv1alpha1.Metric{Name: "p", Builtin: "latencyP90", Tolerance: margin("ten", "")})),
			wantErr: `metrics[0] (p): tolerance.relative "ten"`,
		},
		"negative absolute latency margin": {
			ro:      withAnalysis(MakeRollout("x"), one(rolloutsv1alpha1.Metric{Name: "p", Builtin: "latencyP90", Margin: margin("", "-0.1")})),
			wantErr: `metrics[0] (p): margin.absolute: latencyP90 threshold "-0.1"`,
		},
		"absolute error-rate tolerance in the wrong unit": {
			ro:      withAnalysis(MakeRollout("x"), one(rolloutsv1alpha1.Metric{Name: "e", Builtin: "errorRate", Tolerance: margin("", "10ms")})),
			wantErr: `metrics[0] (e): tolerance.absolute: errorRate threshold "10ms"`,
		},
		"alpha out of range": {
			ro:      withAnalysis(MakeRollout("x"), &rolloutsv1alpha1.Analysis{Alpha: ptr.To("0.7"), Metrics: metrics[:1]}),
			wantErr: `alpha "0.7": want a number in (0, 0.5]`,
		},
		"beta zero": {
			ro:      withAnalysis(MakeRollout("x"), &rolloutsv1alpha1.Analysis{Beta: ptr.To("0"), Metrics: metrics[:1]}),
			wantErr: `beta "0": want a number in (0, 0.5]`,
		},
		"step policy": {
			ro:      withAnalysis(MakeRollout("x"), &rolloutsv1alpha1.Analysis{OnTimeout: "ignore", Metrics: metrics[:1]}),
			wantErr: `onTimeout "ignore": want rollback or pause`,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := MakeAnalysisSpec(tc.ro)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("MakeAnalysisSpec (-want +got):\n%s", diff)
			}
			if err := analysis.Validate(got); err != nil {
				t.Errorf("analysis.Validate: %v", err)
			}
		})
	}
	if _, err := MakeAnalysisSpec(MakeRollout("x").Obj()); !errors.Is(err, ErrNoAnalysis) {
		t.Errorf("without analysis: error = %v, want ErrNoAnalysis", err)
	}
	disabled := withAnalysis(MakeRollout("x"), &rolloutsv1alpha1.Analysis{Disabled: true})
	if _, err := MakeAnalysisSpec(disabled); !errors.Is(err, ErrNoAnalysis) {
		t.Errorf("disabled: error = %v, want ErrNoAnalysis", err)
	}
}

// TestMakeAnalysisSpecDefaultMetrics checks that a Rollout without an
// analysis block, once ApplySpecDefaults has run (as Reconcile does), is
// judged on the error rate and the p90 latency, canary against stable,
// sequentially from the step's traffic start.
func TestMakeAnalysisSpecDefaultMetrics(t *testing.T) {
	ro := MakeRollout("x").Obj()
	ro.Status.StableRevision, ro.Status.CanaryRevision = "web-00001", "web-00002"
	from := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	ro.Status.StepReadyAt = &metav1.Time{Time: from}
	ApplySpecDefaults(&ro.Spec, Defaults{})
	got, err := MakeAnalysisSpec(ro)
	if err != nil {
		t.Fatal(err)
	}
	want := analysis.Spec{
		Canary: analysis.Target{Namespace: "ns", Revision: "web-00002"}, Stable: analysis.Target{Namespace: "ns", Revision: "web-00001"},
		Window: DefaultWindow, MinRequests: DefaultMinRequests,
		Metrics: []analysis.Metric{
			{Name: DefaultErrorMetric, Builtin: analysis.ErrorRate,
				Margin: analysis.DefaultMargin(analysis.ErrorRate), Tolerance: analysis.DefaultTolerance(analysis.ErrorRate)},
			{Name: DefaultLatencyMetric, Builtin: analysis.LatencyP90,
				Margin: analysis.DefaultMargin(analysis.LatencyP90), Tolerance: analysis.DefaultTolerance(analysis.LatencyP90)},
		},
		Sequential: analysis.SequentialSpec{From: from, Interval: DefaultInterval, Alpha: analysis.DefaultAlpha, Beta: analysis.DefaultBeta},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("MakeAnalysisSpec (-want +got):\n%s", diff)
	}
	if err := analysis.Validate(got); err != nil {
		t.Errorf("analysis.Validate: %v", err)
	}
}

func TestStepPolicy(t *testing.T) {
	dur := func(d time.Duration) *metav1.Duration { return &metav1.Duration{Duration: d} }
	defaults := analysis.StepPolicy{MinStepTime: 30 * time.Second, MaxStepTime: 10 * time.Minute, OnTimeout: analysis.TimeoutRollback,
		FailureLimit: DefaultFailureLimit, ErrorLimit: DefaultInconclusiveLimit}
	cases := map[string]struct {
		a       *rolloutsv1alpha1.Analysis
		want    analysis.StepPolicy
		wantErr string
	}{
		"no analysis":    {want: defaults},
		"empty analysis": {a: &rolloutsv1alpha1.Analysis{}, want: defaults},
		"the Rollout's settings": {
			a: &rolloutsv1alpha1.Analysis{MinStepTime: dur(time.Minute), MaxStepTime: dur(5 * time.Minute), OnTimeout: "pause",
				FailureLimit: 3, InconclusiveLimit: 4},
			want: analysis.StepPolicy{MinStepTime: time.Minute, MaxStepTime: 5 * time.Minute, OnTimeout: analysis.TimeoutPause,
				FailureLimit: 3, ErrorLimit: 4},
		},
		"minStepTime 0 advances on the first passing look": {
			a: &rolloutsv1alpha1.Analysis{MinStepTime: dur(0)},
			want: analysis.StepPolicy{MaxStepTime: 10 * time.Minute, OnTimeout: analysis.TimeoutRollback,
				FailureLimit: DefaultFailureLimit, ErrorLimit: DefaultInconclusiveLimit},
		},
		"minStepTime equal to maxStepTime": {
			a: &rolloutsv1alpha1.Analysis{MinStepTime: dur(time.Minute), MaxStepTime: dur(time.Minute)},
			want: analysis.StepPolicy{MinStepTime: time.Minute, MaxStepTime: time.Minute, OnTimeout: analysis.TimeoutRollback,
				FailureLimit: DefaultFailureLimit, ErrorLimit: DefaultInconclusiveLimit},
		},
		"minStepTime above maxStepTime": {
			a:       &rolloutsv1alpha1.Analysis{MinStepTime: dur(5 * time.Minute), MaxStepTime: dur(time.Minute)},
			wantErr: "minStepTime 5m0s is above maxStepTime 1m0s",
		},
		"minStepTime above the default maxStepTime": {
			a:       &rolloutsv1alpha1.Analysis{MinStepTime: dur(11 * time.Minute)},
			wantErr: "minStepTime 11m0s is above maxStepTime 10m0s",
		},
		"negative minStepTime": {
			a:       &rolloutsv1alpha1.Analysis{MinStepTime: dur(-time.Second)},
			wantErr: "minStepTime -1s must not be negative",
		},
		"maxStepTime 0": {
			a:       &rolloutsv1alpha1.Analysis{MinStepTime: dur(0), MaxStepTime: dur(0)},
			wantErr: "maxStepTime 0s must be positive",
		},
		"unknown onTimeout": {
			a:       &rolloutsv1alpha1.Analysis{OnTimeout: "ignore"},
			wantErr: `onTimeout "ignore": want rollback or pause`,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := StepPolicy(tc.a)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("StepPolicy (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAnalysisDefaults(t *testing.T) {
	var none *rolloutsv1alpha1.Analysis
	if Interval(none) != 5*time.Second || Window(none) != time.Minute || FailureLimit(none) != 2 || InconclusiveLimit(none) != 12 {
		t.Errorf("defaults = %s %s %d %d, want 5s 1m 2 12", Interval(none), Window(none), FailureLimit(none), InconclusiveLimit(none))
	}
	if DefaultInterval != 5*time.Second {
		t.Errorf("DefaultInterval = %s, want 5s", DefaultInterval)
	}
}
