package autoscaler

import (
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rampdev/ramp/serving/queue/stats"
)

var rev = RevisionKey{Namespace: "ns", Name: "rev-1"}

// fakePod is a queue-proxy whose cumulative counters a test advances.
type fakePod struct {
	s stats.Stats
}

func newFakePod(name string, start time.Time) *fakePod {
	return &fakePod{s: stats.Stats{V: stats.Version, PodName: name, Revision: rev.Name,
		StartTime: start.UnixNano(), Timestamp: start.UnixNano()}}
}

// run advances the pod by d with conc requests in flight, answering reqs
// requests of which errs 5xx, each taking lat.
func (p *fakePod) run(d time.Duration, conc float64, reqs, errs uint64, lat time.Duration) *stats.Stats {
	p.s.Timestamp += int64(d)
	p.s.InFlight = int64(math.Round(conc))
	p.s.ConcurrencyIntegral += conc * d.Seconds()
	p.s.RequestCount += reqs
	if p.s.ByClass == nil {
		p.s.ByClass = map[string]uint64{}
	}
	p.s.ByClass[stats.Class2xx] += reqs - errs
	p.s.ByClass[stats.Class5xx] += errs
	if reqs > 0 {
		h := stats.Histogram{Counts: make([]uint64, stats.NumBuckets), SumMicros: reqs * uint64(lat.Microseconds())}
		h.Counts[stats.BucketIndex(lat)] = reqs
		p.s.Latency.Add(h)
	}
	cp := p.s
	cp.ByClass = map[string]uint64{}
	for k, v := range p.s.ByClass {
		cp.ByClass[k] = v
	}
	cp.Latency = stats.Histogram{}
	cp.Latency.Add(p.s.Latency)
	return &cp
}

func TestAggregatorDeltasAndWindows(t *testing.T) {
	a := NewAggregator(AggregatorConfig{})
	now := t0
	p1, p2 := newFakePod("p1", now), newFakePod("p2", now)
	for i := 0; i < 60; i++ {
		now = now.Add(time.Second)
		a.Record(now, rev, "p1", p1.run(time.Second, 4, 10, 1, 20*time.Millisecond))
		a.Record(now, rev, "p2", p2.run(time.Second, 6, 10, 0, 20*time.Millisecond))
	}
	m := a.Metrics(now, rev)
	want := Metrics{StableConcurrency: 10, PanicConcurrency: 10, Requests: 1200, Errors5xx: 60, LastNonZeroTraffic: now, Pods: 2}
	got := m
	got.Latency = stats.Histogram{}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Metrics (-want +got):\n%s", diff)
	}
	if q := m.Latency.Quantile(0.99); q < 18*time.Millisecond || q > 22*time.Millisecond {
		t.Errorf("p99 = %s, want ≈20ms", q)
	}
}

func TestAggregatorMissedScrapeSpreads(t *testing.T) {
	a := NewAggregator(AggregatorConfig{PanicWindow: 3 * time.Second})
	now := t0
	p := newFakePod("p", now)
	for i := 0; i < 10; i++ {
		now = now.Add(time.Second)
		a.Record(now, rev, "p", p.run(time.Second, 5, 2, 0, time.Millisecond))
	}
	// Two scrapes missed: the third covers 3 s at concurrency 8.
	p.run(time.Second, 8, 2, 0, time.Millisecond)
	p.run(time.Second, 8, 2, 0, time.Millisecond)
	now = now.Add(3 * time.Second)
	d := a.Record(now, rev, "p", p.run(time.Second, 8, 2, 0, time.Millisecond))
	if d.RequestCount != 6 {
		t.Errorf("delta requests = %d, want 6", d.RequestCount)
	}
	m := a.Metrics(now, rev)
	if m.PanicConcurrency != 8 {
		t.Errorf("panic concurrency = %g, want 8 (gap filled)", m.PanicConcurrency)
	}
	if m.Requests != 26 {
		t.Errorf("requests = %d, want 26 (none lost)", m.Requests)
	}
}

func TestAggregatorRestart(t *testing.T) {
	a := NewAggregator(AggregatorConfig{})
	now := t0.Add(time.Hour)
	p := newFakePod("p", t0) // started long ago: first report is a baseline
	p.run(time.Hour-time.Second, 1, 1000, 0, time.Millisecond)
	if d := a.Record(now, rev, "p", p.run(time.Second, 1, 5, 0, time.Millisecond)); d != nil {
		t.Fatalf("first report of an old pod: delta %+v, want nil", d)
	}
	now = now.Add(time.Second)
	a.Record(now, rev, "p", p.run(time.Second, 1, 5, 0, time.Millisecond))
	// Restart: new StartTime, counters from zero.
	q := newFakePod("p", now)
	now = now.Add(time.Second)
	d := a.Record(now, rev, "p", q.run(time.Second, 3, 7, 2, time.Millisecond))
	if d.RequestCount != 7 || d.ByClass[stats.Class5xx] != 2 {
		t.Errorf("after restart delta = %d requests %d 5xx, want 7, 2", d.RequestCount, d.ByClass[stats.Class5xx])
	}
	if m := a.Metrics(now, rev); m.Requests != 12 {
		t.Errorf("requests = %d, want 12", m.Requests)
	}
}

func TestAggregatorNewPodCountsInFull(t *testing.T) {
	a := NewAggregator(AggregatorConfig{})
	now := t0.Add(time.Second)
	p := newFakePod("p", t0)
	if d := a.Record(now, rev, "p", p.run(time.Second, 2, 4, 0, time.Millisecond)); d == nil || d.RequestCount != 4 {
		t.Fatalf("first report of a new pod: delta %+v, want 4 requests", d)
	}
}

func TestAggregatorSameSecondMerges(t *testing.T) {
	a := NewAggregator(AggregatorConfig{})
	now := t0
	p := newFakePod("p", now)
	now = now.Add(time.Second)
	a.Record(now, rev, "p", p.run(time.Second, 4, 0, 0, 0))
	now = now.Add(time.Second)
	a.Record(now, rev, "p", p.run(time.Second, 4, 0, 0, 0))
	a.Record(now.Add(500*time.Millisecond), rev, "p", p.run(time.Second, 10, 0, 0, 0))
	// Second 2: 1 s at 4 and 1 s at 10 → 7, not 14.
	if m := a.Metrics(now, rev); m.PanicConcurrency != 5.5 {
		t.Errorf("panic concurrency = %g, want (4+7)/2 = 5.5", m.PanicConcurrency)
	}
}

func TestAggregatorPrune(t *testing.T) {
	a := NewAggregator(AggregatorConfig{PodTimeout: 10 * time.Second})
	p := newFakePod("p", t0)
	a.Record(t0.Add(time.Second), rev, "p", p.run(time.Second, 1, 1, 0, time.Millisecond))
	a.Prune(t0.Add(10 * time.Second))
	if got := a.Metrics(t0.Add(10*time.Second), rev).Pods; got != 1 {
		t.Errorf("pods before timeout = %d, want 1", got)
	}
	a.Prune(t0.Add(12 * time.Second))
	if got := a.Metrics(t0.Add(12*time.Second), rev).Pods; got != 0 {
		t.Errorf("pods after timeout = %d, want 0", got)
	}
	a.Prune(t0.Add(time.Hour))
	if got := a.Metrics(t0.Add(time.Hour), rev); !cmp.Equal(got, Metrics{}) {
		t.Errorf("revision not dropped: %+v", got)
	}
}
