package analysis

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/common/model"
)

// fakePrometheus serves /api/v1/query with canned JSON bodies by query.
type fakePrometheus struct {
	t       *testing.T
	answers map[string]string // query -> the "data" of a success answer
	fail    map[string]string // query -> a complete error answer

	mu       sync.Mutex
	queries  []string
	times    []string
	timeouts []string
}

func (f *fakePrometheus) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/api/v1/query" {
		http.NotFound(w, r)
		return
	}
	q := r.FormValue("query")
	f.mu.Lock()
	f.queries = append(f.queries, q)
	f.times = append(f.times, r.FormValue("time"))
	f.timeouts = append(f.timeouts, r.FormValue("timeout"))
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if body, ok := f.fail[q]; ok {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(body))
		return
	}
	data, ok := f.answers[q]
	if !ok {
		f.t.Errorf("unexpected query %q", q)
		data = `{"resultType":"vector","result":[]}`
	}
	_, _ = w.Write([]byte(`{"status":"success","data":` + data + `}`))
}

func newFakePrometheus(t *testing.T, answers, fail map[string]string) (*fakePrometheus, *Prometheus) {
	t.Helper()
	f := &fakePrometheus{t: t, answers: answers, fail: fail}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	p, err := NewPrometheus(srv.URL, 5*time.Second)
	if err != nil {
		t.Fatalf("NewPrometheus(%q): %v", srv.URL, err)
	}
	return f, p
}

const (
	scalar     = `{"resultType":"scalar","result":[1893553445,"0.25"]}`
	oneSample  = `{"resultType":"vector","result":[{"metric":{},"value":[1893553445,"0.05"]}]}`
	twoSamples = `{"resultType":"vector","result":[{"metric":{"pod":"a"},"value":[1893553445,"1"]},` +
		`{"metric":{"pod":"b"},"value":[1893553445,"2"]}]}`
	emptyVector = `{"resultType":"vector","result":[]}`
	nanSample   = `{"resultType":"vector","result":[{"metric":{},"value":[1893553445,"NaN"]}]}`
	infScalar   = `{"resultType":"scalar","result":[1893553445,"+Inf"]}`
	matrix      = `{"resultType":"matrix","result":[{"metric":{},"values":[[1893553445,"1"]]}]}`
	histo       = `{"resultType":"vector","result":[{"metric":{},"histogram":[1893553445,` +
		`{"count":"1","sum":"1","buckets":[[0,"0","1","1"]]}]}]}`
	badData = `{"status":"error","errorType":"bad_data","error":"parse error at char 5"}`
)

func TestPrometheusMeasure(t *testing.T) {
	const tmpl = `rate(x{namespace="{{.Namespace}}",revision="{{.Revision}}",tag="{{.Tag}}"}[{{.Window}}])`
	const canaryQ = `rate(x{namespace="shop",revision="cart-00002",tag="canary"}[60s])`
	const stableQ = `rate(x{namespace="shop",revision="cart-00001",tag=""}[60s])`
	tests := map[string]struct {
		canary, stable string // answers; "" means a failing answer (badData)
		noStable       bool
		want           Measurement
		wantErr        string
	}{
		"one-sample vectors": {
			canary: oneSample, stable: scalar,
			want: Measurement{Canary: valid(0.05, -1), Stable: valid(0.25, -1)},
		},
		"empty vector is no data": {
			canary: emptyVector, stable: scalar,
			want: Measurement{Canary: Value{Requests: -1}, Stable: valid(0.25, -1)},
		},
		"NaN is no data": {
			canary: oneSample, stable: nanSample,
			want: Measurement{Canary: valid(0.05, -1), Stable: Value{Requests: -1}},
		},
		"infinity is no data": {
			canary: infScalar, stable: oneSample,
			want: Measurement{Canary: Value{Requests: -1}, Stable: valid(0.05, -1)},
		},
		"no stable revision is not queried": {
			canary: oneSample, noStable: true,
			want: Measurement{Canary: valid(0.05, -1), Stable: Value{Requests: -1}},
		},
		"several series": {
			canary: twoSamples, stable: scalar,
			wantErr: "canary: prometheus query `" + canaryQ + "`: returned 2 series, want one number (aggregate",
		},
		"matrix": {
			canary: oneSample, stable: matrix,
			wantErr: "stable: prometheus query `" + stableQ + "`: returned a matrix, want a scalar or a vector with one sample",
		},
		"native histogram": {
			canary: histo, stable: scalar, wantErr: "returned a native histogram",
		},
		"server error": {
			canary: "", stable: scalar, wantErr: "bad_data: parse error at char 5",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			answers, fail := map[string]string{}, map[string]string{}
			for q, a := range map[string]string{canaryQ: tc.canary, stableQ: tc.stable} {
				if a == "" {
					fail[q] = badData
				} else {
					answers[q] = a
				}
			}
			f, p := newFakePrometheus(t, answers, fail)
			q := Query{Metric: Metric{Name: "m", Query: tmpl, Provider: PrometheusProvider},
				Canary: canaryTarget, Stable: Target{Namespace: "shop", Revision: "cart-00001"},
				Window: time.Minute, Now: evalNow}
			if tc.noStable {
				q.Stable = Target{}
			}
			got, err := p.Measure(context.Background(), q)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Measure() = %+v, %v; want error containing %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Measure(): %v", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Measure() mismatch (-want +got):\n%s", diff)
			}
			wantQueries := []string{canaryQ, stableQ}
			if tc.noStable {
				wantQueries = wantQueries[:1]
			}
			if diff := cmp.Diff(wantQueries, f.queries); diff != "" {
				t.Errorf("queries (-want +got):\n%s", diff)
			}
			for i := range f.times {
				if f.times[i] != "1893553445" || f.timeouts[i] != "5s" {
					t.Errorf("query %d at time %q with timeout %q, want 1893553445 and 5s", i, f.times[i], f.timeouts[i])
				}
			}
		})
	}
}

func TestPrometheusMeasureRejects(t *testing.T) {
	_, p := newFakePrometheus(t, nil, nil)
	tests := map[string]struct {
		q             Query
		wantErr       string
		wantIsUnknown bool
	}{
		"builtin metric": {q: Query{Metric: Metric{Name: "e", Builtin: ErrorRate}, Canary: canaryTarget},
			wantErr: `prometheus provider: metric "e" has no query: unknown metric`, wantIsUnknown: true},
		"no canary revision": {q: Query{Metric: Metric{Name: "q", Query: "up"}},
			wantErr: "prometheus provider: canary has no revision"},
		"bad template": {q: Query{Metric: Metric{Name: "q", Query: "up{{.Pod}}"}, Canary: canaryTarget},
			wantErr: "canary: query template (variables: .Namespace .Revision .Tag .Window)"},
		"empty rendering": {q: Query{Metric: Metric{Name: "q", Query: "{{.Tag}}"}, Canary: Target{Revision: "r"}},
			wantErr: "query template renders to an empty query"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := p.Measure(context.Background(), tc.q)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Measure() error = %v, want one containing %q", err, tc.wantErr)
			}
			if errors.Is(err, ErrUnknownMetric) != tc.wantIsUnknown {
				t.Errorf("errors.Is(%v, ErrUnknownMetric) = %v", err, !tc.wantIsUnknown)
			}
		})
	}
}

func TestSampleValueRejectsOtherTypes(t *testing.T) {
	for _, v := range []model.Value{&model.String{Value: "hello"}, nil} {
		if got, err := sampleValue(v); err == nil {
			t.Errorf("sampleValue(%v) = %+v, want an error", v, got)
		}
	}
}

func TestRenderQueryWindow(t *testing.T) {
	tests := map[string]struct {
		window time.Duration
		want   string
	}{
		"minute":          {window: time.Minute, want: "60s"},
		"five minutes":    {window: 5 * time.Minute, want: "300s"},
		"fraction rounds": {window: 1500 * time.Millisecond, want: "2s"},
		"at least 1s":     {window: 0, want: "1s"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := renderQuery("{{.Window}}", canaryTarget, tc.window)
			if err != nil || got != tc.want {
				t.Errorf("renderQuery(%v) = %q, %v; want %q", tc.window, got, err, tc.want)
			}
		})
	}
}

func TestPrometheusIsOnline(t *testing.T) {
	tests := map[string]struct {
		answers, fail map[string]string
		wantErr       string
	}{
		"online": {answers: map[string]string{"vector(1)": `{"resultType":"vector","result":[{"metric":{},"value":[1,"1"]}]}`}},
		"wrong answer": {answers: map[string]string{"vector(1)": emptyVector},
			wantErr: "prometheus: vector(1) did not return 1"},
		"error": {fail: map[string]string{"vector(1)": badData}, wantErr: "bad_data"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, p := newFakePrometheus(t, tc.answers, tc.fail)
			err := p.IsOnline(context.Background())
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("IsOnline() = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("IsOnline() = %v, want error containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestPrometheusOffline(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	addr := srv.URL
	srv.Close()
	p, err := NewPrometheus(addr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.IsOnline(context.Background()); err == nil {
		t.Error("IsOnline() = nil for a closed server")
	}
	if err := (&Prometheus{}).IsOnline(context.Background()); err == nil || !strings.Contains(err.Error(), "no API client") {
		t.Errorf("IsOnline() without API = %v", err)
	}
}

func TestNewPrometheus(t *testing.T) {
	tests := map[string]struct {
		address string
		timeout time.Duration
		wantErr string
	}{
		"http":            {address: "http://prometheus.monitoring:9090"},
		"https with path": {address: "https://thanos.example.com/prometheus"},
		"empty":           {address: "", wantErr: `prometheus address "": want an http or https URL`},
		"no scheme":       {address: "prometheus:9090", wantErr: "want an http or https URL"},
		"no host":         {address: "http://", wantErr: "want an http or https URL"},
		"bad timeout":     {address: "http://p:9090", timeout: -time.Second, wantErr: "timeout must not be negative"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			p, err := NewPrometheus(tc.address, tc.timeout)
			if tc.wantErr == "" {
				if err != nil || p == nil || p.API == nil {
					t.Fatalf("NewPrometheus(%q) = %v, %v", tc.address, p, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("NewPrometheus(%q) error = %v, want one containing %q", tc.address, err, tc.wantErr)
			}
		})
	}
}

// A query metric goes through Evaluate and the judge end to end.
func TestEvaluateWithPrometheus(t *testing.T) {
	const tmpl = `errors{revision="{{.Revision}}"}`
	_, p := newFakePrometheus(t, map[string]string{
		`errors{revision="cart-00002"}`: oneSample,
		`errors{revision="cart-00001"}`: `{"resultType":"scalar","result":[1893553445,"0.001"]}`,
	}, nil)
	m := Metric{Name: "errors", Query: tmpl, Provider: PrometheusProvider, Thresholds: Thresholds{Max: ptr(0.01)}}
	rep := Evaluate(context.Background(), Providers{PrometheusProvider: p}, spec(m), evalNow)
	if rep.Phase != Fail || rep.Message != "errors: canary 0.05 > max 0.01 (stable 0.001)" {
		t.Errorf("Evaluate() = %s %q", rep.Phase, rep.Message)
	}
}
