package queue

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

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// limitedQueue runs a queue-proxy with short, injected header and idle
// timeouts in front of a container answering "ok".
func limitedQueue(t *testing.T) *running {
	t.Helper()
	cfg := testConfig(backend(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok")
	})))
	cfg.HeaderTimeout, cfg.IdleTimeout = 200*time.Millisecond, 300*time.Millisecond
	return startQueue(t, cfg, 0)
}

// Every server of the queue-proxy disconnects a client that sends half a
// header and stalls, within its header timeout (injected on the serving
// port; 5 s on the admin and metrics ports). The serving port's default
// (30 s, or the revision timeout before) would outlast the read deadline.
func TestSlowHeaderIsDisconnected(t *testing.T) {
	q := limitedQueue(t)
	fixed := adminHeaderTimeout + 3*time.Second
	cases := map[string]struct {
		addr   string
		send   []byte
		within time.Duration
	}{
		"serving HTTP/1.1":        {q.ServingAddr(), []byte("GET / HTTP/1.1\r\nHost: x"), 5 * time.Second},
		"serving HTTP/1.1 silent": {q.ServingAddr(), nil, 5 * time.Second},
		"serving h2c":             {q.ServingAddr(), halfH2Header(), 5 * time.Second},
		"admin":                   {q.AdminAddr(), []byte("GET " + ReadyPath + " HTTP/1.1\r\nHost: x"), fixed},
		"metrics":                 {q.MetricsAddr(), []byte("GET " + MetricsPath + " HTTP/1.1\r\nHost: x"), fixed},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			assertDisconnected(t, tc.addr, tc.send, tc.within)
		})
	}
}

// A header over the limit gets 431 on every server; the admin and metrics
// ports refuse bodies over adminMaxBody with 413.
func TestOversizedHeaderAndBody(t *testing.T) {
	q := limitedQueue(t)
	for name, addr := range map[string]string{"serving": q.ServingAddr(), "admin": q.AdminAddr(), "metrics": q.MetricsAddr()} {
		if code := http1Status(t, addr, 2*readBufferSize+4096); code != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("%s: %d-byte header: %d, want 431", name, 2*readBufferSize+4096, code)
		}
	}
	if code := http1Status(t, q.ServingAddr(), 1<<10); code != http.StatusOK {
		t.Errorf("serving: 1 KiB header: %d, want 200", code)
	}
	if s := h2Status(t, q.ServingAddr(), 2*readBufferSize); s != "431" {
		t.Errorf("serving h2c: %d bytes of headers: %s, want 431", 2*readBufferSize, s)
	}
	if s := h2Status(t, q.ServingAddr(), 1<<10); s != "200" {
		t.Errorf("serving h2c: 1 KiB of headers: %s, want 200", s)
	}
	c := httpClient(t)
	for _, u := range []string{"http://" + q.AdminAddr() + StatsPath, "http://" + q.MetricsAddr() + MetricsPath} {
		for size, want := range map[int]int{adminMaxBody + 1: http.StatusRequestEntityTooLarge, 10: http.StatusOK} {
			resp, err := c.Post(u, "text/plain", strings.NewReader(strings.Repeat("x", size)))
			if err != nil {
				t.Fatal(err)
			}
			_ = resp.Body.Close()
			if resp.StatusCode != want {
				t.Errorf("POST %s with a %d-byte body: %d, want %d", u, size, resp.StatusCode, want)
			}
		}
	}
}

// A request body that stalls is cut at the revision timeout, not held.
func TestStalledBodyIsCutAtRevisionTimeout(t *testing.T) {
	cfg := testConfig(backend(t, http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { _, _ = io.Copy(io.Discard, r.Body) })))
	cfg.RevisionTimeout = 300 * time.Millisecond
	q := startQueue(t, cfg, 0)
	assertDisconnected(t, q.ServingAddr(), []byte("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\nabc"), 5*time.Second)
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

// http1Status sends a GET with header X-Big of size big to addr and
// returns the response's status.
func http1Status(t *testing.T, addr string, big int) int {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	go func() {
		_, _ = io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\nX-Big: "+strings.Repeat("x", big)+"\r\n\r\n")
	}()
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	return resp.StatusCode
}

// h2Headers is an HPACK block of a GET with about big bytes of headers in
// all (many of them: one longer than the limit fails the connection).
func h2Headers(big int) []byte {
	var block bytes.Buffer
	enc := hpack.NewEncoder(&block)
	for _, f := range [][2]string{{":method", "GET"}, {":scheme", "http"}, {":authority", "x"}, {":path", "/"}} {
		_ = enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	for i := range big / 100 {
		_ = enc.WriteField(hpack.HeaderField{Name: fmt.Sprintf("x-big-%d", i), Value: strings.Repeat("x", 90), Sensitive: true})
	}
	return block.Bytes()
}

// halfH2Header is an h2c connection's preface and SETTINGS, then the first
// half of a HEADERS frame.
func halfH2Header() []byte {
	var buf bytes.Buffer
	buf.WriteString(http2.ClientPreface)
	fr := http2.NewFramer(&buf, nil)
	_ = fr.WriteSettings()
	block := h2Headers(0)
	_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block, EndHeaders: true, EndStream: true})
	b := buf.Bytes()
	return b[:len(b)-len(block)/2]
}

// h2Status sends one GET with about big bytes of headers on an h2c
// connection to addr and returns the response's status.
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
	if err := fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	b, first := h2Headers(big), true
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
