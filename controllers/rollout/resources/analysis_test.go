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

func TestMakeAnalysisSpec(t *testing.T) {
	withAnalysis := func(b *RolloutBuilder, a *rolloutsv1alpha1.Analysis) *rolloutsv1alpha1.Rollout {
		ro := b.Obj()
		ro.Spec.Analysis = a
		ro.Status.StableRevision, ro.Status.CanaryRevision = "web-00001", "web-00002"
		return ro
	}
	metrics := []rolloutsv1alpha1.Metric{
		{Name: "error-rate", Builtin: "errorRate", Max: threshold("1%"), MaxIncrease: threshold("0.005")},
		{Name: "p99", Builtin: "latencyP99", Max: threshold("500ms"), MaxRatio: ptr.To(rolloutsv1alpha1.Ratio("1.5"))},
		{Name: "rps", Builtin: "requestRate", Min: threshold("10/s")},
		{Name: "q", Prometheus: &rolloutsv1alpha1.PrometheusQuery{Query: "sum(x)"}, Max: threshold("5%")},
	}
	full := &rolloutsv1alpha1.Analysis{Interval: &metav1.Duration{Duration: 5 * time.Second}, Window: &metav1.Duration{Duration: 30 * time.Second},
		MinRequests: ptr.To[int64](20), Metrics: metrics}
	wantMetrics := []analysis.Metric{
		{Name: "error-rate", Builtin: "errorRate", Thresholds: analysis.Thresholds{Max: ptr.To(0.01), MaxIncrease: ptr.To(0.005)}},
		{Name: "p99", Builtin: "latencyP99", Thresholds: analysis.Thresholds{Max: ptr.To(0.5), MaxRatio: ptr.To(1.5)}},
		{Name: "rps", Builtin: "requestRate", Thresholds: analysis.Thresholds{Min: ptr.To(10.0)}},
		{Name: "q", Query: "sum(x)", Provider: analysis.PrometheusProvider, Thresholds: analysis.Thresholds{Max: ptr.To(0.05)}},
	}
	cases := map[string]struct {
		ro      *rolloutsv1alpha1.Rollout
		want    analysis.Spec
		wantErr string
	}{
		"canary": {
			ro: withAnalysis(MakeRollout("x"), full),
			want: analysis.Spec{
				Canary: analysis.Target{Namespace: "ns", Revision: "web-00002"}, Stable: analysis.Target{Namespace: "ns", Revision: "web-00001"},
				Window: 30 * time.Second, MinRequests: 20, Metrics: wantMetrics,
			},
		},
		"blue/green measures the preview tag; window and minRequests default": {
			ro: withAnalysis(MakeRollout("x").BlueGreen("pre"), &rolloutsv1alpha1.Analysis{Metrics: metrics[:1]}),
			want: analysis.Spec{
				Canary: analysis.Target{Namespace: "ns", Revision: "web-00002", Tag: "pre"}, Stable: analysis.Target{Namespace: "ns", Revision: "web-00001"},
				Window: time.Minute, MinRequests: DefaultMinRequests, Metrics: wantMetrics[:1],
			},
		},
		"error rate above 100%": {
			ro:      withAnalysis(MakeRollout("x"), &rolloutsv1alpha1.Analysis{Metrics: []rolloutsv1alpha1.Metric{{Name: "e", Builtin: "errorRate", Max: threshold("150%")}}}),
			wantErr: `metric "e": max: errorRate threshold "150%": a percentage must be from 0% to 100%`,
		},
		"bad ratio": {
			ro:      withAnalysis(MakeRollout("x"), &rolloutsv1alpha1.Analysis{Metrics: []rolloutsv1alpha1.Metric{{Name: "e", Builtin: "errorRate", MaxRatio: ptr.To(rolloutsv1alpha1.Ratio("0"))}}}),
			wantErr: `metric "e": maxRatio: ratio "0"`,
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
}

func TestAnalysisDefaults(t *testing.T) {
	var none *rolloutsv1alpha1.Analysis
	if Interval(none) != 10*time.Second || Window(none) != time.Minute || FailureLimit(none) != 2 || InconclusiveLimit(none) != 12 {
		t.Errorf("defaults = %s %s %d %d, want 10s 1m 2 12", Interval(none), Window(none), FailureLimit(none), InconclusiveLimit(none))
	}
}
