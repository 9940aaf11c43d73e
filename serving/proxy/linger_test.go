package proxy

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// A server that answers before reading a whole oversized request and then
// closes must not reset the connection while the client is still sending:
// the client finishes writing and reads the answer (a 431 here).
func TestCloseLingersSoAnEarlyAnswerSurvives(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := NewSniffListener(inner, time.Second)
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				buf := make([]byte, 4096)
				_, _ = c.Read(buf) // only the start of the request
				_, _ = io.WriteString(c, "HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
				_ = c.Close()
			}()
		}
	}()
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for i := range 20 {
		req, err := http.NewRequest(http.MethodGet, "http://"+inner.Addr().String()+"/", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-Big", strings.Repeat("a", 128<<10)) // within the linger budget
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("request %d: the early answer was lost: %v", i, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Fatalf("request %d: status %d, want 431", i, resp.StatusCode)
		}
	}
}
