package queue

import (
	"io"
	"net"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
	"go.uber.org/zap"
)

// serveUpgrade relays a "Connection: Upgrade" request (WebSocket, h2c
// upgrade) as raw TCP: it sends the request head to the user container and
// then copies bytes both ways, the container's 101 answer included, until
// either side closes. The tunnel keeps its concurrency slot and counts as
// in flight for its whole life, like Knative's queue-proxy.
func (p *fastProxy) serveUpgrade(ctx *fasthttp.RequestCtx, tag *TagCounters, started time.Duration) {
	up, err := net.DialTimeout("tcp", p.target, dialTimeout)
	if err == nil {
		appendForwardedFor(&ctx.Request.Header, ctx.RemoteAddr())
		_, err = up.Write(ctx.Request.Header.Header())
		if err == nil && ctx.Request.Header.ContentLength() > 0 {
			_, err = up.Write(ctx.Request.Body())
		}
		if err != nil {
			_ = up.Close()
		}
	}
	if err != nil {
		p.breaker.Release()
		p.upstreamFailed(ctx, err, time.Time{})
		p.rec.Finish(tag, started, ctx.Response.StatusCode())
		return
	}
	t := p.tunnels.add(up)
	ctx.HijackSetNoResponse(true)
	ctx.Hijack(func(client net.Conn) {
		status := t.run(client)
		p.tunnels.remove(t)
		p.breaker.Release()
		p.rec.Finish(tag, started, status)
	})
}

// tunnel is one upgraded connection being relayed.
type tunnel struct {
	up     net.Conn
	mu     sync.Mutex
	client net.Conn // set once run starts
	closed bool
}

// run copies between client and the user container until one side is
// done, then closes both. It returns the status code of the container's
// answer to the upgrade (0 if it sent none).
func (t *tunnel) run(client net.Conn) int {
	t.mu.Lock()
	t.client = client
	closed := t.closed
	t.mu.Unlock()
	if closed {
		_ = t.up.Close()
		return 0
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		copyBuffered(t.up, client, nil)
		t.close()
	}()
	var status int
	copyBuffered(client, t.up, &status)
	t.close()
	<-done
	return status
}

// close ends the tunnel: both copies return.
func (t *tunnel) close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closed = true
	_ = t.up.Close()
	if t.client != nil {
		// fasthttp closes the client connection itself once the hijack
		// handler returns; a past deadline unblocks the copy reading it.
		_ = t.client.SetDeadline(time.Unix(1, 0))
	}
}

// copyBufSize is the size of the buffers relaying bodies and tunnels.
const copyBufSize = 16 << 10

var copyBufPool = sync.Pool{New: func() any { b := make([]byte, copyBufSize); return &b }}

// copyBuffered copies src to dst with a pooled buffer until either fails.
// If status is not nil it receives the status code of the HTTP response
// that src starts with.
func copyBuffered(dst io.Writer, src io.Reader, status *int) {
	bp := copyBufPool.Get().(*[]byte)
	defer copyBufPool.Put(bp)
	buf := *bp
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if status != nil {
				*status = parseStatus(buf[:n])
				status = nil
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// parseStatus reads the status code from the start of "HTTP/1.1 101 ...".
func parseStatus(b []byte) int {
	if len(b) < 12 || string(b[:7]) != "HTTP/1." || b[8] != ' ' {
		return 0
	}
	code := 0
	for _, c := range b[9:12] {
		if c < '0' || c > '9' {
			return 0
		}
		code = code*10 + int(c-'0')
	}
	return code
}

// tunnels tracks the live tunnels so that shutdown can wait for them and,
// past the drain timeout, close them.
type tunnels struct {
	mu    sync.Mutex
	empty *sync.Cond // signaled when live drops to empty
	live  map[*tunnel]struct{}
}

func newTunnels() *tunnels {
	ts := &tunnels{live: map[*tunnel]struct{}{}}
	ts.empty = sync.NewCond(&ts.mu)
	return ts
}

func (ts *tunnels) add(up net.Conn) *tunnel {
	t := &tunnel{up: up}
	ts.mu.Lock()
	ts.live[t] = struct{}{}
	ts.mu.Unlock()
	return t
}

func (ts *tunnels) remove(t *tunnel) {
	ts.mu.Lock()
	delete(ts.live, t)
	if len(ts.live) == 0 {
		ts.empty.Broadcast()
	}
	ts.mu.Unlock()
}

// closeAll ends every live tunnel.
func (ts *tunnels) closeAll(log *zap.Logger) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if len(ts.live) > 0 {
		log.Info("Closing upgraded connections still open at the drain timeout", zap.Int("count", len(ts.live)))
	}
	for t := range ts.live {
		t.close()
	}
}

// wait returns when no tunnel is left.
func (ts *tunnels) wait() {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	for len(ts.live) > 0 {
		ts.empty.Wait()
	}
}
