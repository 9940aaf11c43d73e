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
	stages    *prometheus.HistogramVec
	stageAt   *prometheus.GaugeVec
}

var _ routing.Metrics = (*Recorder)(nil)

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
func (r *Recorder) Rejected(reason string) { r.rejected.WithLabelValues(reason).Inc() }
