package framework

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
)

// ErrNoPrometheus is returned when neither bin/prometheus nor a prometheus on PATH exists.
var ErrNoPrometheus = errors.New("no Prometheus server: `make prometheus` (part of `make test`) provides bin/prometheus, or install Debian's prometheus package")

// PrometheusBinary finds the Prometheus server that `make prometheus`
// provides: bin/prometheus (built from the Go module proxy), else a
// prometheus on PATH (Debian's package, its fallback).
func PrometheusBinary() (string, error) {
	bin, err := BinDir()
	if err != nil {
		return "", err
	}
	if p := filepath.Join(bin, "prometheus"); isExecutable(p) {
		return p, nil
	}
	if p, err := exec.LookPath("prometheus"); err == nil {
		return p, nil
	}
	return "", ErrNoPrometheus
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// PrometheusOptions configure a Prometheus server run as a host process.
type PrometheusOptions struct {
	// Binary is the prometheus executable (PrometheusBinary).
	Binary string
	// Dir holds the configuration, the TSDB and the log; a test's temp dir.
	Dir string
	// Config is prometheus.yml.
	Config string
	// Port on 127.0.0.1 (default: a free one).
	Port int
	// Retention bounds the TSDB by age (default 30m); it is also capped
	// at 256MB.
	Retention time.Duration
	// LogFile, when set, receives the server's output (default
	// Dir/prometheus.log).
	LogFile string
}

// Prometheus is a Prometheus server on 127.0.0.1 started by a test.
type Prometheus struct {
	// URL is the server's address, http://127.0.0.1:PORT.
	URL string
	// API is its HTTP API.
	API promv1.API
	// Log is the file of its output.
	Log string

	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// StartPrometheus starts a Prometheus server on a free loopback port and
// waits until it is ready. Stop it with Stop.
func StartPrometheus(ctx context.Context, o PrometheusOptions) (*Prometheus, error) {
	if o.Binary == "" || o.Dir == "" {
		return nil, errors.New("prometheus: a binary and a directory are required")
	}
	if o.Retention == 0 {
		o.Retention = 30 * time.Minute
	}
	if o.LogFile == "" {
		o.LogFile = filepath.Join(o.Dir, "prometheus.log")
	}
	cfg := filepath.Join(o.Dir, "prometheus.yml")
	if err := os.WriteFile(cfg, []byte(o.Config), 0o600); err != nil {
		return nil, fmt.Errorf("prometheus: writing its configuration: %w", err)
	}
	if o.Port == 0 {
		ports, err := freePorts(1)
		if err != nil {
			return nil, err
		}
		o.Port = ports[0]
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(o.Port))
	log, err := os.Create(o.LogFile)
	if err != nil {
		return nil, fmt.Errorf("prometheus: %w", err)
	}
	defer log.Close()
	cmd := exec.Command(o.Binary, // #nosec G204: the test's own binary
		"--config.file="+cfg,
		"--storage.tsdb.path="+filepath.Join(o.Dir, "data"),
		"--storage.tsdb.retention.time="+model.Duration(o.Retention).String(),
		"--storage.tsdb.retention.size=256MB",
		"--web.listen-address="+addr,
	)
	cmd.Stdout, cmd.Stderr = log, log
	// SIGKILLed if the test binary dies (a test timeout skips cleanups).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	c, err := api.NewClient(api.Config{Address: "http://" + addr})
	if err != nil {
		return nil, err
	}
	p := &Prometheus{URL: "http://" + addr, API: promv1.NewAPI(c), Log: o.LogFile, cmd: cmd, done: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		// Pdeathsig fires when the thread that started the child exits:
		// keep this one for the server's lifetime.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		defer close(p.done)
		if err := cmd.Start(); err != nil {
			p.err = err
			started <- fmt.Errorf("prometheus: starting %s: %w", o.Binary, err)
			return
		}
		started <- nil
		p.err = cmd.Wait()
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	ready := func(ctx context.Context) error {
		select {
		case <-p.done:
			return fmt.Errorf("prometheus exited: %w (log: %s)", p.err, tail(o.LogFile))
		default:
		}
		code, body, err := Get(ctx, p.URL+"/-/ready")
		switch {
		case err != nil:
			return fmt.Errorf("GET %s/-/ready: %w", p.URL, err)
		case code != 200:
			return fmt.Errorf("GET %s/-/ready: %d %q", p.URL, code, body)
		}
		return nil
	}
	if err := Poll(ctx, 60*time.Second, 200*time.Millisecond, ready); err != nil {
		p.Stop()
		return nil, fmt.Errorf("prometheus did not become ready: %w", err)
	}
	return p, nil
}

// Stop ends the server: SIGTERM, then SIGKILL after 10 s.
func (p *Prometheus) Stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// Query evaluates expr now and returns the vector it gives.
func (p *Prometheus) Query(ctx context.Context, expr string) (model.Vector, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	res, _, err := p.API.Query(ctx, expr, time.Now())
	if err != nil {
		return nil, fmt.Errorf("query `%s`: %w", expr, err)
	}
	v, ok := res.(model.Vector)
	if !ok {
		return nil, fmt.Errorf("query `%s` returned a %s, want a vector", expr, res.Type())
	}
	return v, nil
}

// Scalar evaluates expr, which must give one sample, and returns its value.
func (p *Prometheus) Scalar(ctx context.Context, expr string) (float64, error) {
	v, err := p.Query(ctx, expr)
	if err != nil {
		return 0, err
	}
	if len(v) != 1 {
		return 0, fmt.Errorf("query `%s` returned %d samples, want 1", expr, len(v))
	}
	return float64(v[0].Value), nil
}

// tail is the end of a log file, for an error message.
func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}
