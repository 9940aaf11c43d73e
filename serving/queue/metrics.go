package queue

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/rampdev/ramp/serving/queue/stats"
)

// Prometheus metric names.
const (
	MetricRequests        = "ramp_queue_requests_total"
	MetricRequestDuration = "ramp_queue_request_duration_seconds"
	MetricInFlight        = "ramp_queue_in_flight_requests"
	MetricRejected        = "ramp_queue_rejected_requests_total"
	MetricProxyErrors     = "ramp_queue_proxy_errors_total"
	MetricConcurrency     = "ramp_queue_concurrency_seconds_total"
)

// promBucketStep picks every promBucketStep-th latency bucket boundary,
// from promFirstBucket (128 µs) to the overflow bucket (67.1 s), as the
// Prometheus histogram's upper bounds: 39 bounds, two per octave (×1 and
// ×1.5 of each power of two), each an exact bucket boundary, so the
// Prometheus counts are exact sums of the /stats counts.
const (
	promBucketStep  = 4
	promFirstBucket = 40
)

// collector computes the recorder's Prometheus metrics from its counters
// at scrape time.
type collector struct {
	r           *Recorder
	requests    *prometheus.Desc
	duration    *prometheus.Desc
	inFlight    *prometheus.Desc
	rejected    *prometheus.Desc
	proxyErrors *prometheus.Desc
	concurrency *prometheus.Desc
}

func newRegistry(r *Recorder) *prometheus.Registry {
	c := &collector{
		r: r,
		requests: prometheus.NewDesc(MetricRequests,
			"Requests answered, by status class and route tag (Ramp-Route-Tag).",
			[]string{"class", "tag"}, nil),
		duration: prometheus.NewDesc(MetricRequestDuration,
			"Request latency seen by the queue-proxy, queueing included.", nil, nil),
		inFlight: prometheus.NewDesc(MetricInFlight,
			"Requests inside the queue-proxy, waiting for a slot or being served.", nil, nil),
		rejected: prometheus.NewDesc(MetricRejected,
			"Requests the queue-proxy answered itself: 503 for a full queue, 504 at the revision timeout.",
			[]string{"reason"}, nil),
		proxyErrors: prometheus.NewDesc(MetricProxyErrors,
			"Requests answered 502 because the user container could not be reached.", nil, nil),
		concurrency: prometheus.NewDesc(MetricConcurrency,
			"Integral of in-flight requests over time, in request-seconds; its rate is the average concurrency.",
			nil, nil),
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(c, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.requests, c.duration, c.inFlight, c.rejected, c.proxyErrors, c.concurrency} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	r := c.r
	var all stats.Histogram
	for _, t := range r.snapshotTags() {
		for i, n := range t.class {
			ch <- prometheus.MustNewConstMetric(c.requests, prometheus.CounterValue, float64(n), stats.Classes[i], t.name)
		}
		all.Add(t.latency)
	}
	buckets := make(map[float64]uint64, (stats.OverflowBucket-promFirstBucket)/promBucketStep+1)
	var cum uint64
	for i := range stats.NumBuckets {
		if i >= promFirstBucket && (i-promFirstBucket)%promBucketStep == 0 {
			buckets[stats.BucketLowerBound(i).Seconds()] = cum
		}
		if i < len(all.Counts) {
			cum += all.Counts[i]
		}
	}
	ch <- prometheus.MustNewConstHistogram(c.duration, cum, float64(all.SumMicros)/1e6, buckets)
	ch <- prometheus.MustNewConstMetric(c.inFlight, prometheus.GaugeValue, float64(r.InFlight()))
	ch <- prometheus.MustNewConstMetric(c.rejected, prometheus.CounterValue, float64(r.queueRejects.Load()), "queue_full")
	ch <- prometheus.MustNewConstMetric(c.rejected, prometheus.CounterValue, float64(r.timeouts.Load()), "timeout")
	ch <- prometheus.MustNewConstMetric(c.proxyErrors, prometheus.CounterValue, float64(r.proxyErrors.Load()))
	ch <- prometheus.MustNewConstMetric(c.concurrency, prometheus.CounterValue, r.concurrencyIntegral(r.since()))
}
