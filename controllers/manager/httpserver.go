package manager

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/go-logr/logr"
)

// Limits of the controller's HTTP servers (the autoscaler API, Slack): their
// clients are the gateways, the CLI and Slack, with small requests, so a
// client that trickles its header or body, or idles, is cut early.
const (
	defaultHeaderTimeout = 5 * time.Second
	defaultReadTimeout   = 10 * time.Second
	defaultWriteTimeout  = 30 * time.Second
	defaultIdleTimeout   = time.Minute
	defaultMaxHeader     = 16 << 10 // room for bearer tokens and Slack's signature headers
	// defaultMaxBody is Slack's largest payload (notify's own limit); the
	// autoscaler API's bodies are far smaller.
	defaultMaxBody = 64 << 10
)

// httpServer serves an HTTP handler on addr as a manager Runnable, on every
// replica or on the leader only, and shuts down gracefully when the manager
// stops. Zero limits take the defaults above.
type httpServer struct {
	name       string
	addr       string
	handler    http.Handler
	leaderOnly bool
	log        logr.Logger

	headerTimeout, readTimeout, writeTimeout, idleTimeout time.Duration
	maxHeaderBytes                                        int
	maxBodyBytes                                          int64
}

// NeedLeaderElection implements manager.LeaderElectionRunnable.
func (s *httpServer) NeedLeaderElection() bool { return s.leaderOnly }

// Start implements manager.Runnable.
func (s *httpServer) Start(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		return fmt.Errorf("%s endpoint: %w", s.name, err)
	}
	s.log.Info("Serving HTTP", "server", s.name, "address", ln.Addr().String())
	return s.serve(ctx, ln)
}

// serve serves on ln until ctx ends.
func (s *httpServer) serve(ctx context.Context, ln net.Listener) error {
	srv := s.server()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// server is the http.Server with the limits in force.
func (s *httpServer) server() *http.Server {
	or := func(d, def time.Duration) time.Duration {
		if d > 0 {
			return d
		}
		return def
	}
	maxHeader, maxBody := s.maxHeaderBytes, s.maxBodyBytes
	if maxHeader <= 0 {
		maxHeader = defaultMaxHeader
	}
	if maxBody <= 0 {
		maxBody = defaultMaxBody
	}
	return &http.Server{
		Handler:           readBody(s.handler, maxBody),
		ReadHeaderTimeout: or(s.headerTimeout, defaultHeaderTimeout),
		ReadTimeout:       or(s.readTimeout, defaultReadTimeout),
		WriteTimeout:      or(s.writeTimeout, defaultWriteTimeout),
		IdleTimeout:       or(s.idleTimeout, defaultIdleTimeout),
		MaxHeaderBytes:    maxHeader,
	}
}

// readBody reads a request's body (within the server's read timeout)
// before h runs, and answers 413 when it is over limit bytes: h gets the
// body from memory.
func readBody(h http.Handler, limit int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tooLarge := func() {
			w.Header().Set("Connection", "close")
			http.Error(w, fmt.Sprintf("request body over %d bytes", limit), http.StatusRequestEntityTooLarge)
		}
		if r.ContentLength > limit {
			tooLarge()
			return
		}
		if r.Body != nil && r.Body != http.NoBody {
			b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
			var big *http.MaxBytesError
			switch {
			case errors.As(err, &big):
				tooLarge()
				return
			case err != nil:
				http.Error(w, "reading the request body: "+err.Error(), http.StatusBadRequest)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(b))
		}
		h.ServeHTTP(w, r)
	})
}
