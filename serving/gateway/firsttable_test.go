package gateway

import (
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rampdev/ramp/serving/gateway/routing"
)

// A gateway that has not read its routes yet (a restarted container whose
// endpoint the load balancer still lists as ready) holds requests for the
// first table instead of calling their host unknown, on both paths.
func TestFirstTableHoldsRequests(t *testing.T) {
	a := startPod(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("a")) }))
	rec := NewRecorder(prometheus.NewRegistry())
	router := routing.NewRouter(rec)
	gw := serveRouter(t, router, rec, nil, 10*time.Second)
	c := httpClient(t)

	type result struct {
		r   response
		err error
	}
	got := make(chan result, 2)
	for _, addr := range []string{gw.fast, gw.std} {
		go func() {
			r, err := send(c, addr, "GET", "hello.example.com", "/")
			got <- result{r, err}
		}()
	}
	time.Sleep(200 * time.Millisecond) // both requests are waiting now
	select {
	case r := <-got:
		t.Fatalf("answered before any table was installed: %+v", r)
	default:
	}
	router.Update(routing.Build([]routing.Route{{Namespace: "ns", Name: "hello", Hash: "h",
		Rules: []routing.Rule{{Hosts: []string{"hello.example.com"}, Backends: []routing.Backend{{Revision: "rev-a", Percent: 100}}}}}},
		map[routing.ServiceKey][]routing.Endpoint{{Namespace: "ns", Name: "rev-a"}: {a.ep}}))
	for range 2 {
		r := <-got
		if r.err != nil || r.r.code != 200 || r.r.body != "a" {
			t.Errorf("after the first table: %d %q (%v), want 200 \"a\"", r.r.code, r.r.body, r.err)
		}
	}

	// Once a table is installed, an unknown host is answered at once.
	start := time.Now()
	if r := do(t, c, gw.fast, "GET", "nope.example.com", "/"); r.code != 404 {
		t.Errorf("unknown host after the first table: %d, want 404", r.code)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("unknown host took %s after the first table, want no wait", d)
	}
}

// With no table in time, the request gets a retryable 503 that says why,
// not a 404.
func TestFirstTableTimeout(t *testing.T) {
	rec := NewRecorder(prometheus.NewRegistry())
	gw := serveRouter(t, routing.NewRouter(rec), rec, nil, 100*time.Millisecond)
	c := httpClient(t)
	for _, addr := range []string{gw.fast, gw.std} {
		r := do(t, c, addr, "GET", "hello.example.com", "/")
		if r.code != http.StatusServiceUnavailable || r.body != "gateway: starting, no routing table yet\n" || r.header.Get("Retry-After") == "" {
			t.Errorf("%s: %d %q Retry-After %q, want 503, the reason and a Retry-After", addr, r.code, r.body, r.header.Get("Retry-After"))
		}
	}
}
