package framework

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/rampdev/ramp/serving/gateway"
)

// Endpoints follows the ready addresses of a Service from its
// EndpointSlices, as kube-proxy does (the local cluster has none). When
// the API cannot be read, the last addresses known stay in force.
type Endpoints struct {
	mu  sync.Mutex
	ips []string
}

// FixedEndpoints always has the given addresses (a client pinned to some
// endpoints of a Service).
func FixedEndpoints(ips ...string) *Endpoints { return &Endpoints{ips: slices.Clone(ips)} }

// Addresses returns the ready addresses known last.
func (e *Endpoints) Addresses() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.ips)
}

// FollowEndpoints reads the ready addresses of svc every interval until
// ctx ends. It returns once a first non-empty list is known.
func (c *Cluster) FollowEndpoints(ctx context.Context, svc types.NamespacedName, interval time.Duration) (*Endpoints, error) {
	cfg := rest.CopyConfig(c.Config)
	cfg.Timeout, cfg.QPS, cfg.Burst = time.Second, 50, 100
	r, err := client.New(cfg, client.Options{Scheme: clientgoscheme.Scheme})
	if err != nil {
		return nil, err
	}
	e := &Endpoints{}
	refresh := func(ctx context.Context) error {
		ips, err := gateway.ReadyAddresses(ctx, r, svc)
		if err != nil {
			return err
		}
		sort.Strings(ips)
		e.mu.Lock()
		e.ips = ips
		e.mu.Unlock()
		if len(ips) == 0 {
			return fmt.Errorf("service %s has no ready endpoint", svc)
		}
		return nil
	}
	if err := Poll(ctx, 60*time.Second, interval, refresh); err != nil {
		return nil, err
	}
	go func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				_ = refresh(ctx) // the API may be down: keep the last list
			}
		}
	}()
	return e, nil
}

// Balancer spreads new connections over the ready endpoints of a Service,
// round robin, as a Service's load balancer does; a connection that an
// endpoint refuses (nothing was sent on it) goes to the next endpoint, as
// an L4 load balancer retries a failed connect. Only loopback endpoints
// are dialled: test traffic never leaves 127.0.0.0/8.
type Balancer struct {
	Endpoints *Endpoints
	Port      int

	next     atomic.Uint64
	rerouted atomic.Int64
	retried  atomic.Int64
}

// Rerouted counts the connections an endpoint refused and another took.
func (b *Balancer) Rerouted() int64 { return b.rerouted.Load() }

// DialContext connects to one of the ready endpoints, whatever addr says.
func (b *Balancer) DialContext(ctx context.Context, network, _ string) (net.Conn, error) {
	ips := b.Endpoints.Addresses()
	if len(ips) == 0 {
		return nil, errors.New("balancer: no ready endpoint")
	}
	d := net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}
	start := b.next.Add(1)
	var errs []error
	for i := range ips {
		ip := ips[(start+uint64(i))%uint64(len(ips))]
		if a := net.ParseIP(ip); a == nil || !a.IsLoopback() {
			errs = append(errs, fmt.Errorf("refusing to send test traffic to %s: tests only target 127.0.0.0/8", ip))
			continue
		}
		conn, err := d.DialContext(ctx, network, net.JoinHostPort(ip, strconv.Itoa(b.Port)))
		if err == nil {
			if i > 0 {
				b.rerouted.Add(1)
			}
			return conn, nil
		}
		errs = append(errs, err)
	}
	return nil, fmt.Errorf("balancer: %w", errors.Join(errs...))
}

// Retried counts the idempotent requests sent again after their
// connection broke before an answer began.
func (b *Balancer) Retried() int64 { return b.retried.Load() }

// Client is an HTTP/1.1 client whose connections go through the balancer.
// An idempotent request (GET or HEAD without a body) whose connection is
// reset or closed before the answer begins is sent again on a new
// connection, as a client that retries idempotent requests does: Go's
// Transport does this alone only on a kept-alive connection it reused,
// not on a new one that a server accepted and then died with (a process
// SIGKILLed with connections in its accept queue).
func (b *Balancer) Client(timeout time.Duration, maxConns int) *http.Client {
	return &http.Client{Timeout: timeout, Transport: &retryIdempotent{
		next: &http.Transport{
			DialContext:         b.DialContext,
			MaxIdleConns:        maxConns,
			MaxIdleConnsPerHost: maxConns,
			IdleConnTimeout:     30 * time.Second,
		},
		retried: &b.retried,
	}}
}

// maxIdempotentRetries bounds the times one request is sent again.
const maxIdempotentRetries = 2

// retryIdempotent sends an idempotent request again when its connection
// broke before any answer: a reset, or the server closing it.
type retryIdempotent struct {
	next    http.RoundTripper
	retried *atomic.Int64
}

func (r *retryIdempotent) RoundTrip(req *http.Request) (*http.Response, error) {
	for attempt := 0; ; attempt++ {
		resp, err := r.next.RoundTrip(req)
		if err == nil || attempt == maxIdempotentRetries || !idempotent(req) || !brokenConnection(err) || req.Context().Err() != nil {
			return resp, err
		}
		r.retried.Add(1)
	}
}

func idempotent(req *http.Request) bool {
	return (req.Method == http.MethodGet || req.Method == http.MethodHead) && (req.Body == nil || req.Body == http.NoBody)
}

// brokenConnection reports an error of a connection that broke before an
// answer began; timeouts and refused connections (the balancer already
// tried every endpoint) are not.
func brokenConnection(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// LoadOptions describe bounded load: GETs at a fixed rate, for at most a
// duration and a count.
type LoadOptions struct {
	// Balancer carries every request (so that they only reach loopback).
	Balancer *Balancer
	// Host is the Host header; Path the request path (default /).
	Host, Path string
	// Rate is the number of requests started per second.
	Rate int
	// Duration bounds the run; MaxRequests bounds the count (default
	// Rate × Duration).
	Duration    time.Duration
	MaxRequests int64
	// MaxInFlight bounds the requests in flight (default 256); a request
	// due while that many are in flight is not sent, and counted as shed.
	MaxInFlight int
	// Check, when set, judges a 2xx answer: an error counts it as wrong.
	Check func(header http.Header, body []byte) error
}

// LoadResult counts what a load run's requests got.
type LoadResult struct {
	Requests        int64 // sent
	OK              int64 // 2xx that passed Check
	Non2xx          int64 // answered with another status
	TransportErrors int64 // no answer: connect, reset, timeout
	Wrong           int64 // 2xx that failed Check
	Shed            int64 // due, but MaxInFlight requests were in flight
	Codes           map[int]int64
	// Failures holds the first few failures, with when they happened
	// (since the start).
	Failures []string
	Elapsed  time.Duration
}

// Failed is the number of requests that did not get a good 2xx answer.
func (r LoadResult) Failed() int64 { return r.Non2xx + r.TransportErrors + r.Wrong }

func (r LoadResult) String() string {
	return fmt.Sprintf("%d requests in %s: %d ok, %d non-2xx %v, %d transport errors, %d wrong, %d shed; first failures: %s",
		r.Requests, r.Elapsed.Round(time.Millisecond), r.OK, r.Non2xx, r.Codes, r.TransportErrors, r.Wrong, r.Shed,
		strings.Join(r.Failures, "; "))
}

// Load is a load run in progress.
type Load struct {
	o       LoadOptions
	client  *http.Client
	start   time.Time
	cancel  context.CancelFunc
	done    chan struct{}
	wg      sync.WaitGroup
	mu      sync.Mutex
	res     LoadResult
	started atomic.Int64
}

const maxFailureSamples = 5

// StartLoad starts sending requests in the background; Stop ends the run
// and returns its counts.
func StartLoad(ctx context.Context, o LoadOptions) (*Load, error) {
	if o.Balancer == nil || o.Rate <= 0 || o.Duration <= 0 {
		return nil, fmt.Errorf("load: a balancer, a positive rate and a positive duration are required")
	}
	if o.MaxInFlight == 0 {
		o.MaxInFlight = 256
	}
	if o.MaxRequests == 0 {
		o.MaxRequests = int64(float64(o.Rate) * o.Duration.Seconds())
	}
	ctx, cancel := context.WithTimeout(ctx, o.Duration)
	l := newLoad(o, o.MaxInFlight, cancel)
	go l.dispatch(ctx)
	return l, nil
}

func newLoad(o LoadOptions, conns int, cancel context.CancelFunc) *Load {
	if o.Path == "" {
		o.Path = "/"
	}
	return &Load{o: o, client: o.Balancer.Client(15*time.Second, conns), start: time.Now(), cancel: cancel,
		done: make(chan struct{}), res: LoadResult{Codes: map[int]int64{}}}
}

// Burst sends n requests at once (n clients, each with a connection of its
// own) and returns their counts when all are answered; o's Rate, Duration
// and MaxRequests do not apply.
func Burst(ctx context.Context, o LoadOptions, n int) (LoadResult, error) {
	if o.Balancer == nil || n <= 0 || n > 1000 {
		return LoadResult{}, fmt.Errorf("burst: a balancer and 1 to 1000 requests are required")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	l := newLoad(o, n, cancel)
	for range n {
		l.started.Add(1)
		l.wg.Go(func() { l.one(ctx) })
	}
	close(l.done)
	return l.Stop(), nil
}

// dispatch starts requests on schedule: every 5 ms, those due since the
// start at the fixed rate (an open loop: a slow answer does not slow the
// sending), until the duration or the count is reached.
func (l *Load) dispatch(ctx context.Context) {
	defer close(l.done)
	slots := make(chan struct{}, l.o.MaxInFlight)
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			due := min(int64(now.Sub(l.start).Seconds()*float64(l.o.Rate)), l.o.MaxRequests)
			for l.started.Load() < due {
				l.started.Add(1)
				select {
				case slots <- struct{}{}:
					l.wg.Go(func() {
						defer func() { <-slots }()
						l.one(ctx)
					})
				default:
					l.mu.Lock()
					l.res.Shed++
					l.mu.Unlock()
				}
			}
			if due >= l.o.MaxRequests {
				return
			}
		}
	}
}

// one sends a request and counts its outcome. It outlives the run's
// context: a request in flight at the end finishes (within the client's
// timeout) and counts.
func (l *Load) one(ctx context.Context) {
	req, err := http.NewRequestWithContext(context.WithoutCancel(ctx), http.MethodGet,
		"http://"+net.JoinHostPort("balanced.invalid", strconv.Itoa(l.o.Balancer.Port))+l.o.Path, nil)
	if err != nil {
		panic(err) // a constant URL
	}
	req.Host = l.o.Host
	at := time.Since(l.start)
	resp, err := l.client.Do(req)
	var body []byte
	if err == nil {
		body, err = io.ReadAll(io.LimitReader(resp.Body, 1<<16))
		_ = resp.Body.Close()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.res.Requests++
	fail := func(what string) {
		if len(l.res.Failures) < maxFailureSamples {
			l.res.Failures = append(l.res.Failures, fmt.Sprintf("at %s: %s", at.Round(time.Millisecond), what))
		}
	}
	switch {
	case err != nil:
		l.res.TransportErrors++
		fail(err.Error())
	case resp.StatusCode/100 != 2:
		l.res.Non2xx++
		l.res.Codes[resp.StatusCode]++
		fail(fmt.Sprintf("%d %q", resp.StatusCode, strings.TrimSpace(string(body))))
	case l.o.Check != nil:
		if cerr := l.o.Check(resp.Header, body); cerr != nil {
			l.res.Wrong++
			fail(cerr.Error())
			return
		}
		fallthrough
	default:
		l.res.OK++
		l.res.Codes[resp.StatusCode]++
	}
}

// Sent is the number of requests started so far.
func (l *Load) Sent() int64 { return l.started.Load() }

// Stop stops sending, waits for the requests in flight and returns the
// counts.
func (l *Load) Stop() LoadResult {
	l.cancel()
	<-l.done
	l.wg.Wait()
	l.client.CloseIdleConnections()
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.res
	r.Elapsed = time.Since(l.start)
	return r
}
