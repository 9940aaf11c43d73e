package gateway

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap/zaptest"

	"github.com/rampdev/ramp/serving/gateway/routing"
)

// heldGateway serves routes r1 and r2 (revisions rev-1 and rev-2, both
// without endpoints) on a proxy listener, holding at most 2 requests per
// revision and 3 in all.
type heldGateway struct {
	addr   string
	router *routing.Router
	act    *routing.Activator
	reg    *prometheus.Registry
	routes []routing.Route
}

func startHeldGateway(t *testing.T) *heldGateway {
	t.Helper()
	log := zaptest.NewLogger(t)
	reg := prometheus.NewRegistry()
	rec := NewRecorder(reg)
	router := routing.NewRouter(rec)
	var routes []routing.Route
	for _, n := range []string{"1", "2"} {
		routes = append(routes, routing.Route{Namespace: "ns", Name: "r" + n, Hash: "h", Rules: []routing.Rule{{
			Hosts: []string{"r" + n + ".example.com"}, Backends: []routing.Backend{{Revision: "rev-" + n, Percent: 100}}}}})
	}
	router.Update(routing.Build(routes, nil))
	o := Options{ActivationTimeout: 20 * time.Second, MaxHeldPerRevision: 2, MaxHeld: 3}
	act := routing.NewActivator(router, o.activatorConfig(nil))
	if err := rec.observeHeld(reg, act.Waiting); err != nil {
		t.Fatal(err)
	}
	px := NewProxy(router, act, log, rec)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	pl := newProxyListener(l, px, true, testLimits, log)
	pl.serve(make(chan error, 2))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		drain(ctx, px, []*proxyListener{pl}, log)
	})
	return &heldGateway{addr: l.Addr().String(), router: router, act: act, reg: reg, routes: routes}
}

// warm gives both revisions pod p.
func (g *heldGateway) warm(p *pod) {
	g.router.Update(routing.Build(g.routes, map[routing.ServiceKey][]routing.Endpoint{
		{Namespace: "ns", Name: "rev-1"}: {p.ep}, {Namespace: "ns", Name: "rev-2"}: {p.ep}}))
}

// h2cClient speaks HTTP/2 with prior knowledge.
func h2cClient(t testing.TB) *http.Client {
	p := new(http.Protocols)
	p.SetUnencryptedHTTP2(true)
	tr := &http.Transport{Protocols: p}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 20 * time.Second}
}

// Past the bound per revision, then past the total, requests get 503 with
// Retry-After, counted by reason; the requests held are all served once
// the revisions have a pod, and the held gauge goes back to 0.
func TestHeldRequestsAreBounded(t *testing.T) {
	for name, client := range map[string]func(testing.TB) *http.Client{"HTTP/1.1": httpClient, "h2c": h2cClient} {
		t.Run(name, func(t *testing.T) {
			g := startHeldGateway(t)
			c := client(t)
			held := make(chan response, 3)
			hold := func(host string, n int) {
				go func() {
					r, err := send(c, g.addr, "GET", host, "/")
					if err != nil {
						r.body = err.Error()
					}
					held <- r
				}()
				waitFor(t, "requests to be held", func() bool { return g.act.Waiting() == n })
			}
			hold("r1.example.com", 1)
			hold("r1.example.com", 2)
			refused := do(t, c, g.addr, "GET", "r1.example.com", "/")
			if refused.code != http.StatusServiceUnavailable || refused.header.Get("Retry-After") != retryAfter ||
				!strings.Contains(refused.body, "revision rev-1") {
				t.Errorf("past the bound per revision: %d, Retry-After %q, %q; want 503, %q, naming rev-1",
					refused.code, refused.header.Get("Retry-After"), refused.body, retryAfter)
			}
			hold("r2.example.com", 3)
			refused = do(t, c, g.addr, "GET", "r2.example.com", "/")
			if refused.code != http.StatusServiceUnavailable || refused.header.Get("Retry-After") != retryAfter ||
				!strings.Contains(refused.body, "revisions") {
				t.Errorf("past the total bound: %d, Retry-After %q, %q; want 503, %q", refused.code,
					refused.header.Get("Retry-After"), refused.body, retryAfter)
			}
			for reason, want := range map[string]float64{routing.RejectQueueFull: 1, routing.RejectTooManyWaiting: 1} {
				if got := rejected(t, g.reg, reason); got != want {
					t.Errorf("rejected{reason=%q} = %g, want %g", reason, got, want)
				}
			}
			if got := gauge(t, g.reg, "ramp_gateway_held_requests"); got != 3 {
				t.Errorf("held gauge = %g, want 3", got)
			}
			g.warm(startPod(t, podHandler("a", nil)))
			for range 3 {
				if r := <-held; r.code != http.StatusOK || r.body != "a" {
					t.Errorf("held request: %d %q, want 200 \"a\"", r.code, r.body)
				}
			}
			if got := gauge(t, g.reg, "ramp_gateway_held_requests"); got != 0 {
				t.Errorf("held gauge = %g after the pods came, want 0", got)
			}
		})
	}
}

// rejected reads ramp_gateway_rejected_requests_total{reason}.
func rejected(t *testing.T, reg *prometheus.Registry, reason string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "ramp_gateway_rejected_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.GetLabel()[0].GetValue() == reason {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func gauge(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// countingReader counts the bytes read from it, and never ends.
type countingReader struct{ n atomic.Int64 }

func (r *countingReader) Read(b []byte) (int, error) {
	for i := range b {
		b[i] = 'x'
	}
	r.n.Add(int64(len(b)))
	return len(b), nil
}

// A held request's body is not read while it waits: the client is held
// back by the kernel's socket buffers (HTTP/1.1) or by flow control
// (HTTP/2), a few MB at most, never the 1 GiB it announces.
func TestHeldRequestBodyIsNotBuffered(t *testing.T) {
	for name, tc := range map[string]struct {
		client func(testing.TB) *http.Client
		most   int64
	}{
		"HTTP/1.1": {httpClient, 32 << 20},
		"h2c":      {h2cClient, 2 * h2StreamWindow},
	} {
		t.Run(name, func(t *testing.T) {
			g := startHeldGateway(t)
			body := &countingReader{}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+g.addr+"/", io.LimitReader(body, 1<<30))
			req.Host, req.ContentLength = "r1.example.com", 1<<30
			go func() {
				if resp, err := tc.client(t).Do(req); err == nil {
					_ = resp.Body.Close()
				}
			}()
			waitFor(t, "the request to be held", func() bool { return g.act.Waiting() == 1 })
			// Let the client write until it is held back.
			for prev := int64(-1); prev != body.n.Load(); time.Sleep(200 * time.Millisecond) {
				prev = body.n.Load()
			}
			t.Logf("the client sent %d bytes of the held body", body.n.Load())
			if n := body.n.Load(); n > tc.most {
				t.Errorf("the client could send %d bytes of a held request's body, want at most %d", n, tc.most)
			}
		})
	}
}
