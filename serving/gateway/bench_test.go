package gateway

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	"go.uber.org/zap"

	"github.com/rampdev/ramp/serving/gateway/routing"
	"github.com/rampdev/ramp/serving/queue"
)

// BenchmarkGatewayQueue measures the gateway in front of a queue-proxy in
// front of a minimal user container, all in this process on loopback (so
// ns/op is wall time per request for all goroutines together). Profile
// the gateway with
//
//	go test -run '^$' -bench GatewayQueue -benchtime 3s -cpuprofile cpu.out ./serving/gateway/
func BenchmarkGatewayQueue(b *testing.B) {
	app := helloApp(b)
	cfg := queue.Config{PodIP: "127.0.0.1", PodName: "pod-1", Revision: "hello-00001", UserPort: app.Port,
		UserProtocol: queue.UserProtocolHTTP1, RevisionTimeout: 30 * time.Second, DrainTimeout: 5 * time.Second,
		UserProbe: queue.ProbeSpec{Port: app.Port}}
	q := queue.NewServer(cfg, zap.NewNop())
	if err := q.Listen(); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = q.Run(ctx, 0); close(done) }()
	b.Cleanup(func() { cancel(); <-done })

	routes := []routing.Route{{Namespace: "bench", Name: "hello", Hash: "h", Rules: []routing.Rule{{
		Hosts: []string{"hello.bench.example.com"}, Backends: []routing.Backend{{Revision: "hello-00001", Percent: 100}}}}}}
	eps := map[routing.ServiceKey][]routing.Endpoint{
		{Namespace: "bench", Name: "hello-00001"}: {endpointOf(b, mustResolve(b, q.ServingAddr()))},
	}
	gw := startGateway(b, routes, eps, zap.NewNop())

	c := &fasthttp.HostClient{Addr: gw.fast, MaxConns: 256, ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second}
	b.Cleanup(c.CloseIdleConnections)
	b.SetParallelism(4)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		defer fasthttp.ReleaseResponse(resp)
		req.SetRequestURI("http://" + gw.fast + "/hello?x=1")
		req.Header.SetHost("hello.bench.example.com")
		req.UseHostHeader = true
		for pb.Next() {
			if err := c.Do(req, resp); err != nil {
				b.Error(err)
				return
			}
			if resp.StatusCode() != 200 || string(resp.Body()) != "hello" {
				b.Errorf("%d %q", resp.StatusCode(), resp.Body())
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}

// helloApp is a fasthttp user container answering "hello".
func helloApp(b *testing.B) *net.TCPAddr {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType("text/plain")
		ctx.SetBodyString("hello")
	}}
	go func() { _ = srv.Serve(l) }()
	b.Cleanup(func() { _ = srv.Shutdown() })
	return l.Addr().(*net.TCPAddr)
}

func mustResolve(b *testing.B, addr string) net.Addr {
	a, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	return a
}
