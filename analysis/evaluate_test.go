package analysis

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// fakeProvider answers by metric name and records its queries.
type fakeProvider struct {
	meas  map[string]Measurement
	errs  map[string]error
	delay time.Duration

	mu       sync.Mutex
	queries  []Query
	inFlight atomic.Int32
	maxSeen  atomic.Int32
}

var _ Provider = (*fakeProvider)(nil)

func (f *fakeProvider) Measure(ctx context.Context, q Query) (Measurement, error) {
	n := f.inFlight.Add(1)
	defer f.inFlight.Add(-1)
	for {
		if m := f.maxSeen.Load(); n <= m || f.maxSeen.CompareAndSwap(m, n) {
			break
		}
	}
	f.mu.Lock()
	f.queries = append(f.queries, q)
	f.mu.Unlock()
	if f.delay > 0 {
		select {
		case <-time.After(f.delay):
		case <-ctx.Done():
			return Measurement{}, ctx.Err()
		}
	}
	if err := f.errs[q.Metric.Name]; err != nil {
		return Measurement{}, err
	}
	return f.meas[q.Metric.Name], nil
}

var (
	canaryTarget = Target{Namespace: "shop", Revision: "cart-00002", Tag: "canary"}
	stableTarget = Target{Namespace: "shop", Revision: "cart-00001"}
	evalNow      = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
)

func builtinMetric(name, builtin string, th Thresholds) Metric {
	return Metric{Name: name, Builtin: builtin, Thresholds: th}
}

func dryRun(m Metric) Metric { m.DryRun = true; return m }

func spec(metrics ...Metric) Spec {
	return Spec{Canary: canaryTarget, Stable: stableTarget, Window: time.Minute, MinRequests: 10, Metrics: metrics}
}

func TestEvaluate(t *testing.T) {
	errRate := builtinMetric("error-rate", ErrorRate, Thresholds{Max: ptr(0.01)})
	p99 := builtinMetric("latency-p99", LatencyP99, Thresholds{MaxRatio: ptr(1.5)})
	good := map[string]Measurement{
		"error-rate":  {Canary: valid(0.001, 100), Stable: valid(0.001, 1000)},
		"latency-p99": {Canary: valid(0.2, 100), Stable: valid(0.2, 1000)},
	}
	with := func(name string, m Measurement) map[string]Measurement {
		out := map[string]Measurement{name: m}
		for k, v := range good {
			if k != name {
				out[k] = v
			}
		}
		return out
	}
	tests := map[string]struct {
		spec        Spec
		meas        map[string]Measurement
		errs        map[string]error
		wantPhase   Phase
		wantMessage string
		wantPhases  []Phase // per metric, in spec order
	}{
		"no metrics": {
			spec:        spec(),
			wantPhase:   Inconclusive,
			wantMessage: "no metrics to evaluate",
		},
		"all pass": {
			spec:        spec(errRate, p99),
			meas:        good,
			wantPhase:   Pass,
			wantMessage: "all 2 metrics passed: error-rate, latency-p99",
			wantPhases:  []Phase{Pass, Pass},
		},
		"one metric passes with its own message": {
			spec:        spec(errRate),
			meas:        good,
			wantPhase:   Pass,
			wantMessage: "error-rate: canary 0.10% within max 1.00% (stable 0.10%)",
			wantPhases:  []Phase{Pass},
		},
		"fail beats error": {
			spec:        spec(errRate, p99),
			meas:        with("error-rate", Measurement{Canary: valid(0.052, 100), Stable: valid(0.001, 1000)}),
			errs:        map[string]error{"latency-p99": errors.New("boom")},
			wantPhase:   Fail,
			wantMessage: "error-rate: canary 5.20% > max 1.00% (stable 0.10%)",
			wantPhases:  []Phase{Fail, Error},
		},
		"error beats inconclusive": {
			spec:        spec(errRate, p99),
			meas:        with("error-rate", Measurement{Canary: Value{Requests: 0}}),
			errs:        map[string]error{"latency-p99": errors.New("telemetry unavailable")},
			wantPhase:   Error,
			wantMessage: "latency-p99: measuring: telemetry unavailable",
			wantPhases:  []Phase{Inconclusive, Error},
		},
		"inconclusive beats pass": {
			spec:        spec(errRate, p99),
			meas:        with("latency-p99", Measurement{Canary: valid(0.2, 3), Stable: valid(0.2, 1000)}),
			wantPhase:   Inconclusive,
			wantMessage: "latency-p99: only 3 canary requests in window, need 10",
			wantPhases:  []Phase{Pass, Inconclusive},
		},
		"no data from the provider is inconclusive": {
			spec:        spec(errRate),
			errs:        map[string]error{"error-rate": fmt.Errorf("revision cart-00002: %w", ErrNoData)},
			wantPhase:   Inconclusive,
			wantMessage: "error-rate: revision cart-00002: no data",
			wantPhases:  []Phase{Inconclusive},
		},
		"provider error on several lines becomes one": {
			spec:        spec(errRate),
			errs:        map[string]error{"error-rate": errors.New("bad gateway:\n  upstream down")},
			wantPhase:   Error,
			wantMessage: "error-rate: measuring: bad gateway: upstream down",
			wantPhases:  []Phase{Error},
		},
		"several failures are counted": {
			spec: spec(errRate, p99),
			meas: map[string]Measurement{
				"error-rate":  {Canary: valid(0.052, 100), Stable: valid(0.001, 1000)},
				"latency-p99": {Canary: valid(0.6, 100), Stable: valid(0.2, 1000)},
			},
			wantPhase:   Fail,
			wantMessage: "error-rate: canary 5.20% > max 1.00% (stable 0.10%) (1 more failed)",
			wantPhases:  []Phase{Fail, Fail},
		},
		"unknown provider is an error, not a fallback": {
			spec: spec(errRate, Metric{Name: "saturation", Query: "up", Provider: "datadog",
				Thresholds: Thresholds{Max: ptr(1)}}),
			meas:        good,
			wantPhase:   Error,
			wantMessage: `metric "saturation": unknown provider "datadog" (configured: builtin)`,
			wantPhases:  []Phase{Pass, Error},
		},
		"a failing dry-run metric is shown but does not decide": {
			spec:        spec(errRate, dryRun(p99)),
			meas:        with("latency-p99", Measurement{Canary: valid(0.5, 100), Stable: valid(0.2, 1000)}),
			wantPhase:   Pass,
			wantMessage: "error-rate: canary 0.10% within max 1.00% (stable 0.10%)",
			wantPhases:  []Phase{Pass, Fail},
		},
		"only dry-run metrics: nothing decides": {
			spec:        spec(dryRun(errRate)),
			meas:        good,
			wantPhase:   Inconclusive,
			wantMessage: "every metric is a dry run (1 measured, none decides)",
			wantPhases:  []Phase{Pass},
		},
		"invalid spec": {
			spec:        spec(errRate, errRate),
			wantPhase:   Error,
			wantMessage: `invalid analysis: metric "error-rate" appears twice`,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			fake := &fakeProvider{meas: tc.meas, errs: tc.errs}
			got := Evaluate(context.Background(), Providers{BuiltinProvider: fake}, tc.spec, evalNow)
			if got.Phase != tc.wantPhase || got.Message != tc.wantMessage {
				t.Errorf("Evaluate() = %s %q, want %s %q", got.Phase, got.Message, tc.wantPhase, tc.wantMessage)
			}
			if !got.Time.Equal(evalNow) {
				t.Errorf("Time = %v, want %v", got.Time, evalNow)
			}
			var phases []Phase
			for i, r := range got.Results {
				phases = append(phases, r.Phase)
				if r.Metric != tc.spec.Metrics[i].Name {
					t.Errorf("Results[%d].Metric = %q, want %q (spec order)", i, r.Metric, tc.spec.Metrics[i].Name)
				}
			}
			if diff := cmp.Diff(tc.wantPhases, phases); diff != "" {
				t.Errorf("result phases (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEvaluateQueries(t *testing.T) {
	fake := &fakeProvider{}
	m := builtinMetric("error-rate", ErrorRate, Thresholds{Max: ptr(0.01)})
	Evaluate(context.Background(), Providers{BuiltinProvider: fake}, spec(m), evalNow)
	want := []Query{{Metric: m, Canary: canaryTarget, Stable: stableTarget, Window: time.Minute, Now: evalNow}}
	if diff := cmp.Diff(want, fake.queries); diff != "" {
		t.Errorf("queries (-want +got):\n%s", diff)
	}
}

func TestEvaluateBoundsConcurrency(t *testing.T) {
	fake := &fakeProvider{delay: 20 * time.Millisecond}
	var metrics []Metric
	for i := range 3 * maxParallelMeasurements {
		metrics = append(metrics, builtinMetric(fmt.Sprintf("m%d", i), ErrorRate, Thresholds{Max: ptr(1)}))
	}
	rep := Evaluate(context.Background(), Providers{BuiltinProvider: fake}, spec(metrics...), evalNow)
	if len(rep.Results) != len(metrics) || len(fake.queries) != len(metrics) {
		t.Fatalf("%d results, %d queries; want %d", len(rep.Results), len(fake.queries), len(metrics))
	}
	if got := fake.maxSeen.Load(); got > maxParallelMeasurements || got < 2 {
		t.Errorf("%d measurements ran at once, want 2..%d", got, maxParallelMeasurements)
	}
}

func TestEvaluateCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	fake := &fakeProvider{delay: time.Hour}
	rep := Evaluate(ctx, Providers{BuiltinProvider: fake},
		spec(builtinMetric("error-rate", ErrorRate, Thresholds{Max: ptr(0.01)})), evalNow)
	if rep.Phase != Error || !strings.Contains(rep.Message, "context canceled") {
		t.Errorf("Evaluate() = %s %q, want Error naming the cancellation", rep.Phase, rep.Message)
	}
}

func TestProvidersFor(t *testing.T) {
	builtin, prom := &fakeProvider{}, &fakeProvider{}
	providers := Providers{BuiltinProvider: builtin, PrometheusProvider: prom}
	tests := map[string]struct {
		providers Providers
		metric    Metric
		want      Provider
		wantErr   string
	}{
		"builtin by default": {providers: providers, metric: Metric{Name: "e", Builtin: ErrorRate}, want: builtin},
		"builtin by name": {providers: providers, metric: Metric{Name: "e", Builtin: ErrorRate, Provider: BuiltinProvider},
			want: builtin},
		"prometheus": {providers: providers, metric: Metric{Name: "q", Query: "up", Provider: PrometheusProvider}, want: prom},
		"query without provider": {providers: providers, metric: Metric{Name: "q", Query: "up"},
			wantErr: `metric "q": a query metric needs a provider (prometheus): unknown provider`},
		"unknown provider": {providers: providers, metric: Metric{Name: "q", Query: "up", Provider: "datadog"},
			wantErr: `metric "q": unknown provider "datadog" (configured: builtin, prometheus)`},
		"not configured": {providers: Providers{BuiltinProvider: builtin},
			metric:  Metric{Name: "q", Query: "up", Provider: PrometheusProvider},
			wantErr: `unknown provider "prometheus" (configured: builtin)`},
		"none configured": {providers: nil, metric: Metric{Name: "e", Builtin: ErrorRate},
			wantErr: `unknown provider "builtin" (none configured)`},
		"configured as nil": {providers: Providers{BuiltinProvider: nil}, metric: Metric{Name: "e", Builtin: ErrorRate},
			wantErr: `unknown provider "builtin"`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := tc.providers.For(tc.metric)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.Is(err, ErrUnknownProvider) {
					t.Fatalf("For() = %v, %v; want error wrapping ErrUnknownProvider containing %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("For() = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	errRate := builtinMetric("error-rate", ErrorRate, Thresholds{Max: ptr(0.01)})
	query := Metric{Name: "q", Query: `sum(rate(x{revision="{{.Revision}}"}[{{.Window}}]))`, Provider: PrometheusProvider,
		Thresholds: Thresholds{Max: ptr(1)}}
	withMetric := func(f func(*Metric)) Spec {
		m := errRate
		f(&m)
		return spec(m)
	}
	tests := map[string]struct {
		spec          Spec
		wantErr       string // substring; "" means valid
		wantIsUnknown bool
	}{
		"valid":                  {spec: spec(errRate, query)},
		"valid without metrics":  {spec: spec()},
		"valid without a stable": {spec: Spec{Canary: canaryTarget, Window: time.Minute, Metrics: []Metric{errRate}}},
		"zero window": {spec: Spec{Canary: canaryTarget, Metrics: []Metric{errRate}},
			wantErr: "analysis window must be positive, got 0s"},
		"negative minimum": {spec: Spec{Canary: canaryTarget, Window: time.Minute, MinRequests: -1},
			wantErr: "minimum requests must not be negative"},
		"no canary revision": {spec: Spec{Window: time.Minute}, wantErr: "analysis needs a canary revision"},
		"no name":            {spec: withMetric(func(m *Metric) { m.Name = "" }), wantErr: "metric 0 has no name"},
		"duplicate name":     {spec: spec(errRate, query, errRate), wantErr: `metric "error-rate" appears twice`},
		"builtin and query": {spec: withMetric(func(m *Metric) { m.Query = "up" }),
			wantErr: `metric "error-rate": set either builtin or query, not both`},
		"neither builtin nor query": {spec: withMetric(func(m *Metric) { m.Builtin = "" }),
			wantErr: `metric "error-rate": unknown metric: set builtin`, wantIsUnknown: true},
		"unknown builtin": {spec: withMetric(func(m *Metric) { m.Builtin = "cpu" }),
			wantErr: `metric "error-rate": unknown metric "cpu" (want one of errorRate, latencyP50`, wantIsUnknown: true},
		"builtin with another provider": {spec: withMetric(func(m *Metric) { m.Provider = PrometheusProvider }),
			wantErr: `builtin errorRate is measured by the builtin provider, not "prometheus"`},
		"query without provider": {spec: spec(Metric{Name: "q", Query: "up", Thresholds: Thresholds{Max: ptr(1)}}),
			wantErr: `metric "q": a query needs a provider such as prometheus`},
		"query with the builtin provider": {
			spec:    spec(Metric{Name: "q", Query: "up", Provider: BuiltinProvider, Thresholds: Thresholds{Max: ptr(1)}}),
			wantErr: `metric "q": a query needs a provider`},
		"query that does not parse": {
			spec:    spec(Metric{Name: "q", Query: "up{{", Provider: PrometheusProvider, Thresholds: Thresholds{Max: ptr(1)}}),
			wantErr: `metric "q": query template:`},
		"query with an unknown variable": {
			spec:    spec(Metric{Name: "q", Query: "up{pod={{.Pod}}}", Provider: PrometheusProvider, Thresholds: Thresholds{Max: ptr(1)}}),
			wantErr: `metric "q": query template (variables: .Namespace .Revision .Tag .Window)`},
		"query for another provider is not rendered": {
			spec: spec(Metric{Name: "q", Query: "avg:{{", Provider: "datadog", Thresholds: Thresholds{Max: ptr(1)}})},
		"no threshold": {spec: withMetric(func(m *Metric) { m.Thresholds = Thresholds{} }),
			wantErr: `metric "error-rate": no threshold: set max, min, maxIncrease or maxRatio`},
		"NaN threshold": {spec: withMetric(func(m *Metric) { m.MaxIncrease = ptr(math.NaN()) }),
			wantErr: "maxIncrease is NaN, want a finite number"},
		"zero ratio": {spec: withMetric(func(m *Metric) { m.MaxRatio = ptr(0) }),
			wantErr: "maxRatio must be greater than 0, got 0"},
		"min above max": {spec: withMetric(func(m *Metric) { m.Min = ptr(0.02) }),
			wantErr: `metric "error-rate": min 2.00% is above max 1.00%`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			err := Validate(tc.spec)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Validate() = %v, want error containing %q", err, tc.wantErr)
			}
			if got := errors.Is(err, ErrUnknownMetric); got != tc.wantIsUnknown {
				t.Errorf("errors.Is(%v, ErrUnknownMetric) = %v, want %v", err, got, tc.wantIsUnknown)
			}
		})
	}
}
