package gateway

import (
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/rampdev/ramp/serving/gateway/routing"
)

// Draining stops accepting connections at once and lets the requests in
// flight finish, telling their clients to close.
func TestDrainFinishesRequestsInFlight(t *testing.T) {
	started, finish := make(chan struct{}), make(chan struct{})
	p := startPod(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		close(started)
		<-finish
		_, _ = io.WriteString(w, "done")
	}))
	routes := []routing.Route{{Namespace: "ns", Name: "r", Hash: "h", Rules: []routing.Rule{{
		Hosts: []string{"r.example.com"}, Backends: []routing.Backend{{Revision: "rev", Percent: 100}}}}}}
	gw := startGateway(t, routes, map[routing.ServiceKey][]routing.Endpoint{{Namespace: "ns", Name: "rev"}: {p.ep}}, nil)

	got := make(chan response, 1)
	c := httpClient(t)
	go func() {
		r, err := send(c, gw.fast, "GET", "r.example.com", "/")
		if err != nil {
			r.body = err.Error()
		}
		got <- r
	}()
	<-started
	drained := make(chan struct{})
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		drain(ctx, gw.px, []*proxyListener{gw.pl}, gw.px.Log)
		close(drained)
	}()
	waitFor(t, "the listener to close", func() bool {
		c, err := net.Dial("tcp", gw.fast)
		if err == nil {
			_ = c.Close()
		}
		return err != nil
	})
	select {
	case <-drained:
		t.Fatal("drained with a request in flight")
	case <-time.After(100 * time.Millisecond):
	}
	close(finish)
	r := <-got
	if r.code != 200 || r.body != "done" || !r.close {
		t.Errorf("request in flight: %d %q, connection closed after it: %v", r.code, r.body, r.close)
	}
	select {
	case <-drained:
	case <-time.After(10 * time.Second):
		t.Fatal("drain did not return")
	}
}
