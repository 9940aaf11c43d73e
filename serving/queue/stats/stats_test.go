package stats

import (
	"encoding/json"
	"math"
	"testing"
	"time"
)

func TestBucketLayout(t *testing.T) {
	if NumBuckets != 193 || OverflowBucket != 192 {
		t.Fatalf("NumBuckets %d, OverflowBucket %d; the layout is a wire format and must not change", NumBuckets, OverflowBucket)
	}
	for i := range OverflowBucket {
		lo, hi := BucketLowerBound(i), BucketUpperBound(i)
		if hi <= lo {
			t.Fatalf("bucket %d: [%v, %v) is empty", i, lo, hi)
		}
		if BucketLowerBound(i+1) != hi {
			t.Fatalf("bucket %d ends at %v but bucket %d starts at %v", i, hi, i+1, BucketLowerBound(i+1))
		}
		// Every microsecond value maps back into its bucket.
		for _, d := range []time.Duration{lo, hi - time.Microsecond, (lo + hi) / 2} {
			if got := BucketIndex(d); got != i {
				t.Fatalf("BucketIndex(%v) = %d, want %d", d, got, i)
			}
		}
		// About 10% wide: at most 1/8 of the lower bound from 16 µs on.
		if lo >= 16*time.Microsecond {
			if w := float64(hi-lo) / float64(lo); w > 0.125+1e-9 || w < 1.0/15-1e-9 {
				t.Fatalf("bucket %d [%v, %v) has relative width %.3f", i, lo, hi, w)
			}
		}
	}
	if got := BucketIndex(time.Hour); got != OverflowBucket {
		t.Errorf("BucketIndex(1h) = %d, want the overflow bucket", got)
	}
	if lo := BucketLowerBound(OverflowBucket); lo < 60*time.Second {
		t.Errorf("overflow starts at %v, before 60 s", lo)
	}
	if BucketUpperBound(OverflowBucket) != time.Duration(math.MaxInt64) {
		t.Error("the overflow bucket is bounded")
	}
	if BucketIndex(-time.Second) != 0 || BucketIndex(0) != 0 {
		t.Error("non-positive latencies do not go to bucket 0")
	}
}

func record(h *Histogram, d time.Duration) {
	if h.Counts == nil {
		h.Counts = make([]uint64, NumBuckets)
	}
	h.Counts[BucketIndex(d)]++
	h.SumMicros += uint64(d / time.Microsecond)
}

func TestQuantileUniform(t *testing.T) {
	var h Histogram
	// 1000 samples spread evenly over 1..100 ms.
	for i := range 1000 {
		record(&h, time.Millisecond+time.Duration(float64(99*time.Millisecond)*float64(i)/999))
	}
	if h.Count() != 1000 {
		t.Fatalf("count %d", h.Count())
	}
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 50500 * time.Microsecond}, {0.9, 90100 * time.Microsecond}, {0.99, 99010 * time.Microsecond}} {
		got := h.Quantile(tc.q)
		width := BucketUpperBound(BucketIndex(tc.want)) - BucketLowerBound(BucketIndex(tc.want))
		if diff := got - tc.want; diff < -width || diff > width {
			t.Errorf("p%v = %v, want %v within one bucket (%v)", tc.q*100, got, tc.want, width)
		}
	}
	if m := h.Mean(); m < 50*time.Millisecond || m > 51*time.Millisecond {
		t.Errorf("mean %v, want 50.5ms", m)
	}
	if (Histogram{}).Quantile(0.5) != 0 {
		t.Error("empty histogram has a median")
	}
}

func TestQuantileOverflow(t *testing.T) {
	var h Histogram
	record(&h, 2*time.Minute)
	if got := h.Quantile(0.99); got != BucketLowerBound(OverflowBucket) {
		t.Errorf("p99 of an overflowing latency = %v", got)
	}
}

func TestHistogramJSON(t *testing.T) {
	var h Histogram
	record(&h, 3*time.Millisecond)
	record(&h, 3*time.Millisecond)
	record(&h, 40*time.Millisecond)
	b, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	first := BucketIndex(3 * time.Millisecond)
	var wire struct {
		Offset int      `json:"offset"`
		Counts []uint64 `json:"counts"`
	}
	if err := json.Unmarshal(b, &wire); err != nil {
		t.Fatal(err)
	}
	if wire.Offset != first || len(wire.Counts) != BucketIndex(40*time.Millisecond)-first+1 || wire.Counts[0] != 2 {
		t.Errorf("encoded %s: not trimmed to the non-zero range", b)
	}
	var back Histogram
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Count() != 3 || back.SumMicros != h.SumMicros || back.Quantile(0.5) != h.Quantile(0.5) {
		t.Errorf("round trip: %+v", back)
	}
	if err := json.Unmarshal([]byte(`{"offset":190,"counts":[1,2,3,4]}`), &back); err == nil {
		t.Error("buckets past the end were accepted")
	}
	empty, _ := json.Marshal(Histogram{})
	if string(empty) != `{"offset":0,"counts":[],"sumMicros":0}` {
		t.Errorf("empty histogram encodes as %s", empty)
	}
}

func TestSubAndDelta(t *testing.T) {
	var a, b Histogram
	record(&a, time.Millisecond)
	record(&b, time.Millisecond)
	record(&b, 5*time.Millisecond)
	d := b.Sub(a)
	if d.Count() != 1 || d.Quantile(1) < 5*time.Millisecond {
		t.Errorf("b - a = %+v", d)
	}

	sec := int64(time.Second)
	prev := &Stats{V: 1, StartTime: 1, Timestamp: 10 * sec, RequestCount: 5, ByClass: map[string]uint64{"2xx": 5},
		ByTag: map[string]TagStats{"": {Requests: 5, Latency: a}}, ConcurrencyIntegral: 10}
	cur := &Stats{V: 1, StartTime: 1, Timestamp: 14 * sec, RequestCount: 9, ByClass: map[string]uint64{"2xx": 7, "5xx": 2},
		ByTag: map[string]TagStats{"": {Requests: 9, Errors5xx: 2, Latency: b}}, ConcurrencyIntegral: 18, InFlight: 3}
	if got := AverageConcurrency(prev, cur); got != 2 {
		t.Errorf("average concurrency %v, want (18-10)/4 = 2", got)
	}
	delta := Delta(prev, cur)
	if delta.RequestCount != 4 || delta.ByClass["2xx"] != 2 || delta.ByClass["5xx"] != 2 ||
		delta.ByTag[""].Requests != 4 || delta.ByTag[""].Latency.Count() != 1 || delta.ConcurrencyIntegral != 8 {
		t.Errorf("delta %+v", delta)
	}
	restarted := &Stats{V: 1, StartTime: 2, Timestamp: 15 * sec, RequestCount: 1, InFlight: 1, ConcurrencyIntegral: 0.5}
	if !Restarted(cur, restarted) || Delta(cur, restarted).RequestCount != 1 || AverageConcurrency(cur, restarted) != 1 {
		t.Error("a restarted queue-proxy's counters are not taken as they are")
	}
}

func TestParse(t *testing.T) {
	s := &Stats{V: Version, PodName: "p", ByClass: map[string]uint64{"2xx": 1}}
	b, _ := json.Marshal(s)
	got, err := Parse(b)
	if err != nil || got.PodName != "p" || got.ByClass["2xx"] != 1 {
		t.Fatalf("Parse = %+v, %v", got, err)
	}
	if _, err := Parse([]byte(`{"v":2}`)); err == nil {
		t.Error("version 2 accepted")
	}
	if _, err := Parse([]byte(`{`)); err == nil {
		t.Error("bad JSON accepted")
	}
}

func TestClassIndex(t *testing.T) {
	for code, want := range map[int]int{101: 0, 200: 1, 304: 2, 404: 3, 499: 3, 503: 4, 0: 4, 700: 4} {
		if got := ClassIndex(code); got != want {
			t.Errorf("ClassIndex(%d) = %d, want %d", code, got, want)
		}
	}
}
