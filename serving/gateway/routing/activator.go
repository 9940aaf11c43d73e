package routing

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Activation defaults.
const (
	// DefaultMaxWaiters bounds the requests waiting for one revision: a
	// burst of 1,000 concurrent requests while its first pod starts (a few
	// seconds) is far more than one cold revision normally gets, and a
	// flood aimed at one revision cannot take the whole total.
	DefaultMaxWaiters = 1000
	// DefaultMaxTotalWaiters bounds the requests waiting for all revisions
	// together: ten revisions full at once. A waiting HTTP/1.1 request
	// holds its connection's buffers (at most the header limit plus 8 KiB
	// of body: bodies are not read while waiting), so 10,000 of them stay
	// within a few hundred MB even with the largest headers.
	DefaultMaxTotalWaiters = 10_000
	// DefaultActivationTimeout bounds how long a request waits for one.
	DefaultActivationTimeout = 30 * time.Second
	// SignalInterval is the minimum time between two scale-up signals for
	// the same revision.
	SignalInterval = time.Second
	// ActivationBurstPerPod bounds the requests in flight to one pod while
	// waiters are released after a scale from zero. The queue-proxy queues
	// at least 10 requests beyond containerConcurrency
	// (queue.DefaultQueueDepth), so a burst of any size (100 requests to
	// one new pod with containerConcurrency 1) never overflows it: the rest
	// wait here and go as earlier ones finish or more pods become ready.
	ActivationBurstPerPod = 10
)

// ScaleSignaller asks the autoscaler to scale a revision from zero.
// Implementations must be safe for concurrent use; Signal is called on a
// waiting request's goroutine, so it should return quickly. Its error is
// not acted upon (the request keeps waiting): implementations log it.
type ScaleSignaller interface {
	Signal(ctx context.Context, namespace, revision string) error
}

// NopSignaller does not signal anything: requests wait until the revision
// gets an endpoint by other means, or time out.
type NopSignaller struct{}

// Signal does nothing.
func (NopSignaller) Signal(context.Context, string, string) error { return nil }

// ActivatorConfig configures an Activator. Zero values mean the defaults.
type ActivatorConfig struct {
	// Signaller is told when a revision without endpoints gets requests;
	// nil means NopSignaller.
	Signaller ScaleSignaller
	// MaxWaiters per revision; beyond it Wait returns ErrQueueFull.
	MaxWaiters int
	// MaxTotalWaiters over all revisions; beyond it Wait returns
	// ErrTooManyWaiting.
	MaxTotalWaiters int
	// ActivationTimeout bounds a Wait (the request's own deadline too).
	ActivationTimeout time.Duration
	// Now is the clock of the signal rate limit; nil means time.Now.
	Now func() time.Time
}

// Activator holds requests for revisions that have no ready endpoint (scaled
// to zero, or not ready yet) until an Update gives them one.
//
// When endpoints appear, all waiters of the revision are released at once,
// in FIFO order, each with an endpoint from the Balancer that is acquired
// before the next waiter is served, so several new pods share the burst.
// A single new pod gets them all: the queue-proxy in front of the user
// container queues what exceeds containerConcurrency, so the gateway does
// not meter them out itself (which would add a second, slower queue).
//
// Waiters are queued per Service (one Service per revision in Ramp).
// Signals are sent by arriving requests only, at most once per
// SignalInterval per revision; there is no background re-signal.
type Activator struct {
	r          *Router
	signaller  ScaleSignaller
	maxWaiters int
	maxTotal   int
	timeout    time.Duration
	now        func() time.Time

	mu     sync.Mutex
	queues map[ServiceKey]*waitQueue
	// pending counts the waiters of every queue, so the fast path can
	// tell without the lock that nobody is being metered out.
	pending atomic.Int64

	queued func() // test hook: a waiter is queued and has signalled if due
}

// waitQueue is the FIFO of waiters of one Service and its signal record. It
// is kept while empty until the signal interval has passed, so that clients
// that give up and retry cannot signal faster than SignalInterval.
type waitQueue struct {
	waiters    list.List // of *waiter
	lastSignal time.Time
	// heldAt is when the first of the waiters arrived without an
	// endpoint to go to; zero once they are released.
	heldAt time.Time
	// revision is the revision whose scale from zero is measured from
	// heldAt.
	namespace, revision string
}

type waiter struct {
	elem  *list.Element // nil once released from the queue
	grant chan Lease    // buffered: the releaser never blocks
}

// NewActivator returns an Activator releasing its waiters on r's Updates.
func NewActivator(r *Router, cfg ActivatorConfig) *Activator {
	a := &Activator{
		r:          r,
		signaller:  cfg.Signaller,
		maxWaiters: cfg.MaxWaiters,
		maxTotal:   cfg.MaxTotalWaiters,
		timeout:    cfg.ActivationTimeout,
		now:        cfg.Now,
		queues:     map[ServiceKey]*waitQueue{},
	}
	if a.signaller == nil {
		a.signaller = NopSignaller{}
	}
	if a.maxWaiters <= 0 {
		a.maxWaiters = DefaultMaxWaiters
	}
	if a.maxTotal <= 0 {
		a.maxTotal = DefaultMaxTotalWaiters
	}
	if a.timeout <= 0 {
		a.timeout = DefaultActivationTimeout
	}
	if a.now == nil {
		a.now = time.Now
	}
	r.subscribe(a.wake)
	return a
}

// Wait is Lease, with the lease's endpoint and a function releasing it
// (calls after the first have no effect).
func (a *Activator) Wait(ctx context.Context, d Decision) (Endpoint, func(), error) {
	l, err := a.Lease(ctx, d)
	if err != nil {
		return Endpoint{}, nil, err
	}
	return l.Endpoint, l.releaseFunc(), nil
}

// Lease returns an endpoint of d's Service, leased on the Balancer: it
// must be released when the request is done. When the Service has
// endpoints and no request is waiting for one, it returns at once, without
// a lock or an allocation. Otherwise it signals the revision's scale-up
// (rate-limited) and queues until an Update installs endpoints for the
// Service. It returns ErrQueueFull when MaxWaiters requests are already
// waiting for the Service, ErrTooManyWaiting when MaxTotalWaiters are
// waiting for any, an error matching ErrActivationTimeout (and
// context.DeadlineExceeded) when ctx's deadline or ActivationTimeout passes
// first, and context.Canceled when ctx is cancelled. A waiter that gives up
// is removed from the queue.
func (a *Activator) Lease(ctx context.Context, d Decision) (Lease, error) {
	key := d.ServiceKey()
	if a.pending.Load() == 0 { // nobody is metered out after an activation
		if l, ok := a.acquire(a.r.snap.Load(), key); ok {
			return l, nil
		}
	}
	start := a.now()
	a.mu.Lock()
	// Check again under the lock: an Update that installed endpoints
	// before we took it has already run its wake, and will not run again.
	// Requests already waiting for this Service go first.
	q := a.queues[key]
	if q == nil || q.waiters.Len() == 0 {
		if l, ok := a.acquire(a.r.snap.Load(), key); ok {
			a.mu.Unlock()
			return l, nil
		}
	}
	if q == nil {
		q = &waitQueue{}
		a.queues[key] = q
	}
	if q.waiters.Len() >= a.maxWaiters {
		a.mu.Unlock()
		a.r.metrics.Rejected(RejectQueueFull)
		return Lease{}, ErrQueueFull
	}
	if a.pending.Load() >= int64(a.maxTotal) {
		if q.waiters.Len() == 0 && q.lastSignal.IsZero() {
			delete(a.queues, key) // nothing to remember of it
		}
		a.mu.Unlock()
		a.r.metrics.Rejected(RejectTooManyWaiting)
		return Lease{}, ErrTooManyWaiting
	}
	w := &waiter{grant: make(chan Lease, 1)}
	w.elem = q.waiters.PushBack(w)
	a.pending.Add(1)
	snap := a.r.snap.Load()
	_, hasEndpoints := snap.pools[key]
	signal := !hasEndpoints && (q.lastSignal.IsZero() || start.Sub(q.lastSignal) >= SignalInterval)
	if signal {
		q.lastSignal = start
	}
	held := !hasEndpoints && q.heldAt.IsZero()
	if held {
		q.heldAt, q.namespace, q.revision = start, d.Namespace, d.Revision
	}
	if hasEndpoints {
		a.releaseLocked(snap, key, q) // behind others being metered out
	}
	a.mu.Unlock()

	if held {
		a.r.metrics.ActivationStage(d.Namespace, d.Revision, StageHeld, start, 0)
	}
	ctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	if signal {
		// The error is not acted upon: see ScaleSignaller.
		if a.signaller.Signal(ctx, d.Namespace, d.Revision) == nil && held {
			now := a.now()
			a.r.metrics.ActivationStage(d.Namespace, d.Revision, StageSignalled, now, now.Sub(start))
		}
	}
	if a.queued != nil {
		a.queued()
	}
	select {
	case l := <-w.grant:
		a.r.metrics.Activated(d.Namespace, d.Revision, a.now().Sub(start))
		return l, nil
	case <-ctx.Done():
	}
	a.mu.Lock()
	granted := w.elem == nil
	if !granted {
		q.waiters.Remove(w.elem)
		w.elem = nil
		a.pending.Add(-1)
		if q.waiters.Len() == 0 {
			q.heldAt = time.Time{} // nobody waits any more: no scale from zero to measure
		}
	}
	a.mu.Unlock()
	if granted { // released concurrently: give the endpoint back
		l := <-w.grant
		l.Release()
	}
	if err := ctx.Err(); errors.Is(err, context.DeadlineExceeded) {
		a.r.metrics.Rejected(RejectActivationTimeout)
		return Lease{}, fmt.Errorf("%w: %s: %w", ErrActivationTimeout, key.Namespace+"/"+d.Revision, err)
	}
	return Lease{}, context.Cause(ctx)
}

// acquire picks and leases an endpoint of key in s.
func (a *Activator) acquire(s *snapshot, key ServiceKey) (Lease, bool) {
	p := s.pools[key]
	if p == nil {
		return Lease{}, false
	}
	pd := p.choose(nil)
	if pd == nil {
		return Lease{}, false
	}
	return pd.lease(), true
}

// wake runs after each Router.Update: it releases, in FIFO order, the
// waiters of the Services that now have endpoints, and forgets empty
// queues whose signal interval has passed.
func (a *Activator) wake(s *snapshot) {
	now := a.now()
	a.mu.Lock()
	defer a.mu.Unlock()
	for key, q := range a.queues {
		if _, ready := s.pools[key]; ready {
			if !q.heldAt.IsZero() {
				if seen := s.table.observed; !seen.IsZero() && !seen.Before(q.heldAt) {
					a.r.metrics.ActivationStage(q.namespace, q.revision, StageEndpointsSeen, seen, seen.Sub(q.heldAt))
				}
				a.r.metrics.ActivationStage(q.namespace, q.revision, StageReleased, now, now.Sub(q.heldAt))
				q.heldAt = time.Time{}
			}
			a.releaseLocked(s, key, q)
			if q.waiters.Len() == 0 {
				delete(a.queues, key)
			}
			continue
		}
		if q.waiters.Len() == 0 && now.Sub(q.lastSignal) >= SignalInterval {
			delete(a.queues, key)
		}
	}
}

// releaseLocked grants waiters of key, in FIFO order, to the least loaded
// pod of s while that pod has fewer than ActivationBurstPerPod requests in
// flight. The rest stay queued and are released as granted requests
// finish (their release calls drain) or as more pods arrive (wake).
// Callers hold a.mu.
func (a *Activator) releaseLocked(s *snapshot, key ServiceKey, q *waitQueue) {
	p := s.pools[key]
	if p == nil {
		return
	}
	for e := q.waiters.Front(); e != nil; e = q.waiters.Front() {
		pd := p.leastLoaded()
		if pd == nil || pd.inflight.Load() >= ActivationBurstPerPod {
			return
		}
		w := q.waiters.Remove(e).(*waiter)
		w.elem = nil
		a.pending.Add(-1)
		l := pd.lease()
		l.after = func() { a.drain(key) }
		w.grant <- l
	}
}

// drain releases more waiters of key, if any wait, after a granted
// request finished.
func (a *Activator) drain(key ServiceKey) {
	if a.pending.Load() == 0 {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	q := a.queues[key]
	if q == nil || q.waiters.Len() == 0 {
		return
	}
	a.releaseLocked(a.r.snap.Load(), key, q)
	if q.waiters.Len() == 0 {
		delete(a.queues, key)
	}
}

// Waiting returns the number of requests waiting for any revision.
func (a *Activator) Waiting() int { return int(a.pending.Load()) }

// waiting returns the number of requests waiting for svc.
func (a *Activator) waiting(svc ServiceKey) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	if q := a.queues[svc]; q != nil {
		return q.waiters.Len()
	}
	return 0
}
