package proxy

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

var http11 = []byte("HTTP/1.1")

// IsHopHeader tells whether key (any case) is a hop-by-hop header.
func IsHopHeader(key []byte) bool {
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
			if i := bytes.IndexByte(line, ':'); i > 0 && IsHopHeader(bytes.TrimRight(line[:i], " \t")) {
				return true
			}
		}
	}
	return false
}

// PrepareRequest turns a request received by a fasthttp server into the
// one to send upstream, in place: hop-by-hop headers removed, HTTP/1.1
// (so that the upstream answers with keep-alive framing), the Host header
// sent as the client sent it. A request without a Host header gets
// defaultHost, when not empty. Forwarding headers are the caller's (see
// AppendForwardedFor and SetForwarded).
func PrepareRequest(req *fasthttp.Request, defaultHost string) {
	h := &req.Header
	if rawHasHopHeader(h.RawHeaders()) || h.ConnectionClose() {
		stripRequestHopHeaders(h)
	}
	if !h.IsHTTP11() {
		h.SetProtocolBytes(http11)
	}
	if defaultHost != "" && len(h.Host()) == 0 {
		h.Set(fasthttp.HeaderHost, defaultHost)
	}
	// Send the Host header as is; fasthttp would otherwise put in the
	// (lower-cased) host it parsed from it.
	req.UseHostHeader = true
}

// scratchPool holds buffers for building header values (fasthttp's setters
// make a stack buffer escape).
var scratchPool = sync.Pool{New: func() any { b := make([]byte, 0, 128); return &b }}

// AppendForwardedFor appends the client's IP (of addr, a *net.TCPAddr) to
// X-Forwarded-For, keeping the values already there.
func AppendForwardedFor(h *fasthttp.RequestHeader, addr net.Addr) {
	setForwardedFor(h, addr, true)
}

// SetForwarded sets the forwarding headers the way net/http's
// httputil.ProxyRequest.SetXForwarded does behind a Rewrite function, for a
// proxy at the edge that does not trust its clients' forwarding headers:
// Forwarded is removed, X-Forwarded-For becomes the client's IP alone,
// X-Forwarded-Host the Host header and X-Forwarded-Proto "http".
func SetForwarded(h *fasthttp.RequestHeader, addr net.Addr) {
	h.Del("Forwarded")
	setForwardedFor(h, addr, false)
	h.SetBytesV("X-Forwarded-Host", h.Host())
	h.Set("X-Forwarded-Proto", "http")
}

func setForwardedFor(h *fasthttp.RequestHeader, addr net.Addr, keepPrior bool) {
	ta, ok := addr.(*net.TCPAddr)
	if !ok {
		if !keepPrior {
			h.Del(fasthttp.HeaderXForwardedFor)
		}
		return
	}
	bp := scratchPool.Get().(*[]byte)
	b := (*bp)[:0]
	if prior := h.Peek(fasthttp.HeaderXForwardedFor); keepPrior && len(prior) > 0 {
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

// CopyResponseHeader copies an upstream response header to the client's
// response, less its hop-by-hop headers. The Date header is replaced by
// the server's (same clock, cached per second).
func CopyResponseHeader(dst, src *fasthttp.ResponseHeader) {
	hop := src.ConnectionClose()
	if !hop {
		src.VisitAll(func(k, _ []byte) {
			hop = hop || IsHopHeader(k)
		})
	}
	src.CopyTo(dst)
	dst.SetNoDefaultContentType(true) // no Content-Type invented if the upstream sent none
	if !bytes.Equal(dst.Protocol(), http11) {
		dst.SetProtocol(http11)
	}
	if hop {
		stripResponseHopHeaders(dst)
	}
}
