package gateway

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
	"go.uber.org/zap"

	"github.com/rampdev/ramp/serving/proxy"
)

// proxyListener serves one proxy port (external or internal): HTTP/1.1 on
// fasthttp (Proxy.FastHandler), and HTTP/2 with prior knowledge (h2c) on
// net/http (Proxy.Handler), told apart by the first bytes of each
// connection.
type proxyListener struct {
	sniff *proxy.SniffListener
	fast  *fasthttp.Server
	h2c   *http.Server
}

// HTTP/2 flow-control windows of the proxy listeners: 256 KiB per stream
// still moves ~500 MB/s at a 0.5 ms in-cluster round trip.
const (
	h2StreamWindow = 256 << 10
	h2ConnWindow   = 1 << 20
)

// newProxyListener serves p on l within lim (defaults filled in).
func newProxyListener(l net.Listener, p *Proxy, external bool, lim Limits, log *zap.Logger) *proxyListener {
	h2c := &http.Server{
		Handler:           p.Handler(external),
		ReadHeaderTimeout: lim.HeaderTimeout,
		// Per stream in HTTP/2: its body and its response. A connection
		// without streams (one that stalls in a frame included) is closed
		// after IdleTimeout.
		ReadTimeout:    lim.RequestTimeout,
		WriteTimeout:   lim.RequestTimeout,
		MaxHeaderBytes: lim.MaxHeaderBytes,
		IdleTimeout:    lim.IdleTimeout,
		ErrorLog:       zap.NewStdLog(log),
		Protocols:      new(http.Protocols),
		// A stream's body is buffered up to its flow-control window,
		// while it is held for a scale from zero too: a small window
		// bounds that memory, a connection's streams share the larger one.
		HTTP2: &http.HTTP2Config{MaxReceiveBufferPerStream: h2StreamWindow, MaxReceiveBufferPerConnection: h2ConnWindow},
	}
	h2c.Protocols.SetUnencryptedHTTP2(true)
	return &proxyListener{
		sniff: proxy.NewSniffListener(l, lim.HeaderTimeout),
		fast:  newFastServer(p.FastHandler(external), lim, log),
		h2c:   h2c,
	}
}

// newFastServer is the fasthttp server of a proxy port.
func newFastServer(h fasthttp.RequestHandler, lim Limits, log *zap.Logger) *fasthttp.Server {
	return &fasthttp.Server{
		Handler:               h,
		ErrorHandler:          fastErrorHandler,
		NoDefaultServerHeader: true, // the revision's Server header passes through
		NoDefaultContentType:  true,
		Concurrency:           maxConnections,
		// fasthttp's read buffer bounds the request line and header: past
		// it the request gets 431, like net/http past MaxHeaderBytes.
		ReadBufferSize:  lim.MaxHeaderBytes,
		WriteBufferSize: writeBufferSize,
		// ReadTimeout bounds the header; headerReceived extends it to
		// RequestTimeout for a body (a tunnel has none once hijacked).
		ReadTimeout:                  lim.HeaderTimeout,
		HeaderReceived:               lim.headerReceived,
		WriteTimeout:                 lim.RequestTimeout,
		IdleTimeout:                  lim.IdleTimeout,
		MaxIdleWorkerDuration:        10 * time.Second,
		ReduceMemoryUsage:            true, // an idle connection keeps its read buffer only
		StreamRequestBody:            true, // bodies are forwarded as they arrive
		DisablePreParseMultipartForm: true, // and multipart ones too
		CloseOnShutdown:              true, // "Connection: close" once draining has begun
		Logger:                       proxy.Logger{Log: log},
	}
}

// serve runs both servers in the background; errors other than being
// closed go to errc.
func (pl *proxyListener) serve(errc chan<- error) {
	run := func(name string, f func() error) {
		go func() {
			if err := f(); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
				errc <- fmt.Errorf("serving %s on %s: %w", name, pl.sniff.Addr(), err)
			}
		}()
	}
	run("HTTP/1.1", func() error { return pl.fast.Serve(pl.sniff) })
	run("h2c", func() error { return pl.h2c.Serve(pl.sniff.H2C()) })
}

// shutdown stops accepting and waits for the requests in flight, until ctx
// ends.
func (pl *proxyListener) shutdown(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Go(func() { _ = pl.fast.ShutdownWithContext(ctx) })
	wg.Go(func() { _ = pl.h2c.Shutdown(ctx) })
	wg.Wait()
	_ = pl.sniff.Close() // if Serve had not started yet
}

// close stops both servers at once.
func (pl *proxyListener) close() {
	_ = pl.sniff.Close()
	_ = pl.h2c.Close()
}

// drain stops the proxy listeners gracefully: they stop accepting, their
// requests in flight finish and their tunnels end, until ctx ends, when the
// tunnels still open are closed.
func drain(ctx context.Context, p *Proxy, listeners []*proxyListener, log *zap.Logger) {
	var wg sync.WaitGroup
	for _, pl := range listeners {
		wg.Go(func() { pl.shutdown(ctx) })
	}
	wg.Go(func() { p.fast.tunnels.Drain(ctx, log) })
	wg.Wait()
	p.fast.client.CloseIdleConnections()
}
