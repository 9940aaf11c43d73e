package queue

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rampdev/ramp/serving/queue/stats"
)

// Recorder keeps the queue-proxy's telemetry: request counts by status
// class and route tag, latency histograms, requests in flight and their
// integral over time. It feeds both GET /stats (Snapshot, package stats)
// and Prometheus (Registry); every number is cumulative.
//
// Recording is lock-free: a request costs two compare-and-swaps on the
// concurrency word, three atomic adds on its tag's counters and a map
// lookup in a copy-on-write tag table (the mutex is only taken the first
// time a tag is seen). Prometheus metrics are computed from the same
// counters when scraped, so they add nothing to the request path.
type Recorder struct {
	clock    func() time.Time
	started  time.Time
	podName  string
	revision string

	tags   atomic.Pointer[map[string]*TagCounters] // copy-on-write
	tagsMu sync.Mutex                              // serializes tag insertion
	other  *TagCounters

	// conc packs the time of the last change of the in-flight count, in
	// microseconds since started modulo 2^40 (the upper 40 bits), with
	// the in-flight count (the lower 24 bits), so that both move in one
	// compare-and-swap. integral accumulates in-flight × elapsed time in
	// request-microseconds. Time deltas are taken modulo 2^40 µs (12.7
	// days); a gap over half that between two events (no request and no
	// scrape for 6.4 days) would be counted as no time.
	conc     atomic.Uint64
	integral atomic.Uint64

	queueRejects atomic.Uint64
	timeouts     atomic.Uint64
	proxyErrors  atomic.Uint64

	registry *prometheus.Registry
}

// TagCounters are the counters of one route tag; get them with
// Recorder.Tag.
type TagCounters struct {
	name      string
	class     [5]atomic.Uint64
	sumMicros atomic.Uint64
	buckets   [stats.NumBuckets]atomic.Uint64
}

const (
	concBits  = 24
	concMask  = 1<<concBits - 1
	timeBits  = 64 - concBits
	timeMask  = 1<<timeBits - 1
	timeHalf  = 1 << (timeBits - 1)
	validTags = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_."
)

var validTagByte = func() (t [256]bool) {
	for i := range len(validTags) {
		t[validTags[i]] = true
	}
	return t
}()

// NewRecorder makes a recorder for the given pod and revision. clock tells
// the time (time.Now if nil); tests inject their own.
func NewRecorder(podName, revision string, clock func() time.Time) *Recorder {
	if clock == nil {
		clock = time.Now
	}
	r := &Recorder{
		clock:    clock,
		started:  clock(),
		podName:  podName,
		revision: revision,
		other:    &TagCounters{name: stats.OtherTag},
	}
	empty := map[string]*TagCounters{}
	r.tags.Store(&empty)
	r.registry = newRegistry(r)
	return r
}

// since is the time since the recorder started (monotonic with time.Now).
func (r *Recorder) since() time.Duration {
	return r.clock().Sub(r.started)
}

// Start records a request entering the queue-proxy and returns the time
// to pass to Finish.
func (r *Recorder) Start() time.Duration {
	now := r.since()
	r.moveConcurrency(now, 1)
	return now
}

// Finish records the answer to a request begun with Start: its status,
// its latency up to now, and that it is no longer in flight.
func (r *Recorder) Finish(t *TagCounters, started time.Duration, status int) {
	now := r.since()
	r.moveConcurrency(now, -1)
	t.record(status, now-started)
}

// QueueRejected counts a request answered 503 for a full queue.
func (r *Recorder) QueueRejected() { r.queueRejects.Add(1) }

// TimedOut counts a request cut off at the revision timeout.
func (r *Recorder) TimedOut() { r.timeouts.Add(1) }

// ProxyError counts a request answered 502 for an unreachable container.
func (r *Recorder) ProxyError() { r.proxyErrors.Add(1) }

// Tag returns the counters of route tag tag (the value of RouteTagHeader,
// empty for untagged traffic). Past stats.MaxTags distinct tags, and for
// invalid tags, it returns the counters of stats.OtherTag. The lookup does
// not allocate for known tags.
func (r *Recorder) Tag(tag []byte) *TagCounters {
	if t, ok := (*r.tags.Load())[string(tag)]; ok {
		return t
	}
	return r.addTag(tag)
}

func (r *Recorder) addTag(tag []byte) *TagCounters {
	if len(tag) > stats.MaxTagLength || string(tag) == stats.OtherTag {
		return r.other
	}
	for _, c := range tag {
		if !validTagByte[c] {
			return r.other
		}
	}
	r.tagsMu.Lock()
	defer r.tagsMu.Unlock()
	old := *r.tags.Load()
	if t, ok := old[string(tag)]; ok {
		return t
	}
	if len(old) >= stats.MaxTags {
		return r.other
	}
	m := make(map[string]*TagCounters, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	t := &TagCounters{name: string(tag)}
	m[t.name] = t
	r.tags.Store(&m)
	return t
}

func (t *TagCounters) record(status int, latency time.Duration) {
	t.class[stats.ClassIndex(status)].Add(1)
	us := uint64(max(latency, 0) / time.Microsecond)
	t.buckets[stats.BucketIndexMicros(us)].Add(1)
	t.sumMicros.Add(us)
}

// moveConcurrency changes the in-flight count by delta at time now, first
// adding the time since the last change, times the count, to the integral.
// A clock reading older than the last change (a concurrent event read the
// clock later but won the race) accounts no time.
func (r *Recorder) moveConcurrency(now time.Duration, delta int) {
	us := uint64(max(now, 0)/time.Microsecond) & timeMask
	for {
		old := r.conc.Load()
		last, n := old>>concBits, old&concMask
		elapsed := (us - last) & timeMask
		at := us
		if elapsed >= timeHalf {
			elapsed, at = 0, last
		}
		next := at<<concBits | (uint64(int64(n)+int64(delta)) & concMask)
		if r.conc.CompareAndSwap(old, next) {
			if n > 0 && elapsed > 0 {
				r.integral.Add(n * elapsed)
			}
			return
		}
	}
}

// InFlight is the number of requests inside the queue-proxy.
func (r *Recorder) InFlight() int64 {
	return int64(r.conc.Load() & concMask)
}

// concurrencyIntegral brings the integral up to now and returns it in
// request-seconds.
func (r *Recorder) concurrencyIntegral(now time.Duration) float64 {
	r.moveConcurrency(now, 0)
	return float64(r.integral.Load()) / 1e6
}

// tagSnapshot is one tag's counters at a point in time.
type tagSnapshot struct {
	name    string
	class   [5]uint64
	latency stats.Histogram
}

func (t *TagCounters) snapshot() tagSnapshot {
	s := tagSnapshot{name: t.name, latency: stats.Histogram{Counts: make([]uint64, stats.NumBuckets)}}
	for i := range t.class {
		s.class[i] = t.class[i].Load()
	}
	for i := range t.buckets {
		s.latency.Counts[i] = t.buckets[i].Load()
	}
	s.latency.SumMicros = t.sumMicros.Load()
	return s
}

func (s *tagSnapshot) requests() uint64 {
	var n uint64
	for _, c := range s.class {
		n += c
	}
	return n
}

// snapshotTags reads every tag's counters; OtherTag is included once it
// has counted anything.
func (r *Recorder) snapshotTags() []tagSnapshot {
	m := *r.tags.Load()
	out := make([]tagSnapshot, 0, len(m)+1)
	for _, t := range m {
		out = append(out, t.snapshot())
	}
	if o := r.other.snapshot(); o.requests() > 0 {
		out = append(out, o)
	}
	return out
}

// Snapshot is the report served on StatsPath.
func (r *Recorder) Snapshot() *stats.Stats {
	now := r.since()
	s := &stats.Stats{
		V:                   stats.Version,
		PodName:             r.podName,
		Revision:            r.revision,
		StartTime:           r.started.UnixNano(),
		Timestamp:           r.started.Add(now).UnixNano(),
		ByClass:             map[string]uint64{},
		ByTag:               map[string]stats.TagStats{},
		InFlight:            r.InFlight(),
		ConcurrencyIntegral: r.concurrencyIntegral(now),
		QueueRejects:        r.queueRejects.Load(),
		Timeouts:            r.timeouts.Load(),
		ProxyErrors:         r.proxyErrors.Load(),
	}
	var byClass [5]uint64
	for _, t := range r.snapshotTags() {
		for i, c := range t.class {
			byClass[i] += c
		}
		n := t.requests()
		s.RequestCount += n
		s.Latency.Add(t.latency)
		s.ByTag[t.name] = stats.TagStats{Requests: n, Errors5xx: t.class[4], Latency: t.latency}
	}
	for i, c := range byClass {
		if c > 0 {
			s.ByClass[stats.Classes[i]] = c
		}
	}
	return s
}

// Registry is the Prometheus registry of this recorder's metrics (plus the
// Go runtime's and the process's), served on MetricsPath.
func (r *Recorder) Registry() *prometheus.Registry { return r.registry }
