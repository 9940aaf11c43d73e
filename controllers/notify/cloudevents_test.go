package notify

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
)

// sink records the CloudEvents it receives; it answers fail 503s first.
type sink struct {
	mu     sync.Mutex
	fail   int
	got    []http.Header
	bodies []string
	hits   int
}

func (s *sink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hits++
	if s.fail > 0 {
		s.fail--
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	s.got = append(s.got, r.Header.Clone())
	s.bodies = append(s.bodies, string(b))
	w.WriteHeader(http.StatusAccepted)
}

func (s *sink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.got)
}

func eventually(t *testing.T, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func promoted() Lifecycle {
	return Lifecycle{Type: TypePromoted, Namespace: "shop", Rollout: "web", Time: time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC),
		Phase: "Healthy", Step: -1, Steps: 3, StableRevision: "web-00002", Generation: 2, Message: "Revision web-00002 has all the traffic"}
}

func TestCloudEventsAreSentInBinaryModeWithRetries(t *testing.T) {
	good := &sink{fail: 2}
	srv := httptest.NewServer(good)
	defer srv.Close()
	reg := prometheus.NewRegistry()
	c, err := NewCloudEvents(CloudEventsConfig{Sinks: []string{srv.URL}}, zap.NewNop(), reg)
	if err != nil {
		t.Fatal(err)
	}
	c.sleep = func(context.Context, time.Duration) bool { return true }
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = c.Start(ctx) }()

	// When a promotion is enqueued and the sink fails twice
	c.Enqueue(promoted())

	// Then the third attempt delivers it, binary mode, with the same id
	eventually(t, "the event", func() bool { return good.count() == 1 })
	h := good.got[0]
	want := map[string]string{"Ce-Specversion": "1.0", "Ce-Type": TypePromoted, "Ce-Id": promoted().ID(),
		"Ce-Source": "/apis/rollouts.ramp.dev/namespaces/shop/rollouts/web", "Ce-Subject": "shop/web", "Content-Type": "application/json"}
	for k, v := range want {
		if h.Get(k) != v {
			t.Errorf("header %s = %q, want %q", k, h.Get(k), v)
		}
	}
	var data map[string]any
	if err := json.Unmarshal([]byte(good.bodies[0]), &data); err != nil || data["stableRevision"] != "web-00002" || data["phase"] != "Healthy" {
		t.Errorf("data %s (%v)", good.bodies[0], err)
	}
	if good.hits != 3 {
		t.Errorf("%d attempts, want 3", good.hits)
	}
	if n := testutil.ToFloat64(c.events.WithLabelValues(srv.URL, "delivered")); n != 1 {
		t.Errorf("delivered %v", n)
	}
}

func TestAnUnreachableSinkBlocksNothing(t *testing.T) {
	good := &sink{}
	srv := httptest.NewServer(good)
	defer srv.Close()
	// A sink that never answers within the timeout.
	stop := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-stop:
		}
	}))
	defer hang.Close()
	defer close(stop)
	c, err := NewCloudEvents(CloudEventsConfig{Sinks: []string{hang.URL, srv.URL}, QueueSize: 2, MaxAttempts: 2, Timeout: 200 * time.Millisecond},
		zap.NewNop(), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	c.sleep = func(context.Context, time.Duration) bool { return true }
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = c.Start(ctx) }()

	// When five events are enqueued at once
	start := time.Now()
	for i := range 5 {
		l := promoted()
		l.Time = l.Time.Add(time.Duration(i) * time.Second)
		c.Enqueue(l)
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("Enqueue waited %s", d)
	}

	// Then the good sink gets what its queue held, and the hanging one's
	// overflow is dropped and its sends fail, both counted
	eventually(t, "the good sink's events", func() bool { return good.count() >= 2 })
	eventually(t, "a failure counted", func() bool { return testutil.ToFloat64(c.events.WithLabelValues(hang.URL, "failed")) >= 1 })
	if n := testutil.ToFloat64(c.events.WithLabelValues(hang.URL, "dropped")); n < 2 {
		t.Errorf("dropped for the hanging sink: %v, want at least 2", n)
	}
}

func TestCloudEventsConfigIsValidated(t *testing.T) {
	for sink, want := range map[string]string{
		"ftp://broker":         "must be an http or https URL",
		"broker.default.svc":   "must be an http or https URL",
		"http://":              "has no host",
		"http://broker:bad:80": "cloudevents sink 0",
	} {
		err := CloudEventsConfig{Sinks: []string{sink}}.Validate()
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("sink %q: %v, want %q", sink, err, want)
		}
	}
	if err := (CloudEventsConfig{Sinks: []string{"http://broker-ingress.knative-eventing.svc.cluster.local/shop/default"}}).Validate(); err != nil {
		t.Errorf("a broker URL: %v", err)
	}
}
