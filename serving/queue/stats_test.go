package queue

import (
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/rampdev/ramp/serving/queue/stats"
)

// fakeClock is a clock the test moves by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Unix(1_700_000_000, 0)} }

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *fakeClock) Advance(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

func near(a, b float64) bool { return math.Abs(a-b) < 1e-6 }

func TestRecorderConcurrencyIntegral(t *testing.T) {
	clk := newFakeClock()
	r := NewRecorder("pod-a", "rev-1", clk.Now)
	tag := r.Tag(nil)

	// t=0: A starts. t=1s: B starts. t=3s: A ends. t=4s: scrape.
	a := r.Start()
	clk.Advance(time.Second)
	b := r.Start()
	clk.Advance(2 * time.Second)
	r.Finish(tag, a, 200)
	clk.Advance(time.Second)
	s1 := r.Snapshot()
	// 1 request for 1 s, 2 for 2 s, 1 for 1 s.
	if !near(s1.ConcurrencyIntegral, 6) || s1.InFlight != 1 {
		t.Fatalf("integral %v (want 6), in flight %d (want 1)", s1.ConcurrencyIntegral, s1.InFlight)
	}
	// t=6s: B ends; t=8s: scrape. Between scrapes: 1 request for 2 s, none for 2 s.
	clk.Advance(2 * time.Second)
	r.Finish(tag, b, 503)
	clk.Advance(2 * time.Second)
	s2 := r.Snapshot()
	if !near(s2.ConcurrencyIntegral, 8) || s2.InFlight != 0 {
		t.Fatalf("integral %v (want 8), in flight %d", s2.ConcurrencyIntegral, s2.InFlight)
	}
	if avg := stats.AverageConcurrency(s1, s2); !near(avg, 0.5) {
		t.Errorf("average concurrency between scrapes %v, want 0.5", avg)
	}
	if s2.Timestamp-s1.Timestamp != int64(4*time.Second) || s2.StartTime != clk.Now().Add(-8*time.Second).UnixNano() {
		t.Errorf("timestamps %d → %d, start %d", s1.Timestamp, s2.Timestamp, s2.StartTime)
	}
	if s2.RequestCount != 2 || s2.ByClass["2xx"] != 1 || s2.ByClass["5xx"] != 1 || s2.ByTag[""].Errors5xx != 1 {
		t.Errorf("counts %+v", s2)
	}
	// Latencies: A took 3 s, B 5 s.
	if s2.Latency.Count() != 2 || s2.Latency.SumMicros != 8_000_000 {
		t.Errorf("latency %+v", s2.Latency)
	}
	if p := s2.Latency.Quantile(1); p < 5*time.Second || p > 5600*time.Millisecond {
		t.Errorf("max latency %v, want about 5s", p)
	}
}

func TestRecorderClockGoingBackwardsAccountsNoTime(t *testing.T) {
	clk := newFakeClock()
	r := NewRecorder("", "", clk.Now)
	r.Start()
	clk.Advance(time.Second)
	r.Snapshot()
	clk.Advance(-500 * time.Millisecond) // a late reading of the clock
	r.Start()
	clk.Advance(time.Second)
	if got := r.Snapshot().ConcurrencyIntegral; !near(got, 1+2*0.5) {
		t.Errorf("integral %v, want 2", got)
	}
}

func TestRecorderTags(t *testing.T) {
	r := NewRecorder("", "", nil)
	for i := range 40 {
		tag := r.Tag([]byte(fmt.Sprintf("t%d", i)))
		r.Finish(tag, r.Start(), 200)
	}
	r.Finish(r.Tag([]byte("bad tag!")), r.Start(), 200)
	r.Finish(r.Tag([]byte(strings.Repeat("x", stats.MaxTagLength+1))), r.Start(), 200)
	s := r.Snapshot()
	if len(s.ByTag) != stats.MaxTags+1 {
		t.Fatalf("%d tags, want %d plus %q", len(s.ByTag), stats.MaxTags, stats.OtherTag)
	}
	if got := s.ByTag[stats.OtherTag].Requests; got != 40-stats.MaxTags+2 {
		t.Errorf("%q counted %d requests, want %d", stats.OtherTag, got, 40-stats.MaxTags+2)
	}
	if s.ByTag["t0"].Requests != 1 || s.RequestCount != 42 {
		t.Errorf("t0 %+v, total %d", s.ByTag["t0"], s.RequestCount)
	}
	// Known tags are found again, without allocating.
	if first, again := r.Tag([]byte("t3")), r.Tag([]byte("t3")); first != again {
		t.Error("a tag got two entries")
	}
	key := []byte("t3")
	if n := testing.AllocsPerRun(100, func() { r.Tag(key) }); n != 0 {
		t.Errorf("Tag allocates %v times", n)
	}
}

func TestRecorderConcurrentUse(t *testing.T) {
	r := NewRecorder("", "", nil)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			tag := r.Tag([]byte(fmt.Sprintf("g%d", g%3)))
			for range 500 {
				r.Finish(tag, r.Start(), 200+g)
			}
		})
	}
	wg.Go(func() {
		for range 50 {
			r.Snapshot()
		}
	})
	wg.Wait()
	s := r.Snapshot()
	if s.RequestCount != 4000 || s.InFlight != 0 || s.ConcurrencyIntegral < 0 {
		t.Errorf("after concurrent use: %d requests, %d in flight, integral %v", s.RequestCount, s.InFlight, s.ConcurrencyIntegral)
	}
}

func TestRecorderPrometheus(t *testing.T) {
	clk := newFakeClock()
	r := NewRecorder("", "", clk.Now)
	canary := r.Tag([]byte("canary"))
	start := r.Start()
	clk.Advance(3 * time.Millisecond)
	r.Finish(canary, start, 200)
	r.Finish(canary, r.Start(), 502)
	r.ProxyError()
	r.QueueRejected()
	r.TimedOut()
	r.TimedOut()
	r.Start() // one left in flight

	families, err := r.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*dto.MetricFamily{}
	for _, f := range families {
		byName[f.GetName()] = f
	}
	label := func(m *dto.Metric, name string) string {
		for _, l := range m.GetLabel() {
			if l.GetName() == name {
				return l.GetValue()
			}
		}
		return ""
	}
	counts := map[string]float64{}
	for _, m := range byName[MetricRequests].GetMetric() {
		counts[label(m, "class")+"/"+label(m, "tag")] = m.GetCounter().GetValue()
	}
	if counts["2xx/canary"] != 1 || counts["5xx/canary"] != 1 || counts["4xx/canary"] != 0 {
		t.Errorf("%s: %v", MetricRequests, counts)
	}
	h := byName[MetricRequestDuration].GetMetric()[0].GetHistogram()
	if h.GetSampleCount() != 2 || !near(h.GetSampleSum(), 0.003) {
		t.Errorf("%s: count %d sum %v", MetricRequestDuration, h.GetSampleCount(), h.GetSampleSum())
	}
	for _, b := range h.GetBucket() {
		want := uint64(1) // the 0 ms request
		if b.GetUpperBound() > 0.003 {
			want = 2 // and the 3 ms one: Prometheus bounds are bucket bounds, 3.072 ms the first past 3 ms
		}
		if b.GetCumulativeCount() != want {
			t.Errorf("bucket le=%v counts %d, want %d", b.GetUpperBound(), b.GetCumulativeCount(), want)
		}
	}
	if n := len(h.GetBucket()); n != 39 {
		t.Errorf("%d buckets, want 39", n)
	}
	if g := byName[MetricInFlight].GetMetric()[0].GetGauge().GetValue(); g != 1 {
		t.Errorf("%s = %v", MetricInFlight, g)
	}
	rejected := map[string]float64{}
	for _, m := range byName[MetricRejected].GetMetric() {
		rejected[label(m, "reason")] = m.GetCounter().GetValue()
	}
	if rejected["queue_full"] != 1 || rejected["timeout"] != 2 {
		t.Errorf("%s: %v", MetricRejected, rejected)
	}
	if v := byName[MetricProxyErrors].GetMetric()[0].GetCounter().GetValue(); v != 1 {
		t.Errorf("%s = %v", MetricProxyErrors, v)
	}
	if byName[MetricConcurrency] == nil || byName["go_goroutines"] == nil {
		t.Error("concurrency integral or Go runtime metrics missing")
	}
}
