package queue

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// Server is the queue-proxy: it forwards the revision's traffic to the user
// container and reports readiness from probing it.
type Server struct {
	cfg      Config
	log      *zap.Logger
	prober   *Prober
	draining atomic.Bool
}

// NewServer builds a queue-proxy for cfg.
func NewServer(cfg Config, log *zap.Logger) *Server {
	return &Server{cfg: cfg, log: log, prober: NewProber(cfg.PodIP, cfg.UserProbe)}
}

// Handler is the serving handler chain: timeout, then the reverse proxy.
func (s *Server) Handler() http.Handler {
	target := &url.URL{Scheme: "http", Host: net.JoinHostPort(s.cfg.PodIP, strconv.Itoa(s.cfg.UserPort))}
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) {
		if errors.Is(r.Context().Err(), context.DeadlineExceeded) {
			http.Error(w, fmt.Sprintf("request exceeded the revision timeout of %s", s.cfg.RevisionTimeout), http.StatusGatewayTimeout)
			return
		}
		s.log.Info("Proxying to the user container failed", zap.Error(err))
		http.Error(w, "the user container is not reachable", http.StatusBadGateway)
	}
	proxy.FlushInterval = -1 // stream responses as they come
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.cfg.RevisionTimeout > 0 {
			ctx, cancel := context.WithTimeout(r.Context(), s.cfg.RevisionTimeout)
			defer cancel()
			r = r.WithContext(ctx)
		}
		proxy.ServeHTTP(w, r)
	})
}

// AdminHandler serves /ready for the kubelet's readiness probe.
func (s *Server) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc(ReadyPath, func(w http.ResponseWriter, r *http.Request) {
		if s.draining.Load() {
			http.Error(w, "draining", http.StatusServiceUnavailable)
			return
		}
		if err := s.prober.Probe(r.Context()); err != nil {
			http.Error(w, "user container not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ready"))
	})
	return mux
}

// Run serves until ctx ends, then drains: it reports not-ready first, keeps
// serving while endpoints are updated, and finishes requests in flight.
func (s *Server) Run(ctx context.Context, drainDelay time.Duration) error {
	serving := &http.Server{
		Addr:              net.JoinHostPort(s.cfg.PodIP, strconv.Itoa(s.cfg.ServingPort)),
		Handler:           s.Handler(),
		ReadHeaderTimeout: 30 * time.Second,
	}
	admin := &http.Server{
		Addr:              net.JoinHostPort(s.cfg.PodIP, strconv.Itoa(s.cfg.AdminPort)),
		Handler:           s.AdminHandler(),
		ReadHeaderTimeout: 5 * time.Second,
	}
	errc := make(chan error, 2)
	for _, srv := range []*http.Server{serving, admin} {
		l, err := net.Listen("tcp", srv.Addr)
		if err != nil {
			return fmt.Errorf("listening on %s: %w", srv.Addr, err)
		}
		go func() {
			if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- err
			}
		}()
	}
	s.log.Info("Queue-proxy serving", zap.String("addr", serving.Addr), zap.String("admin", admin.Addr),
		zap.Int("userPort", s.cfg.UserPort), zap.String("revision", s.cfg.Revision))
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	s.draining.Store(true)
	s.log.Info("Draining: reporting not ready, finishing requests in flight", zap.Duration("delay", drainDelay))
	time.Sleep(drainDelay) // let endpoints drop this pod before refusing connections
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.DrainTimeout)
	defer cancel()
	err := serving.Shutdown(sctx)
	_ = admin.Close()
	if err != nil {
		return fmt.Errorf("draining: %w", err)
	}
	return nil
}
