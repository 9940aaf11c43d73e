package queue

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// waitFor polls cond every millisecond for at most 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 10_000 {
		if cond() {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

func TestBreakerAdmission(t *testing.T) {
	for _, tc := range []struct {
		name            string
		capacity, depth int
		holders         int // requests holding a slot
		waiters         int // requests queued behind them
		want            error
	}{
		{"free slot", 2, 0, 1, 0, nil},
		{"no queue", 1, 0, 1, 0, ErrQueueFull},
		{"room in queue", 1, 2, 1, 1, ErrQueueTimeout}, // queues, then its deadline passes
		{"queue full", 1, 2, 1, 2, ErrQueueFull},
		{"bigger breaker full", 3, 3, 3, 3, ErrQueueFull},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := NewBreaker(tc.capacity, tc.depth)
			for range tc.holders {
				if err := b.Acquire(nil, time.Time{}); err != nil {
					t.Fatalf("holder: %v", err)
				}
			}
			stop := make(chan struct{})
			var wg sync.WaitGroup
			for range tc.waiters {
				wg.Go(func() {
					if err := b.Acquire(stop, time.Time{}); !errors.Is(err, ErrQueueCanceled) {
						t.Errorf("waiter: %v", err)
					}
				})
			}
			waitFor(t, "waiters to queue", func() bool { return b.Waiting() == tc.waiters })
			err := b.Acquire(nil, time.Now().Add(20*time.Millisecond))
			if !errors.Is(err, tc.want) {
				t.Errorf("Acquire = %v, want %v", err, tc.want)
			}
			if err == nil {
				b.Release()
			}
			close(stop)
			wg.Wait()
			for range tc.holders {
				b.Release()
			}
			if b.InFlight() != 0 || b.Waiting() != 0 {
				t.Errorf("after release: %d in flight, %d waiting", b.InFlight(), b.Waiting())
			}
		})
	}
}

func TestBreakerDeadlineAlreadyPassed(t *testing.T) {
	b := NewBreaker(1, 5)
	if err := b.Acquire(nil, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if err := b.Acquire(nil, time.Now().Add(-time.Second)); !errors.Is(err, ErrQueueTimeout) {
		t.Errorf("Acquire past deadline = %v", err)
	}
	b.Release()
	// A free slot is taken even past the deadline: no waiting needed.
	if err := b.Acquire(nil, time.Now().Add(-time.Second)); err != nil {
		t.Errorf("free slot refused: %v", err)
	}
}

func TestBreakerFIFO(t *testing.T) {
	b := NewBreaker(1, 10)
	if err := b.Acquire(nil, time.Time{}); err != nil {
		t.Fatal(err)
	}
	const n = 5
	order := make(chan int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			if err := b.Acquire(nil, time.Time{}); err != nil {
				t.Errorf("waiter %d: %v", i, err)
				return
			}
			order <- i
			b.Release()
		})
		// Start the next one only once this one is in line.
		waitFor(t, "waiter to queue", func() bool { return b.Waiting() == i+1 })
	}
	b.Release()
	wg.Wait()
	close(order)
	want := 0
	for got := range order {
		if got != want {
			t.Fatalf("waiter %d served in position %d", got, want)
		}
		want++
	}
}

func TestBreakerNeverExceedsCapacity(t *testing.T) {
	const capacity, goroutines, each = 7, 200, 5
	b := NewBreaker(capacity, goroutines) // deep enough that nobody is refused
	var inFlight, peak, served atomic.Int64
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for range each {
				if err := b.Acquire(nil, time.Now().Add(30*time.Second)); err != nil {
					t.Errorf("Acquire: %v", err)
					return
				}
				n := inFlight.Add(1)
				for {
					p := peak.Load()
					if n <= p || peak.CompareAndSwap(p, n) {
						break
					}
				}
				if n > capacity {
					t.Errorf("%d requests in flight, capacity %d", n, capacity)
				}
				time.Sleep(10 * time.Microsecond)
				inFlight.Add(-1)
				served.Add(1)
				b.Release()
			}
		})
	}
	wg.Wait()
	if served.Load() != goroutines*each {
		t.Errorf("served %d of %d", served.Load(), goroutines*each)
	}
	if peak.Load() > capacity || peak.Load() < 1 {
		t.Errorf("peak concurrency %d, capacity %d", peak.Load(), capacity)
	}
	if b.InFlight() != 0 || b.Waiting() != 0 {
		t.Errorf("after the run: %d in flight, %d waiting", b.InFlight(), b.Waiting())
	}
}

func TestNilBreakerIsUnlimited(t *testing.T) {
	var b *Breaker
	for range 1000 {
		if err := b.Acquire(nil, time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	b.Release()
	if b.Capacity() != 0 || b.QueueDepth() != 0 || b.InFlight() != 0 || b.Waiting() != 0 {
		t.Error("a nil breaker reports limits")
	}
}

func TestBreakerReleaseWithoutAcquirePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("no panic")
		}
	}()
	NewBreaker(1, 0).Release()
}
