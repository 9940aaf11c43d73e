// Package proxy is the HTTP/1.1 reverse-proxy engine shared by the
// queue-proxy and the gateway: the pieces around fasthttp, which is about
// four times cheaper per request than net/http's ReverseProxy. It imports
// the standard library, fasthttp and zap only (the queue-proxy, in every
// pod, must stay small and free of Kubernetes).
//
// What fasthttp cannot do is routed around:
//
//   - Upgrades (WebSocket): the request is hijacked and relayed as raw TCP
//     (DialUpgrade, Tunnels).
//   - HTTP/2: h2c connections are told apart by their preface before
//     fasthttp sees them (SniffListener) and served by net/http.
//   - Streaming: request bodies stream (Server.StreamRequestBody) and
//     response bodies that are chunked or longer than a buffered limit
//     stream (HostClient.StreamResponseBody, CopyResponse, StreamBody), one
//     flushed chunk per read. fasthttp's client writes the whole request
//     before reading the response, so HTTP/1.1 full-duplex exchanges do not
//     work (they need HTTP/2).
//   - Close-delimited response bodies are buffered whole by fasthttp, so
//     those beyond the client's MaxResponseBodySize fail (ErrBodyTooLarge).
//   - 1xx responses other than 100 Continue (103 Early Hints) are taken for
//     the final response by fasthttp: callers answer 502 and drop the
//     connection.
//   - HTTP/1.1 response trailers are not forwarded (gRPC uses HTTP/2).
//   - fasthttp does not tell a handler that its client went away: waits
//     before the request is sent upstream must be bounded otherwise.
package proxy

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"

	"github.com/valyala/fasthttp"
	"go.uber.org/zap"
)

// IsTimeout tells whether err is a timeout, fasthttp's or the network's.
func IsTimeout(err error) bool {
	if errors.Is(err, fasthttp.ErrTimeout) || errors.Is(err, fasthttp.ErrDialTimeout) ||
		errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// RetryStaleConn is a fasthttp RetryIfErr function: it retries an
// idempotent request once when the connection it went out on was closed by
// the upstream before any response byte, as happens to a pooled
// connection the upstream had just timed out. It never retries timeouts.
// fasthttp itself never retries requests with a body.
func RetryStaleConn(req *fasthttp.Request, attempts int, err error) (resetTimeout, retry bool) {
	if attempts > 1 || IsTimeout(err) {
		return false, false
	}
	idempotent := req.Header.IsGet() || req.Header.IsHead() || req.Header.IsOptions()
	return false, idempotent && (errors.Is(err, io.EOF) || errors.Is(err, fasthttp.ErrConnectionClosed) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE))
}

// Logger adapts a zap logger to fasthttp's Logger.
type Logger struct{ Log *zap.Logger }

// Printf implements fasthttp.Logger.
func (l Logger) Printf(format string, args ...any) {
	l.Log.Warn(fmt.Sprintf(format, args...), zap.String("source", "fasthttp"))
}
