package autoscaler

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/rampdev/ramp/serving/autoscaler"
)

// flood sends n activations of ns/r1 from replicas goroutines at once (as
// many gateway replicas would), and fails the test on any error.
func flood(t *testing.T, a *Autoscaler, n, replicas int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, replicas)
	for range replicas {
		wg.Go(func() {
			for range n / replicas {
				if err := a.Activate(context.Background(), "ns", "r1"); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// drainEvents returns how many revision events are queued, emptying the
// queue.
func drainEvents(a *Autoscaler) int {
	n := 0
	for {
		select {
		case <-a.Events():
			n++
		default:
			return n
		}
	}
}

// Given a revision at zero, when 10,000 activations arrive in bursts from
// 20 gateways over several seconds while its pod starts, then it is asked
// for one pod, once, and stays at one while the pod is not ready yet.
func TestActivationFloodScalesFromZeroToOnePod(t *testing.T) {
	h := newHarness(t, readyRevision("r1", 1, 0), slice("r1"))
	for range 10 {
		flood(t, h.a, 1000, 20)
		if d, _ := h.a.Desired("ns", "r1"); d != 1 {
			t.Fatalf("Desired = %d during the flood, want 1", d)
		}
		h.tick(t, 500*time.Millisecond)
	}
	if d, _ := h.a.Desired("ns", "r1"); d != 1 {
		t.Errorf("Desired = %d after 10,000 activations, want 1", d)
	}
	if n := drainEvents(h.a); n != 1 {
		t.Errorf("%d revision events, want 1 (0 → 1)", n)
	}
}

// Given a revision at two pods, when 10,000 activations arrive (a gateway
// whose endpoints lag, or a flood) after its load rose, then it is not
// raised by them: the next tick raises it, by the concurrency observed.
func TestActivationDoesNotRaiseARevisionAboveZero(t *testing.T) {
	h := newHarness(t, readyRevision("r1", 1, 2), slice("r1", "p1", "p2"))
	key := autoscaler.RevisionKey{Namespace: "ns", Name: "r1"}
	p1, p2 := &podReport{}, &podReport{}
	record := func(concurrency float64) {
		now := h.clock.Now()
		h.a.agg.Record(now, key, "p1", p1.advance(now, concurrency/2, 10))
		h.a.agg.Record(now, key, "p2", p2.advance(now, concurrency/2, 10))
	}
	for range 3 { // 1.4 in flight, target 0.7 per pod: 2 pods
		h.clock.Step(time.Second)
		record(1.4)
		h.a.Tick(context.Background(), h.clock.Now())
	}
	if d, _ := h.a.Desired("ns", "r1"); d != 2 {
		t.Fatalf("Desired = %d under 1.4 concurrent, want 2 (%s)", d, h.a.Statuses()[0].Reason)
	}
	drainEvents(h.a)
	h.clock.Step(time.Second)
	record(5) // the load rises, not yet decided on
	flood(t, h.a, 10_000, 20)
	if d, _ := h.a.Desired("ns", "r1"); d != 2 {
		t.Errorf("Desired = %d after 10,000 activations, want 2 (activations decide nothing above zero)", d)
	}
	if n := drainEvents(h.a); n != 0 {
		t.Errorf("%d revision events from activations, want 0", n)
	}
	h.a.Tick(context.Background(), h.clock.Now())
	if d, _ := h.a.Desired("ns", "r1"); d <= 2 {
		t.Errorf("Desired = %d at the tick under 5 concurrent, want more than 2 (%s)", d, h.a.Statuses()[0].Reason)
	}
}

// Activations of a revision whose only pod is still starting hold it at
// one past the activation hold, as long as they keep coming; once they
// stop, the hold ends and the revision goes back to zero.
func TestActivationsHoldAStartingPod(t *testing.T) {
	h := newHarness(t, readyRevision("r1", 1, 0), slice("r1"))
	h.a.opts.ActivationHold = 5 * time.Second
	if err := h.a.Activate(context.Background(), "ns", "r1"); err != nil {
		t.Fatal(err)
	}
	for range 10 { // 10 s, twice the hold, with activations
		h.tick(t, time.Second)
		flood(t, h.a, 10, 2)
	}
	if d, _ := h.a.Desired("ns", "r1"); d != 1 {
		t.Fatalf("Desired = %d while activations keep coming, want 1", d)
	}
	for range 120 { // no more activations: past the hold and the idle grace
		h.tick(t, time.Second)
	}
	if d, _ := h.a.Desired("ns", "r1"); d != 0 {
		t.Errorf("Desired = %d two minutes after the last activation, want 0 (%s)", d, h.a.Statuses()[0].Reason)
	}
}
