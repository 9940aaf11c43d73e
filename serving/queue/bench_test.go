package queue

import (
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	"go.uber.org/zap"
)

// Benchmarks compare the queue-proxy in front of a minimal user container
// (BenchmarkProxy) with the same clients talking to that container
// directly (BenchmarkDirect); both run in this process on loopback, so
// ns/op is wall time per request for all goroutines together and the
// difference is the queue-proxy's cost. Telemetry is always on; the
// concurrency limit is on (containerConcurrency 100).
//
//	go test -run '^$' -bench . -benchtime 2s ./serving/queue/

// helloBackend is a fasthttp user container answering "hello".
func helloBackend(b *testing.B) string {
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
	return l.Addr().String()
}

// load sends GETs to addr from 4×GOMAXPROCS parallel clients.
func load(b *testing.B, addr string) {
	c := &fasthttp.HostClient{Addr: addr, MaxConns: 256, ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second}
	b.Cleanup(c.CloseIdleConnections)
	b.SetParallelism(4)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		defer fasthttp.ReleaseResponse(resp)
		req.SetRequestURI("http://" + addr + "/hello?x=1")
		req.Header.Set(RouteTagHeader, "bench")
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

func BenchmarkDirect(b *testing.B) {
	load(b, helloBackend(b))
}

func BenchmarkProxy(b *testing.B) {
	backendAddr := helloBackend(b)
	_, port, _ := net.SplitHostPort(backendAddr)
	cfg := testConfig(0)
	cfg.UserPort = mustAtoi(b, port)
	cfg.UserProbe.Port = cfg.UserPort
	cfg.ContainerConcurrency, cfg.QueueDepth = 100, 1000
	q := startQueueWithLogger(b, cfg, 0, zap.NewNop())
	load(b, q.ServingAddr())
	if s := q.Recorder().Snapshot(); s.ByTag["bench"].Requests < uint64(b.N) {
		b.Errorf("recorded %d of %d requests", s.ByTag["bench"].Requests, b.N)
	}
}

// BenchmarkProxyNetHTTP is the same chain (limit, timeout, telemetry) on
// net/http and httputil.ReverseProxy, as used for h2c, serving HTTP/1.1:
// what the fasthttp path saves.
func BenchmarkProxyNetHTTP(b *testing.B) {
	backendAddr := helloBackend(b)
	_, port, _ := net.SplitHostPort(backendAddr)
	cfg := testConfig(0)
	cfg.UserPort = mustAtoi(b, port)
	cfg.ContainerConcurrency, cfg.QueueDepth = 100, 1000
	s := NewServer(cfg, zap.NewNop())
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	b.Cleanup(func() { _ = srv.Close() })
	load(b, l.Addr().String())
}

func BenchmarkStatsRecord(b *testing.B) {
	r := NewRecorder("pod", "rev", nil)
	tag := []byte("canary")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r.Finish(r.Tag(tag), r.Start(), 200)
		}
	})
}

func BenchmarkBreaker(b *testing.B) {
	br := NewBreaker(100, 1000)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := br.Acquire(nil, time.Time{}); err != nil {
				b.Error(err)
				return
			}
			br.Release()
		}
	})
}

func mustAtoi(b *testing.B, s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	if n == 0 {
		b.Fatalf("bad port %q", s)
	}
	return n
}
