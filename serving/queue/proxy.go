package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/valyala/fasthttp"
	"go.uber.org/zap"

	"github.com/rampdev/ramp/serving/proxy"
)

// probeInterval is how often the user container is probed in the
// background; /ready answers from the latest result.
const probeInterval = 500 * time.Millisecond

// Server is the queue-proxy: it forwards the revision's traffic to the user
// container under its concurrency limit and timeout, records telemetry,
// and reports readiness from probing the container.
//
// The serving port speaks HTTP/1.1 through fasthttp (the fast path,
// WebSocket and other upgrades relayed as raw TCP) and HTTP/2 with prior
// knowledge (h2c) through net/http; a listener in front tells them apart
// by the first bytes of each connection.
type Server struct {
	cfg      Config
	log      *zap.Logger
	target   string
	prober   *Prober
	rec      *Recorder
	breaker  *Breaker
	fast     *fastProxy
	draining atomic.Bool
	ready    atomic.Bool
	drained  chan struct{} // closed once a drain has finished

	mu                             sync.Mutex
	lnServing, lnAdmin, lnMetrics  net.Listener
	servingAddr, adminAddr, metAdr string
}

// NewServer builds a queue-proxy for cfg.
func NewServer(cfg Config, log *zap.Logger) *Server {
	target := net.JoinHostPort(cfg.PodIP, strconv.Itoa(cfg.UserPort))
	var b *Breaker
	if cfg.ContainerConcurrency > 0 {
		b = NewBreaker(cfg.ContainerConcurrency, cfg.QueueDepth)
	}
	rec := NewRecorder(cfg.PodName, cfg.Revision, nil)
	return &Server{
		cfg:     cfg,
		log:     log,
		target:  target,
		prober:  NewProber(cfg.PodIP, cfg.UserProbe),
		rec:     rec,
		breaker: b,
		fast:    newFastProxy(cfg, target, b, rec, log),
		drained: make(chan struct{}),
	}
}

// Recorder is the server's telemetry.
func (s *Server) Recorder() *Recorder { return s.rec }

// FastHandler is the HTTP/1.1 serving handler (fasthttp).
func (s *Server) FastHandler() fasthttp.RequestHandler { return s.fast.serve }

// AdminHandler serves ReadyPath for the kubelet's readiness probe and
// StatsPath for the autoscaler.
func (s *Server) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc(ReadyPath, func(w http.ResponseWriter, r *http.Request) {
		if s.draining.Load() {
			http.Error(w, "draining", http.StatusServiceUnavailable)
			return
		}
		if !s.ready.Load() {
			if err := s.probe(r.Context()); err != nil {
				http.Error(w, "user container not ready: "+err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		_, _ = w.Write([]byte("ready"))
	})
	mux.HandleFunc(DrainPath, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-s.drained:
			_, _ = w.Write([]byte("drained"))
		case <-r.Context().Done():
		}
	})
	mux.HandleFunc(StatsPath, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(s.rec.Snapshot())
	})
	return mux
}

// MetricsHandler serves the Prometheus metrics on MetricsPath.
func (s *Server) MetricsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle(MetricsPath, promhttp.HandlerFor(s.rec.Registry(), promhttp.HandlerOpts{ErrorLog: zap.NewStdLog(s.log)}))
	return mux
}

// probe checks the user container once and caches the result.
func (s *Server) probe(ctx context.Context) error {
	err := s.prober.Probe(ctx)
	s.ready.Store(err == nil)
	return err
}

// probeLoop keeps the cached readiness fresh until ctx ends.
func (s *Server) probeLoop(ctx context.Context) {
	t := time.NewTicker(probeInterval)
	defer t.Stop()
	for {
		_ = s.probe(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Listen binds the serving, admin and metrics ports (Run does it if not
// done yet). With port 0 in the Config the system picks one; the *Addr
// methods tell which.
func (s *Server) Listen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lnServing != nil {
		return nil
	}
	var ls []net.Listener
	for _, port := range []int{s.cfg.ServingPort, s.cfg.AdminPort, s.cfg.MetricsPort} {
		addr := net.JoinHostPort(s.cfg.PodIP, strconv.Itoa(port))
		l, err := net.Listen("tcp", addr)
		if err != nil {
			for _, l := range ls {
				_ = l.Close()
			}
			return fmt.Errorf("listening on %s: %w", addr, err)
		}
		ls = append(ls, l)
	}
	s.lnServing, s.lnAdmin, s.lnMetrics = ls[0], ls[1], ls[2]
	s.servingAddr, s.adminAddr, s.metAdr = ls[0].Addr().String(), ls[1].Addr().String(), ls[2].Addr().String()
	return nil
}

// ServingAddr is the bound serving address (after Listen).
func (s *Server) ServingAddr() string { s.mu.Lock(); defer s.mu.Unlock(); return s.servingAddr }

// AdminAddr is the bound admin address (after Listen).
func (s *Server) AdminAddr() string { s.mu.Lock(); defer s.mu.Unlock(); return s.adminAddr }

// MetricsAddr is the bound metrics address (after Listen).
func (s *Server) MetricsAddr() string { s.mu.Lock(); defer s.mu.Unlock(); return s.metAdr }

// Run serves until ctx ends, then drains: it reports not-ready first, keeps
// serving for drainDelay while endpoints are updated, then stops accepting
// and finishes the requests in flight, for at most Config.DrainTimeout.
func (s *Server) Run(ctx context.Context, drainDelay time.Duration) error {
	if err := s.Listen(); err != nil {
		return err
	}
	stdlog := zap.NewStdLog(s.log)
	sniff := proxy.NewSniffListener(s.lnServing, s.cfg.headerTimeout())
	fast := newFastServer(s.fast.serve, s.cfg, s.log)
	// In HTTP/2, ReadTimeout and WriteTimeout are per stream (the write
	// one a little later than the revision timeout, so that the handler's
	// 504 goes out); a connection without streams (one stalled in a frame
	// included) is closed after IdleTimeout.
	h2c := &http.Server{Handler: s.Handler(), IdleTimeout: s.cfg.idleTimeout(), ErrorLog: stdlog,
		ReadHeaderTimeout: s.cfg.headerTimeout(), ReadTimeout: s.cfg.RevisionTimeout, WriteTimeout: s.cfg.streamWriteTimeout(),
		MaxHeaderBytes: readBufferSize, Protocols: new(http.Protocols)}
	h2c.Protocols.SetUnencryptedHTTP2(true)
	admin := newPortServer(s.AdminHandler(), s.cfg.DrainTimeout+drainDelay+adminWriteTimeout)
	admin.ErrorLog = stdlog
	metrics := newPortServer(s.MetricsHandler(), adminWriteTimeout)
	metrics.ErrorLog = stdlog

	errc := make(chan error, 4)
	serve := func(name string, f func() error) {
		go func() {
			if err := f(); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
				errc <- fmt.Errorf("serving %s: %w", name, err)
			}
		}()
	}
	serve("traffic", func() error { return fast.Serve(sniff) })
	serve("h2c traffic", func() error { return h2c.Serve(sniff.H2C()) })
	serve("admin", func() error { return admin.Serve(s.lnAdmin) })
	serve("metrics", func() error { return metrics.Serve(s.lnMetrics) })
	probeCtx, stopProbing := context.WithCancel(context.Background())
	defer stopProbing()
	go s.probeLoop(probeCtx)

	s.log.Info("Queue-proxy serving", zap.String("addr", s.ServingAddr()), zap.String("admin", s.AdminAddr()),
		zap.String("metrics", s.MetricsAddr()), zap.String("target", s.target),
		zap.String("userProtocol", s.cfg.UserProtocol), zap.Int("containerConcurrency", s.cfg.ContainerConcurrency),
		zap.Int("queueDepth", s.breaker.QueueDepth()), zap.String("revision", s.cfg.Revision))
	select {
	case err := <-errc:
		_ = sniff.Close()
		_ = h2c.Close()
		_ = admin.Close()
		_ = metrics.Close()
		return err
	case <-ctx.Done():
	}

	s.draining.Store(true)
	s.log.Info("Draining: reporting not ready, finishing requests in flight", zap.Duration("delay", drainDelay))
	time.Sleep(drainDelay) // let endpoints drop this pod before refusing connections
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.DrainTimeout)
	defer cancel()
	var fastErr, h2cErr error
	var wg sync.WaitGroup
	wg.Go(func() { h2cErr = h2c.Shutdown(sctx) })
	// Every handler has returned once the server is shut down, so every
	// upgraded connection has registered its tunnel: only then can the
	// drain see them all (a handler still dialing its upstream would
	// otherwise hijack after the drain found no tunnel).
	fastErr = fast.ShutdownWithContext(sctx)
	s.fast.tunnels.Drain(sctx, s.log)
	wg.Wait()
	// Release the user container's preStop hook, then let its answer go out.
	close(s.drained)
	actx, acancel := context.WithTimeout(context.Background(), time.Second)
	defer acancel()
	_ = admin.Shutdown(actx)
	_ = metrics.Close()
	s.fast.client.CloseIdleConnections()
	if err := errors.Join(fastErr, h2cErr); err != nil {
		return fmt.Errorf("draining: %w", err)
	}
	s.log.Info("Drained")
	return nil
}
