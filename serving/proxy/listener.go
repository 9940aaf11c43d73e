package proxy

import (
	"bytes"
	"errors"
	"net"
	"sync"
	"time"
)

// h2cPreface starts every HTTP/2 connection with prior knowledge.
var h2cPreface = []byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")

// SniffListener splits a listener's connections by protocol, so that a
// fasthttp server (HTTP/1.x) and a net/http server (HTTP/2 with prior
// knowledge, h2c) can share a port. Each accepted connection's first bytes
// are read (in a goroutine of its own, so a silent client holds up
// nobody): a connection starting with the HTTP/2 preface comes out of
// H2C(), any other out of Accept. The bytes read are replayed to whoever
// reads the connection next. A connection whose first bytes do not arrive
// within the timeout is closed.
type SniffListener struct {
	inner   net.Listener
	timeout time.Duration // for the first bytes to arrive
	http1   chan net.Conn
	h2c     *chanListener
	done    chan struct{}
	once    sync.Once
	mu      sync.Mutex
	err     error // why the accept loop stopped
}

// NewSniffListener starts accepting on inner; timeout (0 for none) bounds
// the wait for a connection's first bytes.
func NewSniffListener(inner net.Listener, timeout time.Duration) *SniffListener {
	l := &SniffListener{
		inner:   inner,
		timeout: timeout,
		http1:   make(chan net.Conn),
		done:    make(chan struct{}),
	}
	l.h2c = &chanListener{addr: inner.Addr(), conns: make(chan net.Conn), parent: l.done, done: make(chan struct{})}
	go l.acceptLoop()
	return l
}

func (l *SniffListener) acceptLoop() {
	var backoff time.Duration
	for {
		c, err := l.inner.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				time.Sleep(backoff)
				continue
			}
			l.mu.Lock()
			l.err = err
			l.mu.Unlock()
			_ = l.Close()
			return
		}
		backoff = 0
		go l.sniff(c)
	}
}

func (l *SniffListener) sniff(c net.Conn) {
	sc := &sniffedConn{Conn: c}
	isH2C, err := sc.sniff(l.timeout)
	if err != nil {
		_ = c.Close()
		return
	}
	if isH2C {
		select {
		case l.h2c.conns <- sc:
		case <-l.done:
			_ = c.Close()
		case <-l.h2c.done:
			_ = c.Close()
		}
		return
	}
	select {
	case l.http1 <- sc:
	case <-l.done:
		_ = c.Close()
	}
}

// Accept returns the next HTTP/1.x connection.
func (l *SniffListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.http1:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close stops accepting on both sides and closes the inner listener.
func (l *SniffListener) Close() error {
	var err error
	l.once.Do(func() {
		close(l.done)
		err = l.inner.Close()
	})
	return err
}

// Addr is the address of the inner listener.
func (l *SniffListener) Addr() net.Addr { return l.inner.Addr() }

// H2C is the listener of the connections that start with the HTTP/2
// preface.
func (l *SniffListener) H2C() net.Listener { return l.h2c }

// chanListener is a net.Listener fed by a channel.
type chanListener struct {
	addr   net.Addr
	conns  chan net.Conn
	parent <-chan struct{}
	done   chan struct{}
	once   sync.Once
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.parent:
		return nil, net.ErrClosed
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *chanListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *chanListener) Addr() net.Addr { return l.addr }

// sniffedConn replays the bytes read by sniff before reading on.
type sniffedConn struct {
	net.Conn
	buf  [24]byte // len(h2cPreface)
	head []byte   // the part of buf not yet replayed
}

// sniff reads just enough of the connection to tell an HTTP/2 preface from
// anything else: HTTP/1.x requests differ from it within their first bytes.
func (c *sniffedConn) sniff(timeout time.Duration) (isH2C bool, err error) {
	if timeout > 0 {
		if err := c.SetReadDeadline(time.Now().Add(timeout)); err != nil {
			return false, err
		}
	}
	n := 0
	for n < len(c.buf) {
		m, err := c.Conn.Read(c.buf[n:])
		n += m
		if !bytes.HasPrefix(h2cPreface, c.buf[:n]) {
			break
		}
		if err != nil {
			return false, err
		}
	}
	c.head = c.buf[:n]
	if timeout > 0 {
		if err := c.SetReadDeadline(time.Time{}); err != nil {
			return false, err
		}
	}
	return n == len(h2cPreface) && bytes.Equal(c.buf[:n], h2cPreface), nil
}

func (c *sniffedConn) Read(b []byte) (int, error) {
	if len(c.head) > 0 {
		n := copy(b, c.head)
		c.head = c.head[n:]
		return n, nil
	}
	return c.Conn.Read(b)
}
