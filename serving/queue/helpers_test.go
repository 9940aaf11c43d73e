package queue

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
)

// backend starts a user container on 127.0.0.1 and returns its port.
func backend(t *testing.T, h http.Handler) int {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return portOf(t, srv.Listener.Addr())
}

func portOf(t *testing.T, a net.Addr) int {
	t.Helper()
	_, p, err := net.SplitHostPort(a.String())
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// testConfig is a loopback config with ephemeral ports in front of
// userPort.
func testConfig(userPort int) Config {
	return Config{
		PodIP:           "127.0.0.1",
		PodName:         "pod-1",
		Revision:        "rev-1",
		UserPort:        userPort,
		UserProtocol:    UserProtocolHTTP1,
		RevisionTimeout: 30 * time.Second,
		DrainTimeout:    10 * time.Second,
		UserProbe:       ProbeSpec{Port: userPort},
	}
}

// running is a queue-proxy serving in the background.
type running struct {
	*Server
	stop context.CancelFunc
	done chan struct{} // closed when Run has returned err
	err  error
}

// startQueue runs a queue-proxy for cfg until the test ends (or stop).
func startQueue(t *testing.T, cfg Config, drainDelay time.Duration) *running {
	t.Helper()
	return startQueueWithLogger(t, cfg, drainDelay, zaptest.NewLogger(t))
}

func startQueueWithLogger(t testing.TB, cfg Config, drainDelay time.Duration, log *zap.Logger) *running {
	t.Helper()
	s := NewServer(cfg, log)
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{Server: s, stop: cancel, done: make(chan struct{})}
	go func() {
		r.err = s.Run(ctx, drainDelay)
		close(r.done)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(30 * time.Second):
			t.Error("queue-proxy did not stop")
		}
	})
	return r
}

// url is an address on the serving port.
func (r *running) url(path string) string { return "http://" + r.ServingAddr() + path }

// httpClient is a plain HTTP/1.1 client with its own connections.
func httpClient(t *testing.T) *http.Client {
	tr := &http.Transport{DisableCompression: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// get fetches url and returns status and body.
func get(t *testing.T, c *http.Client, url string, header ...string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading %s: %v", url, err)
	}
	return resp.StatusCode, string(b), resp.Header
}

// freePort is a loopback port nothing listens on.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := portOf(t, l.Addr())
	_ = l.Close()
	return p
}
