package framework

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

// twoServers starts an answering server and reserves a port where nothing
// listens, on two loopback addresses with the same port.
func twoServers(t *testing.T, h http.Handler) (port int, up, down string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	_, p, _ := net.SplitHostPort(l.Addr().String())
	port, _ = strconv.Atoi(p)
	return port, "127.0.0.1", "127.0.0.2" // nothing listens on 127.0.0.2:port
}

func TestLoadCountsAndReroutesRefusedConnections(t *testing.T) {
	port, up, down := twoServers(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/fail" {
			http.Error(w, "no", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("hello " + r.Host))
	}))
	cases := map[string]struct {
		path      string
		check     func(http.Header, []byte) error
		wantOK    int64
		wantNon2x int64
		wantWrong int64
	}{
		"answers":         {path: "/", wantOK: 50},
		"non-2xx answers": {path: "/fail", wantNon2x: 50},
		"a failed check":  {path: "/", check: func(http.Header, []byte) error { return context.Canceled }, wantWrong: 50},
		"a passing check": {path: "/", check: bodyIs("hello web"), wantOK: 50},
		"a body mismatch": {path: "/", check: bodyIs("hello api"), wantWrong: 50},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			b := &Balancer{Endpoints: &Endpoints{ips: []string{up, down}}, Port: port}
			l, err := StartLoad(context.Background(), LoadOptions{Balancer: b, Host: "web", Path: tc.path, Rate: 500,
				Duration: 5 * time.Second, MaxRequests: 50, Check: tc.check})
			if err != nil {
				t.Fatal(err)
			}
			time.Sleep(200 * time.Millisecond) // 50 requests are due after 100 ms
			r := l.Stop()
			if r.Requests != 50 || r.OK != tc.wantOK || r.Non2xx != tc.wantNon2x || r.Wrong != tc.wantWrong || r.TransportErrors != 0 {
				t.Fatalf("got %s\nwant 50 requests: %d ok, %d non-2xx, %d wrong", r, tc.wantOK, tc.wantNon2x, tc.wantWrong)
			}
			if b.Rerouted() == 0 {
				t.Errorf("no connection was refused by %s and rerouted to %s", down, up)
			}
		})
	}
}

func bodyIs(want string) func(http.Header, []byte) error {
	return func(_ http.Header, b []byte) error {
		if string(b) != want {
			return &mismatch{got: string(b), want: want}
		}
		return nil
	}
}

type mismatch struct{ got, want string }

func (m *mismatch) Error() string { return "body " + m.got + ", want " + m.want }

func TestBalancerOnlyDialsLoopback(t *testing.T) {
	b := &Balancer{Endpoints: &Endpoints{ips: []string{"10.0.0.1", "192.0.2.7"}}, Port: 80}
	_, err := b.DialContext(context.Background(), "tcp", "ignored:80")
	if err == nil || strings.Count(err.Error(), "tests only target 127.0.0.0/8") != 2 {
		t.Fatalf("dialling non-loopback endpoints: %v, want both refused", err)
	}
	if _, err := (&Balancer{Endpoints: &Endpoints{}, Port: 80}).DialContext(context.Background(), "tcp", "x:80"); err == nil {
		t.Fatal("dialled with no endpoint")
	}
}

func TestLoadStopsAtItsDuration(t *testing.T) {
	port, up, _ := twoServers(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	b := &Balancer{Endpoints: &Endpoints{ips: []string{up}}, Port: port}
	l, err := StartLoad(context.Background(), LoadOptions{Balancer: b, Rate: 200, Duration: 300 * time.Millisecond, MaxRequests: 1000})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(600 * time.Millisecond)
	if r := l.Stop(); r.Requests < 20 || r.Requests > 61 || r.Failed() != 0 {
		t.Fatalf("got %s\nwant about 60 requests (200/s for 300 ms), none failed", r)
	}
}

// resetFirst accepts connections on a loopback port and resets the first n
// after reading a request from each (a server that died with them in its
// accept queue); later ones are answered 200 "ok".
func resetFirst(t *testing.T, n int) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	go func() {
		for i := 0; ; i++ {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn, reset bool) {
				defer func() { _ = c.Close() }()
				buf := make([]byte, 4096)
				_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
				if _, err := c.Read(buf); err != nil {
					return
				}
				if reset {
					_ = c.(*net.TCPConn).SetLinger(0) // close with RST
					return
				}
				_, _ = c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"))
			}(c, i < n)
		}
	}()
	_, p, _ := net.SplitHostPort(l.Addr().String())
	port, _ := strconv.Atoi(p)
	return port
}

func TestClientRetriesIdempotentRequestsOnABrokenNewConnection(t *testing.T) {
	cases := map[string]struct {
		method, body string
		resets       int
		wantErr      bool
		wantRetried  int64
	}{
		"a GET reset once is sent again":         {method: http.MethodGet, resets: 1, wantRetried: 1},
		"a GET reset twice is sent a third time": {method: http.MethodGet, resets: 2, wantRetried: 2},
		"a GET reset three times fails":          {method: http.MethodGet, resets: 3, wantErr: true, wantRetried: 2},
		"a POST with a body is not sent again":   {method: http.MethodPost, body: "x", resets: 1, wantErr: true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			port := resetFirst(t, tc.resets)
			b := &Balancer{Endpoints: &Endpoints{ips: []string{"127.0.0.1"}}, Port: port}
			var body *strings.Reader
			if tc.body != "" {
				body = strings.NewReader(tc.body)
			}
			req, err := http.NewRequest(tc.method, "http://balanced.invalid/", nil)
			if body != nil {
				req, err = http.NewRequest(tc.method, "http://balanced.invalid/", body)
			}
			if err != nil {
				t.Fatal(err)
			}
			resp, err := b.Client(5*time.Second, 1).Do(req)
			if err == nil {
				_ = resp.Body.Close()
			}
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if err == nil && resp.StatusCode != http.StatusOK {
				t.Errorf("status %d, want 200", resp.StatusCode)
			}
			if b.Retried() != tc.wantRetried {
				t.Errorf("retried %d times, want %d", b.Retried(), tc.wantRetried)
			}
		})
	}
}
