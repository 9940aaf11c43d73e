package autoscaler

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rampdev/ramp/serving/queue/stats"
)

func latHist(n uint64, d time.Duration) stats.Histogram {
	h := stats.Histogram{Counts: make([]uint64, stats.NumBuckets), SumMicros: n * uint64(d.Microseconds())}
	h.Counts[stats.BucketIndex(d)] = n
	return h
}

func tagDelta(reqs, errs uint64, byTag map[string]stats.TagStats, lat stats.Histogram) *stats.Stats {
	return &stats.Stats{RequestCount: reqs, ByClass: map[string]uint64{stats.Class5xx: errs}, ByTag: byTag, Latency: lat}
}

func TestStoreWindow(t *testing.T) {
	var _ Telemetry = (*Store)(nil)
	ctx := context.Background()
	s := NewStore(0)
	for i := range int64(1000) {
		now := t0.Add(time.Duration(i) * time.Second)
		fast, slow := latHist(8, 10*time.Millisecond), latHist(2, time.Second)
		var all stats.Histogram
		all.Add(fast)
		all.Add(slow)
		byTag := map[string]stats.TagStats{
			"":       {Requests: 8, Latency: fast},
			"canary": {Requests: 2, Errors5xx: 1, Latency: slow},
		}
		s.Record(now, rev, tagDelta(10, 1, byTag, all))
		s.Record(now, rev, tagDelta(0, 0, nil, stats.Histogram{})) // a second, idle pod
	}
	type out struct {
		Requests, Errors5xx, Pods int64
		P50, P99                  time.Duration
	}
	end := t0.Add(1000 * time.Second)
	for name, tc := range map[string]struct {
		tag      string
		from, to time.Time
		want     out
	}{
		"all, last minute":     {AllTags, end.Add(-time.Minute), end, out{600, 60, 2, 10 * time.Millisecond, time.Second}},
		"untagged":             {"", end.Add(-time.Minute), end, out{480, 0, 0, 10 * time.Millisecond, 10 * time.Millisecond}},
		"canary":               {"canary", end.Add(-10 * time.Second), end, out{20, 10, 0, time.Second, time.Second}},
		"beyond retention":     {AllTags, t0, end, out{9000, 900, 2, 10 * time.Millisecond, time.Second}},
		"partial second":       {AllTags, end.Add(-1500 * time.Millisecond), end.Add(-time.Second + time.Millisecond), out{20, 2, 2, 10 * time.Millisecond, time.Second}},
		"unknown tag":          {"nope", t0, end, out{}},
		"future, empty":        {AllTags, end.Add(time.Hour), end.Add(2 * time.Hour), out{}},
		"empty, from==to":      {AllTags, end.Add(-time.Minute), end.Add(-time.Minute), out{}},
		"one second of canary": {"canary", end.Add(-time.Second), end, out{2, 1, 0, time.Second, time.Second}},
	} {
		t.Run(name, func(t *testing.T) {
			sum, err := s.Window(ctx, rev.Namespace, rev.Name, tc.tag, tc.from, tc.to)
			if err != nil {
				t.Fatal(err)
			}
			got := out{sum.Requests, sum.Errors5xx, int64(sum.Pods),
				approx(sum.Latency.Quantile(0.5)), approx(sum.Latency.Quantile(0.99))}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Window (-want +got):\n%s", diff)
			}
		})
	}
}

// approx maps a quantile to the test latency (0, 10 ms or 1 s) it is
// within 15% of, or leaves it as is.
func approx(d time.Duration) time.Duration {
	for _, v := range []time.Duration{10 * time.Millisecond, time.Second} {
		if d > v*85/100 && d < v*115/100 {
			return v
		}
	}
	return d
}

func TestStoreErrorsAndPrune(t *testing.T) {
	s := NewStore(time.Minute)
	s.Record(t0, rev, tagDelta(1, 0, nil, latHist(1, time.Millisecond)))
	if _, err := s.Window(context.Background(), "ns", "rev-1", AllTags, t0, t0.Add(-time.Second)); err == nil {
		t.Error("to before from: no error")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Window(ctx, "ns", "rev-1", AllTags, t0, t0.Add(time.Second)); err == nil {
		t.Error("canceled context: no error")
	}
	s.Prune(t0.Add(59 * time.Second))
	if sum, _ := s.Window(context.Background(), "ns", "rev-1", AllTags, t0, t0.Add(time.Second)); sum.Requests != 1 {
		t.Errorf("pruned too early: %+v", sum)
	}
	s.Prune(t0.Add(60 * time.Second))
	if len(s.series) != 0 {
		t.Errorf("series left after prune: %d", len(s.series))
	}
}

func TestStoreTagsBounded(t *testing.T) {
	s := NewStore(time.Minute)
	byTag := map[string]stats.TagStats{}
	for i := range 40 {
		byTag["t"+strconv.Itoa(i)] = stats.TagStats{Requests: 1}
	}
	s.Record(t0, rev, tagDelta(40, 0, byTag, stats.Histogram{}))
	if got, want := len(s.series), stats.MaxTags+2; got > want {
		t.Errorf("series = %d, want at most %d", got, want)
	}
	var total int64
	for _, tag := range append([]string{stats.OtherTag}, keys(byTag)...) {
		sum, err := s.Window(context.Background(), rev.Namespace, rev.Name, tag, t0, t0.Add(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		total += sum.Requests
	}
	if total != 40 {
		t.Errorf("requests over all tags = %d, want 40", total)
	}
	s.Prune(t0.Add(time.Hour))
	if len(s.series) != 0 || len(s.tags) != 0 {
		t.Errorf("left after prune: %d series, %d tag counts", len(s.series), len(s.tags))
	}
}

func keys(m map[string]stats.TagStats) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestStoreLateReports: reports for seconds already closed (a late tick)
// are added to them, for the total and for each tag; reports older than
// the retention are dropped.
func TestStoreLateReports(t *testing.T) {
	ctx := context.Background()
	s := NewStore(time.Minute)
	byTag := func(n uint64, d time.Duration) map[string]stats.TagStats {
		return map[string]stats.TagStats{"": {Requests: n, Latency: latHist(n, d)}, "canary": {Requests: n, Errors5xx: 1, Latency: latHist(n, d)}}
	}
	rec := func(at time.Duration, n uint64, d time.Duration) {
		var all stats.Histogram
		all.Add(latHist(2*n, d))
		s.Record(t0.Add(at), rev, tagDelta(2*n, 1, byTag(n, d), all))
	}
	rec(0, 5, 10*time.Millisecond)
	rec(time.Second, 7, 20*time.Millisecond)
	rec(2*time.Second, 1, time.Second)
	rec(0, 3, 500*time.Millisecond)            // late, into a closed second
	rec(time.Second, 1, 10*time.Millisecond)   // late again
	rec(-2*time.Minute, 100, time.Millisecond) // older than the retention
	type out struct {
		Requests, Errors5xx int64
		Pods                int
		Count               uint64
		Max                 time.Duration
	}
	for name, tc := range map[string]struct {
		tag      string
		from, to time.Duration
		want     out
	}{
		"second 0, all":      {AllTags, 0, time.Second, out{16, 2, 2, 16, 500 * time.Millisecond}},
		"second 0, canary":   {"canary", 0, time.Second, out{8, 2, 0, 8, 500 * time.Millisecond}},
		"second 1, untagged": {"", time.Second, 2 * time.Second, out{8, 0, 0, 8, 20 * time.Millisecond}},
		"all three, all":     {AllTags, 0, 3 * time.Second, out{34, 5, 2, 34, time.Second}},
		"open second":        {AllTags, 2 * time.Second, 3 * time.Second, out{2, 1, 1, 2, time.Second}},
	} {
		t.Run(name, func(t *testing.T) {
			sum, err := s.Window(ctx, rev.Namespace, rev.Name, tc.tag, t0.Add(tc.from), t0.Add(tc.to))
			if err != nil {
				t.Fatal(err)
			}
			got := out{sum.Requests, sum.Errors5xx, sum.Pods, sum.Latency.Count(), sum.Latency.Quantile(1).Truncate(time.Millisecond)}
			// Quantile(1) is the top of the highest bucket: compare buckets.
			got.Max = stats.BucketLowerBound(stats.BucketIndex(got.Max))
			tc.want.Max = stats.BucketLowerBound(stats.BucketIndex(tc.want.Max))
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("-want +got:\n%s", diff)
			}
		})
	}
}

// TestSecondEncoding: a closed second reads back as it was added.
func TestSecondEncoding(t *testing.T) {
	var sc second
	h := stats.Histogram{Counts: make([]uint64, stats.NumBuckets), SumMicros: 1 << 40}
	h.Counts[3], h.Counts[100], h.Counts[stats.OverflowBucket] = 1, 300, 1<<31
	sc.add(1<<33, 12, h)
	sc.pods = 7
	var got Summary
	addEncodedTo(sc.appendEncoded(nil), &got)
	want := Summary{Requests: 1 << 33, Errors5xx: 12, Pods: 7, Latency: h}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("-want +got:\n%s", diff)
	}
	var back second
	back.decode(sc.appendEncoded(nil))
	var again Summary
	addEncodedTo(back.appendEncoded(nil), &again)
	if diff := cmp.Diff(want, again); diff != "" {
		t.Errorf("decode, re-encode: -want +got:\n%s", diff)
	}
}
