package gateway

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
)

// autoscalerStub counts activation posts and fails the first failures.
type autoscalerStub struct {
	posts    atomic.Int64
	failures int64
}

func (a *autoscalerStub) start(t *testing.T) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != activatePath+"ns/rev" {
			http.Error(w, "unexpected "+r.Method+" "+r.URL.Path, http.StatusBadRequest)
			return
		}
		if a.posts.Add(1) <= a.failures {
			http.Error(w, "not the leader", http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// While a revision's signal is being retried, further signals of it (every
// waiting request, from every gateway's activator) join the retry loop
// instead of posting.
func TestSignalsOfARevisionShareOneRetryLoop(t *testing.T) {
	stub := &autoscalerStub{failures: 1 << 30}
	s := NewHTTPSignaller(StaticResolver{stub.start(t)}, zaptest.NewLogger(t))
	s.RetryInterval = time.Hour // no retry during the test
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := s.Signal(ctx, "ns", "rev"); err == nil {
		t.Fatal("the first signal succeeded against a failing autoscaler")
	}
	for range 50 {
		_ = s.Signal(ctx, "ns", "rev")
	}
	if n := stub.posts.Load(); n != 1 {
		t.Errorf("%d posts for 51 signals of one revision, want 1", n)
	}
}

// The retry loop goes on with a later request's context when the first
// request gives up, and stops once the signal is delivered.
func TestSignalRetryOutlivesTheFirstRequest(t *testing.T) {
	stub := &autoscalerStub{failures: 3}
	s := NewHTTPSignaller(StaticResolver{stub.start(t)}, zaptest.NewLogger(t))
	s.RetryInterval = 20 * time.Millisecond
	first, cancelFirst := context.WithCancel(context.Background())
	if err := s.Signal(first, "ns", "rev"); err == nil {
		t.Fatal("the first signal succeeded")
	}
	later, cancelLater := context.WithCancel(context.Background())
	defer cancelLater()
	_ = s.Signal(later, "ns", "rev")
	cancelFirst()
	waitFor(t, "the signal to be delivered", func() bool { return stub.posts.Load() == 4 })
	waitFor(t, "the retry loop to end", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.retrying) == 0
	})
	time.Sleep(100 * time.Millisecond)
	if n := stub.posts.Load(); n != 4 {
		t.Errorf("%d posts, want 4 (3 refused, 1 accepted, then none)", n)
	}
}
