package gateway

import (
	"time"

	"github.com/valyala/fasthttp"
)

// Limits bound what one client can hold of the gateway's listeners (no
// slowloris: a client that trickles its header, or idles, is disconnected).
// Zero fields take the defaults below.
type Limits struct {
	// HeaderTimeout bounds reading a request's header, and the wait for a
	// new connection's first bytes (default 30 s).
	HeaderTimeout time.Duration
	// IdleTimeout closes client keep-alive connections idle that long,
	// and HTTP/2 connections without a stream (default 2 min).
	IdleTimeout time.Duration
	// RequestTimeout bounds reading a request's body and writing its
	// response, streams included (default: the largest revision timeout,
	// 3600 s, plus the activation timeout). The queue-proxy enforces each
	// revision's own, shorter, timeout.
	RequestTimeout time.Duration
	// MaxHeaderBytes bounds a request's header; larger ones get 431
	// (default MaxHeaderBytes).
	MaxHeaderBytes int
}

// Defaults of Limits.
const (
	DefaultHeaderTimeout = 30 * time.Second
	DefaultIdleTimeout   = 2 * time.Minute
	// maxRevisionTimeout is the largest timeoutSeconds a revision may have
	// (apis/serving/v1).
	maxRevisionTimeout = 3600 * time.Second
)

// Limits of the admin port: its requests are small GETs from the kubelet,
// Prometheus and the controller.
const (
	adminHeaderTimeout = 5 * time.Second
	adminReadTimeout   = 10 * time.Second
	adminWriteTimeout  = 30 * time.Second
	adminIdleTimeout   = time.Minute
	adminMaxHeader     = 8 << 10
	adminMaxBody       = 4 << 10
)

// withDefaults fills the zero fields.
func (l Limits) withDefaults(activationTimeout time.Duration) Limits {
	if l.HeaderTimeout <= 0 {
		l.HeaderTimeout = DefaultHeaderTimeout
	}
	if l.IdleTimeout <= 0 {
		l.IdleTimeout = DefaultIdleTimeout
	}
	if l.RequestTimeout <= 0 {
		l.RequestTimeout = maxRevisionTimeout + activationTimeout
	}
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = MaxHeaderBytes
	}
	return l
}

// headerReceived gives a request whose header is in the time its body (or
// its upgrade's first bytes) may take: the server's ReadTimeout bounded the
// header only.
func (l Limits) headerReceived(h *fasthttp.RequestHeader) fasthttp.RequestConfig {
	if h.ContentLength() != 0 || h.ConnectionUpgrade() {
		return fasthttp.RequestConfig{ReadTimeout: l.RequestTimeout}
	}
	return fasthttp.RequestConfig{}
}
