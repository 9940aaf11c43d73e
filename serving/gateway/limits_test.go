package gateway

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/rampdev/ramp/serving/gateway/routing"
)

// shortLimits are injected so that the slow clients below are cut quickly.
var shortLimits = Limits{HeaderTimeout: 200 * time.Millisecond, IdleTimeout: 300 * time.Millisecond,
	RequestTimeout: 5 * time.Second, MaxHeaderBytes: 4 << 10}

// limitedListener serves a route to pod p on a proxy listener with lim.
func limitedListener(t *testing.T, lim Limits, p *pod) string {
	t.Helper()
	log := zaptest.NewLogger(t)
	router := routing.NewRouter(nil)
	router.Update(routing.Build([]routing.Route{{Namespace: "ns", Name: "r", Hash: "h", Rules: []routing.Rule{{
		Hosts: []string{"r.example.com"}, Backends: []routing.Backend{{Revision: "rev", Percent: 100}}}}}},
		map[routing.ServiceKey][]routing.Endpoint{{Namespace: "ns", Name: "rev"}: {p.ep}}))
	px := NewProxy(router, routing.NewActivator(router, routing.ActivatorConfig{}), log, nil)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	pl := newProxyListener(l, px, true, lim, log)
	pl.serve(make(chan error, 2))
	t.Cleanup(pl.close)
	return l.Addr().String()
}

// Every server kind disconnects a client that sends half a header and
// stalls, within its (injected) header timeout; the defaults would take
// 30 s or more, past the test's 5 s read deadline.
func TestSlowHeaderIsDisconnected(t *testing.T) {
	p := startPod(t, podHandler("a", nil))
	proxyAddr := limitedListener(t, shortLimits, p)
	admin := newAdminServer("", http.NotFoundHandler())
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = admin.Serve(l) }()
	t.Cleanup(func() { _ = admin.Close() })

	cases := map[string]struct {
		addr   string
		send   []byte
		within time.Duration
	}{
		"HTTP/1.1":        {proxyAddr, []byte("GET / HTTP/1.1\r\nHost: r.exam"), 5 * time.Second},
		"HTTP/1.1 silent": {proxyAddr, nil, 5 * time.Second},
		"h2c":             {proxyAddr, halfH2Header(), 5 * time.Second},
		// The admin port's timeout is fixed (5 s).
		"admin": {l.Addr().String(), []byte("GET /ready HTTP/1.1\r\nHost: x"), adminHeaderTimeout + 3*time.Second},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			assertDisconnected(t, tc.addr, tc.send, tc.within)
		})
	}
}

// assertDisconnected sends head to addr, then stalls: the server must
// close the connection before within passes.
func assertDisconnected(t *testing.T, addr string, head []byte, within time.Duration) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(head); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(within))
	_, err = io.Copy(io.Discard, c) // a 408 or a GOAWAY may come first
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("still connected after %s", within)
	}
}

// halfH2Header is an h2c connection's preface and SETTINGS, then the first
// half of a HEADERS frame.
func halfH2Header() []byte {
	var buf bytes.Buffer
	buf.WriteString(http2.ClientPreface)
	fr := http2.NewFramer(&buf, nil)
	_ = fr.WriteSettings()
	var block bytes.Buffer
	enc := hpack.NewEncoder(&block)
	for _, f := range [][2]string{{":method", "GET"}, {":scheme", "http"}, {":authority", "r.example.com"}, {":path", "/"}} {
		_ = enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block.Bytes(), EndHeaders: true, EndStream: true})
	b := buf.Bytes()
	return b[:len(b)-block.Len()/2]
}

// h2Status sends one request with headers of about big bytes in all on an
// h2c connection to addr and returns the response's status. (One header
// longer than the limit would make the server's HPACK decoder fail the
// connection instead: many headers make the list too long.)
func h2Status(t *testing.T, addr string, big int) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	fr := http2.NewFramer(c, c)
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	var block bytes.Buffer
	enc := hpack.NewEncoder(&block)
	for _, f := range [][2]string{{":method", "GET"}, {":scheme", "http"}, {":authority", "r.example.com"}, {":path", "/"}} {
		_ = enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	for i := range big / 100 {
		_ = enc.WriteField(hpack.HeaderField{Name: fmt.Sprintf("x-big-%d", i), Value: strings.Repeat("x", 90), Sensitive: true})
	}
	if err := fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	// One HEADERS frame and CONTINUATIONs of at most 16 KiB each.
	b, first := block.Bytes(), true
	for len(b) > 0 || first {
		n := min(len(b), 16<<10)
		chunk, end := b[:n], n == len(b)
		b = b[n:]
		if first {
			err = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: chunk, EndHeaders: end, EndStream: true})
			first = false
		} else {
			err = fr.WriteContinuation(1, end, chunk)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("reading the answer: %v", err)
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				_ = fr.WriteSettingsAck()
			}
		case *http2.MetaHeadersFrame:
			return f.PseudoValue("status")
		case *http2.RSTStreamFrame:
			t.Fatalf("stream reset: %v", f.ErrCode)
		case *http2.GoAwayFrame:
			t.Fatalf("GOAWAY: %v", f.ErrCode)
		}
	}
}

// A header over MaxHeaderBytes gets 431 on both paths; one under it passes.
func TestOversizedHeaderGets431(t *testing.T) {
	p := startPod(t, podHandler("a", nil))
	addr := limitedListener(t, shortLimits, p)
	big := 2 * shortLimits.MaxHeaderBytes
	t.Run("HTTP/1.1", func(t *testing.T) {
		if code := http1Status(t, addr, "r.example.com", big); code != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("%d-byte header: %d, want 431", big, code)
		}
		if code := http1Status(t, addr, "r.example.com", 1<<10); code != http.StatusOK {
			t.Errorf("1 KiB header: %d, want 200", code)
		}
	})
	t.Run("h2c", func(t *testing.T) {
		if s := h2Status(t, addr, big); s != "431" {
			t.Errorf("%d-byte header: %s, want 431", big, s)
		}
		if s := h2Status(t, addr, 1<<10); s != "200" {
			t.Errorf("1 KiB header: %s, want 200", s)
		}
	})
	t.Run("admin", func(t *testing.T) {
		admin := newAdminServer("", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go func() { _ = admin.Serve(l) }()
		t.Cleanup(func() { _ = admin.Close() })
		if code := http1Status(t, l.Addr().String(), "x", 2*adminMaxHeader+4096); code != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("%d-byte header: %d, want 431", 2*adminMaxHeader+4096, code)
		}
	})
}

// http1Status sends a GET with header X-Big of size big and returns the
// response's status.
func http1Status(t *testing.T, addr, host string, big int) int {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	go func() {
		_, _ = io.WriteString(c, "GET / HTTP/1.1\r\nHost: "+host+"\r\nX-Big: "+strings.Repeat("x", big)+"\r\n\r\n")
	}()
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	return resp.StatusCode
}

// The admin endpoints read no body: one over adminMaxBody gets 413
// before any handler runs; a small one passes.
func TestAdminRefusesOversizedBody(t *testing.T) {
	ran := 0
	admin := newAdminServer("", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { ran++ }))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = admin.Serve(l) }()
	t.Cleanup(func() { _ = admin.Close() })
	c := httpClient(t)
	for size, want := range map[int]int{adminMaxBody + 1: http.StatusRequestEntityTooLarge, 100: http.StatusOK} {
		resp, err := c.Post("http://"+l.Addr().String()+"/ready", "text/plain", strings.NewReader(strings.Repeat("x", size)))
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("%d-byte body: %d, want %d", size, resp.StatusCode, want)
		}
	}
	if ran != 1 {
		t.Errorf("handler ran %d times, want 1 (the small body only)", ran)
	}
}

// A request with a body whose client stalls is cut at RequestTimeout.
func TestStalledBodyIsCutAtRequestTimeout(t *testing.T) {
	p := startPod(t, http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { _, _ = io.Copy(io.Discard, r.Body) }))
	lim := shortLimits
	lim.RequestTimeout = 300 * time.Millisecond
	addr := limitedListener(t, lim, p)
	assertDisconnected(t, addr, []byte("POST / HTTP/1.1\r\nHost: r.example.com\r\nContent-Length: 100000\r\n\r\nabc"), 5*time.Second)
}
