package routing

import (
	"errors"
	"net"
	"strconv"
	"time"
)

// Errors returned by the package; compare them with errors.Is.
var (
	// ErrUnknownHost: no route serves the request's host on this listener
	// (a cluster-local route asked for on the external listener included).
	// The gateway answers 404.
	ErrUnknownHost = errors.New("routing: unknown host")
	// ErrNoBackend: the matched rule has no backend with a positive share.
	// The gateway answers 503.
	ErrNoBackend = errors.New("routing: rule has no backend")
	// ErrQueueFull: the revision already has MaxWaiters requests waiting
	// for it to scale from zero. The gateway answers 503.
	ErrQueueFull = errors.New("routing: activation queue is full")
	// ErrTooManyWaiting: MaxTotalWaiters requests are already waiting for
	// revisions to scale from zero, all revisions together. The gateway
	// answers 503.
	ErrTooManyWaiting = errors.New("routing: too many requests are waiting for revisions to scale from zero")
	// ErrActivationTimeout: no endpoint appeared before the request's
	// deadline or the activation timeout. The gateway answers 503 (or 504).
	ErrActivationTimeout = errors.New("routing: timed out waiting for the revision to scale up")
)

// Route is a Route's compiled routing table, as the controller publishes it
// (RoutingTable in apis/serving/v1), plus the Route's identity.
type Route struct {
	Namespace string
	Name      string
	// Hash identifies the table's content; Router.AppliedHash reports it
	// once the table is installed.
	Hash string
	// ClusterLocal routes are not served on the external listener.
	ClusterLocal bool
	// Rules: the first rule without a Tag is the main rule (the route's
	// main hosts); each tagged rule serves the tag's hosts.
	Rules []Rule
	// Sticky, when set, pins clients to the revision they first got with a
	// cookie, for MaxAge.
	Sticky *StickyConfig
	// HeaderRules send requests on the main host whose header Name equals
	// Value to the rule tagged Tag (first match wins, after the tag
	// header).
	HeaderRules []HeaderRule
}

// HeaderRule routes by an exact header value to a tag's rule.
type HeaderRule struct {
	Name, Value, Tag string
}

// Headers looks up request headers; Get returns "" for a missing header.
// Router.Pick calls it only for routes with HeaderRules.
type Headers interface {
	Get(name string) string
}

// Rule sends requests for its hosts to weighted backends.
type Rule struct {
	// Hosts are matched exactly, case-insensitively, without the port.
	Hosts []string
	// Tag is empty for the main rule. On the main host, a request whose tag
	// header equals Tag is served by this rule.
	Tag string
	// Backends with Percent <= 0 are dropped by Build.
	Backends []Backend
}

// Backend is one revision's share of a rule.
type Backend struct {
	Revision string
	// Service is the Kubernetes Service whose EndpointSlices list the
	// revision's ready pods; Build uses Revision when it is empty.
	Service string
	// Percent of the rule's requests; the percents of a rule sum to 100.
	Percent int
}

// StickyConfig configures sticky sessions for a route.
type StickyConfig struct {
	// MaxAge of the cookie; zero makes it a session cookie.
	MaxAge time.Duration
}

// Endpoint is a ready pod address of a revision: the address from the
// Service's EndpointSlices and the queue-proxy's serving port (8012).
type Endpoint struct {
	IP   string
	Port int
}

// Address returns "ip:port" (IPv6 addresses in brackets), ready to dial.
func (e Endpoint) Address() string { return net.JoinHostPort(e.IP, strconv.Itoa(e.Port)) }

// ServiceKey names a Kubernetes Service. Revisions (and so their Services)
// are only unique within a namespace.
type ServiceKey struct {
	Namespace string
	Name      string
}

// Request is what Router.Pick needs to know about an incoming request.
type Request struct {
	// Host is the Host header; it may carry a port and any letter case.
	Host string
	// TagHeader is the value of the Ramp-Serving-Tag header, or of
	// Knative-Serving-Tag when the former is absent ("" when neither is).
	TagHeader string
	// Cookie is the value of the sticky cookie (CookieName), if any.
	Cookie string
	// External is true when the request came in on the external listener.
	External bool
	// Headers, when set, lets header rules look at the request.
	Headers Headers
}

// Decision is where a request goes.
type Decision struct {
	Namespace string
	Route     string
	Revision  string
	Service   string
	// Tag of the rule that served the request; empty for the main rule.
	Tag string
	// SetCookie, when not empty, is the sticky cookie value the response
	// must set (see StickyCookie).
	SetCookie string
	// CookieMaxAge is the route's sticky MaxAge, for StickyCookie.
	CookieMaxAge time.Duration
}

// ServiceKey returns the key of the Service that fronts the chosen revision.
func (d Decision) ServiceKey() ServiceKey {
	return ServiceKey{Namespace: d.Namespace, Name: d.Service}
}
