package routing

import (
	"context"
	"sync/atomic"
	"testing"
)

// countingMetrics hands out counters (RoutedCounters), as the gateway's
// Prometheus recorder does.
type countingMetrics struct {
	NopMetrics
	routed map[string]*atomicCounter
}

type atomicCounter struct{ n atomic.Int64 }

func (c *atomicCounter) Inc() { c.n.Add(1) }

func (m *countingMetrics) RoutedCounter(ns, route, rev string) Counter {
	c := &atomicCounter{}
	m.routed[ns+"/"+route+"/"+rev] = c
	return c
}

// The routing of a request that needs no activation allocates nothing:
// Pick (host with a port, split route, counters handed out once per table)
// and Lease with Release. Allocations per request are the gateway's CPU.
func TestHotPathAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	m := &countingMetrics{routed: map[string]*atomicCounter{}}
	eps := map[ServiceKey][]Endpoint{
		{Namespace: "ns", Name: "svc-1"}: {ep1, ep2},
		{Namespace: "ns", Name: "svc-2"}: {ep3},
	}
	r := routerWith(t, m, eps, splitRoute("ns", "svc", 50, 50))
	a := NewActivator(r, ActivatorConfig{})
	req := Request{Host: mainHost("ns", "svc") + ":8080", External: true}
	const runs = 1000
	addrs := map[string]bool{}
	for _, ep := range []Endpoint{ep1, ep2, ep3} {
		addrs[ep.Address()] = true
	}
	allocs := testing.AllocsPerRun(runs, func() {
		d, err := r.Pick(req)
		if err != nil {
			t.Fatal(err)
		}
		l, err := a.Lease(context.Background(), d)
		if err != nil {
			t.Fatal(err)
		}
		if !addrs[l.Addr] {
			t.Fatalf("lease address %q is not one of the endpoints' (%v)", l.Addr, l.Endpoint)
		}
		l.Release()
	})
	if allocs != 0 {
		t.Errorf("Pick + Lease + Release allocate %.1f times per request, want 0", allocs)
	}
	// AllocsPerRun runs the function once more to warm up.
	for _, rev := range []string{"svc-1", "svc-2"} {
		if n := m.routed["ns/svc/"+rev].n.Load(); n < runs/2 || n > runs/2+1 {
			t.Errorf("routed counter of %s = %d, want half of %d", rev, n, runs+1)
		}
	}
	for _, ep := range []Endpoint{ep1, ep2, ep3} {
		if n := r.Balancer().InFlight(ep); n != 0 {
			t.Errorf("InFlight(%v) = %d after every lease was released, want 0", ep, n)
		}
	}
}

// A Lease is released once, however often Release is called on it, and
// counters survive a table swap that keeps the rule.
func TestLeaseReleasesOnce(t *testing.T) {
	m := &countingMetrics{routed: map[string]*atomicCounter{}}
	r := routerWith(t, m, map[ServiceKey][]Endpoint{svcKey: {ep1}}, splitRoute("ns", "svc", 100))
	a := NewActivator(r, ActivatorConfig{})
	d := mustPick(t, r, Request{Host: mainHost("ns", "svc")})
	l1, err := a.Lease(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	l2, ok := r.Balancer().LeaseExcept(svcKey, nil)
	if !ok || l2.Endpoint != ep1 {
		t.Fatalf("LeaseExcept = %v, %v; want %v", l2.Endpoint, ok, ep1)
	}
	if _, ok := r.Balancer().LeaseExcept(svcKey, []Endpoint{ep1}); ok {
		t.Error("LeaseExcept with the only endpoint tried: ok = true")
	}
	if n := r.Balancer().InFlight(ep1); n != 2 {
		t.Fatalf("InFlight = %d with two leases, want 2", n)
	}
	l1.Release()
	l1.Release()
	if n := r.Balancer().InFlight(ep1); n != 1 {
		t.Errorf("InFlight = %d after releasing one lease twice, want 1", n)
	}
	l2.Release()
	c := m.routed["ns/svc/svc-1"]
	r.Update(Build([]Route{splitRoute("ns", "svc", 100)}, map[ServiceKey][]Endpoint{svcKey: {ep1, ep2}}))
	mustPick(t, r, Request{Host: mainHost("ns", "svc")})
	if m.routed["ns/svc/svc-1"] != c || c.n.Load() != 2 {
		t.Errorf("the unchanged rule got a new counter (or lost counts) on Update: %d, want 2 on the same counter", c.n.Load())
	}
}
