package manager

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
)

// startServer serves an echo of the request body with s's limits on
// loopback until the test ends.
func startServer(t *testing.T, s *httpServer) string {
	t.Helper()
	s.log = logr.Discard()
	s.handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		_, _ = w.Write(b)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return ln.Addr().String()
}

// A client that sends half a header, or half a body, and stalls is
// disconnected within the (injected) timeouts; the defaults (5 s, 10 s)
// would outlast the 3 s read deadline.
func TestHTTPServerCutsSlowClients(t *testing.T) {
	addr := startServer(t, &httpServer{headerTimeout: 200 * time.Millisecond, readTimeout: 400 * time.Millisecond})
	for name, head := range map[string]string{
		"header": "POST /x HTTP/1.1\r\nHost: x\r\nContent-Le",
		"body":   "POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc",
	} {
		t.Run(name, func(t *testing.T) {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := io.WriteString(c, head); err != nil {
				t.Fatal(err)
			}
			_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
			_, err = io.Copy(io.Discard, c)
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatal("still connected after 3s")
			}
		})
	}
}

// Oversized headers get 431 and oversized bodies 413, announced
// (Content-Length) or not (chunked); bodies within the limit reach the
// handler whole.
func TestHTTPServerRefusesOversizedRequests(t *testing.T) {
	addr := startServer(t, &httpServer{maxHeaderBytes: 1 << 10, maxBodyBytes: 100})
	c := &http.Client{Timeout: 10 * time.Second}
	post := func(body io.Reader, header string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/x", body)
		if header != "" {
			req.Header.Set("X-Big", header)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := post(strings.NewReader("x"), strings.Repeat("h", 8<<10)); code != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("8 KiB header: %d, want 431", code)
	}
	if code, _ := post(strings.NewReader(strings.Repeat("b", 101)), ""); code != http.StatusRequestEntityTooLarge {
		t.Errorf("101-byte body: %d, want 413", code)
	}
	chunked := bufio.NewReader(strings.NewReader(strings.Repeat("b", 1000))) // no length: sent chunked
	if code, _ := post(chunked, ""); code != http.StatusRequestEntityTooLarge {
		t.Errorf("1000-byte chunked body: %d, want 413", code)
	}
	if code, body := post(strings.NewReader(strings.Repeat("b", 100)), ""); code != http.StatusOK || body != strings.Repeat("b", 100) {
		t.Errorf("100-byte body: %d %q, want 200 and the body echoed", code, body)
	}
}
