package gateway

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/rampdev/ramp/serving/gateway/routing"
	"github.com/rampdev/ramp/serving/proxy"
)

// MaxHeaderBytes bounds request headers by default; larger ones get 431.
// It is the queue-proxy's own limit (larger headers could not reach a
// revision anyway), and it is the read buffer each HTTP/1.1 connection
// keeps while idle: 8 KiB keeps 10,000 idle connections under 200 MB
// (BenchmarkIdleKeepAliveConnections).
const MaxHeaderBytes = 8 << 10

// Proxy routes requests to revision pods.
type Proxy struct {
	Router    *routing.Router
	Activator *routing.Activator
	Log       *zap.Logger
	Metrics   *Recorder
	// FirstTableWait bounds how long a request to an unknown host waits
	// for the gateway's first routing table (DefaultFirstTableWait when
	// zero); once a table is installed an unknown host is answered at once.
	FirstTableWait time.Duration
	proxy          *httputil.ReverseProxy
	fast           *fastPath
}

// target is what one attempt of a request is sent to; the ReverseProxy's
// Rewrite and ErrorHandler read it from the request context.
type target struct {
	ep       routing.Endpoint
	tag      string
	dialErr  error // set when the connection was refused before anything was sent
	attempts int
	// retryQueueFull lets ModifyResponse hold back a queue-proxy's "queue
	// full" answer to a bodiless request, which then goes again; queueFull
	// says it did.
	retryQueueFull, queueFull bool
}

// DefaultFirstTableWait is Proxy.FirstTableWait's default.
const DefaultFirstTableWait = 10 * time.Second

// errNoTable answers a request that arrived before the gateway had read
// any route and waited FirstTableWait in vain.
var errNoTable = errors.New("no routing table yet")

// pick is Router.Pick, except that before the first table is installed an
// unknown host waits for it (until done is closed or FirstTableWait passes):
// a restarted gateway whose endpoint is still listed as ready must not
// answer 404 for routes it has not read yet.
func (p *Proxy) pick(done <-chan struct{}, req routing.Request) (routing.Decision, error) {
	d, err := p.Router.Pick(req)
	if !errors.Is(err, routing.ErrUnknownHost) {
		return d, err
	}
	select {
	case <-p.Router.Installed():
		return d, err
	default:
	}
	wait := p.FirstTableWait
	if wait <= 0 {
		wait = DefaultFirstTableWait
	}
	if !p.Router.WaitInstalled(done, wait) {
		return d, errNoTable
	}
	return p.Router.Pick(req)
}

// errQueueFull is ModifyResponse's way of holding back a "queue full"
// answer (see target.retryQueueFull).
var errQueueFull = errors.New("queue-proxy queue full")

type targetKey struct{}

// NewProxy builds the proxy: a fasthttp path for HTTP/1.1 (FastHandler)
// and a net/http one (Handler) for HTTP/2, each with a pool of connections
// tuned for many short requests to a few pods.
func NewProxy(r *routing.Router, a *routing.Activator, log *zap.Logger, m *Recorder) *Proxy {
	p := &Proxy{Router: r, Activator: a, Log: log, Metrics: m}
	transport := &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          1000,
		MaxIdleConnsPerHost:   100,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: 0, // the queue-proxy enforces the revision timeout
		ForceAttemptHTTP2:     false,
	}
	p.proxy = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			t := pr.In.Context().Value(targetKey{}).(*target)
			pr.Out.URL.Scheme = "http"
			pr.Out.URL.Host = t.ep.Address()
			pr.Out.Host = pr.In.Host // the revision sees the route's host
			pr.SetXForwarded()
			pr.Out.Header.Del(TagHeader)
			pr.Out.Header.Del(KnativeTagHeader)
			pr.Out.Header.Set(RouteTagHeader, t.tag)
		},
		Transport:     transport,
		FlushInterval: -1, // stream: flush every write
		BufferPool:    proxy.BufferPool{},
		ModifyResponse: func(resp *http.Response) error {
			t := resp.Request.Context().Value(targetKey{}).(*target)
			if t.retryQueueFull && resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get(proxy.QueueFullHeader) != "" {
				_ = resp.Body.Close()
				return errQueueFull
			}
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			t := r.Context().Value(targetKey{}).(*target)
			if errors.Is(err, errQueueFull) {
				t.queueFull = true // nothing is written: the caller sends it again
				return
			}
			if isRefused(err) && t.attempts == 1 {
				t.dialErr = err // nothing was sent: the caller retries on another pod
				return
			}
			if errors.Is(r.Context().Err(), context.Canceled) {
				return // the client went away
			}
			p.Log.Info("Proxying failed", zap.String("host", r.Host), zap.String("endpoint", t.ep.Address()), zap.Error(err))
			http.Error(w, "gateway: the revision did not answer", http.StatusBadGateway)
		},
	}
	p.fast = newFastPath(p)
	return p
}

// Handler serves one listener with net/http (the HTTP/2 connections;
// FastHandler serves HTTP/1.1); external listeners do not serve
// cluster-local routes.
func (p *Proxy) Handler(external bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tag := r.Header.Get(TagHeader)
		if tag == "" {
			tag = r.Header.Get(KnativeTagHeader)
		}
		req := routing.Request{Host: r.Host, TagHeader: tag, External: external, Headers: r.Header}
		if c, err := r.Cookie(routing.CookieName); err == nil {
			req.Cookie = c.Value
		}
		d, err := p.pick(r.Context().Done(), req)
		switch {
		case errors.Is(err, errNoTable):
			w.Header().Set("Retry-After", retryAfter)
			p.reject(w, http.StatusServiceUnavailable, "no_table", "gateway: starting, no routing table yet")
			return
		case errors.Is(err, routing.ErrUnknownHost):
			p.reject(w, http.StatusNotFound, "unknown_host", fmt.Sprintf("gateway: no route serves host %q", r.Host))
			return
		case err != nil:
			p.reject(w, http.StatusServiceUnavailable, "no_backend", "gateway: the route has no backend")
			return
		}
		ep, release, err := p.Activator.Wait(r.Context(), d)
		switch {
		case errors.Is(err, routing.ErrQueueFull), errors.Is(err, routing.ErrTooManyWaiting):
			w.Header().Set("Retry-After", retryAfter)
			p.reject(w, http.StatusServiceUnavailable, "queue_full", heldLimitMessage(err, d))
			return
		case errors.Is(err, routing.ErrActivationTimeout):
			p.reject(w, http.StatusGatewayTimeout, "activation_timeout", "gateway: revision "+d.Revision+" did not start in time")
			return
		case err != nil:
			return // the client went away while waiting
		}
		if d.SetCookie != "" {
			http.SetCookie(w, routing.StickyCookie(d))
		}
		bodiless := r.ContentLength == 0 && (r.Body == nil || r.Body == http.NoBody)
		t := &target{ep: ep, tag: d.Tag, attempts: 1, retryQueueFull: bodiless}
		r = r.WithContext(context.WithValue(r.Context(), targetKey{}, t))
		p.proxy.ServeHTTP(w, r)
		release()
		for attempt := 1; t.queueFull; attempt++ {
			// The queue-proxy turned the bodiless request away before the
			// user container saw it: wait for capacity again, behind the
			// requests already waiting; the last attempt's answer is sent.
			time.Sleep(proxy.QueueFullBackoff(attempt))
			ep, release, err = p.Activator.Wait(r.Context(), d)
			if err != nil {
				p.reject(w, http.StatusServiceUnavailable, "queue_full", "gateway: revision "+d.Revision+" has no capacity; retry later")
				return
			}
			t.ep, t.queueFull, t.retryQueueFull = ep, false, attempt+1 < proxy.QueueFullAttempts
			p.proxy.ServeHTTP(w, r)
			release()
		}
		if t.dialErr != nil {
			// Retry once on another pod: the connection was refused before
			// anything was sent, so the request (and its body) is untouched.
			other, ok := p.Router.Balancer().PickExcept(d.ServiceKey(), []routing.Endpoint{ep})
			if !ok {
				p.reject(w, http.StatusBadGateway, "refused", "gateway: the revision refused the connection")
				return
			}
			release2 := p.Router.Balancer().Acquire(other)
			defer release2()
			t.ep, t.dialErr, t.attempts = other, nil, 2
			p.proxy.ServeHTTP(w, r)
		}
	})
}

// retryAfter is the Retry-After of a request refused because too many
// wait for revisions to scale from zero (seconds): a pod starts in a few,
// and the waiters ahead go once it is ready.
const retryAfter = "2"

// heldLimitMessage says which bound on waiting requests refused d.
func heldLimitMessage(err error, d routing.Decision) string {
	if errors.Is(err, routing.ErrTooManyWaiting) {
		return "gateway: too many requests are waiting for revisions to start; retry later"
	}
	return "gateway: too many requests are waiting for revision " + d.Revision + " to start; retry later"
}

func (p *Proxy) reject(w http.ResponseWriter, code int, reason, msg string) {
	if reason == "refused" {
		p.Metrics.Rejected(reason) // the router reports its own rejections
	}
	http.Error(w, msg, code)
}

func isRefused(err error) bool {
	var op *net.OpError
	return errors.Is(err, syscall.ECONNREFUSED) || (errors.As(err, &op) && op.Op == "dial")
}
