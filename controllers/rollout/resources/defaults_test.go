package resources

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/rampdev/ramp/analysis"
	rolloutsv1alpha1 "github.com/rampdev/ramp/apis/rollouts/v1alpha1"
)

func dur(d time.Duration) *metav1.Duration { return &metav1.Duration{Duration: d} }

// packageDefaults is an analysis block left empty, once defaulted without
// controller flags.
func packageDefaults() rolloutsv1alpha1.Analysis {
	return rolloutsv1alpha1.Analysis{Interval: dur(5 * time.Second), Window: dur(time.Minute),
		Alpha: ptr.To("0.01"), Beta: ptr.To("0.05"), MinStepTime: dur(30 * time.Second), MaxStepTime: dur(10 * time.Minute),
		OnTimeout: "rollback", MinRequests: ptr.To[int64](50), FailureLimit: 2, InconclusiveLimit: 12, Metrics: DefaultMetrics()}
}

func TestApplyDefaults(t *testing.T) {
	controller := Defaults{Interval: 5 * time.Second, Window: 30 * time.Second, MinRequests: 10, FailureLimit: 3, InconclusiveLimit: 4,
		Alpha: 0.02, Beta: 0.1, MinStepTime: time.Minute, MaxStepTime: 5 * time.Minute, OnTimeout: analysis.TimeoutPause}
	own := []rolloutsv1alpha1.Metric{{Name: "p99", Builtin: "latencyP99", Max: threshold("1s")}}
	cases := map[string]struct {
		in   rolloutsv1alpha1.Analysis
		d    Defaults
		want rolloutsv1alpha1.Analysis
	}{
		"package defaults": {
			want: packageDefaults(),
		},
		"the controller's defaults": {
			d: controller,
			want: rolloutsv1alpha1.Analysis{Interval: dur(5 * time.Second), Window: dur(30 * time.Second),
				Alpha: ptr.To("0.02"), Beta: ptr.To("0.1"), MinStepTime: dur(time.Minute), MaxStepTime: dur(5 * time.Minute), OnTimeout: "pause",
				MinRequests: ptr.To[int64](10), FailureLimit: 3, InconclusiveLimit: 4, Metrics: DefaultMetrics()},
		},
		"the Rollout's own settings win, minRequests 0 and minStepTime 0 included": {
			in: rolloutsv1alpha1.Analysis{Interval: dur(2 * time.Second), Window: dur(8 * time.Second),
				Alpha: ptr.To("0.001"), Beta: ptr.To("0.2"), MinStepTime: dur(0), MaxStepTime: dur(time.Minute), OnTimeout: "rollback",
				MinRequests: ptr.To[int64](0), FailureLimit: 1, InconclusiveLimit: 1, Metrics: own},
			d: controller,
			want: rolloutsv1alpha1.Analysis{Interval: dur(2 * time.Second), Window: dur(8 * time.Second),
				Alpha: ptr.To("0.001"), Beta: ptr.To("0.2"), MinStepTime: dur(0), MaxStepTime: dur(time.Minute), OnTimeout: "rollback",
				MinRequests: ptr.To[int64](0), FailureLimit: 1, InconclusiveLimit: 1, Metrics: own},
		},
		"a default window shorter than the interval is raised to it": {
			in: rolloutsv1alpha1.Analysis{Interval: dur(2 * time.Minute)},
			want: func() rolloutsv1alpha1.Analysis {
				a := packageDefaults()
				a.Interval, a.Window = dur(2*time.Minute), dur(2*time.Minute)
				return a
			}(),
		},
		// minStepTime above maxStepTime is refused at admission only when
		// both are set: a default must not make the analysis unusable.
		"a default minStepTime above the Rollout's maxStepTime is lowered to it": {
			in: rolloutsv1alpha1.Analysis{MaxStepTime: dur(20 * time.Second)},
			want: func() rolloutsv1alpha1.Analysis {
				a := packageDefaults()
				a.MinStepTime, a.MaxStepTime = dur(20*time.Second), dur(20*time.Second)
				return a
			}(),
		},
		"a default maxStepTime below the Rollout's minStepTime is raised to it": {
			in: rolloutsv1alpha1.Analysis{MinStepTime: dur(12 * time.Minute)},
			want: func() rolloutsv1alpha1.Analysis {
				a := packageDefaults()
				a.MinStepTime, a.MaxStepTime = dur(12*time.Minute), dur(12*time.Minute)
				return a
			}(),
		},
		"the controller's minStepTime above the Rollout's maxStepTime is lowered to it": {
			in: rolloutsv1alpha1.Analysis{MaxStepTime: dur(45 * time.Second)},
			d:  controller,
			want: rolloutsv1alpha1.Analysis{Interval: dur(5 * time.Second), Window: dur(30 * time.Second),
				Alpha: ptr.To("0.02"), Beta: ptr.To("0.1"), MinStepTime: dur(45 * time.Second), MaxStepTime: dur(45 * time.Second), OnTimeout: "pause",
				MinRequests: ptr.To[int64](10), FailureLimit: 3, InconclusiveLimit: 4, Metrics: DefaultMetrics()},
		},
		"a disabled analysis is left alone": {
			in:   rolloutsv1alpha1.Analysis{Disabled: true},
			d:    controller,
			want: rolloutsv1alpha1.Analysis{Disabled: true},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got := tc.in.DeepCopy()
			ApplyDefaults(got, tc.d)
			if d := cmp.Diff(&tc.want, got); d != "" {
				t.Errorf("ApplyDefaults (-want +got):\n%s", d)
			}
			// The defaulted analysis is one the controller can run.
			if !got.Disabled {
				if _, err := StepPolicy(got); err != nil {
					t.Errorf("StepPolicy of the defaulted analysis: %v", err)
				}
				if _, err := ReplayConfig(got); err != nil {
					t.Errorf("ReplayConfig of the defaulted analysis: %v", err)
				}
			}
		})
	}
	ApplyDefaults(nil, controller) // no analysis, no panic
}

func TestApplySpecDefaults(t *testing.T) {
	cases := map[string]struct {
		in   *rolloutsv1alpha1.Analysis
		want *rolloutsv1alpha1.Analysis
	}{
		"no analysis block: the default analysis": {
			want: ptr.To(packageDefaults()),
		},
		"an empty analysis block: the default metrics": {
			in:   &rolloutsv1alpha1.Analysis{},
			want: ptr.To(packageDefaults()),
		},
		"disabled: left alone, without metrics": {
			in:   &rolloutsv1alpha1.Analysis{Disabled: true},
			want: &rolloutsv1alpha1.Analysis{Disabled: true},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			spec := MakeRollout("x").Obj().Spec
			spec.Analysis = tc.in.DeepCopy()
			ApplySpecDefaults(&spec, Defaults{})
			if d := cmp.Diff(tc.want, spec.Analysis); d != "" {
				t.Errorf("ApplySpecDefaults (-want +got):\n%s", d)
			}
			if got, want := spec.HasAnalysis(), !tc.want.Disabled; got != want {
				t.Errorf("HasAnalysis = %t, want %t", got, want)
			}
		})
	}
	// The default metrics are the error rate and the p90 latency.
	want := []rolloutsv1alpha1.Metric{{Name: "error-rate", Builtin: "errorRate"}, {Name: "latency", Builtin: "latencyP90"}}
	if d := cmp.Diff(want, DefaultMetrics()); d != "" {
		t.Errorf("DefaultMetrics (-want +got):\n%s", d)
	}
	// Each call returns its own slice: defaulting one Rollout cannot change
	// another's metrics.
	a, b := DefaultMetrics(), DefaultMetrics()
	a[0].Name = "changed"
	if b[0].Name != DefaultErrorMetric {
		t.Errorf("DefaultMetrics shares its slice")
	}
}
