package routing

import (
	"math/rand/v2"
	"slices"
	"sync/atomic"
)

// Balancer picks an endpoint of a Service by the power of two choices on
// in-flight requests: of two distinct candidates it takes the one with
// fewer requests in flight. The first candidate rotates round-robin and the
// second is random, and ties go to the first, so idle endpoints are used in
// turn. In-flight counts are those of Acquire; they are kept across
// Router.Update for endpoints that remain. Get it from Router.Balancer.
type Balancer struct {
	r *Router
}

// pool is the balancing state of one Service in a snapshot.
type pool struct {
	pods []*pod
	next atomic.Uint32 // round-robin position of the first candidate
}

// pod is the in-flight counter of one endpoint, shared by the snapshots
// where the endpoint is present.
type pod struct {
	ep       Endpoint
	addr     string // ep.Address(), formatted once
	inflight atomic.Int64
}

// Lease is an endpoint acquired for one request: the request counts as in
// flight to it until Release. Get one from Activator.Lease or
// Balancer.LeaseExcept; unlike the release functions of Acquire and
// Activator.Wait, taking one allocates nothing.
type Lease struct {
	// Endpoint is the pod the request goes to.
	Endpoint Endpoint
	// Addr is Endpoint.Address().
	Addr string
	pd   *pod
	// after runs on Release: an Activator meters out its next waiters.
	after func()
}

// Release ends the lease. Only the first call on a Lease has an effect;
// release it through one variable (a copy would release it again).
func (l *Lease) Release() {
	pd := l.pd
	if pd == nil {
		return
	}
	l.pd = nil
	pd.inflight.Add(-1)
	if l.after != nil {
		l.after()
	}
}

// releaseFunc returns a function that releases l once, however often it
// is called (the release functions of Acquire and Activator.Wait).
func (l Lease) releaseFunc() func() {
	if l.pd == nil {
		return func() {}
	}
	var done atomic.Bool
	return func() {
		if done.CompareAndSwap(false, true) {
			l.Release()
		}
	}
}

// lease acquires pd.
func (pd *pod) lease() Lease {
	pd.inflight.Add(1)
	return Lease{Endpoint: pd.ep, Addr: pd.addr, pd: pd}
}

// buildPools makes the pools of t's endpoints, reusing the counters of old.
func buildPools(t *Table, old *snapshot) (map[ServiceKey]*pool, map[Endpoint]*pod) {
	pools := make(map[ServiceKey]*pool, len(t.endpoints))
	pods := make(map[Endpoint]*pod)
	for svc, eps := range t.endpoints {
		p := &pool{pods: make([]*pod, len(eps))}
		for i, ep := range eps {
			pd := pods[ep]
			if pd == nil && old != nil {
				pd = old.pods[ep]
			}
			if pd == nil {
				pd = &pod{ep: ep, addr: ep.Address()}
			}
			p.pods[i], pods[ep] = pd, pd
		}
		pools[svc] = p
	}
	return pools, pods
}

// Pick returns an endpoint of svc, or false when it has none. Pair it with
// Acquire for the duration of the request.
func (b *Balancer) Pick(svc ServiceKey) (Endpoint, bool) {
	return b.PickExcept(svc, nil)
}

// PickExcept is Pick among the endpoints of svc that are not in tried: the
// gateway retries once on another pod when the connection to the first was
// refused before anything was sent. False when no endpoint is left.
func (b *Balancer) PickExcept(svc ServiceKey, tried []Endpoint) (Endpoint, bool) {
	p := b.r.snap.Load().pools[svc]
	if p == nil {
		return Endpoint{}, false
	}
	pd := p.choose(tried)
	if pd == nil {
		return Endpoint{}, false
	}
	return pd.ep, true
}

// LeaseExcept is PickExcept and Acquire in one: it leases an endpoint of
// svc that is not in tried. False when no endpoint is left.
func (b *Balancer) LeaseExcept(svc ServiceKey, tried []Endpoint) (Lease, bool) {
	p := b.r.snap.Load().pools[svc]
	if p == nil {
		return Lease{}, false
	}
	pd := p.choose(tried)
	if pd == nil {
		return Lease{}, false
	}
	return pd.lease(), true
}

// Acquire counts a request in flight to ep until release is called (at most
// once has an effect). Acquiring an endpoint that is not installed is
// allowed and counts nothing.
func (b *Balancer) Acquire(ep Endpoint) (release func()) {
	pd := b.r.snap.Load().pods[ep]
	if pd == nil {
		return func() {}
	}
	return pd.lease().releaseFunc()
}

// InFlight returns the number of requests in flight to ep.
func (b *Balancer) InFlight(ep Endpoint) int {
	if pd := b.r.snap.Load().pods[ep]; pd != nil {
		return int(pd.inflight.Load())
	}
	return 0
}

// leastLoaded returns the pod with the fewest requests in flight, or nil.
func (p *pool) leastLoaded() *pod {
	var best *pod
	for _, pd := range p.pods {
		if best == nil || pd.inflight.Load() < best.inflight.Load() {
			best = pd
		}
	}
	return best
}

// choose returns the pod chosen among those not in tried, or nil.
func (p *pool) choose(tried []Endpoint) *pod {
	cands := p.pods
	if len(tried) > 0 {
		cands = make([]*pod, 0, len(p.pods))
		for _, pd := range p.pods {
			if !slices.Contains(tried, pd.ep) {
				cands = append(cands, pd)
			}
		}
	}
	switch len(cands) {
	case 0:
		return nil
	case 1:
		return cands[0]
	}
	n := len(cands)
	i := int((p.next.Add(1) - 1) % uint32(n))
	j := rand.IntN(n - 1)
	if j >= i {
		j++
	}
	if cands[j].inflight.Load() < cands[i].inflight.Load() {
		return cands[j]
	}
	return cands[i]
}
