package gateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
	"unsafe"

	"github.com/valyala/fasthttp"
	"go.uber.org/zap"

	"github.com/rampdev/ramp/serving/gateway/routing"
	"github.com/rampdev/ramp/serving/proxy"
)

// The HTTP/1.1 path of the external and internal listeners runs on
// fasthttp with the engine shared with the queue-proxy (package proxy, whose
// documentation lists what fasthttp cannot do and how it is routed
// around); HTTP/2 (h2c) connections are served by Proxy.Handler. It has
// the semantics of Proxy.Handler, with these differences:
//
//   - A client that goes away while its request waits for a revision to
//     scale from zero is not noticed; the wait is bounded by the activation
//     timeout.
//   - A response without a Content-Type gets none (net/http sniffs one).
//
// Tuning of the HTTP/1.1 path.
const (
	// upstreamReadBufferSize is the read buffer of each connection to a
	// queue-proxy, and so the limit on its response headers (the
	// queue-proxy's own limit is 8 KiB).
	upstreamReadBufferSize = 8 << 10
	// writeBufferSize is the write buffer of every connection, client
	// side and queue-proxy side.
	writeBufferSize = 4 << 10
	// maxConnections bounds the client connections served at once by each
	// listener (and so fasthttp's worker goroutines).
	maxConnections = 20_000
	// maxConnsPerEndpoint bounds the connections to one queue-proxy;
	// requests past it wait up to connWaitTimeout for one to be free.
	maxConnsPerEndpoint = 4096
	connWaitTimeout     = 30 * time.Second
	// bufferedBodyLimit: responses with a Content-Length up to this are
	// read whole and answered from memory, giving the connection back to
	// the pool at once; longer and chunked ones are streamed.
	bufferedBodyLimit = 64 << 10
	// upstreamIdleTimeout closes idle connections to queue-proxies, well
	// before the queue-proxy's own idle timeout (5 minutes).
	upstreamIdleTimeout = 90 * time.Second
	// dialTimeout bounds connecting to a queue-proxy.
	dialTimeout = 2 * time.Second
)

// fastPath is the fasthttp side of a Proxy.
type fastPath struct {
	p       *Proxy
	client  *fasthttp.Client // one pool of HostClients, keyed by endpoint address
	tunnels *proxy.Tunnels
}

func newFastPath(p *Proxy) *fastPath {
	dialer := &net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}
	return &fastPath{
		p:       p,
		tunnels: proxy.NewTunnels(),
		client: &fasthttp.Client{
			Dial:                      func(addr string) (net.Conn, error) { return dialer.Dial("tcp", addr) },
			MaxConnsPerHost:           maxConnsPerEndpoint,
			MaxConnWaitTimeout:        connWaitTimeout,
			MaxIdleConnDuration:       upstreamIdleTimeout,
			MaxIdemponentCallAttempts: 2,
			ConfigureClient:           configureHostClient,
			ReadBufferSize:            upstreamReadBufferSize,
			WriteBufferSize:           writeBufferSize,
			MaxResponseBodySize:       bufferedBodyLimit,
			StreamResponseBody:        true,
			DisablePathNormalizing:    true,
			NoDefaultUserAgentHeader:  true,
			ConnPoolStrategy:          fasthttp.LIFO,
		},
	}
}

// configureHostClient sets up the HostClient of one endpoint: an
// idempotent request sent on a pooled connection the pod had closed (it is
// draining, or its IP now belongs to a new pod) is retried once, on a new
// connection, since the pod's other idle connections are likely closed
// too. If the pod no longer listens, that dial is refused and the request
// goes to another pod.
func configureHostClient(hc *fasthttp.HostClient) error {
	hc.RetryIfErr = func(req *fasthttp.Request, attempts int, err error) (resetTimeout, retry bool) {
		_, retry = proxy.RetryStaleConn(req, attempts, err)
		if retry {
			hc.CloseIdleConnections()
		}
		return false, retry
	}
	return nil
}

// FastHandler is the HTTP/1.1 handler of one listener, with the semantics
// of Handler; external listeners do not serve cluster-local routes.
func (p *Proxy) FastHandler(external bool) fasthttp.RequestHandler {
	if external {
		return p.fast.serveExternal
	}
	return p.fast.serveInternal
}

func (f *fastPath) serveExternal(ctx *fasthttp.RequestCtx) { f.serve(ctx, true) }
func (f *fastPath) serveInternal(ctx *fasthttp.RequestCtx) { f.serve(ctx, false) }

func (f *fastPath) serve(ctx *fasthttp.RequestCtx, external bool) {
	h := &ctx.Request.Header
	tag, knTag := h.Peek(TagHeader), h.Peek(KnativeTagHeader)
	if len(tag) == 0 {
		tag = knTag
	}
	// The host and the tag are only read while routing (Pick keeps
	// neither), so they are views of the header's bytes, not copies.
	host := unsafe.String(unsafe.SliceData(h.Host()), len(h.Host()))
	req := routing.Request{Host: host, TagHeader: unsafe.String(unsafe.SliceData(tag), len(tag)), External: external,
		Cookie: cookieValue(h.Peek(fasthttp.HeaderCookie), routing.CookieName), Headers: fastHeaders{h}}
	d, err := f.p.pick(nil, req)
	switch {
	case errors.Is(err, errNoTable):
		ctx.Response.Header.Set("Retry-After", retryAfter)
		f.reject(ctx, fasthttp.StatusServiceUnavailable, "no_table", "gateway: starting, no routing table yet")
		return
	case errors.Is(err, routing.ErrUnknownHost):
		f.reject(ctx, fasthttp.StatusNotFound, "unknown_host", fmt.Sprintf("gateway: no route serves host %q", host))
		return
	case err != nil:
		f.reject(ctx, fasthttp.StatusServiceUnavailable, "no_backend", "gateway: the route has no backend")
		return
	}
	// fasthttp's RequestCtx is cancelled when the server shuts down, which
	// must not cut short the requests being drained.
	lease, err := f.p.Activator.Lease(context.Background(), d)
	switch {
	case errors.Is(err, routing.ErrQueueFull), errors.Is(err, routing.ErrTooManyWaiting):
		ctx.Response.Header.Set("Retry-After", retryAfter)
		f.reject(ctx, fasthttp.StatusServiceUnavailable, "queue_full", heldLimitMessage(err, d))
		return
	case err != nil: // without a cancellable context, ErrActivationTimeout
		f.reject(ctx, fasthttp.StatusGatewayTimeout, "activation_timeout", "gateway: revision "+d.Revision+" did not start in time")
		return
	}
	var cookie string
	if d.SetCookie != "" {
		cookie = routing.StickyCookie(d).String()
	}
	if len(tag) > 0 || len(knTag) > 0 {
		h.Del(TagHeader)
		h.Del(KnativeTagHeader)
	}
	h.Set(RouteTagHeader, d.Tag)
	proxy.SetForwarded(h, ctx.RemoteAddr())
	if h.ConnectionUpgrade() {
		f.serveUpgrade(ctx, d, lease, cookie)
		return
	}
	proxy.PrepareRequest(&ctx.Request, "")
	up := fasthttp.AcquireResponse()
	err = f.do(ctx, up, lease.Addr)
	if err != nil && isRefused(err) {
		// Retry once on another pod: the connection was refused before
		// anything was sent, so the request (and its body) is untouched.
		lease.Release()
		other, ok := f.p.Router.Balancer().LeaseExcept(d.ServiceKey(), []routing.Endpoint{lease.Endpoint})
		if !ok {
			fasthttp.ReleaseResponse(up)
			f.reject(ctx, fasthttp.StatusBadGateway, "refused", "gateway: the revision refused the connection")
			setCookie(ctx, cookie)
			return
		}
		lease = other
		err = f.do(ctx, up, lease.Addr)
	}
	for attempt := 1; err == nil && queueFullFast(ctx, up) && attempt < proxy.QueueFullAttempts; attempt++ {
		// The queue-proxy turned the bodiless request away before the user
		// container saw it (other gateway replicas filled its queue too):
		// wait for capacity again, behind the requests already waiting.
		lease.Release()
		time.Sleep(proxy.QueueFullBackoff(attempt))
		next, werr := f.p.Activator.Lease(context.Background(), d)
		if werr != nil {
			break // answer the queue-proxy's 503
		}
		lease = next
		up.Reset()
		err = f.do(ctx, up, lease.Addr)
	}
	if err == nil && up.StatusCode() < 200 {
		// An informational answer (103 Early Hints): fasthttp takes it for
		// the whole response and has put the connection back with the
		// real response unread on it. Queue-proxies never send one.
		f.client.CloseIdleConnections()
		err = fmt.Errorf("informational response %d, unsupported over HTTP/1.1", up.StatusCode())
	}
	if err != nil {
		fasthttp.ReleaseResponse(up)
		lease.Release()
		f.p.Log.Info("Proxying failed", zap.String("host", string(h.Host())), zap.String("endpoint", lease.Addr), zap.Error(err))
		httpError(ctx, fasthttp.StatusBadGateway, "gateway: the revision did not answer")
		setCookie(ctx, cookie)
		return
	}
	buffered := proxy.CopyResponse(ctx, up, bufferedBodyLimit)
	setCookie(ctx, cookie)
	if buffered {
		fasthttp.ReleaseResponse(up)
		lease.Release()
		return
	}
	streamed := lease // only this copy escapes, on this path
	proxy.StreamBody(ctx, up, func(bool) { streamed.Release() })
}

// do sends the request to the endpoint at addr.
func (f *fastPath) do(ctx *fasthttp.RequestCtx, up *fasthttp.Response, addr string) error {
	ctx.Request.URI().SetHost(addr) // the client's HostClient; the Host header is kept
	return f.client.Do(&ctx.Request, up)
}

// serveUpgrade relays a "Connection: Upgrade" request (WebSocket) as raw
// TCP to the leased endpoint, or to another endpoint if it refuses the
// connection. The tunnel counts as in flight to its endpoint for its whole
// life.
func (f *fastPath) serveUpgrade(ctx *fasthttp.RequestCtx, d routing.Decision, lease routing.Lease, cookie string) {
	up, err := proxy.DialUpgrade(&ctx.Request, lease.Addr, dialTimeout)
	if err != nil && isRefused(err) {
		lease.Release()
		other, ok := f.p.Router.Balancer().LeaseExcept(d.ServiceKey(), []routing.Endpoint{lease.Endpoint})
		if !ok {
			f.reject(ctx, fasthttp.StatusBadGateway, "refused", "gateway: the revision refused the connection")
			setCookie(ctx, cookie)
			return
		}
		lease = other
		up, err = proxy.DialUpgrade(&ctx.Request, lease.Addr, dialTimeout)
	}
	if err != nil {
		lease.Release()
		f.p.Log.Info("Proxying failed", zap.String("host", string(ctx.Request.Header.Host())),
			zap.String("endpoint", lease.Addr), zap.Error(err))
		httpError(ctx, fasthttp.StatusBadGateway, "gateway: the revision did not answer")
		setCookie(ctx, cookie)
		return
	}
	var extra []byte
	if cookie != "" {
		extra = []byte(fasthttp.HeaderSetCookie + ": " + cookie + "\r\n")
	}
	f.tunnels.Hijack(ctx, up, extra, func(int) { lease.Release() })
}

func (f *fastPath) reject(ctx *fasthttp.RequestCtx, code int, reason, msg string) {
	if reason == "refused" {
		f.p.Metrics.Rejected(reason) // the router reports its own rejections
	}
	httpError(ctx, code, msg)
}

// httpError answers like net/http's http.Error. The request's body may be
// partly unread, so a request with a body closes the connection afterwards
// instead of reading the rest as the next request.
func httpError(ctx *fasthttp.RequestCtx, code int, msg string) {
	ctx.SetStatusCode(code)
	ctx.Response.Header.SetContentType("text/plain; charset=utf-8")
	ctx.Response.Header.Set("X-Content-Type-Options", "nosniff")
	ctx.Response.SetBodyString(msg + "\n")
	if cl := ctx.Request.Header.ContentLength(); cl > 0 || cl == -1 {
		ctx.SetConnectionClose()
	}
}

// setCookie adds the sticky cookie, if any, to the response.
func setCookie(ctx *fasthttp.RequestCtx, cookie string) {
	if cookie != "" {
		ctx.Response.Header.Add(fasthttp.HeaderSetCookie, cookie)
	}
}

// cookieValue returns the value of the cookie called name in a Cookie
// header, as net/http's Request.Cookie does ("" when absent).
func cookieValue(header []byte, name string) string {
	for len(header) > 0 {
		var part []byte
		part, header, _ = bytes.Cut(header, []byte{';'})
		part = bytes.TrimSpace(part)
		k, v, ok := bytes.Cut(part, []byte{'='})
		if !ok || string(k) != name {
			continue
		}
		if len(v) > 1 && v[0] == '"' && v[len(v)-1] == '"' {
			v = v[1 : len(v)-1]
		}
		return string(v)
	}
	return ""
}

// fastErrorHandler answers requests fasthttp could not read like net/http
// does: 431 for a header over MaxHeaderBytes (fasthttp's read buffer), 400
// for anything else.
func fastErrorHandler(ctx *fasthttp.RequestCtx, err error) {
	var small *fasthttp.ErrSmallBuffer
	switch {
	case errors.As(err, &small):
		ctx.Error("431 Request Header Fields Too Large", fasthttp.StatusRequestHeaderFieldsTooLarge)
		ctx.SetConnectionClose()
		drainUnread(ctx.Conn())
	case proxy.IsTimeout(err):
		ctx.Error("408 Request Timeout", fasthttp.StatusRequestTimeout)
	default:
		ctx.Error("400 Bad Request", fasthttp.StatusBadRequest)
	}
}

// drainUnread reads and discards what the client is still sending of a
// request the server rejects before reading it whole (bounded in time and
// bytes, as net/http does), so that the connection is not closed with unread
// data: the kernel would answer that with a RST, which can destroy the 431
// before the client reads it.
func drainUnread(c net.Conn) {
	if c == nil {
		return
	}
	_ = c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	_, _ = io.CopyN(io.Discard, c, 256<<10)
	_ = c.SetReadDeadline(time.Time{})
}

// fastHeaders gives header rules access to a fasthttp request's headers
// (a single pointer: no allocation when stored in the interface).
type fastHeaders struct{ h *fasthttp.RequestHeader }

func (f fastHeaders) Get(name string) string { return string(f.h.Peek(name)) }

// queueFullFast reports whether up is a queue-proxy's "queue full" answer
// to a request without a body, which may go again. An HTTP/1.1 request
// with neither Content-Length nor Transfer-Encoding has no body (fasthttp
// says -2).
func queueFullFast(ctx *fasthttp.RequestCtx, up *fasthttp.Response) bool {
	cl := ctx.Request.Header.ContentLength()
	return up.StatusCode() == fasthttp.StatusServiceUnavailable && len(up.Header.Peek(proxy.QueueFullHeader)) > 0 &&
		(cl == 0 || cl == -2)
}
