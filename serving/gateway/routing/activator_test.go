package routing

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// countingSignaller counts its signals.
type countingSignaller struct{ n atomic.Int64 }

func (s *countingSignaller) Signal(_ context.Context, ns, rev string) error {
	if ns != "ns" || rev != "svc-1" {
		return errors.New("unexpected revision " + ns + "/" + rev)
	}
	s.n.Add(1)
	return nil
}

// fakeClock is a settable clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

var coldDecision = Decision{Namespace: "ns", Route: "svc", Revision: "svc-1", Service: "svc-1"}

// coldActivator returns a router whose route has no endpoint yet, its
// activator, and a channel that receives a value each time a waiter queues.
func coldActivator(t *testing.T, cfg ActivatorConfig) (*Router, *Activator, <-chan struct{}) {
	r := routerWith(t, nil, nil, splitRoute("ns", "svc", 100))
	a := NewActivator(r, cfg)
	queued := make(chan struct{}, 10000)
	a.queued = func() { queued <- struct{}{} }
	return r, a, queued
}

type waitResult struct {
	ep      Endpoint
	release func()
	err     error
}

func goWait(ctx context.Context, a *Activator, results chan<- waitResult) {
	goWaitFor(ctx, a, coldDecision, results)
}

func goWaitFor(ctx context.Context, a *Activator, d Decision, results chan<- waitResult) {
	go func() {
		ep, release, err := a.Wait(ctx, d)
		results <- waitResult{ep, release, err}
	}()
}

func warm(eps ...Endpoint) *Table {
	return Build([]Route{splitRoute("ns", "svc", 100)}, map[ServiceKey][]Endpoint{svcKey: eps})
}

func TestActivatorImmediateWhenReady(t *testing.T) {
	r := NewRouter(nil)
	r.Update(warm(ep1))
	s := &countingSignaller{}
	a := NewActivator(r, ActivatorConfig{Signaller: s})
	ep, release, err := a.Wait(context.Background(), coldDecision)
	if err != nil || ep != ep1 {
		t.Fatalf("Wait = %v, %v; want %v", ep, err, ep1)
	}
	if n := r.Balancer().InFlight(ep1); n != 1 {
		t.Errorf("InFlight = %d while acquired, want 1", n)
	}
	release()
	if n := r.Balancer().InFlight(ep1); n != 0 || s.n.Load() != 0 {
		t.Errorf("after release: InFlight = %d, signals = %d; want 0, 0", n, s.n.Load())
	}
}

func TestActivatorScaleFromZero(t *testing.T) {
	s := &countingSignaller{}
	m := newRecordingMetrics()
	r := routerWith(t, m, nil, splitRoute("ns", "svc", 100))
	a := NewActivator(r, ActivatorConfig{Signaller: s})
	queued := make(chan struct{}, 100)
	a.queued = func() { queued <- struct{}{} }
	start := time.Now()
	results := make(chan waitResult, 100)
	for range 100 {
		goWait(context.Background(), a, results)
	}
	for range 100 {
		recv(t, queued, "waiter to queue")
	}
	if n := a.waiting(svcKey); n != 100 {
		t.Fatalf("waiting = %d, want 100", n)
	}
	r.Update(warm(ep1).SetObserved(time.Now()))
	// The new pod gets at most ActivationBurstPerPod at once; the others
	// go as those finish.
	for i := range 100 {
		res := recv(t, results, "a waiter to get an endpoint")
		if res.err != nil || res.ep != ep1 {
			t.Fatalf("Wait = %v, %v; want %v", res.ep, res.err, ep1)
		}
		if n := r.Balancer().InFlight(ep1); n > ActivationBurstPerPod {
			t.Fatalf("InFlight = %d after %d grants, want at most %d", n, i+1, ActivationBurstPerPod)
		}
		// Update granted the first burst before it returned.
		if n := r.Balancer().InFlight(ep1); i == 0 && n != ActivationBurstPerPod {
			t.Fatalf("InFlight = %d after the first release, want a burst of %d", n, ActivationBurstPerPod)
		}
		res.release()
	}
	elapsed := time.Since(start)
	if n := s.n.Load(); n < 1 || float64(n) > elapsed.Seconds()+1 {
		t.Errorf("signalled %d times in %v, want between 1 and elapsed seconds + 1", n, elapsed)
	}
	if n := r.Balancer().InFlight(ep1); n != 0 {
		t.Errorf("InFlight = %d after every release, want 0", n)
	}
	if a.waiting(svcKey) != 0 || m.activated != 100 {
		t.Errorf("waiting = %d, activated = %d; want 0, 100", a.waiting(svcKey), m.activated)
	}
	// One scale from zero, measured once: the first request held, the
	// signal taken, the endpoint seen, the requests released.
	m.mu.Lock()
	defer m.mu.Unlock()
	if diff := cmp.Diff([]string{StageHeld, StageSignalled, StageEndpointsSeen, StageReleased}, m.stages); diff != "" {
		t.Errorf("activation stages (-want +got):\n%s", diff)
	}
}

func TestActivatorSpreadsOverNewPods(t *testing.T) {
	r, a, queued := coldActivator(t, ActivatorConfig{})
	results := make(chan waitResult, 4)
	for range 4 {
		goWait(context.Background(), a, results)
		recv(t, queued, "waiter to queue")
	}
	r.Update(warm(ep1, ep2))
	got := map[Endpoint]int{}
	for range 4 {
		res := recv(t, results, "a waiter to get an endpoint")
		got[res.ep]++
	}
	if diff := cmp.Diff(map[Endpoint]int{ep1: 2, ep2: 2}, got); diff != "" {
		t.Errorf("endpoints handed out (-want +got):\n%s", diff)
	}
}

func TestActivatorSignalRateLimit(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1000, 0)}
	s := &countingSignaller{}
	r, a, queued := coldActivator(t, ActivatorConfig{Signaller: s, Now: clock.Now})
	ctx, cancel := context.WithCancel(context.Background())
	results := make(chan waitResult, 10)
	arrive := func() {
		goWait(ctx, a, results)
		recv(t, queued, "waiter to queue")
	}
	steps := []struct {
		advance time.Duration
		want    int64
	}{{0, 1}, {0, 1}, {999 * time.Millisecond, 1}, {time.Millisecond, 2}, {500 * time.Millisecond, 2}, {2 * time.Second, 3}}
	for i, st := range steps {
		clock.Advance(st.advance)
		arrive()
		if n := s.n.Load(); n != st.want {
			t.Fatalf("step %d: %d signals, want %d", i, n, st.want)
		}
	}
	cancel()
	for range steps {
		if res := recv(t, results, "a cancelled waiter"); !errors.Is(res.err, context.Canceled) {
			t.Errorf("cancelled Wait error = %v, want context.Canceled", res.err)
		}
	}
	// Giving up does not reset the limit: the empty queue is remembered
	// while the interval runs, and forgotten on the first Update after it.
	r.Update(warm())
	ctx = context.Background()
	arrive()
	if n := s.n.Load(); n != 3 {
		t.Errorf("retry within the interval signalled: %d signals, want 3", n)
	}
	clock.Advance(SignalInterval)
	r.Update(warm(ep1))
	if res := recv(t, results, "the last waiter"); res.err != nil {
		t.Errorf("last Wait: %v", res.err)
	}
	arriveAndCancel(t, a, queued, results)
	r.Update(warm()) // empty, interval not passed: kept
	if n := queueCount(a); n != 1 {
		t.Errorf("%d queues within the interval, want 1", n)
	}
	clock.Advance(SignalInterval)
	r.Update(warm()) // empty, interval passed: forgotten
	if n := queueCount(a); n != 0 {
		t.Errorf("%d queues after the interval, want 0", n)
	}
}

// arriveAndCancel queues a waiter for a revision without endpoints
// (dropping endpoints first) and cancels it.
func arriveAndCancel(t *testing.T, a *Activator, queued <-chan struct{}, results chan waitResult) {
	t.Helper()
	a.r.Update(warm())
	ctx, cancel := context.WithCancel(context.Background())
	goWait(ctx, a, results)
	recv(t, queued, "waiter to queue")
	cancel()
	if res := recv(t, results, "the cancelled waiter"); !errors.Is(res.err, context.Canceled) {
		t.Fatalf("cancelled Wait error = %v", res.err)
	}
}

func queueCount(a *Activator) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.queues)
}

func TestActivatorCancelRemovesWaiter(t *testing.T) {
	r, a, queued := coldActivator(t, ActivatorConfig{})
	ctx, cancel := context.WithCancel(context.Background())
	results := make(chan waitResult, 2)
	goWait(ctx, a, results)
	goWait(context.Background(), a, results)
	recv(t, queued, "waiter to queue")
	recv(t, queued, "waiter to queue")
	cancel()
	if res := recv(t, results, "the cancelled waiter"); !errors.Is(res.err, context.Canceled) || res.release != nil {
		t.Fatalf("cancelled Wait error = %v, want context.Canceled and no release", res.err)
	}
	if n := a.waiting(svcKey); n != 1 {
		t.Errorf("waiting = %d after a cancel, want 1", n)
	}
	r.Update(warm(ep1))
	if res := recv(t, results, "the remaining waiter"); res.err != nil {
		t.Fatalf("remaining Wait: %v", res.err)
	} else {
		res.release()
	}
	if n := r.Balancer().InFlight(ep1); n != 0 {
		t.Errorf("InFlight = %d, want 0 (the cancelled waiter got nothing)", n)
	}
}

func TestActivatorQueueFull(t *testing.T) {
	if a := NewActivator(NewRouter(nil), ActivatorConfig{}); a.maxWaiters != DefaultMaxWaiters ||
		a.maxTotal != DefaultMaxTotalWaiters || a.timeout != DefaultActivationTimeout {
		t.Errorf("defaults: MaxWaiters %d, MaxTotalWaiters %d, timeout %v", a.maxWaiters, a.maxTotal, a.timeout)
	}
	m := newRecordingMetrics()
	r := routerWith(t, m, nil, splitRoute("ns", "svc", 100))
	a := NewActivator(r, ActivatorConfig{MaxWaiters: 5})
	queued := make(chan struct{}, 6)
	a.queued = func() { queued <- struct{}{} }
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	results := make(chan waitResult, 5)
	for range 5 {
		goWait(ctx, a, results)
		recv(t, queued, "waiter to queue")
	}
	if _, _, err := a.Wait(ctx, coldDecision); !errors.Is(err, ErrQueueFull) {
		t.Errorf("6th Wait error = %v, want ErrQueueFull", err)
	}
	other := coldDecision
	other.Service = "svc-2" // another revision's queue is separate
	otherResults := make(chan waitResult, 1)
	goWaitFor(ctx, a, other, otherResults)
	recv(t, queued, "the other revision's waiter to queue")
	cancel()
	if res := recv(t, otherResults, "the other waiter"); !errors.Is(res.err, context.Canceled) {
		t.Errorf("other revision's Wait error = %v, want context.Canceled", res.err)
	}
	if diff := cmp.Diff(map[string]int{RejectQueueFull: 1}, m.rejected); diff != "" {
		t.Errorf("Rejected (-want +got):\n%s", diff)
	}
}

// The total bound counts the waiters of every revision: past it any
// revision is refused, and a waiter that leaves makes room again.
func TestActivatorTotalLimit(t *testing.T) {
	m := newRecordingMetrics()
	r := routerWith(t, m, nil, splitRoute("ns", "svc", 100))
	a := NewActivator(r, ActivatorConfig{MaxWaiters: 5, MaxTotalWaiters: 3})
	queued := make(chan struct{}, 10)
	a.queued = func() { queued <- struct{}{} }
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rev := func(name string) Decision { d := coldDecision; d.Revision, d.Service = name, name; return d }
	results := make(chan waitResult, 5)
	goWaitFor(ctx, a, rev("svc-1"), results)
	recv(t, queued, "1st waiter to queue")
	goWaitFor(ctx, a, rev("svc-1"), results)
	recv(t, queued, "2nd waiter to queue")
	firstCtx, cancelFirst := context.WithCancel(ctx)
	first := make(chan waitResult, 1)
	goWaitFor(firstCtx, a, rev("svc-2"), first)
	recv(t, queued, "3rd waiter to queue")
	if n := a.Waiting(); n != 3 {
		t.Fatalf("Waiting = %d, want 3", n)
	}
	for _, name := range []string{"svc-1", "svc-3"} {
		if _, _, err := a.Wait(ctx, rev(name)); !errors.Is(err, ErrTooManyWaiting) {
			t.Errorf("Wait for %s past the total: error = %v, want ErrTooManyWaiting", name, err)
		}
	}
	a.mu.Lock()
	_, kept := a.queues[ServiceKey{Namespace: "ns", Name: "svc-3"}]
	a.mu.Unlock()
	if kept {
		t.Error("the queue of a refused revision without waiters was kept")
	}
	cancelFirst()
	if res := recv(t, first, "the cancelled waiter"); !errors.Is(res.err, context.Canceled) {
		t.Fatalf("cancelled Wait error = %v", res.err)
	}
	goWaitFor(ctx, a, rev("svc-3"), results)
	recv(t, queued, "a waiter to queue in the room left")
	if n := a.Waiting(); n != 3 {
		t.Errorf("Waiting = %d, want 3", n)
	}
	if diff := cmp.Diff(map[string]int{RejectTooManyWaiting: 2}, m.rejected); diff != "" {
		t.Errorf("Rejected (-want +got):\n%s", diff)
	}
}

func TestActivatorTimeout(t *testing.T) {
	cases := map[string]struct {
		cfgTimeout time.Duration
		ctxTimeout time.Duration
	}{
		"activation timeout": {cfgTimeout: 20 * time.Millisecond},
		"request deadline":   {cfgTimeout: time.Hour, ctxTimeout: 20 * time.Millisecond},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, a, _ := coldActivator(t, ActivatorConfig{ActivationTimeout: tc.cfgTimeout})
			ctx := context.Background()
			if tc.ctxTimeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.ctxTimeout)
				defer cancel()
			}
			results := make(chan waitResult, 1)
			goWait(ctx, a, results)
			res := recv(t, results, "the waiter to time out")
			if !errors.Is(res.err, ErrActivationTimeout) || !errors.Is(res.err, context.DeadlineExceeded) {
				t.Errorf("Wait error = %v, want ErrActivationTimeout and DeadlineExceeded", res.err)
			}
			if n := a.waiting(svcKey); n != 0 {
				t.Errorf("waiting = %d after timeout, want 0", n)
			}
		})
	}
}
