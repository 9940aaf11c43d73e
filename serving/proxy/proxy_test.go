package proxy

import (
	"bufio"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

func TestHeadInjector(t *testing.T) {
	extra := []byte("Set-Cookie: a=1\r\n")
	for _, tc := range []struct{ name, in, want string }{
		{"101 then frames", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\nframes",
			"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSet-Cookie: a=1\r\n\r\nframes"},
		{"bare LF", "HTTP/1.1 404 Not Found\nX: y\n\nbody", "HTTP/1.1 404 Not Found\nX: y\nSet-Cookie: a=1\r\n\r\nbody"},
		{"line longer than the buffer", "HTTP/1.1 101 S\r\nX: " + strings.Repeat("y", 40) + "\r\n\r\nf",
			"HTTP/1.1 101 S\r\nX: " + strings.Repeat("y", 40) + "\r\nSet-Cookie: a=1\r\n\r\nf"},
		{"no head end: relayed as is", "HTTP/1.1 101 Switching", "HTTP/1.1 101 Switching"},
		{"head too long: relayed as is", "HTTP/1.1 200 OK\r\nX: " + strings.Repeat("x", maxHeadSize) + "\r\n\r\nb",
			"HTTP/1.1 200 OK\r\nX: " + strings.Repeat("x", maxHeadSize) + "\r\n\r\nb"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := &headInjector{br: bufio.NewReaderSize(strings.NewReader(tc.in), 16), extra: extra}
			var status int
			var out strings.Builder
			CopyBuffered(&out, h, &status)
			if got := out.String(); got != tc.want {
				if len(got) > 200 {
					got = got[:100] + "..." + got[len(got)-100:]
				}
				t.Errorf("got %q", got)
			}
		})
	}
}

func TestParseStatus(t *testing.T) {
	for in, want := range map[string]int{
		"HTTP/1.1 101 Switching Protocols\r\n": 101, "HTTP/1.0 404 x": 404, "HTTP/1.1 10": 0, "HTTP/2.0 200 OK": 0, "junk": 0,
	} {
		if got := ParseStatus([]byte(in)); got != want {
			t.Errorf("ParseStatus(%q) = %d, want %d", in, got, want)
		}
	}
}

func TestHopHeaders(t *testing.T) {
	for k, want := range map[string]bool{"connection": true, "Keep-Alive": true, "TE": true, "Upgrade": true,
		"Content-Type": false, "X-Hop": false, "Trailers": false} {
		if IsHopHeader([]byte(k)) != want {
			t.Errorf("IsHopHeader(%q) = %v", k, !want)
		}
	}
	if rawHasHopHeader([]byte("Host: a\r\nAccept: */*\r\n")) || !rawHasHopHeader([]byte("Host: a\r\nproxy-authorization : x\r\n")) {
		t.Error("rawHasHopHeader")
	}
	var req fasthttp.Request
	err := req.Read(bufio.NewReader(strings.NewReader("GET / HTTP/1.1\r\nHost: Example.COM\r\n" +
		"Connection: keep-alive, X-Private\r\nX-Private: 1\r\nKeep-Alive: timeout=5\r\n" +
		"X-Forwarded-For: 198.51.100.1\r\nForwarded: for=x\r\n\r\n")))
	if err != nil {
		t.Fatal(err)
	}
	PrepareRequest(&req, "")
	client := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 9), Port: 1234}
	SetForwarded(&req.Header, client)
	head := string(req.Header.Header())
	for _, gone := range []string{"X-Private", "Keep-Alive", "Forwarded:", "198.51.100.1"} {
		if strings.Contains(head, gone) {
			t.Errorf("%q still in %q", gone, head)
		}
	}
	for _, kept := range []string{"Host: Example.COM\r\n", "X-Forwarded-For: 127.0.0.9\r\n",
		"X-Forwarded-Host: Example.COM\r\n", "X-Forwarded-Proto: http\r\n"} {
		if !strings.Contains(head, kept) {
			t.Errorf("%q not in %q", kept, head)
		}
	}
	AppendForwardedFor(&req.Header, client)
	if got := string(req.Header.Peek("X-Forwarded-For")); got != "127.0.0.9, 127.0.0.9" {
		t.Errorf("appended X-Forwarded-For %q", got)
	}
}

func TestSniffListener(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := NewSniffListener(inner, 5*time.Second)
	defer l.Close()
	for _, tc := range []struct {
		first string
		h2c   bool
	}{
		{"GET / HTTP/1.1\r\nHost: x\r\n\r\n", false},
		{"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\nrest", true},
		{"GET /\r\n", false}, // shorter than the preface
	} {
		c, err := net.Dial("tcp", inner.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := io.WriteString(c, tc.first); err != nil {
			t.Fatal(err)
		}
		from := l.Accept
		if tc.h2c {
			from = l.H2C().Accept
		}
		got, err := from()
		if err != nil {
			t.Fatal(err)
		}
		_ = got.SetReadDeadline(time.Now().Add(5 * time.Second))
		b := make([]byte, len(tc.first))
		if _, err := io.ReadFull(got, b); err != nil || string(b) != tc.first {
			t.Errorf("replayed %q, %v; want %q", b, err, tc.first)
		}
		_ = got.Close()
	}
}
