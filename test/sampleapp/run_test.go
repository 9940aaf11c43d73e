package main

import (
	"bytes"
	"context"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

// startRun starts a.run in the background and returns its result channel.
func startRun(ctx context.Context, a *app) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- a.run(ctx) }()
	return ch
}

func waitRun(t *testing.T, ch <-chan error) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(20 * time.Second):
		t.Fatal("run did not return")
		return nil
	}
}

// get polls url until the server answers (it may still be starting).
func get(t *testing.T, client *http.Client, url string) (int, string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := client.Get(url)
		if err == nil {
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			return resp.StatusCode, string(body)
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: %v", url, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func newTestApp(t *testing.T, env map[string]string) (*app, *syncBuffer, string) {
	t.Helper()
	port := freePort(t)
	env["PORT"] = port
	logs := &syncBuffer{}
	return newApp(mustConfig(t, env), log.New(logs, "", 0)), logs, "http://127.0.0.1:" + port
}

func TestRunServesAndShutsDownOnCancel(t *testing.T) {
	sigFile := filepath.Join(t.TempDir(), "signals")
	a, logs, url := newTestApp(t, map[string]string{"VERSION": "1.0.0", "SIGNAL_FILE": sigFile})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := startRun(ctx, a)

	client := &http.Client{Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	if code, body := get(t, client, url+"/"); code != 200 || body != "Hello World!\n" {
		t.Fatalf("GET / = %d %q", code, body)
	}
	cancel()
	if err := waitRun(t, done); err != nil {
		t.Fatalf("run = %v, want nil", err)
	}
	out := logs.String()
	for _, want := range []string{"sampleapp 1.0.0 listening on 127.0.0.1:", "shutdown requested", "shutdown complete"} {
		if !strings.Contains(out, want) {
			t.Errorf("logs missing %q:\n%s", want, out)
		}
	}
	if _, err := os.Stat(sigFile); !os.IsNotExist(err) {
		t.Errorf("SIGNAL_FILE written without a signal (stat err %v)", err)
	}
}

// TestRunRealSignal exercises main's wiring: newSignalContext, a real SIGTERM
// or SIGINT to this process, the "received" log line and the SIGNAL_FILE write.
func TestRunRealSignal(t *testing.T) {
	for _, tt := range []struct {
		sig  syscall.Signal
		name string
	}{{syscall.SIGTERM, "SIGTERM"}, {syscall.SIGINT, "SIGINT"}} {
		t.Run(tt.name, func(t *testing.T) {
			sigFile := filepath.Join(t.TempDir(), "signals")
			a, logs, url := newTestApp(t, map[string]string{"POD_NAME": "pod-a", "SIGNAL_FILE": sigFile})
			ctx, stop := newSignalContext(context.Background())
			defer stop()
			done := startRun(ctx, a)
			client := &http.Client{Timeout: 10 * time.Second}
			defer client.CloseIdleConnections()
			if code, _ := get(t, client, url+"/healthz"); code != 200 {
				t.Fatalf("GET /healthz = %d", code)
			}
			if err := syscall.Kill(os.Getpid(), tt.sig); err != nil {
				t.Fatal(err)
			}
			if err := waitRun(t, done); err != nil {
				t.Fatalf("run = %v, want nil", err)
			}
			if got := signalName(context.Cause(ctx)); got != tt.name {
				t.Errorf("signalName(cause %v) = %q, want %q", context.Cause(ctx), got, tt.name)
			}
			if !strings.Contains(logs.String(), "received "+tt.name) {
				t.Errorf("logs missing %q:\n%s", "received "+tt.name, logs)
			}
			b, err := os.ReadFile(sigFile)
			if err != nil || string(b) != tt.name+" pod-a\n" {
				t.Errorf("SIGNAL_FILE = %q, %v; want %q", b, err, tt.name+" pod-a\n")
			}
		})
	}
}

func TestSignalNameOtherCauses(t *testing.T) {
	for _, cause := range []error{nil, context.Canceled, context.DeadlineExceeded, io.EOF} {
		if got := signalName(cause); got != "" {
			t.Errorf("signalName(%v) = %q, want empty", cause, got)
		}
	}
}

func TestOnSignalAppendsToSignalFile(t *testing.T) {
	sigFile := filepath.Join(t.TempDir(), "signals")
	if err := os.WriteFile(sigFile, []byte("previous\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	a := newApp(mustConfig(t, map[string]string{"POD_NAME": "p1", "SIGNAL_FILE": sigFile}), log.New(logs, "", 0))
	a.onSignal("SIGTERM")
	a.onSignal("SIGINT")
	b, err := os.ReadFile(sigFile)
	if want := "previous\nSIGTERM p1\nSIGINT p1\n"; err != nil || string(b) != want {
		t.Errorf("SIGNAL_FILE = %q, %v; want %q", b, err, want)
	}
	if !strings.Contains(logs.String(), "received SIGTERM") {
		t.Errorf("logs missing received SIGTERM:\n%s", logs)
	}
}

func TestRunDrainsInFlightRequests(t *testing.T) {
	a, _, url := newTestApp(t, map[string]string{"LATENCY": "300ms"})
	started := make(chan struct{}, 1)
	a.onRequest = func() {
		select {
		case started <- struct{}{}:
		default:
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := startRun(ctx, a)
	client := &http.Client{Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	get(t, client, url+"/healthz") // wait until listening; not fault-injected
	type result struct {
		code int
		body string
	}
	res := make(chan result, 1)
	go func() {
		resp, err := client.Get(url + "/")
		if err != nil {
			res <- result{body: err.Error()}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		res <- result{resp.StatusCode, string(b)}
	}()
	<-started
	cancel()
	if r := <-res; r.code != 200 || r.body != "Hello World!\n" {
		t.Errorf("in-flight request = %d %q, want 200", r.code, r.body)
	}
	if err := waitRun(t, done); err != nil {
		t.Errorf("run = %v, want nil", err)
	}
}

func TestRunShutdownIsBounded(t *testing.T) {
	a, _, url := newTestApp(t, map[string]string{"LATENCY": "1h"})
	a.cfg.ShutdownTimeout = 100 * time.Millisecond
	started := make(chan struct{})
	var once sync.Once
	a.onRequest = func() { once.Do(func() { close(started) }) }
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := startRun(ctx, a)
	client := &http.Client{Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	get(t, client, url+"/healthz")
	go func() {
		if resp, err := client.Get(url + "/"); err == nil {
			resp.Body.Close()
		}
	}()
	<-started
	cancel()
	if err := waitRun(t, done); err == nil || !strings.Contains(err.Error(), "graceful shutdown did not finish") {
		t.Errorf("run = %v, want shutdown timeout error", err)
	}
}

func TestRunCrashAfter(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		minTime time.Duration
		want    string
	}{
		{"after 50ms", map[string]string{"CRASH_AFTER": "50ms"}, 50 * time.Millisecond, "crashing after CRASH_AFTER=50ms"},
		{"immediately", map[string]string{"CRASH_AFTER": "0s"}, 0, "crashing after CRASH_AFTER=0s"},
		{"during startup delay", map[string]string{"CRASH_AFTER": "50ms", "STARTUP_DELAY": "1h"}, 50 * time.Millisecond, "CRASH_AFTER=50ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, _, _ := newTestApp(t, tt.env)
			start := time.Now()
			err := waitRun(t, startRun(context.Background(), a))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("run = %v, want error containing %q", err, tt.want)
			}
			if d := time.Since(start); d < tt.minTime {
				t.Errorf("crashed after %v, want >= %v", d, tt.minTime)
			}
		})
	}
}

func TestRunStartupDelayInterruptible(t *testing.T) {
	a, logs, _ := newTestApp(t, map[string]string{"STARTUP_DELAY": "1h"})
	ctx, cancel := context.WithCancel(context.Background())
	done := startRun(ctx, a)
	cancel()
	if err := waitRun(t, done); err != nil {
		t.Errorf("run = %v, want nil", err)
	}
	if strings.Contains(logs.String(), "listening") {
		t.Errorf("listened despite shutdown during STARTUP_DELAY:\n%s", logs)
	}
}

func TestRunListenError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	cfg := mustConfig(t, map[string]string{"PORT": port})
	if err := run(context.Background(), cfg, log.New(io.Discard, "", 0)); err == nil || !strings.Contains(err.Error(), "listen") {
		t.Errorf("run = %v, want listen error", err)
	}
}
