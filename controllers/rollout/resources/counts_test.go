package resources

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/utils/ptr"

	"github.com/rampdev/ramp/analysis"
	rolloutsv1alpha1 "github.com/rampdev/ramp/apis/rollouts/v1alpha1"
)

// A Prometheus counts metric reaches the analysis package as a comparative
// metric of its kind: margins, tolerances and thresholds in the kind's
// units, the counts queries, the prometheus provider.
func TestMakeMetricCounts(t *testing.T) {
	tests := map[string]struct {
		in   rolloutsv1alpha1.Metric
		want analysis.Metric
	}{
		"error rate": {
			in: rolloutsv1alpha1.Metric{Name: "e", Max: threshold("5%"), Margin: margin("", "1%"),
				Prometheus: &rolloutsv1alpha1.PrometheusQuery{Kind: "errorRate", Requests: "r", Errors: "e"}},
			want: analysis.Metric{Name: "e", Builtin: analysis.ErrorRate, Provider: analysis.PrometheusProvider,
				Counts: analysis.CountsQueries{Requests: "r", Errors: "e"}, Thresholds: analysis.Thresholds{Max: ptr.To(0.05)},
				Margin: analysis.Margin{Absolute: 0.01}, Tolerance: analysis.DefaultTolerance(analysis.ErrorRate)},
		},
		"latency": {
			in: rolloutsv1alpha1.Metric{Name: "l", Max: threshold("500ms"), DryRun: true,
				Prometheus: &rolloutsv1alpha1.PrometheusQuery{Kind: "latencyP99", Histogram: "h"}},
			want: analysis.Metric{Name: "l", Builtin: analysis.LatencyP99, Provider: analysis.PrometheusProvider, DryRun: true,
				Counts: analysis.CountsQueries{Histogram: "h"}, Thresholds: analysis.Thresholds{Max: ptr.To(0.5)},
				Margin: analysis.DefaultMargin(analysis.LatencyP99), Tolerance: analysis.DefaultTolerance(analysis.LatencyP99)},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := makeMetric(&tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("makeMetric (-want +got):\n%s", diff)
			}
			if k := MetricKind(&tc.in); k != tc.want.Builtin {
				t.Errorf("MetricKind = %q, want %q", k, tc.want.Builtin)
			}
		})
	}
}
