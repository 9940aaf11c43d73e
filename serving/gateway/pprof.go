package gateway

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// errPprofNotLoopback refuses a profiling address that other hosts could
// reach: the profiles show the routes and hosts the gateway serves, and a
// CPU profile costs the proxy while it runs.
var errPprofNotLoopback = errors.New("the pprof address must be a loopback address (127.0.0.0/8 or ::1)")

// CheckPprofAddr checks that addr ("host:port") is on a loopback address.
func CheckPprofAddr(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("pprof address %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("pprof address %q: %w", addr, errPprofNotLoopback)
	}
	return nil
}

// newPprofServer serves the runtime profiles (net/http/pprof) on addr, a
// loopback address; Options.PprofAddr turns it on for profiling the proxy
// under load. It is off by default.
func newPprofServer(addr string) (*http.Server, error) {
	if err := CheckPprofAddr(addr); err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: adminHeaderTimeout,
		WriteTimeout: pprofTimeout, IdleTimeout: adminIdleTimeout}, nil
}

// pprofTimeout bounds a profile's request: a CPU profile runs for the
// seconds asked, a minute at most here.
const pprofTimeout = time.Minute + 10*time.Second
