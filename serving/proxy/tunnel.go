package proxy

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
	"go.uber.org/zap"
)

// Upgrades ("Connection: Upgrade": WebSocket, h2c upgrade) are relayed as
// raw TCP: DialUpgrade sends the request head upstream, then Tunnels.Hijack
// takes over the client's connection and copies bytes both ways, the
// upstream's 101 answer included, until either side closes.

// DialUpgrade connects to addr within timeout and sends req's head as it
// stands (its hop-by-hop headers are needed by the upgrade), and its body
// when it has a Content-Length. On error the connection is closed, and
// nothing was sent if the dial failed.
func DialUpgrade(req *fasthttp.Request, addr string, timeout time.Duration) (net.Conn, error) {
	up, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, err
	}
	_, err = up.Write(req.Header.Header())
	if err == nil && req.Header.ContentLength() > 0 {
		_, err = up.Write(req.Body())
	}
	if err != nil {
		_ = up.Close()
		return nil, err
	}
	return up, nil
}

// Tunnels tracks the live tunnels so that shutdown can wait for them and,
// past the drain timeout, close them.
type Tunnels struct {
	mu    sync.Mutex
	empty *sync.Cond // signaled when live drops to empty
	live  map[*tunnel]struct{}
	// closing is set by CloseAll: later tunnels close as they start.
	closing bool
}

// NewTunnels returns an empty set of tunnels.
func NewTunnels() *Tunnels {
	ts := &Tunnels{live: map[*tunnel]struct{}{}}
	ts.empty = sync.NewCond(&ts.mu)
	return ts
}

// Hijack relays ctx's connection to up, an upstream connection the upgrade
// request was sent on (DialUpgrade), once the request handler returns;
// fasthttp writes no response of its own. extraHeader, when not empty, is
// header lines ("Key: value\r\n") added to the upstream's response head.
// When either side closes, both are closed and done is called with the
// status code of the upstream's answer (0 if it sent none).
func (ts *Tunnels) Hijack(ctx *fasthttp.RequestCtx, up net.Conn, extraHeader []byte, done func(status int)) {
	t := ts.add(up)
	t.extra = extraHeader
	ctx.HijackSetNoResponse(true)
	ctx.Hijack(func(client net.Conn) {
		status := t.run(client)
		ts.remove(t)
		done(status)
	})
}

// Len is the number of live tunnels.
func (ts *Tunnels) Len() int {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return len(ts.live)
}

func (ts *Tunnels) add(up net.Conn) *tunnel {
	t := &tunnel{up: up}
	ts.mu.Lock()
	ts.live[t] = struct{}{}
	// A tunnel that arrives after CloseAll is closed as it starts.
	t.closed = ts.closing
	ts.mu.Unlock()
	return t
}

func (ts *Tunnels) remove(t *tunnel) {
	ts.mu.Lock()
	delete(ts.live, t)
	if len(ts.live) == 0 {
		ts.empty.Broadcast()
	}
	ts.mu.Unlock()
}

// CloseAll ends every live tunnel.
func (ts *Tunnels) CloseAll(log *zap.Logger) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.closing = true
	if len(ts.live) > 0 {
		log.Info("Closing upgraded connections still open at the drain timeout", zap.Int("count", len(ts.live)))
	}
	for t := range ts.live {
		t.close()
	}
}

// Wait returns when no tunnel is left.
func (ts *Tunnels) Wait() {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	for len(ts.live) > 0 {
		ts.empty.Wait()
	}
}

// Drain waits for the live tunnels to end and, if ctx ends first, closes
// them (and waits for their relays to return).
func (ts *Tunnels) Drain(ctx context.Context, log *zap.Logger) {
	done := make(chan struct{})
	go func() { ts.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		ts.CloseAll(log)
		<-done
	}
}

// tunnel is one upgraded connection being relayed.
type tunnel struct {
	up     net.Conn
	extra  []byte // header lines added to the upstream's response head
	mu     sync.Mutex
	client net.Conn // set once run starts
	closed bool
}

// run copies between client and the upstream until one side is done, then
// closes both. It returns the status code of the upstream's answer to the
// upgrade (0 if it sent none).
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
		CopyBuffered(t.up, client, nil)
		t.close()
	}()
	var src io.Reader = t.up
	if len(t.extra) > 0 {
		src = &headInjector{br: bufio.NewReaderSize(t.up, 4<<10), extra: t.extra}
	}
	var status int
	CopyBuffered(client, src, &status)
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

// maxHeadSize bounds the response head headInjector looks for the end of;
// a longer one is relayed unchanged.
const maxHeadSize = 64 << 10

// headInjector reads an HTTP response, adding header lines at the end of
// its head.
type headInjector struct {
	br    *bufio.Reader
	extra []byte
	out   []byte // the head, not yet read
	err   error  // to return once out is read
	read  bool   // the head has been read
}

func (h *headInjector) Read(b []byte) (int, error) {
	if !h.read {
		h.read = true
		h.out, h.err = readHead(h.br)
		if h.err == nil {
			h.out = append(append(h.out, h.extra...), "\r\n"...)
		}
	}
	if len(h.out) > 0 {
		n := copy(b, h.out)
		h.out = h.out[n:]
		return n, nil
	}
	if h.err != nil && !errors.Is(h.err, errHeadTooLong) {
		return 0, h.err
	}
	return h.br.Read(b)
}

// readHead reads a response head up to its blank line, which it leaves
// out. On error, or past maxHeadSize, it returns what it read with the
// error (errHeadTooLong then: the rest is to be read on).
func readHead(br *bufio.Reader) ([]byte, error) {
	var head []byte
	lineStart := true // a line longer than br's buffer comes in pieces
	for {
		line, err := br.ReadSlice('\n')
		if err == nil && lineStart && (string(line) == "\r\n" || string(line) == "\n") {
			return head, nil
		}
		head = append(head, line...)
		lineStart = err == nil
		switch {
		case err == nil || errors.Is(err, bufio.ErrBufferFull):
			if len(head) > maxHeadSize {
				return head, errHeadTooLong
			}
		default:
			return head, err
		}
	}
}

var errHeadTooLong = errors.New("response head too long")

// CopyBufSize is the size of the pooled buffers relaying bodies and
// tunnels.
const CopyBufSize = 16 << 10

var copyBufPool = sync.Pool{New: func() any { b := make([]byte, CopyBufSize); return &b }}

// BufferPool lends httputil.ReverseProxy the pooled copy buffers
// (otherwise it allocates 32 KiB per request).
type BufferPool struct{}

// Get implements httputil.BufferPool.
func (BufferPool) Get() []byte { return *copyBufPool.Get().(*[]byte) }

// Put implements httputil.BufferPool.
func (BufferPool) Put(b []byte) {
	if cap(b) == CopyBufSize {
		b = b[:CopyBufSize]
		copyBufPool.Put(&b)
	}
}

// CopyBuffered copies src to dst with a pooled buffer until either fails.
// If status is not nil it receives the status code of the HTTP response
// that src starts with.
func CopyBuffered(dst io.Writer, src io.Reader, status *int) {
	bp := copyBufPool.Get().(*[]byte)
	defer copyBufPool.Put(bp)
	buf := *bp
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if status != nil {
				*status = ParseStatus(buf[:n])
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

// ParseStatus reads the status code from the start of "HTTP/1.1 101 ...",
// 0 if b does not start so.
func ParseStatus(b []byte) int {
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
