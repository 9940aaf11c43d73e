package rollout

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/utils/ptr"

	"github.com/rampdev/ramp/analysis"
	"github.com/rampdev/ramp/serving/autoscaler"
)

func TestProviders(t *testing.T) {
	store := autoscaler.NewStore(0)
	cases := map[string]struct {
		url     string
		want    []string
		wantErr bool
	}{
		"builtin and web": {want: []string{analysis.BuiltinProvider, analysis.WebProvider}},
		"with prometheus": {url: "http://prometheus.monitoring:9090", want: []string{analysis.BuiltinProvider, analysis.PrometheusProvider, analysis.WebProvider}},
		"bad address":     {url: "prometheus:9090", wantErr: true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := Providers(store, analysis.PrometheusConfig{URL: tc.url, Timeout: 10 * time.Second})
			if tc.wantErr {
				if err == nil {
					t.Fatalf("Providers(%q) succeeded, want an error", tc.url)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for n := range got {
				names = append(names, n)
			}
			slices.Sort(names)
			if !slices.Equal(names, tc.want) {
				t.Errorf("providers %v, want %v", names, tc.want)
			}
		})
	}
}

// fixedProvider measures the same values for every query.
type fixedProvider struct{ canary, stable float64 }

func (p fixedProvider) Measure(context.Context, analysis.Query) (analysis.Measurement, error) {
	return analysis.Measurement{
		Canary: analysis.Value{Value: p.canary, Requests: 1000, Valid: true},
		Stable: analysis.Value{Value: p.stable, Requests: 1000, Valid: true},
	}, nil
}

func TestProviderAnalyzer(t *testing.T) {
	a := ProviderAnalyzer{Providers: analysis.Providers{analysis.BuiltinProvider: fixedProvider{canary: 0.052, stable: 0.001}}}
	spec := analysis.Spec{
		Canary: analysis.Target{Namespace: "ns", Revision: "web-00002"}, Stable: analysis.Target{Namespace: "ns", Revision: "web-00001"},
		Window: time.Minute, MinRequests: 50,
		Metrics: []analysis.Metric{{Name: "error-rate", Builtin: analysis.ErrorRate, Thresholds: analysis.Thresholds{Max: ptr.To(0.01)}}},
	}
	rep := a.Evaluate(context.Background(), spec, t0)
	if rep.Phase != analysis.Fail || !strings.Contains(rep.Message, "error-rate") || !strings.Contains(rep.Message, "5.20%") {
		t.Errorf("report = %s %q, want Fail naming error-rate and 5.20%%", rep.Phase, rep.Message)
	}
}
