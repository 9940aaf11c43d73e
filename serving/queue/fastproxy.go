package queue

import (
	"errors"
	"fmt"
	"net"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
	"go.uber.org/zap"

	"github.com/rampdev/ramp/serving/proxy"
)

// The HTTP/1.1 path runs on fasthttp through the engine shared with the
// gateway (package proxy, whose documentation lists what fasthttp cannot do
// and how it is routed around). Specific to the queue-proxy:
//
//   - Close-delimited response bodies beyond bufferedBodyLimit fail with a
//     502 that says why.
//   - A client that goes away while its request waits for a concurrency
//     slot is not noticed; the wait is bounded by the revision timeout.
//
// Tuning of the HTTP/1.1 path (fasthttp). Memory per connection is one
// read and one write buffer; with a few hundred connections at 1,000 rps
// that stays within the queue-proxy's 15 MB RSS budget.
const (
	// readBufferSize is the per-connection read buffer, client side and
	// user-container side. fasthttp also uses it as the limit on a
	// request's or response's header size: 8 KiB, like nginx's
	// large_client_header_buffers (fasthttp's default 4 KiB rejects
	// requests with big cookies or tokens).
	readBufferSize = 8 << 10
	// writeBufferSize is the per-connection write buffer.
	writeBufferSize = 4 << 10
	// maxConnections bounds the client connections served at once (and so
	// fasthttp's worker goroutines); past it new connections get a 503.
	maxConnections = 10_000
	// unlimitedUpstreamConns bounds the connections to the user container
	// when containerConcurrency is 0 (otherwise it is containerConcurrency).
	unlimitedUpstreamConns = 4096
	// bufferedBodyLimit: responses with a Content-Length up to this are
	// read whole and answered from memory, giving the connection back to
	// the pool at once; longer and chunked ones are streamed. It is also
	// the largest close-delimited body (HTTP/1.0 style, neither
	// Content-Length nor chunked) fasthttp can relay, since it buffers
	// those whole.
	bufferedBodyLimit = 256 << 10
	// upstreamIdleTimeout closes idle connections to the user container
	// before typical application keep-alive timeouts (Node.js 5 s,
	// gunicorn 2-5 s) do, so a request is rarely sent on a connection the
	// container is closing.
	upstreamIdleTimeout = 2 * time.Second
	// dialTimeout bounds connecting to the user container.
	dialTimeout = 5 * time.Second
	// clientIdleTimeout closes client keep-alive connections idle that
	// long (and bounds the wait for a new connection's first bytes).
	clientIdleTimeout = 5 * time.Minute
)

const textPlain = "text/plain; charset=utf-8"

// fastProxy is the HTTP/1.1 path: a fasthttp handler forwarding to the user
// container through a fasthttp.HostClient, with the breaker and telemetry.
type fastProxy struct {
	target  string
	client  *fasthttp.HostClient
	breaker *Breaker
	rec     *Recorder
	timeout time.Duration
	log     *zap.Logger
	tunnels *proxy.Tunnels

	timeoutBody   string
	queueFullBody string
}

func newFastProxy(cfg Config, target string, b *Breaker, rec *Recorder, log *zap.Logger) *fastProxy {
	maxConns := unlimitedUpstreamConns
	if cfg.ContainerConcurrency > 0 {
		maxConns = cfg.ContainerConcurrency
	}
	connWait := cfg.RevisionTimeout
	if connWait <= 0 {
		connWait = time.Hour
	}
	return &fastProxy{
		target:  target,
		breaker: b,
		rec:     rec,
		timeout: cfg.RevisionTimeout,
		log:     log,
		tunnels: proxy.NewTunnels(),
		client: &fasthttp.HostClient{
			Addr: target,
			DialTimeout: func(addr string, timeout time.Duration) (net.Conn, error) {
				return net.DialTimeout("tcp", addr, min(timeout, dialTimeout))
			},
			MaxConns:                  maxConns,
			MaxConnWaitTimeout:        connWait,
			MaxIdleConnDuration:       upstreamIdleTimeout,
			MaxIdemponentCallAttempts: 2,
			RetryIfErr:                proxy.RetryStaleConn,
			ReadBufferSize:            readBufferSize,
			WriteBufferSize:           writeBufferSize,
			MaxResponseBodySize:       bufferedBodyLimit,
			StreamResponseBody:        true,
			DisablePathNormalizing:    true,
			NoDefaultUserAgentHeader:  true,
			ConnPoolStrategy:          fasthttp.LIFO,
		},
		timeoutBody: fmt.Sprintf("request exceeded the revision timeout of %s", cfg.RevisionTimeout),
		queueFullBody: fmt.Sprintf("queue-proxy: pending request queue full (containerConcurrency=%d, queue depth=%d)",
			b.Capacity(), b.QueueDepth()),
	}
}

// newFastServer is the fasthttp server of the serving port.
func newFastServer(handler fasthttp.RequestHandler, cfg Config, log *zap.Logger) *fasthttp.Server {
	return &fasthttp.Server{
		Handler:                      handler,
		Name:                         "",
		NoDefaultServerHeader:        true, // the user container's Server header passes through
		NoDefaultContentType:         true,
		Concurrency:                  maxConnections,
		ReadBufferSize:               readBufferSize,
		WriteBufferSize:              writeBufferSize,
		ReadTimeout:                  cfg.headerTimeout(), // the header; headerReceived gives the body the revision timeout
		HeaderReceived:               cfg.headerReceived,
		WriteTimeout:                 cfg.RevisionTimeout, // whole response, body included
		IdleTimeout:                  cfg.idleTimeout(),
		MaxIdleWorkerDuration:        10 * time.Second,
		StreamRequestBody:            true, // bodies are forwarded as they arrive
		DisablePreParseMultipartForm: true, // and multipart ones too
		CloseOnShutdown:              true, // "Connection: close" once draining has begun
		Logger:                       proxy.Logger{Log: log},
	}
}

// serve is the fasthttp request handler of the serving port.
func (p *fastProxy) serve(ctx *fasthttp.RequestCtx) {
	started := p.rec.Start()
	tag := p.rec.Tag(ctx.Request.Header.Peek(RouteTagHeader))
	var deadline time.Time
	if p.timeout > 0 {
		deadline = time.Now().Add(p.timeout)
	}
	// fasthttp cannot tell when a client goes away while its request
	// waits for a slot, so waiting is bounded by the revision timeout.
	if err := p.breaker.Acquire(nil, deadline); err != nil {
		p.rejected(ctx, err)
		p.rec.Finish(tag, started, ctx.Response.StatusCode())
		return
	}
	if ctx.Request.Header.ConnectionUpgrade() {
		p.serveUpgrade(ctx, tag, started)
		return
	}

	p.prepareRequest(ctx)
	up := fasthttp.AcquireResponse()
	var err error
	if deadline.IsZero() {
		err = p.client.Do(&ctx.Request, up)
	} else {
		err = p.client.DoDeadline(&ctx.Request, up, deadline)
	}
	if err != nil {
		fasthttp.ReleaseResponse(up)
		p.breaker.Release()
		p.upstreamFailed(ctx, err, deadline)
		p.rec.Finish(tag, started, ctx.Response.StatusCode())
		return
	}
	status := up.StatusCode()
	if status < 200 {
		// An informational answer (103 Early Hints) or an unasked-for 101:
		// fasthttp takes it for the whole response and has already put the
		// connection back with the real response unread on it.
		fasthttp.ReleaseResponse(up)
		p.breaker.Release()
		p.client.CloseIdleConnections() // drops that connection
		p.rec.ProxyError()
		p.log.Warn("The user container sent an informational response, unsupported over HTTP/1.1",
			zap.Int("status", status))
		answer(ctx, fasthttp.StatusBadGateway, fmt.Sprintf(
			"queue-proxy: the user container answered %d; informational responses are not supported over HTTP/1.1", status))
		p.rec.Finish(tag, started, fasthttp.StatusBadGateway)
		return
	}
	if proxy.CopyResponse(ctx, up, bufferedBodyLimit) {
		fasthttp.ReleaseResponse(up)
		p.breaker.Release()
		p.rec.Finish(tag, started, status)
		return
	}
	proxy.StreamBody(ctx, up, func(timedOut bool) {
		p.breaker.Release()
		if timedOut {
			p.rec.TimedOut()
		}
		p.rec.Finish(tag, started, status)
	})
}

// prepareRequest turns the client's request into the one sent to the user
// container, in place: hop-by-hop headers removed, the client's address
// appended to X-Forwarded-For, the Host header kept as the client sent it.
func (p *fastProxy) prepareRequest(ctx *fasthttp.RequestCtx) {
	proxy.PrepareRequest(&ctx.Request, p.target)
	proxy.AppendForwardedFor(&ctx.Request.Header, ctx.RemoteAddr())
}

// rejected answers a request the breaker turned away.
func (p *fastProxy) rejected(ctx *fasthttp.RequestCtx, err error) {
	if errors.Is(err, ErrQueueFull) {
		p.rec.QueueRejected()
		answer(ctx, fasthttp.StatusServiceUnavailable, p.queueFullBody)
		ctx.Response.Header.Set(proxy.QueueFullHeader, "true")
		return
	}
	p.rec.TimedOut()
	answer(ctx, fasthttp.StatusGatewayTimeout, p.timeoutBody)
}

// upstreamFailed answers a request the user container did not answer.
// Past the request's deadline that is the revision timeout (504); any
// other failure is the container's (502).
func (p *fastProxy) upstreamFailed(ctx *fasthttp.RequestCtx, err error, deadline time.Time) {
	switch {
	case errors.Is(err, fasthttp.ErrTimeout) || (!deadline.IsZero() && !time.Now().Before(deadline)):
		p.rec.TimedOut()
		answer(ctx, fasthttp.StatusGatewayTimeout, p.timeoutBody)
		return
	case errors.Is(err, syscall.ECONNREFUSED):
		p.rec.ProxyError()
		answer(ctx, fasthttp.StatusBadGateway,
			"queue-proxy: the user container refused the connection at "+p.target+" (is it listening on $POD_IP:$PORT?)")
		return
	}
	p.rec.ProxyError()
	p.log.Warn("Proxying to the user container failed", zap.String("target", p.target), zap.Error(err))
	msg := "queue-proxy: error reaching the user container at " + p.target + ": " + err.Error()
	switch {
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		msg = fmt.Sprintf("queue-proxy: the user container sent a response of unknown length (neither Content-Length "+
			"nor chunked) longer than %d KiB; send a Content-Length or use chunked encoding", bufferedBodyLimit>>10)
	case proxy.IsTimeout(err):
		msg = "queue-proxy: timed out connecting to the user container at " + p.target
	}
	answer(ctx, fasthttp.StatusBadGateway, msg)
}

// answer sends the queue-proxy's own plain-text response. The request's
// body may be partly unread, so a request with a body closes the
// connection afterwards instead of reading the rest as the next request.
func answer(ctx *fasthttp.RequestCtx, status int, msg string) {
	ctx.SetStatusCode(status)
	ctx.Response.Header.SetContentType(textPlain)
	ctx.Response.SetBodyString(msg)
	if cl := ctx.Request.Header.ContentLength(); cl > 0 || cl == -1 {
		ctx.SetConnectionClose()
	}
}
