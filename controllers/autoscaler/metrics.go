package autoscaler

import (
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rampdev/ramp/controllers/internal/promreg"
	"github.com/rampdev/ramp/serving/autoscaler"
)

// Recorder holds the autoscaler's Prometheus metrics: ramp_revision_* per
// revision, and ramp_autoscaler_* for the scraper itself.
type Recorder struct {
	desired, ready, stable, panicC, panicking *prometheus.GaugeVec
	rps, errRatio, latency                    *prometheus.GaugeVec
	scrapes                                   *prometheus.CounterVec
	scrapeSeconds                             prometheus.Histogram
	activations                               prometheus.Counter
	decision                                  prometheus.Histogram
	activationAt                              *prometheus.GaugeVec
}

// NewRecorder creates the metrics and registers them on reg; registering
// twice on the same registry reuses the first metrics.
func NewRecorder(reg prometheus.Registerer) (*Recorder, error) {
	rev := []string{"namespace", "revision"}
	g := func(name, help string, labels ...string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, append(rev, labels...))
	}
	r := &Recorder{
		desired:   g("ramp_revision_desired_pods", "Pods the autoscaler asks for."),
		ready:     g("ramp_revision_actual_pods", "Ready pods."),
		stable:    g("ramp_revision_stable_concurrency", "Average concurrency over the stable window."),
		panicC:    g("ramp_revision_panic_concurrency", "Average concurrency over the panic window."),
		panicking: g("ramp_revision_panic_mode", "1 while the revision is in panic mode."),
		rps:       g("ramp_revision_requests_per_second", "Requests per second over the stable window."),
		errRatio:  g("ramp_revision_error_ratio", "Share of 5xx answers over the stable window."),
		latency:   g("ramp_revision_latency_seconds", "Request latency quantiles over the stable window.", "quantile"),
		scrapes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ramp_autoscaler_scrapes_total",
			Help: "Queue-proxy scrapes, by result."}, []string{"result"}),
		scrapeSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "ramp_autoscaler_tick_seconds",
			Help: "Time to scrape every pod once.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 12)}),
		activations: prometheus.NewCounter(prometheus.CounterOpts{Name: "ramp_autoscaler_activations_total",
			Help: "Scale-from-zero signals received from the gateway."}),
		decision: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "ramp_autoscaler_activation_decision_seconds",
			Help:    "Time from receiving the signal of a revision at zero to deciding its scale from zero.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 14)}),
		activationAt: g("ramp_revision_activation_timestamp_seconds",
			"Unix time of the latest scale from zero's stages (received: the gateway's signal; decided: one pod or more asked for).", "stage"),
	}
	var err error
	for _, v := range []**prometheus.GaugeVec{&r.desired, &r.ready, &r.stable, &r.panicC, &r.panicking, &r.rps, &r.errRatio, &r.latency, &r.activationAt} {
		if *v, err = promreg.Register(reg, *v); err != nil {
			return nil, fmt.Errorf("registering autoscaler metrics: %w", err)
		}
	}
	if r.scrapes, err = promreg.Register(reg, r.scrapes); err != nil {
		return nil, fmt.Errorf("registering autoscaler metrics: %w", err)
	}
	if r.scrapeSeconds, err = promreg.Register(reg, r.scrapeSeconds); err != nil {
		return nil, fmt.Errorf("registering autoscaler metrics: %w", err)
	}
	if r.activations, err = promreg.Register(reg, r.activations); err != nil {
		return nil, fmt.Errorf("registering autoscaler metrics: %w", err)
	}
	if r.decision, err = promreg.Register(reg, r.decision); err != nil {
		return nil, fmt.Errorf("registering autoscaler metrics: %w", err)
	}
	return r, nil
}

func (r *Recorder) observeScrape(res autoscaler.TickResult, err error, took time.Duration) {
	r.scrapes.WithLabelValues("ok").Add(float64(res.Scraped))
	r.scrapes.WithLabelValues("error").Add(float64(res.Failed))
	if err == nil {
		r.scrapeSeconds.Observe(took.Seconds())
	}
}

var quantiles = []float64{0.5, 0.9, 0.99}

func (r *Recorder) observeRevision(k autoscaler.RevisionKey, d autoscaler.Decision, in autoscaler.Inputs, m autoscaler.Metrics) {
	l := []string{k.Namespace, k.Name}
	r.desired.WithLabelValues(l...).Set(float64(d.DesiredScale))
	r.ready.WithLabelValues(l...).Set(float64(in.ReadyPods))
	r.stable.WithLabelValues(l...).Set(m.StableConcurrency)
	r.panicC.WithLabelValues(l...).Set(m.PanicConcurrency)
	p := 0.0
	if !d.PanicSince.IsZero() {
		p = 1
	}
	r.panicking.WithLabelValues(l...).Set(p)
	r.rps.WithLabelValues(l...).Set(float64(m.Requests) / in.StableWindow.Seconds())
	ratio := 0.0
	if m.Requests > 0 {
		ratio = float64(m.Errors5xx) / float64(m.Requests)
	}
	r.errRatio.WithLabelValues(l...).Set(ratio)
	for _, q := range quantiles {
		lq := []string{k.Namespace, k.Name, strconv.FormatFloat(q, 'f', -1, 64)}
		if m.Latency.Count() == 0 {
			r.latency.DeleteLabelValues(lq...)
			continue
		}
		r.latency.WithLabelValues(lq...).Set(m.Latency.Quantile(q).Seconds())
	}
}

// observeActivation records a scale from zero: the signal received at
// received, the decision to run pods taken at decided.
func (r *Recorder) observeActivation(k autoscaler.RevisionKey, received, decided time.Time) {
	r.decision.Observe(decided.Sub(received).Seconds())
	r.activationAt.WithLabelValues(k.Namespace, k.Name, "received").Set(float64(received.UnixNano()) / 1e9)
	r.activationAt.WithLabelValues(k.Namespace, k.Name, "decided").Set(float64(decided.UnixNano()) / 1e9)
}

func (r *Recorder) forget(k autoscaler.RevisionKey) {
	l := prometheus.Labels{"namespace": k.Namespace, "revision": k.Name}
	for _, v := range []*prometheus.GaugeVec{r.desired, r.ready, r.stable, r.panicC, r.panicking, r.rps, r.errRatio, r.latency, r.activationAt} {
		v.DeletePartialMatch(l)
	}
}

func sortStatuses(s []Status) {
	sort.Slice(s, func(i, j int) bool {
		if s[i].Namespace != s[j].Namespace {
			return s[i].Namespace < s[j].Namespace
		}
		return s[i].Revision < s[j].Revision
	})
}
