package node

import (
	"io"
	"net"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// forwarders relays host ports (127.0.0.1:hostPort by default) to the pod's
// IP, standing in for the CNI portmap plugin.
type forwarders struct {
	mu        sync.Mutex
	listeners []net.Listener
	conns     map[net.Conn]struct{}
	closed    bool
}

func (p *podRuntime) startHostPorts() *forwarders {
	f := &forwarders{conns: map[net.Conn]struct{}{}}
	for _, c := range p.spec.Spec.Containers {
		for _, port := range c.Ports {
			if port.HostPort == 0 || (port.Protocol != "" && port.Protocol != corev1.ProtocolTCP) {
				continue
			}
			host := port.HostIP
			if host == "" || host == "0.0.0.0" {
				host = hostIP
			}
			if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
				p.agent.event(p.spec, corev1.EventTypeWarning, "HostPortRejected",
					"hostIP %s of port %d is not a loopback address; the local node only binds loopback", host, port.HostPort)
				continue
			}
			listen := net.JoinHostPort(host, strconv.Itoa(int(port.HostPort)))
			target := net.JoinHostPort(p.ip, strconv.Itoa(int(port.ContainerPort)))
			go f.serve(p, listen, target)
		}
	}
	return f
}

// serve binds listen (retrying while another pod still holds it, as during a
// rolling update) and relays each connection to target.
func (f *forwarders) serve(p *podRuntime, listen, target string) {
	var l net.Listener
	for attempt := 0; ; attempt++ {
		var err error
		if l, err = net.Listen("tcp", listen); err == nil {
			break
		}
		if attempt == 0 {
			p.agent.event(p.spec, corev1.EventTypeWarning, "HostPortBusy", "Host port %s is in use; retrying: %v", listen, err)
		}
		time.Sleep(time.Second)
		f.mu.Lock()
		closed := f.closed
		f.mu.Unlock()
		if closed {
			return
		}
	}
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		_ = l.Close()
		return
	}
	f.listeners = append(f.listeners, l)
	f.mu.Unlock()
	for {
		in, err := l.Accept()
		if err != nil {
			return
		}
		go f.relay(in, target)
	}
}

func (f *forwarders) relay(in net.Conn, target string) {
	out, err := net.DialTimeout("tcp", target, 5*time.Second)
	if err != nil {
		_ = in.Close()
		return
	}
	if !f.track(in, out) {
		return
	}
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		if tc, ok := dst.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
		done <- struct{}{}
	}
	go pipe(out, in)
	go pipe(in, out)
	<-done
	<-done
	f.untrack(in, out)
}

func (f *forwarders) track(conns ...net.Conn) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		for _, c := range conns {
			_ = c.Close()
		}
		return false
	}
	for _, c := range conns {
		f.conns[c] = struct{}{}
	}
	return true
}

func (f *forwarders) untrack(conns ...net.Conn) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
		delete(f.conns, c)
	}
}

// close stops listening and cuts open relays; the pod's processes are gone
// by the time it is called.
func (f *forwarders) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	for _, l := range f.listeners {
		_ = l.Close()
	}
	for c := range f.conns {
		_ = c.Close()
	}
}
