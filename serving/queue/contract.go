// Package queue is the queue-proxy: the sidecar in every revision pod that
// fronts the user container. This file is its contract with the controller
// that injects it (ports and environment), so both sides share one
// definition. The package imports nothing from Kubernetes.
package queue

// Ports of the queue-proxy. The user container must not use them.
const (
	// ServingPort receives the revision's traffic.
	ServingPort = 8012
	// AdminPort serves /ready (readiness) and /stats (the autoscaler's
	// scrape).
	AdminPort = 8022
	// MetricsPort serves Prometheus metrics.
	MetricsPort = 9091
)

// Environment variables the controller sets on the queue-proxy container.
const (
	EnvServingPort          = "QUEUE_SERVING_PORT"
	EnvAdminPort            = "QUEUE_ADMIN_PORT"
	EnvMetricsPort          = "QUEUE_METRICS_PORT"
	EnvUserPort             = "USER_PORT"
	EnvContainerConcurrency = "CONTAINER_CONCURRENCY"
	EnvRevisionTimeout      = "REVISION_TIMEOUT_SECONDS"
	EnvUserProbe            = "SERVING_READINESS_PROBE"
	EnvRevision             = "SERVING_REVISION"
	EnvConfiguration        = "SERVING_CONFIGURATION"
	EnvService              = "SERVING_SERVICE"
	EnvNamespace            = "SERVING_NAMESPACE"
	EnvPod                  = "SERVING_POD"
	EnvPodIP                = "POD_IP"
	// EnvUserProtocol is the protocol the user container speaks on its
	// port: UserProtocolHTTP1 (the default) or UserProtocolH2C (the
	// revision's container port is named "h2c").
	EnvUserProtocol = "USER_PROTOCOL"
	// EnvQueueDepth bounds how many requests wait for a slot when
	// containerConcurrency requests are in flight (default
	// DefaultQueueDepth(containerConcurrency)).
	EnvQueueDepth = "QUEUE_DEPTH"
)

// Values of EnvUserProtocol.
const (
	UserProtocolHTTP1 = "http1"
	UserProtocolH2C   = "h2c"
)

// DefaultQueueDepth is the pending-request queue depth used when
// EnvQueueDepth is not set: ten times containerConcurrency, at least 10.
func DefaultQueueDepth(containerConcurrency int) int {
	return max(10*containerConcurrency, 10)
}

// RouteTagHeader is the request header in which the gateway names the
// route tag a request was sent to (empty for untagged traffic); the
// queue-proxy's telemetry is split by it.
const RouteTagHeader = "Ramp-Route-Tag"

// ReadyPath is the queue-proxy's readiness endpoint on AdminPort: 200 once
// the user container passes its readiness probe, 503 while draining.
const ReadyPath = "/ready"

// DrainPath on AdminPort blocks until the queue-proxy has drained (every
// request in flight finished after SIGTERM). The controller makes it the user
// container's preStop hook, so the user container keeps serving until the
// queue-proxy no longer needs it.
const DrainPath = "/wait-for-drain"

// StatsPath serves the queue-proxy's cumulative telemetry on AdminPort as
// JSON (package github.com/rampdev/ramp/serving/queue/stats).
const StatsPath = "/stats"

// MetricsPath serves Prometheus metrics on MetricsPort.
const MetricsPath = "/metrics"

// ProbeSpec is how the queue-proxy checks the user container, passed as JSON
// in EnvUserProbe. An empty spec means a TCP connect to the user port.
type ProbeSpec struct {
	// HTTPPath, when set, probes with an HTTP GET expecting 2xx or 3xx.
	HTTPPath string `json:"httpPath,omitempty"`
	// Port defaults to the user port.
	Port int `json:"port,omitempty"`
	// TimeoutSeconds bounds one probe (default 1).
	TimeoutSeconds int `json:"timeoutSeconds,omitempty"`
	// HTTPHeaders are sent with HTTP probes.
	HTTPHeaders map[string]string `json:"httpHeaders,omitempty"`
}
