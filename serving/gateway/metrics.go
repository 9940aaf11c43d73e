package gateway

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rampdev/ramp/serving/gateway/routing"
)

// Recorder holds the gateway's Prometheus metrics; it is the router's
// Metrics hook.
type Recorder struct {
	routed    *prometheus.CounterVec
	activated *prometheus.HistogramVec
	rejected  *prometheus.CounterVec
	// byReason holds the rejected counter of each known reason, so that a
	// burst of rejections (a full activation queue) looks up no labels.
	byReason map[string]prometheus.Counter
	stages   *prometheus.HistogramVec
	stageAt  *prometheus.GaugeVec
}

var (
	_ routing.Metrics        = (*Recorder)(nil)
	_ routing.RoutedCounters = (*Recorder)(nil)
)

// rejectReasons are the reasons the router and the proxy reject with.
var rejectReasons = []string{routing.RejectUnknownHost, routing.RejectNoBackend, routing.RejectQueueFull,
	routing.RejectTooManyWaiting, routing.RejectActivationTimeout, "refused"}

// NewRecorder registers the gateway's metrics on reg.
func NewRecorder(reg prometheus.Registerer) *Recorder {
	r := &Recorder{
		routed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ramp_gateway_requests_total", Help: "Requests routed, by route and revision.",
		}, []string{"namespace", "route", "revision"}),
		activated: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "ramp_gateway_activation_wait_seconds", Help: "How long requests waited for a revision to scale from zero.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 14),
		}, []string{"namespace", "revision"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ramp_gateway_rejected_requests_total", Help: "Requests the gateway answered itself, by reason.",
		}, []string{"reason"}),
		// Milliseconds matter here: what the gateway adds to a scale from
		// zero (the signal, noticing the endpoint) should be a few of
		// them, against the pod's start of about a second.
		stages: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "ramp_gateway_activation_stage_seconds",
			Help:    "Time from a scale from zero's first held request to each stage (signalled: the autoscaler took the signal; released: the revision got an endpoint).",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 15),
		}, []string{"stage"}),
		stageAt: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "ramp_gateway_activation_stage_timestamp_seconds",
			Help: "Unix time of the latest scale from zero's stages (held, signalled, released), per revision.",
		}, []string{"namespace", "revision", "stage"}),
	}
	reg.MustRegister(r.routed, r.activated, r.rejected, r.stages, r.stageAt)
	r.byReason = make(map[string]prometheus.Counter, len(rejectReasons))
	for _, reason := range rejectReasons {
		r.byReason[reason] = r.rejected.WithLabelValues(reason)
	}
	return r
}

// observeHeld registers a gauge of the requests held for revisions
// scaling from zero, read from held at each scrape.
func (r *Recorder) observeHeld(reg prometheus.Registerer, held func() int) error {
	return reg.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "ramp_gateway_held_requests", Help: "Requests held while their revision scales from zero.",
	}, func() float64 { return float64(held()) }))
}

// Routed implements routing.Metrics.
func (r *Recorder) Routed(ns, route, revision string) {
	r.routed.WithLabelValues(ns, route, revision).Inc()
}

// RoutedCounter implements routing.RoutedCounters: the router increments
// the backend's series directly. Series are never deleted, so the counter
// stays the one the registry exports.
func (r *Recorder) RoutedCounter(ns, route, revision string) routing.Counter {
	return r.routed.WithLabelValues(ns, route, revision)
}

// Activated implements routing.Metrics.
func (r *Recorder) Activated(ns, revision string, waited time.Duration) {
	r.activated.WithLabelValues(ns, revision).Observe(waited.Seconds())
}

// ActivationStage implements routing.Metrics.
func (r *Recorder) ActivationStage(ns, revision, stage string, at time.Time, sinceHeld time.Duration) {
	if stage != routing.StageHeld {
		r.stages.WithLabelValues(stage).Observe(sinceHeld.Seconds())
	}
	r.stageAt.WithLabelValues(ns, revision, stage).Set(float64(at.UnixNano()) / 1e9)
}

// Rejected implements routing.Metrics.
func (r *Recorder) Rejected(reason string) {
	if c, ok := r.byReason[reason]; ok {
		c.Inc()
		return
	}
	r.rejected.WithLabelValues(reason).Inc()
}
