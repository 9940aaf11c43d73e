package queue

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rampdev/ramp/serving/queue/stats"
)

func TestProxyForwardsHeadersAndBody(t *testing.T) {
	type seen struct {
		host, xff, path string
		header          http.Header
	}
	got := make(chan seen, 1)
	port := backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- seen{r.Host, r.Header.Get("X-Forwarded-For"), r.URL.RequestURI(), r.Header.Clone()}
		w.Header().Set("Keep-Alive", "timeout=5")
		w.Header().Set("Proxy-Authenticate", "Basic")
		w.Header().Set("X-App", "yes")
		w.WriteHeader(http.StatusTeapot)
		_, _ = w.Write([]byte("hello from the app"))
	}))
	q := startQueue(t, testConfig(port), 0)

	conn, err := net.Dial("tcp", q.ServingAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, err = fmt.Fprint(conn, "GET /a//b/../c?x=1&y=%20 HTTP/1.1\r\n"+
		"Host: MyApp.Example.COM\r\n"+
		"X-Forwarded-For: 203.0.113.9\r\n"+
		"Connection: keep-alive, X-Hop\r\n"+
		"X-Hop: secret\r\n"+
		"Keep-Alive: timeout=9\r\n"+
		"Proxy-Authorization: Basic Zm9vOmJhcg==\r\n"+
		"X-End-To-End: kept\r\n\r\n")
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusTeapot || string(body) != "hello from the app" || resp.Header.Get("X-App") != "yes" {
		t.Errorf("response %d %q %v", resp.StatusCode, body, resp.Header)
	}
	for _, h := range []string{"Keep-Alive", "Proxy-Authenticate"} {
		if v := resp.Header.Get(h); v != "" {
			t.Errorf("hop-by-hop response header %s: %q reached the client", h, v)
		}
	}
	if resp.Close {
		t.Error("the client's keep-alive connection is being closed")
	}

	s := <-got
	if s.host != "MyApp.Example.COM" {
		t.Errorf("Host %q, want it untouched", s.host)
	}
	if s.xff != "203.0.113.9, 127.0.0.1" {
		t.Errorf("X-Forwarded-For %q", s.xff)
	}
	if s.path != "/a//b/../c?x=1&y=%20" {
		t.Errorf("request URI %q, want it untouched", s.path)
	}
	for _, h := range []string{"X-Hop", "Keep-Alive", "Proxy-Authorization"} {
		if v := s.header.Get(h); v != "" {
			t.Errorf("hop-by-hop request header %s: %q reached the app", h, v)
		}
	}
	if s.header.Get("X-End-To-End") != "kept" || s.header.Get("User-Agent") != "" {
		t.Errorf("app saw headers %v", s.header)
	}
}

func TestProxyRefusedConnectionIs502(t *testing.T) {
	q := startQueue(t, testConfig(freePort(t)), 0)
	code, body, _ := get(t, httpClient(t), q.url("/"))
	if code != http.StatusBadGateway || !strings.Contains(body, "refused the connection") {
		t.Errorf("%d %q", code, body)
	}
	if s := q.Recorder().Snapshot(); s.ProxyErrors != 1 || s.ByClass["5xx"] != 1 {
		t.Errorf("stats %+v", s)
	}
}

func TestProxyQueueFullIs503(t *testing.T) {
	release := make(chan struct{})
	port := backend(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		select {
		case <-release:
		case <-time.After(20 * time.Second):
		}
		_, _ = w.Write([]byte("done"))
	}))
	cfg := testConfig(port)
	cfg.ContainerConcurrency, cfg.QueueDepth = 1, 1
	q := startQueue(t, cfg, 0)
	c := httpClient(t)

	var wg sync.WaitGroup
	codes := make(chan int, 2)
	for range 2 { // one in flight, one waiting
		wg.Go(func() {
			code, _, _ := get(t, c, q.url("/"))
			codes <- code
		})
	}
	waitFor(t, "one request in flight and one queued", func() bool {
		return q.breaker.InFlight() == 1 && q.breaker.Waiting() == 1
	})
	code, body, _ := get(t, c, q.url("/"))
	want := "queue-proxy: pending request queue full (containerConcurrency=1, queue depth=1)"
	if code != http.StatusServiceUnavailable || body != want {
		t.Errorf("third request: %d %q", code, body)
	}
	close(release)
	wg.Wait()
	close(codes)
	for c := range codes {
		if c != http.StatusOK {
			t.Errorf("admitted request got %d", c)
		}
	}
	if s := q.Recorder().Snapshot(); s.QueueRejects != 1 || s.ByClass["2xx"] != 2 || s.ByClass["5xx"] != 1 {
		t.Errorf("stats %+v", s)
	}
}

func TestProxyTimeoutIs504AndFreesTheSlot(t *testing.T) {
	unblock := make(chan struct{})
	defer close(unblock)
	port := backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			select {
			case <-unblock:
			case <-r.Context().Done():
			}
		}
		_, _ = w.Write([]byte("ok"))
	}))
	cfg := testConfig(port)
	cfg.ContainerConcurrency = 1
	cfg.QueueDepth = 5
	cfg.RevisionTimeout = 300 * time.Millisecond
	q := startQueue(t, cfg, 0)
	c := httpClient(t)
	code, body, _ := get(t, c, q.url("/slow"))
	if code != http.StatusGatewayTimeout || body != "request exceeded the revision timeout of 300ms" {
		t.Errorf("slow request: %d %q", code, body)
	}
	// The only slot is free again.
	if code, body, _ := get(t, c, q.url("/fast")); code != http.StatusOK || body != "ok" {
		t.Errorf("request after the timeout: %d %q", code, body)
	}
	if q.breaker.InFlight() != 0 {
		t.Errorf("%d slots still taken", q.breaker.InFlight())
	}
	if s := q.Recorder().Snapshot(); s.Timeouts != 1 || s.ByClass["5xx"] != 1 || s.ByClass["2xx"] != 1 {
		t.Errorf("stats %+v", s)
	}
}

func TestProxyHTTP10RequestShorterThanPreface(t *testing.T) {
	port := backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = fmt.Fprintf(w, "%s %s", r.Proto, r.Host)
	}))
	q := startQueue(t, testConfig(port), 0)
	conn, err := net.Dial("tcp", q.ServingAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// 18 bytes, no Host: the protocol sniffer must not wait for more.
	if _, err := io.WriteString(conn, "GET / HTTP/1.0\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(string(b), "HTTP/1.1 127.0.0.1:") {
		t.Errorf("%d %q", resp.StatusCode, b)
	}
}

func TestAdminEndpoints(t *testing.T) {
	port := backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/fail" {
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	q := startQueue(t, testConfig(port), 0)
	c := httpClient(t)
	if code, body, _ := get(t, c, "http://"+q.AdminAddr()+ReadyPath); code != 200 || body != "ready" {
		t.Errorf("%s: %d %q", ReadyPath, code, body)
	}
	get(t, c, q.url("/"), RouteTagHeader, "canary")
	get(t, c, q.url("/fail"), RouteTagHeader, "canary")
	get(t, c, q.url("/"))

	code, body, h := get(t, c, "http://"+q.AdminAddr()+StatsPath)
	if code != 200 || h.Get("Content-Type") != "application/json" {
		t.Fatalf("%s: %d %v", StatsPath, code, h)
	}
	s, err := stats.Parse([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if s.PodName != "pod-1" || s.Revision != "rev-1" || s.RequestCount != 3 || s.ByClass["2xx"] != 2 || s.ByClass["5xx"] != 1 {
		t.Errorf("stats %s", body)
	}
	if s.ByTag["canary"].Requests != 2 || s.ByTag["canary"].Errors5xx != 1 || s.ByTag[""].Requests != 1 ||
		s.ByTag["canary"].Latency.Count() != 2 || s.Latency.Count() != 3 {
		t.Errorf("by tag %s", body)
	}

	_, metrics, _ := get(t, c, "http://"+q.MetricsAddr()+MetricsPath)
	for _, want := range []string{
		`ramp_queue_requests_total{class="5xx",tag="canary"} 1`,
		`ramp_queue_requests_total{class="2xx",tag=""} 1`,
		`ramp_queue_request_duration_seconds_count 3`,
		`ramp_queue_in_flight_requests 0`,
		`ramp_queue_rejected_requests_total{reason="queue_full"} 0`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

func TestReadyFollowsTheUserContainer(t *testing.T) {
	cfg := testConfig(freePort(t))
	q := startQueue(t, cfg, 0)
	c := httpClient(t)
	if code, body, _ := get(t, c, "http://"+q.AdminAddr()+ReadyPath); code != http.StatusServiceUnavailable ||
		!strings.Contains(body, "not ready") {
		t.Errorf("without a user container: %d %q", code, body)
	}
	// The container comes up on the port: the next probe passes.
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", cfg.UserPort))
	if err != nil {
		t.Skipf("port %d taken meanwhile: %v", cfg.UserPort, err)
	}
	defer l.Close()
	if code, _, _ := get(t, c, "http://"+q.AdminAddr()+ReadyPath); code != http.StatusOK {
		t.Errorf("with the user container up: %d", code)
	}
	waitFor(t, "the background probe to see it", q.ready.Load)
}

func TestProxyKeepsFramingOnOneConnection(t *testing.T) {
	port := backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("Set-Cookie", "a=1")
		w.Header().Add("Set-Cookie", "b=2")
		switch r.URL.Path {
		case "/204":
			w.WriteHeader(http.StatusNoContent)
		case "/304":
			w.WriteHeader(http.StatusNotModified)
		case "/early-hints":
			w.Header().Set("Link", "</style.css>; rel=preload")
			w.WriteHeader(http.StatusEarlyHints)
			_, _ = w.Write([]byte("after hints"))
		default:
			w.Header().Set("Content-Length", "11")
			_, _ = w.Write([]byte("hello world"))
		}
	}))
	q := startQueue(t, testConfig(port), 0)
	conn, err := net.Dial("tcp", q.ServingAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	br := bufio.NewReader(conn)
	for _, tc := range []struct {
		method, path string
		code         int
		body         string
	}{
		{"HEAD", "/", 200, ""},
		{"GET", "/204", 204, ""},
		{"GET", "/304", 304, ""},
		{"GET", "/", 200, "hello world"},
		{"GET", "/early-hints", 502, ""},
		{"GET", "/", 200, "hello world"},
	} {
		if _, err := fmt.Fprintf(conn, "%s %s HTTP/1.1\r\nHost: app\r\n\r\n", tc.method, tc.path); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, &http.Request{Method: tc.method})
		if err != nil {
			t.Fatalf("%s %s: %v", tc.method, tc.path, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.code || (tc.body != "" && string(b) != tc.body) {
			t.Errorf("%s %s: %d %q", tc.method, tc.path, resp.StatusCode, b)
		}
		if tc.code != 502 && len(resp.Header.Values("Set-Cookie")) != 2 {
			t.Errorf("%s %s: Set-Cookie %q", tc.method, tc.path, resp.Header.Values("Set-Cookie"))
		}
		if tc.method == "HEAD" && resp.ContentLength != 11 {
			t.Errorf("HEAD: Content-Length %d, want the container's 11", resp.ContentLength)
		}
	}
	// A client asking to close gets its connection closed.
	if _, err := fmt.Fprint(conn, "GET / HTTP/1.1\r\nHost: app\r\nConnection: close\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(resp.Body); string(b) != "hello world" {
		t.Errorf("body %q", b)
	}
	resp.Body.Close()
	if !resp.Close {
		t.Error("Connection: close not honoured")
	}
	if rest, err := io.ReadAll(br); err != nil || len(rest) > 0 {
		t.Errorf("after Connection: close: %q, %v", rest, err)
	}
}
