package queue

import (
	"bytes"
	"net"
	"sync"

	"github.com/valyala/fasthttp"
)

// Hop-by-hop headers (RFC 9110 section 7.6.1) apply to one connection and
// are not forwarded. Transfer-Encoding is not listed: fasthttp decodes the
// incoming framing and writes its own on each side.
var hopHeaders = []string{
	"Connection",
	"Keep-Alive",
	"Proxy-Connection",
	"Proxy-Authenticate",
	"Proxy-Authorization",
	"Te",
	"Trailer",
	"Upgrade",
}

// isHopHeader tells whether key (any case) is one of hopHeaders.
func isHopHeader(key []byte) bool {
	if len(key) < 2 {
		return false
	}
	switch key[0] | 0x20 { // ASCII lower case
	case 'c', 'k', 'p', 't', 'u':
	default:
		return false
	}
	for _, h := range hopHeaders {
		if len(h) == len(key) && bytes.EqualFold(key, []byte(h)) {
			return true
		}
	}
	return false
}

// rawHasHopHeader scans a request's raw header block ("Key: value\r\n"
// lines) for a hop-by-hop header. It is the fast path: most requests have
// none, and the raw block is a few hundred bytes fasthttp already kept.
func rawHasHopHeader(raw []byte) bool {
	for len(raw) > 0 {
		line := raw
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			line, raw = raw[:i], raw[i+1:]
		} else {
			raw = nil
		}
		if len(line) < 3 {
			continue
		}
		switch line[0] | 0x20 {
		case 'c', 'k', 'p', 't', 'u':
			if i := bytes.IndexByte(line, ':'); i > 0 && isHopHeader(bytes.TrimRight(line[:i], " \t")) {
				return true
			}
		}
	}
	return false
}

// prepareRequest turns the client's request into the one sent to the user
// container, in place: hop-by-hop headers removed, the client's address
// appended to X-Forwarded-For, the Host header kept as the client sent it.
func (p *fastProxy) prepareRequest(ctx *fasthttp.RequestCtx) {
	h := &ctx.Request.Header
	if rawHasHopHeader(h.RawHeaders()) || h.ConnectionClose() {
		stripRequestHopHeaders(h)
	}
	if !h.IsHTTP11() {
		h.SetProtocolBytes(http11) // so the container answers with keep-alive framing
	}
	if len(h.Host()) == 0 {
		h.Set(fasthttp.HeaderHost, p.target)
	}
	appendForwardedFor(h, ctx.RemoteAddr())
	// Send the Host header as is; fasthttp would otherwise put in the
	// (lower-cased) host it parsed from it.
	ctx.Request.UseHostHeader = true
}

// scratchPool holds buffers for building header values (fasthttp's setters
// make a stack buffer escape).
var scratchPool = sync.Pool{New: func() any { b := make([]byte, 0, 128); return &b }}

// appendForwardedFor appends the client's IP to X-Forwarded-For.
func appendForwardedFor(h *fasthttp.RequestHeader, addr net.Addr) {
	ta, ok := addr.(*net.TCPAddr)
	if !ok {
		return
	}
	bp := scratchPool.Get().(*[]byte)
	b := (*bp)[:0]
	if prior := h.Peek(fasthttp.HeaderXForwardedFor); len(prior) > 0 {
		b = append(b, prior...)
		b = append(b, ", "...)
	}
	b = ta.AddrPort().Addr().Unmap().AppendTo(b)
	h.SetBytesV(fasthttp.HeaderXForwardedFor, b)
	if cap(b) <= 4<<10 {
		*bp = b
		scratchPool.Put(bp)
	}
}

// connectionTokens copies the header names listed in a Connection header
// value, leaving out the connection options close, keep-alive and upgrade.
func connectionTokens(v []byte) [][]byte {
	var out [][]byte
	for _, t := range bytes.Split(v, []byte{','}) {
		t = bytes.TrimSpace(t)
		if len(t) == 0 || bytes.EqualFold(t, []byte("close")) || bytes.EqualFold(t, []byte("keep-alive")) ||
			bytes.EqualFold(t, []byte("upgrade")) {
			continue
		}
		out = append(out, bytes.Clone(t))
	}
	return out
}

func stripRequestHopHeaders(h *fasthttp.RequestHeader) {
	for _, t := range connectionTokens(h.Peek(fasthttp.HeaderConnection)) {
		h.DelBytes(t)
	}
	h.ResetConnectionClose()
	for _, k := range hopHeaders {
		h.Del(k)
	}
}

func stripResponseHopHeaders(h *fasthttp.ResponseHeader) {
	for _, t := range connectionTokens(h.Peek(fasthttp.HeaderConnection)) {
		h.DelBytes(t)
	}
	h.ResetConnectionClose()
	for _, k := range hopHeaders {
		h.Del(k)
	}
}

// copyResponseHeader copies the user container's response header to the
// client's response, less its hop-by-hop headers. The Date header is
// replaced by the queue-proxy's (same clock, cached per second).
func copyResponseHeader(dst, src *fasthttp.ResponseHeader) {
	hop := src.ConnectionClose()
	if !hop {
		src.VisitAll(func(k, _ []byte) {
			hop = hop || isHopHeader(k)
		})
	}
	src.CopyTo(dst)
	dst.SetNoDefaultContentType(true) // no Content-Type invented if the container sent none
	if !bytes.Equal(dst.Protocol(), http11) {
		dst.SetProtocol(http11)
	}
	if hop {
		stripResponseHopHeaders(dst)
	}
}
