package gateway

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

	"github.com/rampdev/ramp/serving/gateway/routing"
)

// podHandler answers as revision pod name: its name as body, and what it
// saw of the request in X-Got-* headers. /stream sends "a", waits for
// proceed, then sends "b"; /ws answers an upgrade with 101 and echoes.
func podHandler(name string, proceed <-chan struct{}) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/stream":
			_, _ = io.WriteString(w, "a")
			http.NewResponseController(w).Flush()
			select {
			case <-proceed:
			case <-time.After(10 * time.Second):
			}
			_, _ = io.WriteString(w, "b")
			return
		case "/slow":
			time.Sleep(50 * time.Millisecond)
		case "/ws":
			conn, brw, err := http.NewResponseController(w).Hijack()
			if err != nil {
				return
			}
			defer conn.Close()
			_, _ = io.WriteString(conn, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
				"X-Got-Host: "+r.Host+"\r\nX-Got-Route-Tag: "+r.Header.Get(RouteTagHeader)+"\r\n\r\n")
			_, _ = io.Copy(conn, brw)
			return
		}
		h := w.Header()
		h.Set("X-Pod", name)
		h.Set("X-Got-Host", r.Host)
		h.Set("X-Got-XFF", r.Header.Get("X-Forwarded-For"))
		h.Set("X-Got-XFH", r.Header.Get("X-Forwarded-Host"))
		h.Set("X-Got-Proto", r.Header.Get("X-Forwarded-Proto"))
		h.Set("X-Got-Tags", r.Header.Get(TagHeader)+r.Header.Get(KnativeTagHeader))
		_, hasRouteTag := r.Header[RouteTagHeader]
		h.Set("X-Got-Route-Tag", fmt.Sprintf("%v:%s", hasRouteTag, r.Header.Get(RouteTagHeader)))
		h.Set("X-Got-Hop", r.Header.Get("X-Hop")+r.Header.Get("Keep-Alive"))
		h.Set("X-Got-Path", r.URL.RequestURI())
		h.Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, name)
	})
}

// fixture is a gateway with these routes:
//
//	hello.example.com        rev-a 70%, rev-b 30%; tag green: green-hello.example.com -> rev-b
//	sticky.example.com       rev-a 50%, rev-b 50%, sticky
//	retry.example.com        rev-r: a closed port and pod c
//	dead.example.com         rev-dead: a closed port only
//	cold.example.com         rev-cold: no endpoint (activation times out)
type fixture struct {
	*testGateway
	proceed chan struct{} // lets /stream finish
	b, c    *pod
}

func newFixture(t *testing.T) *fixture {
	proceed := make(chan struct{})
	a := startPod(t, podHandler("a", proceed))
	b := startPod(t, podHandler("b", proceed))
	c := startPod(t, podHandler("c", proceed))
	route := func(name string, sticky *routing.StickyConfig, rules ...routing.Rule) routing.Route {
		return routing.Route{Namespace: "ns", Name: name, Hash: "h-" + name, Rules: rules, Sticky: sticky}
	}
	rule := func(host, tag string, backends ...routing.Backend) routing.Rule {
		return routing.Rule{Hosts: []string{host}, Tag: tag, Backends: backends}
	}
	be := func(rev string, pct int) routing.Backend { return routing.Backend{Revision: rev, Percent: pct} }
	routes := []routing.Route{
		route("hello", nil, rule("hello.example.com", "", be("rev-a", 70), be("rev-b", 30)),
			rule("green-hello.example.com", "green", be("rev-b", 100))),
		route("sticky", &routing.StickyConfig{MaxAge: time.Hour}, rule("sticky.example.com", "", be("rev-a", 50), be("rev-b", 50))),
		route("retry", nil, rule("retry.example.com", "", be("rev-r", 100))),
		route("dead", nil, rule("dead.example.com", "", be("rev-dead", 100))),
		route("cold", nil, rule("cold.example.com", "", be("rev-cold", 100))),
	}
	svc := func(rev string) routing.ServiceKey { return routing.ServiceKey{Namespace: "ns", Name: rev} }
	eps := map[routing.ServiceKey][]routing.Endpoint{
		svc("rev-a"):    {a.ep},
		svc("rev-b"):    {b.ep},
		svc("rev-r"):    {closedEndpoint(t), c.ep},
		svc("rev-dead"): {closedEndpoint(t)},
	}
	f := &fixture{testGateway: startGateway(t, routes, eps, nil), proceed: proceed, b: b, c: c}
	t.Cleanup(func() {
		select {
		case <-proceed:
		default:
			close(proceed)
		}
	})
	return f
}

func TestFastHandler(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		name   string
		host   string
		path   string
		header []string
		code   int
		body   string
		want   map[string]string // response headers
		check  func(t *testing.T, f *fixture)
	}{
		{name: "main host", host: "hello.example.com", path: "/x?y=1", code: 200,
			header: []string{"X-Forwarded-For", "203.0.113.9", "Connection", "X-Hop", "X-Hop", "1"},
			want: map[string]string{"X-Got-Host": "hello.example.com", "X-Got-XFF": "127.0.0.1", "X-Got-XFH": "hello.example.com",
				"X-Got-Proto": "http", "X-Got-Route-Tag": "true:", "X-Got-Path": "/x?y=1", "X-Got-Hop": "", "Set-Cookie": ""}},
		{name: "host with port and case", host: "Hello.Example.com:8080", path: "/", code: 200,
			want: map[string]string{"X-Got-Host": "Hello.Example.com:8080"}},
		{name: "tag by host", host: "green-hello.example.com", path: "/", code: 200, body: "b",
			want: map[string]string{"X-Got-Route-Tag": "true:green"}},
		{name: "tag by header", host: "hello.example.com", path: "/", header: []string{TagHeader, "green"}, code: 200, body: "b",
			want: map[string]string{"X-Got-Route-Tag": "true:green", "X-Got-Tags": ""}},
		{name: "tag by Knative header", host: "hello.example.com", path: "/", header: []string{KnativeTagHeader, "green"}, code: 200,
			body: "b", want: map[string]string{"X-Got-Route-Tag": "true:green", "X-Got-Tags": ""}},
		{name: "unknown host", host: "nope.example.com", path: "/", code: 404,
			body: "gateway: no route serves host \"nope.example.com\"\n",
			want: map[string]string{"Content-Type": "text/plain; charset=utf-8", "X-Content-Type-Options": "nosniff"}},
		{name: "activation timeout", host: "cold.example.com", path: "/", code: 504,
			body: "gateway: revision rev-cold did not start in time\n"},
		{name: "refused, no other pod", host: "dead.example.com", path: "/", code: 502,
			body: "gateway: the revision refused the connection\n"},
		{name: "split", check: func(t *testing.T, f *fixture) {
			c := httpClient(t)
			n := map[string]int{}
			for range 100 {
				n[do(t, c, f.fast, "GET", "hello.example.com", "/").body]++
			}
			if n["a"] != 70 || n["b"] != 30 {
				t.Errorf("split %v, want exactly 70/30", n)
			}
		}},
		{name: "retry on a refused endpoint", check: func(t *testing.T, f *fixture) {
			c := httpClient(t)
			for i := range 10 {
				if r := do(t, c, f.fast, "GET", "retry.example.com", "/"); r.code != 200 || r.body != "c" {
					t.Fatalf("request %d: %d %q", i, r.code, r.body)
				}
			}
			if n := f.router.Balancer().InFlight(f.c.ep); n != 0 {
				t.Errorf("%d requests still in flight to pod c", n)
			}
		}},
		{name: "pod closed its idle connections", check: testStaleConns},
		{name: "sticky cookie", check: testSticky},
		{name: "header too large", check: testHeaderTooLarge},
		{name: "streaming", check: testStreaming},
		{name: "upgrade", check: testUpgrade},
		{name: "h2c", check: testH2C},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.check != nil {
				tc.check(t, f)
				return
			}
			r := do(t, httpClient(t), f.fast, "GET", tc.host, tc.path, tc.header...)
			if r.code != tc.code || (tc.body != "" && r.body != tc.body) {
				t.Errorf("got %d %q, want %d %q", r.code, r.body, tc.code, tc.body)
			}
			for k, v := range tc.want {
				if got := r.header.Get(k); got != v {
					t.Errorf("header %s: %q, want %q", k, got, v)
				}
			}
		})
	}
}

// A pod that closes its idle keep-alive connections (draining, or gone
// with its IP reused) costs no request, however many the gateway pooled.
func testStaleConns(t *testing.T, f *fixture) {
	c := httpClient(t)
	var wg sync.WaitGroup
	for range 8 { // 8 connections to pod b in the gateway's pool
		wg.Go(func() { _, _ = send(c, f.fast, "GET", "green-hello.example.com", "/slow") })
	}
	wg.Wait()
	f.b.srv.CloseClientConnections()
	for i := range 4 {
		if r := do(t, c, f.fast, "GET", "green-hello.example.com", "/"); r.code != 200 || r.body != "b" {
			t.Fatalf("request %d after the pod closed its connections: %d %q", i, r.code, r.body)
		}
	}
}

func testSticky(t *testing.T, f *fixture) {
	c := httpClient(t)
	first := do(t, c, f.fast, "GET", "sticky.example.com", "/")
	cookie := first.header.Get("Set-Cookie")
	want := "ramp-sticky=" + strings.TrimPrefix(strings.SplitN(cookie, ";", 2)[0], "ramp-sticky=") +
		"; Path=/; Max-Age=3600; HttpOnly; SameSite=Lax"
	if first.code != 200 || cookie != want {
		t.Fatalf("first request: %d, Set-Cookie %q, want %q", first.code, cookie, want)
	}
	value := strings.TrimPrefix(strings.SplitN(cookie, ";", 2)[0], "ramp-sticky=")
	for i := range 6 {
		r := do(t, c, f.fast, "GET", "sticky.example.com", "/", "Cookie", "other=1; ramp-sticky="+value+"; x=y")
		if r.body != first.body || r.header.Get("Set-Cookie") != "" {
			t.Fatalf("request %d with the cookie: pod %q (want %q), Set-Cookie %q", i, r.body, first.body, r.header.Get("Set-Cookie"))
		}
	}
}

func testHeaderTooLarge(t *testing.T, f *fixture) {
	conn, err := net.Dial("tcp", f.fast)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	big := strings.Repeat("x", 2*MaxHeaderBytes)
	if _, err := io.WriteString(conn, "GET / HTTP/1.1\r\nHost: hello.example.com\r\nX-Big: "+big+"\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("header of twice MaxHeaderBytes: %d, want 431", resp.StatusCode)
	}
	// Just under the limit passes.
	r := do(t, httpClient(t), f.fast, "GET", "hello.example.com", "/", "X-Big", strings.Repeat("x", MaxHeaderBytes-1024))
	if r.code != 200 {
		t.Errorf("header 1 KiB under MaxHeaderBytes: %d", r.code)
	}
}

func testStreaming(t *testing.T, f *fixture) {
	req, _ := http.NewRequest(http.MethodGet, "http://"+f.fast+"/stream", nil)
	req.Host = "green-hello.example.com"
	resp, err := httpClient(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	// The pod holds "b" back for up to 10 s: "a" must come well before.
	start := time.Now()
	first := make([]byte, 1)
	if _, err := io.ReadFull(resp.Body, first); err != nil || string(first) != "a" || time.Since(start) > 5*time.Second {
		t.Fatalf("first byte %q after %s, %v", first, time.Since(start), err)
	}
	close(f.proceed) // "b" is only sent once the client has seen "a"
	rest, err := io.ReadAll(resp.Body)
	if err != nil || string(rest) != "b" {
		t.Errorf("rest %q, %v", rest, err)
	}
}

func testUpgrade(t *testing.T, f *fixture) {
	conn, err := net.Dial("tcp", f.fast)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	_, err = io.WriteString(conn, "GET /ws HTTP/1.1\r\nHost: sticky.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Version: 13\r\n\r\n")
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close() // empty: 101 has no body
	if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("X-Got-Host") != "sticky.example.com" ||
		!strings.HasPrefix(resp.Header.Get("Set-Cookie"), "ramp-sticky=") {
		t.Fatalf("handshake answer %d %v", resp.StatusCode, resp.Header)
	}
	for _, msg := range []string{"hello", "frames are just bytes here"} {
		if _, err := io.WriteString(conn, msg); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(br, got); err != nil || string(got) != msg {
			t.Fatalf("echo %q, %v", got, err)
		}
	}
	if f.px.fast.tunnels.Len() != 1 {
		t.Errorf("%d tunnels open, want 1", f.px.fast.tunnels.Len())
	}
	_ = conn.Close()
	waitFor(t, "the tunnel to end", func() bool { return f.px.fast.tunnels.Len() == 0 })
}

func testH2C(t *testing.T, f *fixture) {
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	defer tr.CloseIdleConnections()
	req, _ := http.NewRequest(http.MethodGet, "http://"+f.fast+"/", nil)
	req.Host = "green-hello.example.com"
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.ProtoMajor != 2 || resp.StatusCode != http.StatusOK || string(b) != "b" {
		t.Errorf("h2c: %s %d %q", resp.Proto, resp.StatusCode, b)
	}
}

// The fast path answers like Handler, net/http's.
func TestFastHandlerMatchesHandler(t *testing.T) {
	f := newFixture(t)
	c := httpClient(t)
	for _, tc := range []struct {
		host   string
		header []string
	}{
		{"green-hello.example.com", nil},
		{"hello.example.com", []string{TagHeader, "green", "X-Forwarded-For", "198.51.100.1", "Forwarded", "for=x"}},
		{"nope.example.com", nil},
		{"cold.example.com", nil},
		{"dead.example.com", nil},
		{"retry.example.com", nil},
		{"sticky.example.com", []string{TagHeader, "none"}},
	} {
		fast := do(t, c, f.fast, "GET", tc.host, "/p?q", tc.header...)
		std := do(t, c, f.std, "GET", tc.host, "/p?q", tc.header...)
		if fast.code != std.code || fast.body != std.body && fast.header.Get("X-Pod") == "" {
			t.Errorf("%s: fast %d %q, net/http %d %q", tc.host, fast.code, fast.body, std.code, std.body)
		}
		for _, k := range []string{"Content-Type", "X-Content-Type-Options", "X-Got-Host", "X-Got-XFF", "X-Got-XFH",
			"X-Got-Proto", "X-Got-Tags", "X-Got-Route-Tag", "X-Got-Path"} {
			if fast.header.Get(k) != std.header.Get(k) {
				t.Errorf("%s: %s: fast %q, net/http %q", tc.host, k, fast.header.Get(k), std.header.Get(k))
			}
		}
		attrs := func(r response) string { _, a, _ := strings.Cut(r.header.Get("Set-Cookie"), ";"); return a }
		if attrs(fast) != attrs(std) {
			t.Errorf("%s: Set-Cookie: fast %q, net/http %q", tc.host, fast.header.Get("Set-Cookie"), std.header.Get("Set-Cookie"))
		}
	}
}
