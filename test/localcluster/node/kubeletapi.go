package node

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// serveKubeletAPI serves the part of the kubelet API that the API server
// proxies to: container logs (kubectl logs). Only clients with a certificate
// from the cluster CA (the API server) are accepted.
func (a *Agent) serveKubeletAPI(ctx context.Context) error {
	o := a.opts
	if o.KubeletPort == 0 {
		<-ctx.Done()
		return nil
	}
	caPEM, err := os.ReadFile(o.ClientCAFile)
	if err != nil {
		return fmt.Errorf("kubelet API: reading client CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return fmt.Errorf("kubelet API: no certificate in %s", o.ClientCAFile)
	}
	cert, err := tls.LoadX509KeyPair(o.TLSCertFile, o.TLSKeyFile)
	if err != nil {
		return fmt.Errorf("kubelet API: loading serving certificate: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /containerLogs/{namespace}/{pod}/{container}", a.containerLogs)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	srv := &http.Server{
		Addr:              net.JoinHostPort(hostIP, strconv.Itoa(o.KubeletPort)),
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		TLSConfig: &tls.Config{
			Certificates: []tls.Certificate{cert},
			ClientCAs:    pool,
			ClientAuth:   tls.RequireAndVerifyClientCert,
			MinVersion:   tls.VersionTLS12,
		},
		BaseContext: func(net.Listener) context.Context { return ctx },
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServeTLS("", "") }()
	select {
	case err := <-errc:
		return fmt.Errorf("kubelet API on %s: %w", srv.Addr, err)
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		return nil
	}
}

// logPath finds a container's log file from the pod sandbox on disk, so logs
// stay readable after the container stopped.
func (a *Agent) logPath(ns, pod, container string, previous bool) (string, error) {
	dirs, _ := filepath.Glob(filepath.Join(a.opts.PodsDir, fmt.Sprintf("%s_%s_*", ns, pod)))
	if len(dirs) == 0 {
		return "", fmt.Errorf("pod %s/%s has no sandbox on node %s", ns, pod, a.opts.NodeName)
	}
	// The newest sandbox wins when a pod name was reused.
	newest, newestTime := "", time.Time{}
	for _, d := range dirs {
		if st, err := os.Stat(d); err == nil && st.ModTime().After(newestTime) {
			newest, newestTime = d, st.ModTime()
		}
	}
	name := container + ".log"
	if previous {
		name = container + ".previous.log"
	}
	path := filepath.Join(newest, "logs", name)
	if _, err := os.Stat(path); err != nil {
		if previous {
			return "", fmt.Errorf("previous terminated container %q in pod %q not found", container, pod)
		}
		return "", fmt.Errorf("container %q in pod %q has not written logs yet", container, pod)
	}
	return path, nil
}

func (a *Agent) containerLogs(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	path, err := a.logPath(r.PathValue("namespace"), r.PathValue("pod"), r.PathValue("container"), q.Get("previous") == "true")
	if err != nil {
		// Like the kubelet: a 400 with the reason in plain text, which the
		// API server relays (it drops the body of a 404).
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	f, err := os.Open(path)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	defer func() { f.Close() }()
	limit := int64(-1)
	if v := q.Get("limitBytes"); v != "" {
		if limit, err = strconv.ParseInt(v, 10, 64); err != nil || limit <= 0 {
			http.Error(w, "limitBytes must be a positive integer", http.StatusBadRequest)
			return
		}
	}
	var out io.Writer = w
	if limit > 0 {
		out = &limitWriter{w: w, left: limit}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if v := q.Get("tailLines"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			http.Error(w, "tailLines must be a non-negative integer", http.StatusBadRequest)
			return
		}
		if err := writeTail(out, f, n); err != nil {
			return
		}
	} else if _, err := io.Copy(out, f); err != nil {
		return
	}
	if q.Get("follow") != "true" {
		return
	}
	flusher, _ := w.(http.Flusher)
	for {
		if flusher != nil {
			flusher.Flush()
		}
		select {
		case <-r.Context().Done():
			return
		case <-time.After(250 * time.Millisecond):
		}
		if _, err := io.Copy(out, f); err != nil {
			return
		}
		// A restarted container writes a fresh file: follow it.
		if rotated(f, path) {
			nf, err := os.Open(path)
			if err != nil {
				return
			}
			f.Close()
			f = nf
		}
	}
}

func rotated(f *os.File, path string) bool {
	a, err1 := f.Stat()
	b, err2 := os.Stat(path)
	if err1 != nil || err2 != nil {
		return false
	}
	sa, ok1 := a.Sys().(*syscall.Stat_t)
	sb, ok2 := b.Sys().(*syscall.Stat_t)
	return ok1 && ok2 && sa.Ino != sb.Ino
}

// writeTail writes the last n lines of f and leaves f at its end.
func writeTail(w io.Writer, f *os.File, n int) error {
	var lines [][]byte
	s := bufio.NewScanner(f)
	s.Buffer(make([]byte, 64<<10), 1<<20)
	for s.Scan() {
		lines = append(lines, append([]byte(nil), s.Bytes()...))
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	if err := s.Err(); err != nil && !errors.Is(err, bufio.ErrTooLong) {
		return err
	}
	if len(lines) == 0 {
		return nil
	}
	_, err := w.Write(append(bytes.Join(lines, []byte("\n")), '\n'))
	return err
}

// limitWriter stops writing after a byte budget (limitBytes).
type limitWriter struct {
	w    io.Writer
	left int64
}

func (l *limitWriter) Write(p []byte) (int, error) {
	if l.left <= 0 {
		return 0, io.ErrShortWrite
	}
	n := len(p)
	if int64(n) > l.left {
		p = p[:l.left]
	}
	m, err := l.w.Write(p)
	l.left -= int64(m)
	if err == nil && m < n {
		err = io.ErrShortWrite
	}
	return m, err
}
