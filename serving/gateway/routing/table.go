package routing

import (
	"cmp"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Table is an immutable routing snapshot: the routes by host and the ready
// endpoints by Service. Build it with Build and install it with
// Router.Update; a Table may be shared and read concurrently.
type Table struct {
	routes    map[routeKey]*route
	hosts     map[string]*rule
	rules     []*rule // in a deterministic order; rule.ord indexes it
	endpoints map[ServiceKey][]Endpoint
	conflicts []Conflict
	// observed is when the change this table applies was first seen (a
	// watch event), zero when unknown.
	observed time.Time
}

// SetObserved records when the change that this table applies was first
// seen; call it before the table is installed (Router.Update), after
// which a table is not changed. It lets a scale from zero tell the endpoint's arrival from its
// release (Metrics.ActivationStage). It returns t.
func (t *Table) SetObserved(at time.Time) *Table {
	t.observed = at
	return t
}

// Conflict records a host claimed by more than one rule. The rule of a main
// host wins over a tag host; otherwise the route first in namespace/name
// order wins. Conflicts are reported for diagnosis only: both routes stay in
// the table (and in AppliedHash).
type Conflict struct {
	Host string
	// Kept and Dropped are "namespace/name" of the winning and losing routes.
	Kept, Dropped string
}

type routeKey struct{ namespace, name string }

type route struct {
	namespace, name, hash string
	clusterLocal          bool
	sticky                *StickyConfig
	main                  *rule // first untagged rule, may be nil
	tags                  map[string]*rule
	headers               []headerRule // on the main host, in order
}

type headerRule struct {
	name, value string
	rule        *rule
}

type rule struct {
	ord      int
	route    *route
	tag      string
	hosts    []string  // normalized
	backends []Backend // Percent > 0 only
	// key identifies the rule and its backend set across tables, so the
	// Router can keep the weighted round-robin state of unchanged rules.
	key string
	// cookies[i] is the sticky cookie value naming backends[i]; byCookie is
	// its inverse. Both are nil unless the route is sticky.
	cookies  []string
	byCookie map[string]int
}

// Build compiles routes and the ready endpoints of each Service into a
// Table. Inputs are copied, never retained. It is deterministic: the input
// order of routes does not matter. Duplicate routes (same namespace and
// name) keep the first occurrence; backends with Percent <= 0 and endpoints
// with an empty IP or an invalid port are dropped.
func Build(routes []Route, endpoints map[ServiceKey][]Endpoint) *Table {
	t := &Table{
		routes:    make(map[routeKey]*route, len(routes)),
		hosts:     make(map[string]*rule, 2*len(routes)),
		endpoints: make(map[ServiceKey][]Endpoint, len(endpoints)),
	}
	order := make([]*Route, len(routes))
	for i := range routes {
		order[i] = &routes[i]
	}
	slices.SortStableFunc(order, func(a, b *Route) int {
		return cmp.Or(strings.Compare(a.Namespace, b.Namespace), strings.Compare(a.Name, b.Name))
	})
	for _, in := range order {
		k := routeKey{in.Namespace, in.Name}
		if _, dup := t.routes[k]; dup {
			continue
		}
		rt := &route{namespace: in.Namespace, name: in.Name, hash: in.Hash,
			clusterLocal: in.ClusterLocal, tags: map[string]*rule{}}
		if in.Sticky != nil {
			s := *in.Sticky
			rt.sticky = &s
		}
		t.routes[k] = rt
		for _, r := range in.Rules {
			rl := t.addRule(rt, r)
			switch {
			case r.Tag == "" && rt.main == nil:
				rt.main = rl
			case r.Tag != "" && rt.tags[r.Tag] == nil:
				rt.tags[r.Tag] = rl
			}
		}
		for _, h := range in.HeaderRules {
			if rl := rt.tags[h.Tag]; rl != nil && h.Name != "" {
				rt.headers = append(rt.headers, headerRule{name: h.Name, value: h.Value, rule: rl})
			}
		}
	}
	t.claimHosts()
	for svc, eps := range endpoints {
		if clean := cleanEndpoints(eps); len(clean) > 0 {
			t.endpoints[svc] = clean
		}
	}
	return t
}

func (t *Table) addRule(rt *route, in Rule) *rule {
	rl := &rule{ord: len(t.rules), route: rt, tag: in.Tag}
	for _, h := range in.Hosts {
		if h = normalizeHost(h); h != "" {
			rl.hosts = append(rl.hosts, h)
		}
	}
	var key strings.Builder
	key.WriteString(rt.namespace + "\x00" + rt.name + "\x00" + in.Tag)
	for _, b := range in.Backends {
		if b.Percent <= 0 {
			continue
		}
		if b.Service == "" {
			b.Service = b.Revision
		}
		rl.backends = append(rl.backends, b)
		key.WriteString("\x00" + b.Revision + "\x00" + b.Service + "\x00" + strconv.Itoa(b.Percent))
	}
	rl.key = key.String()
	if rt.sticky != nil {
		rl.cookies = make([]string, len(rl.backends))
		rl.byCookie = make(map[string]int, len(rl.backends))
		for i, b := range rl.backends {
			rl.cookies[i] = encodeSticky(rt.namespace, rt.name, b.Revision)
			if _, dup := rl.byCookie[rl.cookies[i]]; !dup {
				rl.byCookie[rl.cookies[i]] = i
			}
		}
	}
	t.rules = append(t.rules, rl)
	return rl
}

// claimHosts indexes the rules by host: main rules first, then tag rules,
// each in route order, the first claim winning.
func (t *Table) claimHosts() {
	for _, mainPass := range []bool{true, false} {
		for _, rl := range t.rules {
			if (rl == rl.route.main) != mainPass {
				continue
			}
			for _, h := range rl.hosts {
				prev, taken := t.hosts[h]
				switch {
				case !taken:
					t.hosts[h] = rl
				case prev != rl:
					t.conflicts = append(t.conflicts, Conflict{Host: h,
						Kept: prev.route.namespace + "/" + prev.route.name, Dropped: rl.route.namespace + "/" + rl.route.name})
				}
			}
		}
	}
}

// AppliedHash returns the Hash of the route's table, if the route is in t.
func (t *Table) AppliedHash(namespace, name string) (string, bool) {
	rt, ok := t.routes[routeKey{namespace, name}]
	if !ok {
		return "", false
	}
	return rt.hash, true
}

// Endpoints returns a copy of the Service's ready endpoints, sorted.
func (t *Table) Endpoints(svc ServiceKey) []Endpoint {
	return slices.Clone(t.endpoints[svc])
}

// Conflicts returns the hosts claimed by more than one rule.
func (t *Table) Conflicts() []Conflict {
	return slices.Clone(t.conflicts)
}

// cleanEndpoints returns the valid endpoints of eps, sorted and deduplicated.
func cleanEndpoints(eps []Endpoint) []Endpoint {
	out := make([]Endpoint, 0, len(eps))
	for _, e := range eps {
		if e.IP != "" && e.Port > 0 && e.Port <= 65535 {
			out = append(out, e)
		}
	}
	slices.SortFunc(out, func(a, b Endpoint) int {
		return cmp.Or(strings.Compare(a.IP, b.IP), cmp.Compare(a.Port, b.Port))
	})
	return slices.Compact(out)
}

// normalizeHost strips the port and a trailing dot and lowercases.
func normalizeHost(h string) string {
	if strings.IndexByte(h, ':') >= 0 {
		if host, _, err := net.SplitHostPort(h); err == nil {
			h = host
		}
	}
	return strings.ToLower(strings.TrimSuffix(h, "."))
}
