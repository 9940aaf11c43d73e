package queue

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestProxyStreamsLargeBodiesBothWays(t *testing.T) {
	port := backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Go's HTTP/1 server drops unread request body once the response
		// starts, so read it all before echoing it.
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if r.URL.Query().Get("chunked") == "" {
			w.Header().Set("Content-Length", fmt.Sprint(len(b)))
		}
		_, _ = w.Write(b)
	}))
	q := startQueue(t, testConfig(port), 0)
	c := httpClient(t)
	payload := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB: past bufferedBodyLimit
	want := sha256.Sum256(payload)
	for _, path := range []string{"/echo", "/echo?chunked=1"} {
		resp, err := c.Post(q.url(path), "application/octet-stream", bytes.NewReader(payload))
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || sha256.Sum256(b) != want {
			t.Errorf("%s: status %d, %d bytes back, err %v", path, resp.StatusCode, len(b), err)
		}
	}
	// Requests of unknown length (chunked upload) too.
	resp, err := c.Post(q.url("/echo?chunked=1"), "application/octet-stream", io.MultiReader(bytes.NewReader(payload)))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if sha256.Sum256(b) != want {
		t.Errorf("chunked upload: %d bytes back", len(b))
	}
	if s := q.Recorder().Snapshot(); s.InFlight != 0 || s.ByClass["2xx"] != 3 {
		t.Errorf("stats after streaming: %+v", s)
	}
}

func TestProxyStreamsRequestBodies(t *testing.T) {
	gotFirst := make(chan byte, 1)
	port := backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		first := make([]byte, 1)
		if _, err := io.ReadFull(r.Body, first); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		gotFirst <- first[0]
		rest, _ := io.ReadAll(r.Body)
		_, _ = fmt.Fprintf(w, "%d", 1+len(rest))
	}))
	q := startQueue(t, testConfig(port), 0)
	pr, pw := io.Pipe()
	result := make(chan string, 1)
	go func() {
		resp, err := httpClient(t).Post(q.url("/upload"), "application/octet-stream", pr)
		if err != nil {
			result <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		result <- string(b)
	}()
	if _, err := pw.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	// The user container reads the first byte while the upload goes on.
	select {
	case b := <-gotFirst:
		if b != 'x' {
			t.Errorf("first byte %q", b)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the request body was not streamed to the user container")
	}
	_, _ = pw.Write(bytes.Repeat([]byte("y"), 99_999))
	_ = pw.Close()
	if got := <-result; got != "100000" {
		t.Errorf("user container counted %s bytes, want 100000", got)
	}
}

func TestProxyStreamsServerSentEvents(t *testing.T) {
	sendB := make(chan struct{})
	port := backend(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = w.Write([]byte("a"))
		w.(http.Flusher).Flush()
		select {
		case <-sendB:
		case <-time.After(20 * time.Second):
		}
		_, _ = w.Write([]byte("b"))
	}))
	q := startQueue(t, testConfig(port), 0)
	resp, err := httpClient(t).Get(q.url("/events"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	buf := make([]byte, 1)
	if _, err := io.ReadFull(resp.Body, buf); err != nil || buf[0] != 'a' {
		t.Fatalf("first event: %q, %v", buf, err)
	}
	// Only now is the backend told to send the rest.
	if q.Recorder().InFlight() != 1 {
		t.Errorf("streaming request not in flight: %d", q.Recorder().InFlight())
	}
	close(sendB)
	rest, err := io.ReadAll(resp.Body)
	if err != nil || string(rest) != "b" {
		t.Fatalf("rest of the stream: %q, %v", rest, err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("Content-Type %q", ct)
	}
}

func TestProxyStreamAbortedByTheClientFreesEverything(t *testing.T) {
	backendDone := make(chan struct{})
	port := backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/ticks" {
			return
		}
		defer close(backendDone)
		for i := 0; i < 2000; i++ { // at most 20 s
			if _, err := fmt.Fprintf(w, "tick %d\n", i); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}))
	cfg := testConfig(port)
	cfg.ContainerConcurrency = 1
	q := startQueue(t, cfg, 0)
	resp, err := httpClient(t).Get(q.url("/ticks"))
	if err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil || line != "tick 0\n" {
		t.Fatalf("first line %q, %v", line, err)
	}
	resp.Body.Close() // the client goes away mid-stream
	select {
	case <-backendDone:
	case <-time.After(20 * time.Second):
		t.Fatal("the user container's connection was not closed")
	}
	waitFor(t, "the slot to be freed", func() bool { return q.breaker.InFlight() == 0 && q.Recorder().InFlight() == 0 })
	if code, _, _ := get(t, httpClient(t), q.url("/ticks-again")); code != http.StatusOK {
		t.Errorf("next request: %d", code)
	}
}

func TestProxyCloseDelimitedResponses(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				req, err := http.ReadRequest(br)
				if err != nil {
					return
				}
				n := 1000
				if req.URL.Path == "/big" {
					n = bufferedBodyLimit + 1
				}
				// An HTTP/1.0 server: no Content-Length, the body ends with the connection.
				_, _ = io.WriteString(c, "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n"+strings.Repeat("z", n))
			}()
		}
	}()
	q := startQueue(t, testConfig(portOf(t, l.Addr())), 0)
	c := httpClient(t)
	if code, body, _ := get(t, c, q.url("/small")); code != 200 || len(body) != 1000 {
		t.Errorf("small: %d, %d bytes", code, len(body))
	}
	if code, body, _ := get(t, c, q.url("/big")); code != http.StatusBadGateway || !strings.Contains(body, "unknown length") {
		t.Errorf("big: %d %q", code, body)
	}
}
