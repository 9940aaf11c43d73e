package localcluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// A Forward listens on a host loopback address and carries each
// connection to an address inside the real node's network namespace: the
// host reaches the API server and the gateway there without any address of
// the namespace appearing on the host's interfaces.
type Forward struct {
	Listen string // 127.0.0.1:6443, on the host
	Target string // 127.0.0.1:6443 or 10.200.0.1:8080, inside the namespace
}

// ParseForward parses LISTEN=TARGET.
func ParseForward(s string) (Forward, error) {
	l, t, ok := strings.Cut(s, "=")
	if !ok {
		return Forward{}, fmt.Errorf("forward %q: want LISTEN=TARGET, e.g. 127.0.0.1:6443=127.0.0.1:6443", s)
	}
	for _, a := range []string{l, t} {
		if _, _, err := net.SplitHostPort(a); err != nil {
			return Forward{}, fmt.Errorf("forward %q: %w", s, err)
		}
	}
	host, _, _ := net.SplitHostPort(l)
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return Forward{}, fmt.Errorf("forward %q: the host side must be a loopback address", s)
	}
	return Forward{Listen: l, Target: t}, nil
}

// dialTimeout bounds each connection attempt inside the namespace.
const dialTimeout = 5 * time.Second

// RunForwards serves the forwards until ctx ends. netns is the path of the
// namespace (/run/netns/<name>).
func RunForwards(ctx context.Context, netns string, fs []Forward) error {
	if len(fs) == 0 {
		return errors.New("no forwards")
	}
	if _, err := os.Stat(netns); err != nil {
		return fmt.Errorf("network namespace %s: %w", netns, err)
	}
	var ls []net.Listener
	for _, f := range fs {
		l, err := net.Listen("tcp", f.Listen)
		if err != nil {
			for _, o := range ls {
				_ = o.Close()
			}
			return fmt.Errorf("listening on %s: %w", f.Listen, err)
		}
		ls = append(ls, l)
	}
	var wg sync.WaitGroup
	for i, l := range ls {
		f := fs[i]
		wg.Go(func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				go carry(c, netns, f.Target)
			}
		})
	}
	<-ctx.Done()
	for _, l := range ls {
		_ = l.Close()
	}
	wg.Wait()
	return nil
}

// carry copies c to and from target until either side closes.
func carry(c net.Conn, netns, target string) {
	defer c.Close()
	up, err := DialInNetns(netns, target)
	if err != nil {
		return
	}
	defer up.Close()
	done := make(chan struct{}, 2)
	cp := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		if tc, ok := dst.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
		done <- struct{}{}
	}
	go cp(up, c)
	go cp(c, up)
	<-done
	<-done
}

// DialInNetns opens a TCP connection from inside the network namespace at
// path: the socket is created while this OS thread is in the namespace and
// keeps working after the thread returns to its own.
func DialInNetns(path, addr string) (net.Conn, error) {
	runtime.LockOSThread()
	self, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
	if err != nil {
		runtime.UnlockOSThread()
		return nil, err
	}
	defer self.Close()
	ns, err := os.Open(path)
	if err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("opening network namespace %s: %w", path, err)
	}
	defer ns.Close()
	if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("entering network namespace %s: %w", path, err)
	}
	// Dial without the runtime's help: net.Dial may hand the connect to
	// another thread, outside the namespace.
	conn, dialErr := dialHere(addr)
	if err := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); err != nil {
		// This thread is stuck in the namespace: keep it locked, so that
		// it exits with this goroutine instead of running others.
		if conn != nil {
			_ = conn.Close()
		}
		return nil, fmt.Errorf("leaving network namespace %s: %w", path, err)
	}
	runtime.UnlockOSThread()
	return conn, dialErr
}

// dialHere connects a blocking socket on the calling thread, then hands it
// to the runtime's poller.
func dialHere(addr string) (net.Conn, error) {
	tcp, err := net.ResolveTCPAddr("tcp4", addr)
	if err != nil {
		return nil, err
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	tv := unix.NsecToTimeval(dialTimeout.Nanoseconds())
	_ = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &tv)
	sa := &unix.SockaddrInet4{Port: tcp.Port}
	copy(sa.Addr[:], tcp.IP.To4())
	if err := unix.Connect(fd, sa); err != nil {
		_ = unix.Close(fd)
		return nil, fmt.Errorf("connecting to %s in the node's namespace: %w", addr, err)
	}
	f := os.NewFile(uintptr(fd), "tcp:"+addr)
	defer f.Close()
	return net.FileConn(f)
}
