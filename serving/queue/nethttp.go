package queue

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httputil"
	"syscall"
	"time"

	"go.uber.org/zap"

	rampproxy "github.com/rampdev/ramp/serving/proxy"
)

// statusClientClosed records a request whose client went away before it
// was answered (nginx's 499).
const statusClientClosed = 499

// Handler is the net/http serving chain: concurrency limit, revision
// timeout and telemetry around an httputil.ReverseProxy to the user
// container. It serves the HTTP/2 (h2c) connections of the serving port and
// forwards them over h2c when the user container speaks it
// (UserProtocolH2C), over HTTP/1.1 otherwise. HTTP/1.1 clients take the
// faster fasthttp path instead.
func (s *Server) Handler() http.Handler {
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme = "http"
			pr.Out.URL.Host = s.target // the Host header stays the client's
			pr.Out.Header["X-Forwarded-For"] = pr.In.Header["X-Forwarded-For"]
			pr.SetXForwarded()
		},
		Transport:     s.netTransport(),
		FlushInterval: -1, // stream responses as they come
		BufferPool:    rampproxy.BufferPool{},
		ErrorLog:      zap.NewStdLog(s.log),
		ErrorHandler:  s.proxyError,
	}
	timeoutBody := s.fast.timeoutBody
	queueFullBody := s.fast.queueFullBody
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		started := s.rec.Start()
		tag := s.rec.Tag([]byte(r.Header.Get(RouteTagHeader)))
		sw := &statusWriter{ResponseWriter: w}
		ctx := r.Context()
		var deadline time.Time
		if s.cfg.RevisionTimeout > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, s.cfg.RevisionTimeout)
			defer cancel()
			deadline, _ = ctx.Deadline()
		}
		defer func() {
			if v := recover(); v != nil { // ReverseProxy aborts a broken stream with a panic
				if errors.Is(ctx.Err(), context.DeadlineExceeded) {
					s.rec.TimedOut()
				}
				s.rec.Finish(tag, started, sw.code())
				panic(v)
			}
			s.rec.Finish(tag, started, sw.code())
		}()
		switch err := s.breaker.Acquire(r.Context().Done(), deadline); {
		case err == nil:
		case errors.Is(err, ErrQueueFull):
			s.rec.QueueRejected()
			sw.Header().Set(rampproxy.QueueFullHeader, "true")
			http.Error(sw, queueFullBody, http.StatusServiceUnavailable)
			return
		case errors.Is(err, ErrQueueTimeout):
			s.rec.TimedOut()
			http.Error(sw, timeoutBody, http.StatusGatewayTimeout)
			return
		default: // the client went away
			sw.status = statusClientClosed
			return
		}
		defer s.breaker.Release()
		proxy.ServeHTTP(sw, r.WithContext(ctx))
	})
}

// proxyError answers a request the ReverseProxy could not forward.
func (s *Server) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(r.Context().Err(), context.DeadlineExceeded):
		s.rec.TimedOut()
		http.Error(w, s.fast.timeoutBody, http.StatusGatewayTimeout)
	case errors.Is(r.Context().Err(), context.Canceled):
		if sw, ok := w.(*statusWriter); ok {
			sw.status = statusClientClosed
		}
	case errors.Is(err, syscall.ECONNREFUSED):
		s.rec.ProxyError()
		http.Error(w, "queue-proxy: the user container refused the connection at "+s.target+
			" (is it listening on $POD_IP:$PORT?)", http.StatusBadGateway)
	default:
		s.rec.ProxyError()
		s.log.Warn("Proxying to the user container failed", zap.String("target", s.target), zap.Error(err))
		http.Error(w, "queue-proxy: error reaching the user container at "+s.target+": "+err.Error(),
			http.StatusBadGateway)
	}
}

// netTransport is the ReverseProxy's transport to the user container:
// HTTP/2 with prior knowledge (h2c) or HTTP/1.1.
func (s *Server) netTransport() *http.Transport {
	maxConns := 0
	if s.cfg.ContainerConcurrency > 0 {
		maxConns = s.cfg.ContainerConcurrency
	}
	t := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: dialTimeout}).DialContext,
		MaxIdleConns:        100,
		MaxIdleConnsPerHost: 100,
		MaxConnsPerHost:     maxConns,
		IdleConnTimeout:     upstreamIdleTimeout,
		DisableCompression:  true,
	}
	if s.cfg.UserProtocol == UserProtocolH2C {
		t.Protocols = new(http.Protocols)
		t.Protocols.SetUnencryptedHTTP2(true)
		t.IdleConnTimeout = 90 * time.Second // HTTP/2 pings and GOAWAY make reuse safe
	}
	return t
}

// statusWriter remembers the status code sent.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Flush streams what was written so far (server-sent events, gRPC).
func (w *statusWriter) Flush() {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) code() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}
