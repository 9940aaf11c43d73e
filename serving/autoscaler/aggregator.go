package autoscaler

import (
	"math"
	"sync"
	"time"

	"github.com/rampdev/ramp/serving/queue/stats"
)

// RevisionKey names a revision.
type RevisionKey struct {
	Namespace, Name string
}

// AggregatorConfig sizes an Aggregator. Zero fields take defaults.
type AggregatorConfig struct {
	// StableWindow and PanicWindow are the averaging windows (default 60 s
	// and 6 s).
	StableWindow, PanicWindow time.Duration
	// PodTimeout is how long a pod that is no longer reported is kept
	// (its previous snapshot) before it is dropped (default 30 s).
	PodTimeout time.Duration
	// NewPodGrace: the first report of a pod that started at most this
	// long before the report counts in full; older pods seen for the first
	// time (an autoscaler restart) only set the baseline (default 5 s).
	NewPodGrace time.Duration
}

func (c AggregatorConfig) withDefaults() AggregatorConfig {
	if c.StableWindow <= 0 {
		c.StableWindow = DefaultStableWindow
	}
	if c.PanicWindow <= 0 {
		c.PanicWindow = c.StableWindow / 10
	}
	if c.PodTimeout <= 0 {
		c.PodTimeout = 30 * time.Second
	}
	if c.NewPodGrace <= 0 {
		c.NewPodGrace = 5 * time.Second
	}
	return c
}

// Aggregator turns per-pod cumulative reports into per-second buckets per
// revision: total concurrency (the sum over pods of each pod's
// time-weighted average concurrency in that second), requests, 5xx and
// latency. It is safe for concurrent use; time is passed in.
//
// A missed scrape loses nothing: the next report's difference covers it.
// Its average concurrency is spread over the seconds elapsed since the
// pod's previous report (so a gap does not read as idle), while its
// request, 5xx and latency counts are attributed to the current second.
//
// Memory: StableWindow+2 buckets per revision (62 by default; the
// controller keeps 302, for windows up to 5 minutes) of 72 bytes plus the
// non-zero range of that second's latency histogram at 4 bytes a bucket
// (typically 80 to 160 bytes, at most 772), so about 50 KB per revision
// with 302 buckets, plus each pod's previous report (about 5 KB).
type Aggregator struct {
	cfg  AggregatorConfig
	size int64 // buckets kept per revision

	mu   sync.Mutex
	revs map[RevisionKey]*revAgg
}

type bucket struct {
	sec         int64 // Unix second; 0 = empty
	concurrency float64
	requests    uint64
	errors5xx   uint64
	latency     sparseHistogram
}

type podState struct {
	prev     *stats.Stats
	lastSeen time.Time
	sec      int64   // last second this pod contributed concurrency to
	value    float64 // its contribution to that second
	dur      float64 // seconds of reports behind value
}

type revAgg struct {
	buckets     []bucket
	firstSec    int64
	lastNonZero time.Time
	pods        map[string]*podState
}

// NewAggregator returns an empty Aggregator.
func NewAggregator(cfg AggregatorConfig) *Aggregator {
	cfg = cfg.withDefaults()
	return &Aggregator{
		cfg:  cfg,
		size: int64(math.Ceil(cfg.StableWindow.Seconds())) + 2,
		revs: map[RevisionKey]*revAgg{},
	}
}

// Record ingests report s of pod at now and returns the difference to the
// pod's previous report (nil when s only sets the baseline), ready to be
// passed on, e.g. to a Store.
func (a *Aggregator) Record(now time.Time, rev RevisionKey, pod string, s *stats.Stats) *stats.Stats {
	a.mu.Lock()
	defer a.mu.Unlock()
	r := a.revs[rev]
	if r == nil {
		r = &revAgg{buckets: make([]bucket, a.size), pods: map[string]*podState{}}
		a.revs[rev] = r
	}
	sec := now.Unix()
	if r.firstSec == 0 || sec < r.firstSec {
		r.firstSec = sec
	}
	p := r.pods[pod]
	if p == nil {
		p = &podState{}
		r.pods[pod] = p
	}
	p.lastSeen = now

	var d *stats.Stats
	avg, dt := float64(s.InFlight), 1.0
	switch {
	case p.prev != nil:
		d = stats.Delta(p.prev, s)
		avg = stats.AverageConcurrency(p.prev, s)
		if !stats.Restarted(p.prev, s) {
			dt = max(time.Duration(s.Timestamp-p.prev.Timestamp).Seconds(), 0)
		}
	case time.Duration(s.Timestamp-s.StartTime) <= a.cfg.NewPodGrace:
		d = stats.Delta(&stats.Stats{StartTime: s.StartTime}, s)
	}
	p.prev = s

	if p.sec == sec {
		// A second report within the same second: merge time-weighted.
		nv := avg
		if p.dur+dt > 0 {
			nv = (p.value*p.dur + avg*dt) / (p.dur + dt)
		}
		if b := r.at(sec); b != nil {
			b.concurrency += nv - p.value
		}
		p.value, p.dur = nv, p.dur+dt
	} else {
		from := max(sec-int64(max(math.Round(dt), 1))+1, p.sec+1, sec-a.size+1)
		for t := from; t <= sec; t++ {
			if b := r.at(t); b != nil {
				b.concurrency += avg
			}
		}
		p.sec, p.value, p.dur = sec, avg, dt
	}
	if b := r.at(sec); b != nil && d != nil {
		b.requests += d.RequestCount
		b.errors5xx += d.ByClass[stats.Class5xx]
		b.latency.add(d.Latency)
	}
	if avg > 0 || d != nil && d.RequestCount > 0 || s.InFlight > 0 {
		r.lastNonZero = now
	}
	return d
}

// at returns the bucket of second sec, reset if it held an older second,
// or nil if its slot already holds a newer one.
func (r *revAgg) at(sec int64) *bucket {
	b := &r.buckets[sec%int64(len(r.buckets))]
	if b.sec > sec {
		return nil
	}
	if b.sec != sec {
		lat := b.latency
		lat.reset()
		*b = bucket{sec: sec, latency: lat}
	}
	return b
}

// Metrics are a revision's windowed values.
type Metrics struct {
	// StableConcurrency and PanicConcurrency are the average total
	// concurrency over the stable and panic windows.
	StableConcurrency, PanicConcurrency float64
	// Requests, Errors5xx and Latency cover the stable window.
	Requests, Errors5xx uint64
	Latency             stats.Histogram
	// LastNonZeroTraffic is the last report with requests in flight or
	// answered.
	LastNonZeroTraffic time.Time
	// Pods is the number of pods reporting.
	Pods int
}

// Metrics returns the windows of rev ending at now. The current second
// counts only once it has data (so evaluating before this second's scrape
// does not read a spurious zero); seconds before the revision's first
// report are not counted, so a new revision is not diluted.
func (a *Aggregator) Metrics(now time.Time, rev RevisionKey) Metrics {
	return a.MetricsWindows(now, rev, a.cfg.StableWindow, a.cfg.PanicWindow)
}

// MetricsWindows is Metrics over the given windows instead of the
// configured ones (a revision's own window annotation); windows longer
// than the configured StableWindow, which sizes the history kept, are
// cut to it.
func (a *Aggregator) MetricsWindows(now time.Time, rev RevisionKey, stable, panic time.Duration) Metrics {
	stable, panic = min(stable, a.cfg.StableWindow), min(panic, a.cfg.StableWindow)
	a.mu.Lock()
	defer a.mu.Unlock()
	r := a.revs[rev]
	if r == nil {
		return Metrics{}
	}
	m := Metrics{LastNonZeroTraffic: r.lastNonZero, Pods: len(r.pods)}
	end := now.Unix()
	if b := r.buckets[end%int64(len(r.buckets))]; b.sec != end {
		end--
	}
	m.StableConcurrency = r.average(end, stable, &m)
	m.PanicConcurrency = r.average(end, panic, nil)
	return m
}

func (r *revAgg) average(end int64, w time.Duration, m *Metrics) float64 {
	n := int64(math.Ceil(w.Seconds()))
	start := max(end-n+1, r.firstSec)
	if end < start {
		return 0
	}
	var sum float64
	for t := start; t <= end; t++ {
		b := &r.buckets[t%int64(len(r.buckets))]
		if b.sec != t {
			continue
		}
		sum += b.concurrency
		if m != nil {
			m.Requests += b.requests
			m.Errors5xx += b.errors5xx
			b.latency.addTo(&m.Latency)
		}
	}
	return sum / float64(end-start+1)
}

// Prune drops pods not reported for PodTimeout, and revisions without
// pods whose windows are empty.
func (a *Aggregator) Prune(now time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for key, r := range a.revs {
		for name, p := range r.pods {
			if now.Sub(p.lastSeen) > a.cfg.PodTimeout {
				delete(r.pods, name)
			}
		}
		if len(r.pods) == 0 && now.Sub(r.lastNonZero) > a.cfg.StableWindow+a.cfg.PodTimeout {
			delete(a.revs, key)
		}
	}
}
