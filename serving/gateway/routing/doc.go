// Package routing is the gateway's routing core: it turns compiled Route
// tables and ready endpoints into per-request decisions. It imports nothing
// from Kubernetes (nor the Ramp API types): the gateway binary converts Routes
// and EndpointSlices into Route and Endpoint values, calls Build and
// Router.Update when they change, and asks the Router, its Balancer and an
// Activator what to do with each request.
//
// # Snapshots
//
// Build compiles an immutable Table. Router.Update swaps it in atomically;
// a request that already loaded a table keeps using it, so a swap never
// fails a request. Mutable per-rule and per-endpoint state (the weighted
// round-robin position, in-flight counters) lives beside the table in the
// Router and is carried over to the new table for rules whose backends are
// unchanged and endpoints that remain.
//
// # Request flow
//
//	d, err := router.Pick(routing.Request{Host: r.Host, TagHeader: tag, Cookie: c, External: ext})
//	// ErrUnknownHost -> 404, ErrNoBackend -> 503
//	if c := routing.StickyCookie(d); c != nil { http.SetCookie(w, c) }
//	l, err := activator.Lease(ctx, d) // immediate when the revision has pods
//	defer l.Release()
//	// proxy to l.Addr; if the connection was refused before anything was
//	// sent: l2, ok := router.Balancer().LeaseExcept(d.ServiceKey(), []Endpoint{l.Endpoint})
//
// Pick, Lease and Release allocate nothing and take no lock when the
// revision has endpoints (TestHotPathAllocatesNothing): the routed counter
// of each backend is looked up once per table (RoutedCounters), and each
// endpoint's address is formatted once.
//
// # Tag header
//
// On a route's main host, a tag header (Ramp-Serving-Tag, or its alias
// Knative-Serving-Tag) naming one of the route's tags selects that tag's
// rule. A value that names no tag of the route is ignored and the main rule
// is used, as in Knative: a stale or mistyped tag degrades to the default
// traffic split instead of failing. The header is ignored on tag hosts and
// is compared case-sensitively (tags are lowercase DNS labels).
package routing
