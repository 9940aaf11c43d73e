package queue

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

// Errors of Breaker.Acquire.
var (
	// ErrQueueFull means capacity requests are in flight and the queue of
	// waiting requests is at its depth.
	ErrQueueFull = errors.New("pending request queue full")
	// ErrQueueTimeout means the deadline passed while waiting for a slot.
	ErrQueueTimeout = errors.New("deadline passed while waiting for a concurrency slot")
	// ErrQueueCanceled means the request went away while waiting.
	ErrQueueCanceled = errors.New("request canceled while waiting for a concurrency slot")
)

// Breaker enforces containerConcurrency, after Knative's
// pkg/queue/breaker.go: at most Capacity requests hold a slot at once,
// at most QueueDepth more wait for one, in FIFO order, and any further
// request is refused at once.
//
// It is a semaphore made of a buffered channel of Capacity tokens plus an
// atomic count of admitted requests (holding or waiting). Taking a free
// token is a non-blocking channel receive; a request that has to wait
// blocks in a channel receive, and the Go runtime queues blocked receivers
// in FIFO order and hands a released token straight to the oldest one, so
// a newcomer can never overtake a waiter.
//
// A nil *Breaker admits everything (containerConcurrency 0).
type Breaker struct {
	capacity int
	depth    int
	limit    int64        // capacity + depth
	admitted atomic.Int64 // requests holding or waiting for a slot
	tokens   chan struct{}
}

// NewBreaker makes a breaker for capacity concurrent requests with up to
// depth waiting ones. capacity must be at least 1, depth at least 0.
func NewBreaker(capacity, depth int) *Breaker {
	if capacity < 1 || depth < 0 {
		panic(fmt.Sprintf("queue.NewBreaker(%d, %d): capacity must be ≥ 1 and depth ≥ 0", capacity, depth))
	}
	b := &Breaker{
		capacity: capacity,
		depth:    depth,
		limit:    int64(capacity) + int64(depth),
		tokens:   make(chan struct{}, capacity),
	}
	for range capacity {
		b.tokens <- struct{}{}
	}
	return b
}

// Acquire takes a slot, waiting in line if none is free. It gives up with
// ErrQueueFull when the queue is full, ErrQueueTimeout once deadline
// passes (a zero deadline never passes) and ErrQueueCanceled when done is
// closed (done may be nil). Every nil return must be matched by Release.
func (b *Breaker) Acquire(done <-chan struct{}, deadline time.Time) error {
	if b == nil {
		return nil
	}
	if b.admitted.Add(1) > b.limit {
		b.admitted.Add(-1)
		return ErrQueueFull
	}
	select {
	case <-b.tokens:
		return nil
	default:
	}
	var expired <-chan time.Time
	if !deadline.IsZero() {
		wait := time.Until(deadline)
		if wait <= 0 {
			b.admitted.Add(-1)
			return ErrQueueTimeout
		}
		t := time.NewTimer(wait)
		defer t.Stop()
		expired = t.C
	}
	select {
	case <-b.tokens:
		return nil
	case <-expired:
		b.admitted.Add(-1)
		return ErrQueueTimeout
	case <-done:
		b.admitted.Add(-1)
		return ErrQueueCanceled
	}
}

// Release gives back a slot taken by Acquire.
func (b *Breaker) Release() {
	if b == nil {
		return
	}
	b.admitted.Add(-1)
	select {
	case b.tokens <- struct{}{}:
	default:
		panic("queue.Breaker: Release without Acquire")
	}
}

// Capacity is the number of slots (0 for a nil breaker: unlimited).
func (b *Breaker) Capacity() int {
	if b == nil {
		return 0
	}
	return b.capacity
}

// QueueDepth is how many requests may wait for a slot.
func (b *Breaker) QueueDepth() int {
	if b == nil {
		return 0
	}
	return b.depth
}

// InFlight is the number of slots taken.
func (b *Breaker) InFlight() int {
	if b == nil {
		return 0
	}
	return b.capacity - len(b.tokens)
}

// Waiting is the number of requests waiting for a slot (approximate while
// requests come and go).
func (b *Breaker) Waiting() int {
	if b == nil {
		return 0
	}
	return max(int(b.admitted.Load())-b.InFlight(), 0)
}
