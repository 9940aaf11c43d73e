package gateway

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/rampdev/ramp/serving/gateway/routing"
)

// testGateway is a Proxy serving one listener on loopback, with both
// paths: fast (fasthttp, with h2c sniffing) and std (net/http Handler).
type testGateway struct {
	px     *Proxy
	router *routing.Router
	pl     *proxyListener
	fast   string // address of the fasthttp listener
	std    string // address of an httptest server running Handler
}

// startGateway serves routes over eps until the test ends.
func startGateway(t testing.TB, routes []routing.Route, eps map[routing.ServiceKey][]routing.Endpoint, log *zap.Logger) *testGateway {
	t.Helper()
	if log == nil {
		log = zaptest.NewLogger(t)
	}
	rec := NewRecorder(prometheus.NewRegistry())
	router := routing.NewRouter(rec)
	router.Update(routing.Build(routes, eps))
	return serveRouter(t, router, rec, log, 0)
}

// serveRouter serves router (whatever it has installed, maybe nothing yet)
// until the test ends; firstTable is the Proxy's FirstTableWait.
func serveRouter(t testing.TB, router *routing.Router, rec *Recorder, log *zap.Logger, firstTable time.Duration) *testGateway {
	t.Helper()
	if log == nil {
		log = zaptest.NewLogger(t)
	}
	act := routing.NewActivator(router, routing.ActivatorConfig{ActivationTimeout: 300 * time.Millisecond, MaxWaiters: 2})
	px := NewProxy(router, act, log, rec)
	px.FirstTableWait = firstTable
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	pl := newProxyListener(l, px, true, testLimits, log)
	errc := make(chan error, 2)
	pl.serve(errc)
	std := httptest.NewServer(px.Handler(true))
	t.Cleanup(func() {
		std.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		drain(ctx, px, []*proxyListener{pl}, log)
		select {
		case err := <-errc:
			t.Errorf("serving: %v", err)
		default:
		}
	})
	return &testGateway{px: px, router: router, pl: pl, fast: l.Addr().String(), std: std.Listener.Addr().String()}
}

// testLimits are the proxy listeners' limits in tests: the defaults.
var testLimits = Limits{}.withDefaults(time.Second)

// pod is an in-process revision pod (in place of its queue-proxy).
type pod struct {
	ep  routing.Endpoint
	srv *httptest.Server
}

// startPod serves h on loopback until the test ends.
func startPod(t testing.TB, h http.Handler) *pod {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &pod{ep: endpointOf(t, srv.Listener.Addr()), srv: srv}
}

func endpointOf(t testing.TB, a net.Addr) routing.Endpoint {
	t.Helper()
	host, p, err := net.SplitHostPort(a.String())
	if err != nil {
		t.Fatal(err)
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return routing.Endpoint{IP: host, Port: port}
}

// closedEndpoint is a loopback address nothing listens on.
func closedEndpoint(t testing.TB) routing.Endpoint {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ep := endpointOf(t, l.Addr())
	_ = l.Close()
	return ep
}

// httpClient is a plain HTTP/1.1 client with its own connections.
func httpClient(t testing.TB) *http.Client {
	tr := &http.Transport{DisableCompression: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// response is what a client got.
type response struct {
	code   int
	body   string
	header http.Header
	close  bool // the connection is closed after it
}

// do sends a request for host to addr.
func do(t testing.TB, c *http.Client, addr, method, host, path string, header ...string) response {
	t.Helper()
	r, err := send(c, addr, method, host, path, header...)
	if err != nil {
		t.Fatalf("%s %s%s: %v", method, host, path, err)
	}
	return r
}

// send is do for any goroutine.
func send(c *http.Client, addr, method, host, path string, header ...string) (response, error) {
	req, err := http.NewRequest(method, "http://"+addr+path, nil)
	if err != nil {
		return response{}, err
	}
	req.Host = host
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return response{code: resp.StatusCode, body: string(b), header: resp.Header, close: resp.Close}, err
}

// waitFor polls cond for up to 10 seconds.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}
