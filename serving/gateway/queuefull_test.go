package gateway

import (
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/rampdev/ramp/serving/gateway/routing"
	"github.com/rampdev/ramp/serving/proxy"
)

// A queue-proxy that turns a bodiless request away ("queue full": it never
// reached the user container, e.g. because several gateway replicas
// released requests to a pod that just started) does not make the client
// fail: the gateway sends it again once capacity frees up. A request with
// a body is not sent twice: its 503 reaches the client.
func TestQueueFullIsRetriedForBodilessRequests(t *testing.T) {
	for _, stack := range []string{"fast", "std"} {
		t.Run(stack, func(t *testing.T) {
			var seen atomic.Int32
			p := startPod(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				if seen.Add(1) <= 3 {
					w.Header().Set(proxy.QueueFullHeader, "true")
					http.Error(w, "queue-proxy: pending request queue full", http.StatusServiceUnavailable)
					return
				}
				_, _ = io.WriteString(w, "ok")
			}))
			routes := []routing.Route{{Namespace: "ns", Name: "r", Hash: "h", Rules: []routing.Rule{{
				Hosts: []string{"r.example.com"}, Backends: []routing.Backend{{Revision: "rev", Percent: 100}}}}}}
			gw := startGateway(t, routes, map[routing.ServiceKey][]routing.Endpoint{{Namespace: "ns", Name: "rev"}: {p.ep}}, nil)
			addr := gw.fast
			if stack == "std" {
				addr = gw.std
			}
			c := httpClient(t)

			// A GET turned away three times is answered on the fourth try.
			if r := do(t, c, addr, "GET", "r.example.com", "/"); r.code != 200 || r.body != "ok" {
				t.Fatalf("GET = %d %q, want 200 ok after the queue-proxy's refusals", r.code, r.body)
			}
			if n := seen.Load(); n != 4 {
				t.Errorf("the pod saw %d requests, want 4 (3 refused, 1 served)", n)
			}

			// A POST with a body is never sent twice.
			seen.Store(0)
			req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/", strings.NewReader("payload"))
			if err != nil {
				t.Fatal(err)
			}
			req.Host = "r.example.com"
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusServiceUnavailable || seen.Load() != 1 {
				t.Errorf("POST with a body = %d after %d tries, want the queue-proxy's 503 after 1", resp.StatusCode, seen.Load())
			}
		})
	}
}
