package analysis

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func ptr(v float64) *float64 { return &v }

func valid(v float64, requests int64) Value { return Value{Value: v, Requests: requests, Valid: true} }

func TestJudge(t *testing.T) {
	errorRate := func(th Thresholds) Metric { return Metric{Name: "error-rate", Builtin: ErrorRate, Thresholds: th} }
	p99 := func(th Thresholds) Metric { return Metric{Name: "latency-p99", Builtin: LatencyP99, Thresholds: th} }
	tests := map[string]struct {
		metric      Metric
		meas        Measurement
		minRequests int64
		wantPhase   Phase
		wantMessage string
	}{
		"no canary data": {
			metric:      errorRate(Thresholds{Max: ptr(0.01)}),
			meas:        Measurement{Canary: Value{Requests: 0}, Stable: valid(0.001, 1000)},
			wantPhase:   Inconclusive,
			wantMessage: "error-rate: no data for canary",
		},
		"too few canary requests": {
			metric:      errorRate(Thresholds{Max: ptr(0.01)}),
			meas:        Measurement{Canary: valid(0.5, 12)},
			minRequests: 50,
			wantPhase:   Inconclusive,
			wantMessage: "error-rate: only 12 canary requests in window, need 50",
		},
		"exactly the minimum requests": {
			metric:      errorRate(Thresholds{Max: ptr(0.01)}),
			meas:        Measurement{Canary: valid(0.005, 50)},
			minRequests: 50,
			wantPhase:   Pass,
			wantMessage: "error-rate: canary 0.50% within max 1.00% (no stable)",
		},
		"unknown request count skips the minimum": {
			metric:      errorRate(Thresholds{Max: ptr(0.01)}),
			meas:        Measurement{Canary: valid(0.005, -1)},
			minRequests: 50,
			wantPhase:   Pass,
			wantMessage: "error-rate: canary 0.50% within max 1.00% (no stable)",
		},
		"max crossed": {
			metric:      errorRate(Thresholds{Max: ptr(0.01)}),
			meas:        Measurement{Canary: valid(0.052, 500), Stable: valid(0.001, 5000)},
			wantPhase:   Fail,
			wantMessage: "error-rate: canary 5.20% > max 1.00% (stable 0.10%)",
		},
		"max crossed without stable": {
			metric:      errorRate(Thresholds{Max: ptr(0.01)}),
			meas:        Measurement{Canary: valid(0.052, 500)},
			wantPhase:   Fail,
			wantMessage: "error-rate: canary 5.20% > max 1.00% (no stable)",
		},
		"at max passes": {
			metric:      errorRate(Thresholds{Max: ptr(0.01)}),
			meas:        Measurement{Canary: valid(0.01, 500), Stable: valid(0.001, 5000)},
			wantPhase:   Pass,
			wantMessage: "error-rate: canary 1.00% within max 1.00% (stable 0.10%)",
		},
		"min crossed": {
			metric:      Metric{Name: "rps", Builtin: RequestRate, Thresholds: Thresholds{Min: ptr(1)}},
			meas:        Measurement{Canary: valid(0.5, 30), Stable: valid(3, 180)},
			wantPhase:   Fail,
			wantMessage: "rps: canary 0.5 req/s < min 1.0 req/s (stable 3.0 req/s)",
		},
		"max increase crossed": {
			metric:      errorRate(Thresholds{MaxIncrease: ptr(0.01)}),
			meas:        Measurement{Canary: valid(0.05, 500), Stable: valid(0.02, 5000)},
			wantPhase:   Fail,
			wantMessage: "error-rate: canary 5.00% > stable 2.00% + max increase 1.00%",
		},
		"max increase held": {
			metric:      errorRate(Thresholds{MaxIncrease: ptr(0.01)}),
			meas:        Measurement{Canary: valid(0.025, 500), Stable: valid(0.02, 5000)},
			wantPhase:   Pass,
			wantMessage: "error-rate: canary 2.50% within max increase 1.00% (stable 2.00%)",
		},
		"max increase without stable": {
			metric:      errorRate(Thresholds{MaxIncrease: ptr(0.01)}),
			meas:        Measurement{Canary: valid(0.005, 500), Stable: Value{Requests: 0}},
			wantPhase:   Inconclusive,
			wantMessage: "error-rate: no stable data to compare canary 0.50% with (max increase 1.00%)",
		},
		"absolute failure beats missing stable": {
			metric:      errorRate(Thresholds{Max: ptr(0.01), MaxIncrease: ptr(0.01)}),
			meas:        Measurement{Canary: valid(0.2, 500)},
			wantPhase:   Fail,
			wantMessage: "error-rate: canary 20.00% > max 1.00% (no stable)",
		},
		"max ratio crossed": {
			metric:      p99(Thresholds{MaxRatio: ptr(1.5)}),
			meas:        Measurement{Canary: valid(0.512, 500), Stable: valid(0.25, 5000)},
			wantPhase:   Fail,
			wantMessage: "latency-p99: canary 512ms > 1.50x stable 250ms (2.05x)",
		},
		"max ratio held": {
			metric:      p99(Thresholds{Max: ptr(1), MaxRatio: ptr(1.5)}),
			meas:        Measurement{Canary: valid(0.3, 500), Stable: valid(0.25, 5000)},
			wantPhase:   Pass,
			wantMessage: "latency-p99: canary 300ms within max 1s, max ratio 1.50x (stable 250ms)",
		},
		"max ratio without stable": {
			metric:      p99(Thresholds{MaxRatio: ptr(1.5)}),
			meas:        Measurement{Canary: valid(0.3, 500)},
			wantPhase:   Inconclusive,
			wantMessage: "latency-p99: no stable data to compare canary 300ms with (max ratio 1.50x)",
		},
		"max ratio with stable and canary at zero": {
			metric:      errorRate(Thresholds{MaxRatio: ptr(2)}),
			meas:        Measurement{Canary: valid(0, 500), Stable: valid(0, 5000)},
			wantPhase:   Pass,
			wantMessage: "error-rate: canary 0.00% within max ratio 2.00x (stable 0.00%)",
		},
		"max ratio with stable at zero and canary above": {
			metric:      errorRate(Thresholds{MaxRatio: ptr(2)}),
			meas:        Measurement{Canary: valid(0.002, 500), Stable: valid(0, 5000)},
			wantPhase:   Inconclusive,
			wantMessage: "error-rate: stable is 0.00%, so max ratio 2.00x cannot judge canary 0.20% (set a max increase)",
		},
		"stable at zero: max increase decides, held": {
			metric:      errorRate(Thresholds{MaxIncrease: ptr(0.01), MaxRatio: ptr(2)}),
			meas:        Measurement{Canary: valid(0.002, 500), Stable: valid(0, 5000)},
			wantPhase:   Pass,
			wantMessage: "error-rate: canary 0.20% within max increase 1.00%, max ratio 2.00x (stable 0.00%)",
		},
		"stable at zero: max increase decides, crossed": {
			metric:      errorRate(Thresholds{MaxIncrease: ptr(0.01), MaxRatio: ptr(2)}),
			meas:        Measurement{Canary: valid(0.03, 500), Stable: valid(0, 5000)},
			wantPhase:   Fail,
			wantMessage: "error-rate: canary 3.00% > stable 0.00% + max increase 1.00%",
		},
		"max increase checked before max ratio": {
			metric:      errorRate(Thresholds{MaxIncrease: ptr(0.01), MaxRatio: ptr(2)}),
			meas:        Measurement{Canary: valid(0.5, 500), Stable: valid(0.1, 5000)},
			wantPhase:   Fail,
			wantMessage: "error-rate: canary 50.00% > stable 10.00% + max increase 1.00%",
		},
		"query metric values are plain numbers": {
			metric:      Metric{Name: "saturation", Query: "q", Provider: PrometheusProvider, Thresholds: Thresholds{Max: ptr(0.8)}},
			meas:        Measurement{Canary: valid(0.93, -1), Stable: valid(0.42, -1)},
			minRequests: 50,
			wantPhase:   Fail,
			wantMessage: "saturation: canary 0.93 > max 0.8 (stable 0.42)",
		},
		"unnamed metric uses the builtin": {
			metric:      Metric{Builtin: ErrorRate, Thresholds: Thresholds{Max: ptr(0.01)}},
			meas:        Measurement{},
			wantPhase:   Inconclusive,
			wantMessage: "errorRate: no data for canary",
		},
		"no thresholds": {
			metric:      errorRate(Thresholds{}),
			meas:        Measurement{Canary: valid(0.5, 500)},
			wantPhase:   Pass,
			wantMessage: "error-rate: canary 50.00%, no thresholds (no stable)",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := Judge(tc.metric, tc.meas, tc.minRequests)
			want := Result{Metric: tc.metric.Name, Phase: tc.wantPhase, Canary: tc.meas.Canary,
				Stable: tc.meas.Stable, Message: tc.wantMessage}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Judge() mismatch (-want +got):\n%s", diff)
			}
			if strings.Contains(got.Message, "\n") {
				t.Errorf("message %q is not one line", got.Message)
			}
		})
	}
}
