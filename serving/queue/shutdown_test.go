package queue

import (
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

func TestShutdownDrainsInFlightRequests(t *testing.T) {
	arrived := make(chan struct{})
	release := make(chan struct{})
	port := backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(arrived)
			select {
			case <-release:
			case <-time.After(20 * time.Second):
			}
		}
		_, _ = w.Write([]byte("finished"))
	}))
	q := startQueue(t, testConfig(port), 500*time.Millisecond)
	c := httpClient(t)
	readyURL := "http://" + q.AdminAddr() + ReadyPath
	if code, _, _ := get(t, c, readyURL); code != http.StatusOK {
		t.Fatalf("%s before shutdown: %d", ReadyPath, code)
	}

	type result struct {
		code int
		body string
		err  error
	}
	slow := make(chan result, 1)
	go func() {
		resp, err := httpClient(t).Get(q.url("/slow"))
		if err != nil {
			slow <- result{err: err}
			return
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		slow <- result{resp.StatusCode, string(b), err}
	}()
	<-arrived

	q.stop() // SIGTERM
	// Not ready at once, while still serving during the drain delay.
	waitFor(t, "/ready to fail", func() bool {
		code, _, _ := get(t, c, readyURL)
		return code == http.StatusServiceUnavailable
	})
	if code, body, _ := get(t, c, readyURL); code != http.StatusServiceUnavailable || body != "draining\n" {
		t.Errorf("%s while draining: %d %q", ReadyPath, code, body)
	}
	if code, body, _ := get(t, httpClient(t), q.url("/other")); code != http.StatusOK || body != "finished" {
		t.Errorf("request during the drain delay: %d %q", code, body)
	}

	close(release)
	if r := <-slow; r.err != nil || r.code != http.StatusOK || r.body != "finished" {
		t.Errorf("in-flight request: %+v", r)
	}
	select {
	case <-q.done:
		if q.err != nil {
			t.Errorf("Run: %v", q.err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return after the drain")
	}
	if conn, err := net.DialTimeout("tcp", q.ServingAddr(), time.Second); err == nil {
		conn.Close()
		t.Error("still accepting connections after the drain")
	}
}

func TestShutdownClosesTunnelsAtTheDrainTimeout(t *testing.T) {
	port, _ := rawUpgradeBackend(t)
	cfg := testConfig(port)
	cfg.DrainTimeout = 300 * time.Millisecond
	q := startQueue(t, cfg, 0)
	conn, err := net.Dial("tcp", q.ServingAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, _ = io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
	waitFor(t, "the tunnel to open", func() bool { return q.Recorder().InFlight() == 1 })
	q.stop()
	select {
	case <-q.done:
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return")
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadAll(conn); err != nil {
		t.Errorf("tunnel not closed: %v", err)
	}
	if n := q.Recorder().InFlight(); n != 0 {
		t.Errorf("%d in flight after shutdown", n)
	}
}

// The user container's preStop hook (DrainPath) holds until the queue-proxy
// has drained its requests in flight, so the user container keeps serving
// them.
func TestWaitForDrainHoldsUntilRequestsInFlightFinish(t *testing.T) {
	arrived := make(chan struct{})
	release := make(chan struct{})
	port := backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(arrived)
			<-release
		}
		_, _ = w.Write([]byte("finished"))
	}))
	q := startQueue(t, testConfig(port), 100*time.Millisecond)
	slowDone := make(chan int, 1)
	go func() {
		resp, err := httpClient(t).Get(q.url("/slow"))
		if err != nil {
			slowDone <- 0
			return
		}
		resp.Body.Close()
		slowDone <- resp.StatusCode
	}()
	<-arrived
	hook := make(chan int, 1)
	go func() {
		resp, err := httpClient(t).Get("http://" + q.AdminAddr() + DrainPath)
		if err != nil {
			hook <- 0
			return
		}
		resp.Body.Close()
		hook <- resp.StatusCode
	}()

	q.stop() // SIGTERM: the drain starts, the slow request is still in flight
	select {
	case code := <-hook:
		t.Fatalf("preStop hook returned (%d) while a request was in flight", code)
	case <-time.After(300 * time.Millisecond):
	}
	close(release)
	if code := <-slowDone; code != http.StatusOK {
		t.Fatalf("the request in flight got %d, want 200", code)
	}
	select {
	case code := <-hook:
		if code != http.StatusOK {
			t.Fatalf("preStop hook got %d, want 200", code)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("preStop hook still blocked after the drain finished")
	}
}
