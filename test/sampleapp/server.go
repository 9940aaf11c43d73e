package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"sync"
	"syscall"
	"time"
)

const versionHeader = "X-Sampleapp-Version"

// app holds the handlers and the shared, mutex-guarded randomness. Error
// selection and latency jitter draw from separate streams derived from SEED,
// so the error sequence does not depend on whether LATENCY is set.
type app struct {
	cfg    Config
	logger *log.Logger

	errMu  sync.Mutex
	errRNG *rand.Rand
	latMu  sync.Mutex
	latRNG *rand.Rand

	// onRequest, if set, is called when a fault-injected request starts
	// (before any injected latency). Tests use it to observe in-flight requests.
	onRequest func()
}

func newApp(cfg Config, logger *log.Logger) *app {
	seed := uint64(cfg.Seed)
	return &app{
		cfg:    cfg,
		logger: logger,
		errRNG: rand.New(rand.NewPCG(seed, 0x6572726f72)), // "error"
		latRNG: rand.New(rand.NewPCG(seed, 0x6c6174656e)), // "laten"
	}
}

// handler returns the HTTP routing for the app.
func (a *app) handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /{$}", a.faults(http.HandlerFunc(a.hello)))
	mux.Handle("GET /service/info", a.faults(http.HandlerFunc(a.info)))
	mux.HandleFunc("GET /healthz", a.healthz)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			w.Header().Set(versionHeader, a.cfg.Version)
		}
		mux.ServeHTTP(w, r)
	})
}

func (a *app) hello(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, "Hello %s!\n", a.cfg.Target)
}

type serviceInfo struct {
	Name              string `json:"name"`
	Version           string `json:"version"`
	Source            string `json:"source"`
	PodName           string `json:"podName"`
	PodNamespace      string `json:"podNamespace"`
	PodNodeName       string `json:"podNodeName"`
	PodIP             string `json:"podIp"`
	PodServiceAccount string `json:"podServiceAccount"`
}

func (a *app) info(w http.ResponseWriter, _ *http.Request) {
	c := a.cfg
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(serviceInfo{
		Name:              c.Name,
		Version:           c.Version,
		Source:            c.Source,
		PodName:           c.PodName,
		PodNamespace:      c.PodNamespace,
		PodNodeName:       c.NodeName,
		PodIP:             c.PodIP,
		PodServiceAccount: c.PodServiceAccount,
	})
}

func (a *app) healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if f := a.cfg.ReadyFile; f != "" {
		if _, err := os.Stat(f); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("not ready"))
			return
		}
	}
	_, _ = w.Write([]byte("ok"))
}

// faults wraps next with LATENCY and ERROR_RATE injection.
func (a *app) faults(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a.onRequest != nil {
			a.onRequest()
		}
		if d := a.sampleLatency(); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				return // the client is gone; nobody reads a response
			}
		}
		if a.injectError() {
			http.Error(w, "injected error", http.StatusInternalServerError)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// sampleLatency draws a delay uniformly from [Base-Jitter, Base+Jitter],
// clamped at zero.
func (a *app) sampleLatency() time.Duration {
	l := a.cfg.Latency
	if l.Jitter <= 0 {
		return l.Base
	}
	a.latMu.Lock()
	off := a.latRNG.Int64N(2*int64(l.Jitter)+1) - int64(l.Jitter)
	a.latMu.Unlock()
	return max(l.Base+time.Duration(off), 0)
}

// injectError reports whether this request should fail with an injected 500.
func (a *app) injectError() bool {
	rate := a.cfg.ErrorRate
	if rate <= 0 {
		return false
	}
	a.errMu.Lock()
	f := a.errRNG.Float64()
	a.errMu.Unlock()
	return f < rate
}

// run serves until ctx is done (graceful shutdown, returns nil) or
// CRASH_AFTER elapses (returns an error). main derives ctx from SIGTERM and
// SIGINT via signal.NotifyContext.
func run(ctx context.Context, cfg Config, logger *log.Logger) error {
	return newApp(cfg, logger).run(ctx)
}

func (a *app) run(ctx context.Context) error {
	cfg := a.cfg
	// CRASH_AFTER is measured from process start, so it includes STARTUP_DELAY.
	var crash <-chan time.Time
	if cfg.CrashEnabled {
		if cfg.CrashAfter <= 0 {
			return a.crashErr()
		}
		t := time.NewTimer(cfg.CrashAfter)
		defer t.Stop()
		crash = t.C
	}

	if cfg.StartupDelay > 0 {
		a.logger.Printf("delaying startup by STARTUP_DELAY=%s", cfg.StartupDelay)
		t := time.NewTimer(cfg.StartupDelay)
		select {
		case <-t.C:
		case <-crash:
			t.Stop()
			return a.crashErr()
		case <-ctx.Done():
			t.Stop()
			a.beginShutdown(ctx)
			return nil
		}
	}

	ln, err := net.Listen("tcp", cfg.ListenAddr())
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{
		Handler:           a.handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          a.logger,
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	a.logger.Printf("%s %s listening on %s", cfg.Name, cfg.Version, ln.Addr())
	if cfg.ErrorRate > 0 || !cfg.Latency.IsZero() {
		a.logger.Printf("fault injection: ERROR_RATE=%g LATENCY=%s SEED=%d",
			cfg.ErrorRate, cfg.Latency, cfg.Seed)
	}

	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-crash:
		_ = srv.Close()
		a.drain(served)
		return a.crashErr()
	case <-ctx.Done():
	}

	a.beginShutdown(ctx)
	timeout := cfg.ShutdownTimeout
	if timeout <= 0 {
		timeout = defaultShutdownTimeout
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	err = srv.Shutdown(sctx)
	a.drain(served) // Serve returns as soon as Shutdown starts.
	if err != nil {
		_ = srv.Close()
		return fmt.Errorf("graceful shutdown did not finish within %s: %w", timeout, err)
	}
	a.logger.Printf("shutdown complete")
	return nil
}

func (a *app) crashErr() error {
	return fmt.Errorf("crashing after CRASH_AFTER=%s", a.cfg.CrashAfter)
}

// beginShutdown logs why ctx ended and, for a signal, records it.
func (a *app) beginShutdown(ctx context.Context) {
	cause := context.Cause(ctx)
	if sig := signalName(cause); sig != "" {
		a.onSignal(sig)
		return
	}
	a.logger.Printf("shutdown requested (%v), shutting down gracefully", cause)
}

// onSignal is the shutdown hook for a received signal: it logs
// "received <SIG>" and appends "<SIG> <podName>" to SIGNAL_FILE if set.
func (a *app) onSignal(sig string) {
	a.logger.Printf("received %s, shutting down gracefully", sig)
	if f := a.cfg.SignalFile; f != "" {
		if err := appendLine(f, sig+" "+a.cfg.PodName+"\n"); err != nil {
			a.logger.Printf("SIGNAL_FILE: %v", err)
		}
	}
}

func appendLine(path, line string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	_, werr := f.WriteString(line)
	return errors.Join(werr, f.Close())
}

var shutdownSignals = []struct {
	sig  syscall.Signal
	name string
}{
	{syscall.SIGTERM, "SIGTERM"},
	{syscall.SIGINT, "SIGINT"},
}

// signalName maps the cause of a signal.NotifyContext context (an error
// "<signal> signal received", as os/signal produces it) to "SIGTERM" or
// "SIGINT"; TestSignalNameRealSignal pins that format. It returns
// "" for any other cause such as a plain cancellation.
func signalName(cause error) string {
	if cause == nil {
		return ""
	}
	for _, s := range shutdownSignals {
		if cause.Error() == s.sig.String()+" signal received" {
			return s.name
		}
	}
	return ""
}

// drain waits for Serve to return and logs anything but the expected
// ErrServerClosed.
func (a *app) drain(served <-chan error) {
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		a.logger.Printf("serve: %v", err)
	}
}
