package routing

import (
	"sync"
	"sync/atomic"
	"time"
)

// Router answers routing decisions from the installed Table. It is safe for
// concurrent use; create it with NewRouter.
type Router struct {
	// snap is the installed table and the mutable state beside it. A
	// request loads it once and uses that snapshot to the end.
	snap    atomic.Pointer[snapshot]
	metrics Metrics
	bal     Balancer

	mu   sync.Mutex          // serializes Update and guards subs
	subs []func(s *snapshot) // called by Update, under mu, after the swap

	// installed is closed by the first Update: until then the table is the
	// empty one NewRouter starts with, which knows no host because nothing
	// has been read yet, not because no route exists.
	installed     chan struct{}
	installedOnce sync.Once
}

// snapshot is a Table plus the state that must survive table swaps. The
// Table is the atomically swapped routing state: everything a request reads
// comes from one snapshot.
type snapshot struct {
	table     *Table
	rules     []*ruleState          // by rule.ord
	ruleByKey map[string]*ruleState // by rule.key, to carry state over
	pools     map[ServiceKey]*pool
	pods      map[Endpoint]*pod // in-flight counters, by address
}

// ruleState is what a rule's requests update: its weighted round-robin
// position and the routed counter of each backend, looked up once per
// table rather than once per request.
type ruleState struct {
	wrr    *wrr
	routed []Counter // by backend index
}

// NewRouter returns a Router with an empty table. A nil m means NopMetrics.
func NewRouter(m Metrics) *Router {
	if m == nil {
		m = NopMetrics{}
	}
	r := &Router{metrics: m, installed: make(chan struct{})}
	r.bal.r = r
	r.snap.Store(newSnapshot(Build(nil, nil), nil, m))
	return r
}

// Update installs t atomically (a nil t installs an empty table). Requests
// already routing keep the table they loaded. The weighted round-robin
// position of rules whose identity and backends (revisions, services,
// percents) are unchanged is kept; it restarts for changed rules. In-flight
// counters of endpoints that remain are kept. Waiters of an Activator whose
// Service now has endpoints are released.
func (r *Router) Update(t *Table) {
	if t == nil {
		t = Build(nil, nil)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	s := newSnapshot(t, r.snap.Load(), r.metrics)
	r.snap.Store(s)
	for _, fn := range r.subs {
		fn(s)
	}
	r.installedOnce.Do(func() { close(r.installed) })
}

// Installed is closed once a first table has been installed with Update.
func (r *Router) Installed() <-chan struct{} { return r.installed }

// WaitInstalled waits up to d (or until done is closed) for a first table;
// it reports whether one is installed. A gateway started a moment ago (a
// restarted container whose endpoint is still listed as ready) uses it to
// hold requests until it knows the routes, instead of calling every host
// unknown.
func (r *Router) WaitInstalled(done <-chan struct{}, d time.Duration) bool {
	select {
	case <-r.installed:
		return true
	default:
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-r.installed:
		return true
	case <-done:
	case <-t.C:
	}
	return false
}

// subscribe registers fn to be called, serialized, after each Update.
func (r *Router) subscribe(fn func(s *snapshot)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.subs = append(r.subs, fn)
}

func newSnapshot(t *Table, old *snapshot, m Metrics) *snapshot {
	s := &snapshot{
		table:     t,
		rules:     make([]*ruleState, len(t.rules)),
		ruleByKey: make(map[string]*ruleState, len(t.rules)),
	}
	for i, rl := range t.rules {
		st := s.ruleByKey[rl.key]
		if st == nil && old != nil {
			st = old.ruleByKey[rl.key]
		}
		if st == nil {
			st = &ruleState{wrr: newWRR(rl.backends), routed: make([]Counter, len(rl.backends))}
			for j, b := range rl.backends {
				st.routed[j] = routedCounter(m, rl.route.namespace, rl.route.name, b.Revision)
			}
		}
		s.rules[i], s.ruleByKey[rl.key] = st, st
	}
	s.pools, s.pods = buildPools(t, old)
	return s
}

// Table returns the installed table.
func (r *Router) Table() *Table { return r.snap.Load().table }

// AppliedHash returns the Hash of the route's table as installed, so the
// gateway can publish it; false when the route is not installed.
func (r *Router) AppliedHash(namespace, name string) (string, bool) {
	return r.snap.Load().table.AppliedHash(namespace, name)
}

// Endpoints returns a copy of the Service's ready endpoints, as installed.
func (r *Router) Endpoints(svc ServiceKey) []Endpoint {
	return r.snap.Load().table.Endpoints(svc)
}

// Balancer returns the Router's endpoint balancer.
func (r *Router) Balancer() *Balancer { return &r.bal }

// Pick decides which revision serves req:
//   - the host (port and trailing dot stripped, lowercased) must match a
//     rule exactly, and a cluster-local route is unknown on the external
//     listener; otherwise ErrUnknownHost;
//   - on the route's main host, a TagHeader naming one of the route's tags
//     selects that tag's rule; any other value is ignored (see the package
//     documentation);
//   - otherwise, on the main host, the first header rule whose header has
//     its value exactly selects that rule's tag (A/B routing);
//   - on a sticky route, a cookie naming a revision that is still a backend
//     of the rule selects it without advancing the split;
//   - otherwise the rule's smooth weighted round-robin chooses, so that any
//     100 consecutive picks follow the percents exactly (sticky requests
//     are not counted), and a sticky route gets SetCookie for the choice.
//
// A rule without backends yields ErrNoBackend.
func (r *Router) Pick(req Request) (Decision, error) {
	s := r.snap.Load()
	rl := s.table.hosts[normalizeHost(req.Host)]
	if rl == nil || (req.External && rl.route.clusterLocal) {
		r.metrics.Rejected(RejectUnknownHost)
		return Decision{}, ErrUnknownHost
	}
	rt := rl.route
	if rl == rt.main {
		rl = rt.selectOnMain(rl, req)
	}
	d := Decision{Namespace: rt.namespace, Route: rt.name, Tag: rl.tag, CookieMaxAge: rt.stickyMaxAge()}
	st := s.rules[rl.ord]
	i := rl.stickyBackend(req.Cookie)
	if i < 0 {
		if i = st.wrr.next(); i < 0 {
			r.metrics.Rejected(RejectNoBackend)
			return Decision{}, ErrNoBackend
		}
		if rl.cookies != nil {
			d.SetCookie = rl.cookies[i]
		}
	}
	b := rl.backends[i]
	d.Revision, d.Service = b.Revision, b.Service
	st.routed[i].Inc()
	return d, nil
}

// selectOnMain applies the tag header, then the header rules, to a request
// on the route's main host.
func (rt *route) selectOnMain(main *rule, req Request) *rule {
	if req.TagHeader != "" {
		if tagged := rt.tags[req.TagHeader]; tagged != nil {
			return tagged
		}
	}
	if req.Headers != nil {
		for _, h := range rt.headers {
			if req.Headers.Get(h.name) == h.value {
				return h.rule
			}
		}
	}
	return main
}
