package queue

import (
	"net/http"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/rampdev/ramp/serving/proxy"
)

// Limits of the queue-proxy's servers (no slowloris: a client that
// trickles its header, or idles, is disconnected). The serving port's
// header limit is readBufferSize; its bodies and responses are bounded by
// the revision timeout.
const (
	// DefaultHeaderTimeout bounds reading a request's header on the
	// serving port, and the wait for a new connection's first bytes.
	DefaultHeaderTimeout = 30 * time.Second
	// Admin and metrics ports: small GETs from the kubelet, the
	// autoscaler and Prometheus. The admin port's writes wait for a
	// drain (DrainPath), so its write timeout is added to DrainTimeout.
	adminHeaderTimeout = 5 * time.Second
	adminReadTimeout   = 10 * time.Second
	adminWriteTimeout  = 30 * time.Second
	adminIdleTimeout   = time.Minute
	adminMaxHeader     = 8 << 10
	adminMaxBody       = 4 << 10
	// unbounded stands for no timeout where fasthttp needs a duration.
	unbounded = 100 * 365 * 24 * time.Hour
)

// headerTimeout is the configured header timeout, or the default.
func (c Config) headerTimeout() time.Duration {
	if c.HeaderTimeout > 0 {
		return c.HeaderTimeout
	}
	return DefaultHeaderTimeout
}

// idleTimeout is the configured client idle timeout, or the default.
func (c Config) idleTimeout() time.Duration {
	if c.IdleTimeout > 0 {
		return c.IdleTimeout
	}
	return clientIdleTimeout
}

// streamWriteTimeout bounds an HTTP/2 stream's response: the revision
// timeout and a grace for the 504 past it (0: none).
func (c Config) streamWriteTimeout() time.Duration {
	if c.RevisionTimeout <= 0 {
		return 0
	}
	return c.RevisionTimeout + 5*time.Second
}

// headerReceived gives a request whose header is in the revision timeout
// for its body: the server's ReadTimeout bounded the header only.
func (c Config) headerReceived(*fasthttp.RequestHeader) fasthttp.RequestConfig {
	if c.RevisionTimeout <= 0 {
		return fasthttp.RequestConfig{ReadTimeout: unbounded}
	}
	return fasthttp.RequestConfig{ReadTimeout: c.RevisionTimeout}
}

// newPortServer is the server of the admin or metrics port.
func newPortServer(h http.Handler, writeTimeout time.Duration) *http.Server {
	return &http.Server{
		Handler:           proxy.LimitBody(h, adminMaxBody),
		ReadHeaderTimeout: adminHeaderTimeout,
		ReadTimeout:       adminReadTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       adminIdleTimeout,
		MaxHeaderBytes:    adminMaxHeader,
	}
}
