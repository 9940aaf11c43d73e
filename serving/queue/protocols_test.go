package queue

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// rawUpgradeBackend accepts connections that ask for a WebSocket upgrade,
// answers 101 and then echoes every byte; it reports each request head.
func rawUpgradeBackend(t *testing.T) (port int, heads <-chan string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	ch := make(chan string, 4)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				var head strings.Builder
				for {
					line, err := br.ReadString('\n')
					if err != nil {
						return
					}
					head.WriteString(line)
					if line == "\r\n" {
						break
					}
				}
				ch <- head.String()
				_, _ = io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
				_, _ = io.Copy(c, br) // echo
			}()
		}
	}()
	return portOf(t, l.Addr()), ch
}

func TestUpgradeIsRelayedAsRawTCP(t *testing.T) {
	port, heads := rawUpgradeBackend(t)
	cfg := testConfig(port)
	cfg.ContainerConcurrency = 2
	q := startQueue(t, cfg, 0)

	conn, err := net.Dial("tcp", q.ServingAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	_, err = io.WriteString(conn, "GET /chat HTTP/1.1\r\nHost: ws.example.com\r\nUpgrade: websocket\r\n"+
		"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"+
		RouteTagHeader+": canary\r\n\r\n")
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Upgrade") != "websocket" {
		t.Fatalf("handshake answer %d %v", resp.StatusCode, resp.Header)
	}
	head := <-heads
	for _, want := range []string{"GET /chat HTTP/1.1\r\n", "Host: ws.example.com\r\n", "Upgrade: websocket\r\n",
		"Connection: Upgrade\r\n", "X-Forwarded-For: 127.0.0.1\r\n"} {
		if !strings.Contains(head, want) {
			t.Errorf("user container got head %q, lacking %q", head, want)
		}
	}
	for _, msg := range []string{"hello", "websocket frames are just bytes here"} {
		if _, err := io.WriteString(conn, msg); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(br, got); err != nil || string(got) != msg {
			t.Fatalf("echo %q, %v", got, err)
		}
	}
	// While open, the tunnel holds a slot and counts as in flight.
	if q.breaker.InFlight() != 1 || q.Recorder().InFlight() != 1 {
		t.Errorf("open tunnel: %d slots, %d in flight", q.breaker.InFlight(), q.Recorder().InFlight())
	}
	_ = conn.Close()
	waitFor(t, "the tunnel to end", func() bool { return q.breaker.InFlight() == 0 && q.Recorder().InFlight() == 0 })
	if s := q.Recorder().Snapshot(); s.ByClass["1xx"] != 1 || s.ByTag["canary"].Requests != 1 {
		t.Errorf("stats after the tunnel: %+v", s)
	}
}

func TestUpgradeToAMissingContainerIs502(t *testing.T) {
	q := startQueue(t, testConfig(freePort(t)), 0)
	req, _ := http.NewRequest(http.MethodGet, q.url("/ws"), nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	resp, err := httpClient(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadGateway {
		t.Errorf("status %d", resp.StatusCode)
	}
	if q.breaker.InFlight() != 0 {
		t.Error("slot kept")
	}
}

// h2cClient speaks HTTP/2 with prior knowledge over plain TCP.
func h2cClient(t *testing.T) *http.Client {
	tr := &http2.Transport{
		AllowHTTP: true,
		DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

func TestH2CToAnH2CContainer(t *testing.T) {
	// The user container speaks h2c only.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	app := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = fmt.Fprintf(w, "app saw HTTP/%d host=%s tag=%s xff=%s", r.ProtoMajor, r.Host,
			r.Header.Get(RouteTagHeader), r.Header.Get("X-Forwarded-For"))
	}), Protocols: new(http.Protocols)}
	app.Protocols.SetUnencryptedHTTP2(true)
	go func() { _ = app.Serve(l) }()
	t.Cleanup(func() { _ = app.Close() })

	cfg := testConfig(portOf(t, l.Addr()))
	cfg.UserProtocol = UserProtocolH2C
	cfg.ContainerConcurrency = 4
	q := startQueue(t, cfg, 0)

	req, _ := http.NewRequest(http.MethodGet, q.url("/grpc-ish"), nil)
	req.Host = "h2.example.com"
	req.Header.Set(RouteTagHeader, "blue")
	resp, err := h2cClient(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	want := "app saw HTTP/2 host=h2.example.com tag=blue xff=127.0.0.1"
	if resp.StatusCode != http.StatusOK || resp.ProtoMajor != 2 || string(b) != want {
		t.Errorf("HTTP/%d %d %q, want HTTP/2 200 %q", resp.ProtoMajor, resp.StatusCode, b, want)
	}
	if s := q.Recorder().Snapshot(); s.ByTag["blue"].Requests != 1 || s.InFlight != 0 {
		t.Errorf("stats %+v", s)
	}
}

func TestH2CToAnHTTP1Container(t *testing.T) {
	port := backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = fmt.Fprintf(w, "app saw HTTP/%d.%d", r.ProtoMajor, r.ProtoMinor)
	}))
	q := startQueue(t, testConfig(port), 0)
	resp, err := h2cClient(t).Get(q.url("/"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.ProtoMajor != 2 || string(b) != "app saw HTTP/1.1" {
		t.Errorf("HTTP/%d %d %q", resp.ProtoMajor, resp.StatusCode, b)
	}
	// The same port still serves HTTP/1.1 clients.
	if code, body, _ := get(t, httpClient(t), q.url("/")); code != 200 || body != "app saw HTTP/1.1" {
		t.Errorf("HTTP/1.1 client: %d %q", code, body)
	}
}

func TestH2CTimeoutAndQueueFull(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	port := backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	cfg := testConfig(port)
	cfg.ContainerConcurrency, cfg.QueueDepth = 1, 0
	cfg.RevisionTimeout = 300 * time.Millisecond
	q := startQueue(t, cfg, 0)
	c := h2cClient(t)
	done := make(chan *http.Response, 1)
	go func() {
		resp, err := c.Get(q.url("/slow")) //nolint:bodyclose // closed by the receiver of done
		if err != nil {
			t.Error(err)
		}
		done <- resp
	}()
	waitFor(t, "the slow request to take the slot", func() bool { return q.breaker.InFlight() == 1 })
	resp, err := c.Get(q.url("/second"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(b), "pending request queue full") {
		t.Errorf("second request: %d %q", resp.StatusCode, b)
	}
	if resp := <-done; resp == nil || resp.StatusCode != http.StatusGatewayTimeout {
		t.Errorf("slow request: %+v", resp)
	} else {
		resp.Body.Close()
	}
	waitFor(t, "the slot to be freed", func() bool { return q.breaker.InFlight() == 0 })
	if s := q.Recorder().Snapshot(); s.Timeouts != 1 || s.QueueRejects != 1 {
		t.Errorf("stats %+v", s)
	}
}
