package main

import (
	"context"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"
)

func mustConfig(t *testing.T, env map[string]string) Config {
	t.Helper()
	cfg, err := LoadConfig(envFunc(env))
	if err != nil {
		t.Fatalf("LoadConfig: %v", err)
	}
	return cfg
}

// serve runs one request through the handler, failing instead of hanging.
func serve(t *testing.T, h http.Handler, req *http.Request) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	done := make(chan struct{})
	go func() { defer close(done); h.ServeHTTP(rec, req) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatalf("%s %s did not return", req.Method, req.URL)
	}
	return rec
}

func TestHandlers(t *testing.T) {
	dir := t.TempDir()
	present := filepath.Join(dir, "ready")
	if err := os.WriteFile(present, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, method, path string
		env                map[string]string
		wantCode           int
		wantBody           string // exact; "" skips
		wantVersion        string // "" means the header must be absent
	}{
		{"root", "GET", "/", nil, 200, "Hello World!\n", "0.0.0"},
		{"root target", "GET", "/", map[string]string{"TARGET": "Ramp", "VERSION": "1.0.0"}, 200, "Hello Ramp!\n", "1.0.0"},
		{"head root", "HEAD", "/", nil, 200, "", "0.0.0"},
		{"unknown path", "GET", "/nope", map[string]string{"VERSION": "2.0.0"}, 404, "", "2.0.0"},
		{"subpath of root", "GET", "/service", nil, 404, "", "0.0.0"},
		{"wrong method", "POST", "/", nil, 405, "", "0.0.0"},
		{"healthz", "GET", "/healthz", nil, 200, "ok", ""},
		{"healthz ignores faults", "GET", "/healthz", map[string]string{"ERROR_RATE": "1", "LATENCY": "1h"}, 200, "ok", ""},
		{"healthz ready file absent", "GET", "/healthz", map[string]string{"READY_FILE": filepath.Join(dir, "missing")}, 503, "not ready", ""},
		{"healthz ready file present", "GET", "/healthz", map[string]string{"READY_FILE": present}, 200, "ok", ""},
		{"injected error", "GET", "/", map[string]string{"ERROR_RATE": "100%", "VERSION": "3"}, 500, "injected error\n", "3"},
		{"injected error info", "GET", "/service/info", map[string]string{"ERROR_RATE": "1"}, 500, "injected error\n", "0.0.0"},
		{"404 not faulted", "GET", "/nope", map[string]string{"ERROR_RATE": "1", "LATENCY": "1h"}, 404, "", "0.0.0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newApp(mustConfig(t, tt.env), log.New(io.Discard, "", 0)).handler()
			rec := serve(t, h, httptest.NewRequest(tt.method, tt.path, nil))
			if rec.Code != tt.wantCode {
				t.Errorf("status = %d, want %d", rec.Code, tt.wantCode)
			}
			if tt.wantBody != "" && rec.Body.String() != tt.wantBody {
				t.Errorf("body = %q, want %q", rec.Body.String(), tt.wantBody)
			}
			got, ok := rec.Header()[http.CanonicalHeaderKey(versionHeader)]
			if tt.wantVersion == "" && ok {
				t.Errorf("unexpected %s header %q", versionHeader, got)
			}
			if tt.wantVersion != "" && !reflect.DeepEqual(got, []string{tt.wantVersion}) {
				t.Errorf("%s = %q, want %q", versionHeader, got, tt.wantVersion)
			}
		})
	}
}

func TestHealthzFollowsReadyFile(t *testing.T) {
	ready := filepath.Join(t.TempDir(), "ready")
	h := newApp(mustConfig(t, map[string]string{"READY_FILE": ready}), log.New(io.Discard, "", 0)).handler()
	for i, step := range []struct {
		create, remove bool
		want           int
	}{{want: 503}, {create: true, want: 200}, {remove: true, want: 503}} {
		if step.create {
			if err := os.WriteFile(ready, nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if step.remove {
			if err := os.Remove(ready); err != nil {
				t.Fatal(err)
			}
		}
		if got := serve(t, h, httptest.NewRequest(http.MethodGet, "/healthz", nil)).Code; got != step.want {
			t.Errorf("step %d: status = %d, want %d", i, got, step.want)
		}
	}
}

func TestServiceInfo(t *testing.T) {
	env := map[string]string{
		"NAME": "notifications-service", "VERSION": "1.0.0", "SOURCE": "https://example.com/src",
		"POD_NAME": "notif-abc", "POD_NAMESPACE": "demo", "NODE_NAME": "node-1",
		"POD_IP": "10.0.0.7", "POD_SERVICE_ACCOUNT": "default",
	}
	want := map[string]any{
		"name": "notifications-service", "version": "1.0.0", "source": "https://example.com/src",
		"podName": "notif-abc", "podNamespace": "demo", "podNodeName": "node-1",
		"podIp": "10.0.0.7", "podServiceAccount": "default",
	}
	defaults := map[string]any{
		"name": "sampleapp", "version": "0.0.0", "source": "", "podName": "", "podNamespace": "",
		"podNodeName": "", "podIp": "", "podServiceAccount": "",
	}
	for _, tt := range []struct {
		name string
		env  map[string]string
		want map[string]any
	}{{"set", env, want}, {"defaults", nil, defaults}} {
		t.Run(tt.name, func(t *testing.T) {
			h := newApp(mustConfig(t, tt.env), log.New(io.Discard, "", 0)).handler()
			rec := serve(t, h, httptest.NewRequest(http.MethodGet, "/service/info", nil))
			if rec.Code != 200 {
				t.Fatalf("status = %d", rec.Code)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			var got map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
				t.Fatalf("decode %q: %v", rec.Body, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("info = %v, want %v", got, tt.want)
			}
		})
	}
}

// statusSequence sends n GET / requests and returns which ones were 500s.
func statusSequence(t *testing.T, env map[string]string, n int) []bool {
	t.Helper()
	h := newApp(mustConfig(t, env), log.New(io.Discard, "", 0)).handler()
	seq := make([]bool, n)
	for i := range seq {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
		switch rec.Code {
		case 500:
			seq[i] = true
		case 200:
		default:
			t.Fatalf("request %d: unexpected status %d", i, rec.Code)
		}
	}
	return seq
}

func count(seq []bool) int {
	n := 0
	for _, b := range seq {
		if b {
			n++
		}
	}
	return n
}

func TestErrorRate(t *testing.T) {
	const n = 2000
	tests := []struct {
		rate     string
		min, max int
	}{
		{"0", 0, 0},
		{"0.25", 400, 600},
		{"25%", 400, 600},
		{"1", n, n},
	}
	for _, tt := range tests {
		t.Run(tt.rate, func(t *testing.T) {
			env := map[string]string{"ERROR_RATE": tt.rate, "SEED": "12345"}
			a, b := statusSequence(t, env, n), statusSequence(t, env, n)
			if c := count(a); c < tt.min || c > tt.max {
				t.Errorf("500s = %d of %d, want in [%d,%d]", c, n, tt.min, tt.max)
			}
			if !reflect.DeepEqual(a, b) {
				t.Error("same SEED produced different error sequences")
			}
		})
	}
	t.Run("different seeds differ", func(t *testing.T) {
		a := statusSequence(t, map[string]string{"ERROR_RATE": "0.25", "SEED": "1"}, n)
		b := statusSequence(t, map[string]string{"ERROR_RATE": "0.25", "SEED": "2"}, n)
		if reflect.DeepEqual(a, b) {
			t.Error("different seeds produced identical sequences")
		}
	})
}

func TestErrorRateConcurrent(t *testing.T) {
	h := newApp(mustConfig(t, map[string]string{"ERROR_RATE": "0.5", "LATENCY": "0s+-1ms"}), log.New(io.Discard, "", 0)).handler()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 50 {
				h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/service/info", nil))
			}
		})
	}
	wg.Wait()
}

func TestSampleLatency(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		latency  string
		min, max time.Duration
	}{
		{"50ms", 50 * ms, 50 * ms},
		{"50ms+-10ms", 40 * ms, 60 * ms},
		{"5ms+-10ms", 0, 15 * ms},
		{"0s", 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.latency, func(t *testing.T) {
			sample := func() []time.Duration {
				a := newApp(mustConfig(t, map[string]string{"LATENCY": tt.latency, "SEED": "9"}), nil)
				out := make([]time.Duration, 1000)
				for i := range out {
					out[i] = a.sampleLatency()
				}
				return out
			}
			s := sample()
			lo, hi := s[0], s[0]
			for _, d := range s {
				lo, hi = min(lo, d), max(hi, d)
			}
			if lo < tt.min || hi > tt.max {
				t.Errorf("samples in [%v,%v], want within [%v,%v]", lo, hi, tt.min, tt.max)
			}
			if tt.min != tt.max && hi-lo < (tt.max-tt.min)/2 {
				t.Errorf("samples in [%v,%v] do not spread over [%v,%v]", lo, hi, tt.min, tt.max)
			}
			if !reflect.DeepEqual(s, sample()) {
				t.Error("same SEED produced different latencies")
			}
		})
	}
}

func TestLatencyDelaysAndRespectsCancel(t *testing.T) {
	h := newApp(mustConfig(t, map[string]string{"LATENCY": "30ms"}), log.New(io.Discard, "", 0)).handler()
	start := time.Now()
	if rec := serve(t, h, httptest.NewRequest(http.MethodGet, "/", nil)); rec.Code != 200 {
		t.Fatalf("status = %d", rec.Code)
	}
	if d := time.Since(start); d < 30*time.Millisecond {
		t.Errorf("request took %v, want >= 30ms", d)
	}

	h = newApp(mustConfig(t, map[string]string{"LATENCY": "1h"}), log.New(io.Discard, "", 0)).handler()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	serve(t, h, httptest.NewRequest(http.MethodGet, "/", nil).WithContext(ctx)) // fails if it waits an hour
}
