package routing

import "time"

// Reasons passed to Metrics.Rejected.
const (
	// RejectUnknownHost: no route for the host (404).
	RejectUnknownHost = "unknown_host"
	// RejectNoBackend: the matched rule has no backend (503).
	RejectNoBackend = "no_backend"
	// RejectQueueFull: the activation queue of the revision is full (503).
	RejectQueueFull = "queue_full"
	// RejectTooManyWaiting: the activation queues of all revisions together
	// are full (503).
	RejectTooManyWaiting = "held_limit"
	// RejectActivationTimeout: the revision did not scale up in time (503).
	RejectActivationTimeout = "activation_timeout"
)

// Metrics receives the routing core's observations. Implementations must
// be safe for concurrent use and cheap: they are called on every request.
// A Metrics that also implements RoutedCounters is asked for each backend's
// counter when a table is installed, and Routed is not called.
type Metrics interface {
	// Routed is called for every successful Router.Pick.
	Routed(namespace, route, revision string)
	// Activated is called when a request that had to wait for a revision to
	// scale from zero got an endpoint, with how long it waited.
	Activated(namespace, revision string, waited time.Duration)
	// Rejected is called when a request cannot be served; reason is one of
	// the Reject* constants.
	Rejected(reason string)
	// ActivationStage is called when a scale from zero of a revision
	// reaches a stage (one of the Stage* constants): at is when, and
	// sinceHeld how long after its first request was held.
	ActivationStage(namespace, revision, stage string, at time.Time, sinceHeld time.Duration)
}

// Stages of a scale from zero passed to Metrics.ActivationStage.
const (
	// StageHeld: the first request for a revision without endpoints is
	// held.
	StageHeld = "held"
	// StageSignalled: the autoscaler accepted the scale-up signal.
	StageSignalled = "signalled"
	// StageEndpointsSeen: the change that gave the revision a ready
	// endpoint reached the gateway (reported when the table that applies
	// it is installed, with the time it arrived; only for tables that know
	// it, Table.SetObserved).
	StageEndpointsSeen = "endpoints"
	// StageReleased: a routing table gave the revision a ready endpoint
	// and its held requests were released to it.
	StageReleased = "released"
)

// NopMetrics discards every observation.
type NopMetrics struct{}

// Routed does nothing.
func (NopMetrics) Routed(string, string, string) {}

// Activated does nothing.
func (NopMetrics) Activated(string, string, time.Duration) {}

// Rejected does nothing.
func (NopMetrics) Rejected(string) {}

// RoutedCounter returns a counter that counts nothing.
func (NopMetrics) RoutedCounter(string, string, string) Counter { return nopCounter{} }

type nopCounter struct{}

func (nopCounter) Inc() {}

// Counter is a count that only goes up (a prometheus.Counter is one).
type Counter interface {
	Inc()
}

// RoutedCounters is implemented by a Metrics that hands out the counter of
// one backend's routed requests: the Router asks for it once per backend
// when it installs a table, so that a request only increments it (a
// Prometheus label lookup hashes and compares the label values on every
// call). The counter must stay valid for as long as the Router uses it.
type RoutedCounters interface {
	RoutedCounter(namespace, route, revision string) Counter
}

// routedCounter returns m's counter for a backend, or one that calls
// m.Routed when m hands out none.
func routedCounter(m Metrics, namespace, route, revision string) Counter {
	if rc, ok := m.(RoutedCounters); ok {
		return rc.RoutedCounter(namespace, route, revision)
	}
	return &routedFunc{m: m, namespace: namespace, route: route, revision: revision}
}

// routedFunc counts through Metrics.Routed.
type routedFunc struct {
	m                          Metrics
	namespace, route, revision string
}

func (r *routedFunc) Inc() { r.m.Routed(r.namespace, r.route, r.revision) }

// ActivationStage does nothing.
func (NopMetrics) ActivationStage(string, string, string, time.Time, time.Duration) {}
