// Package gateway is Ramp's ingress: a Go reverse proxy that routes by host,
// weight, tag and header to revision pods, holding requests while a revision
// scales up from zero. This file is its contract with the controller and the
// Helm chart.
package gateway

// Ports of the gateway. In local mode the external port is also a hostPort
// (127.0.0.1:8080).
const (
	// ExternalPort serves routes with External visibility.
	ExternalPort = 8080
	// InternalPort serves every route, cluster-local ones included.
	InternalPort = 8081
	// AdminPort serves /ready, /hashes and /metrics.
	AdminPort = 8090
)

// Request headers.
const (
	// TagHeader selects a tag on a route's main host.
	TagHeader = "Ramp-Serving-Tag"
	// KnativeTagHeader is accepted as an alias of TagHeader.
	KnativeTagHeader = "Knative-Serving-Tag"
	// RouteTagHeader tells the queue-proxy which tag a request was routed by
	// (empty for the main host), so telemetry can be split per tag.
	RouteTagHeader = "Ramp-Route-Tag"
)

// HashesPath on the admin port returns the routing-table hash the gateway
// has applied for each route, as JSON {"<namespace>/<name>": "<hash>"}. The
// Route controller marks a Route IngressReady once every gateway replica
// reports its current hash.
const HashesPath = "/hashes"
