package stats

import (
	"encoding/json"
	"fmt"
	"math"
	"math/bits"
	"strconv"
	"time"
)

// Latency buckets.
//
// Latencies are recorded in whole microseconds into fixed log-linear
// buckets (the HDR-histogram layout with 8 sub-buckets per power of two):
//
//   - v < 16 µs: one bucket per microsecond, bucket i = [i, i+1) µs;
//   - v ≥ 16 µs: with k = floor(log2 v), the octave [2^k, 2^(k+1)) is cut
//     into 8 equal buckets; bucket i = [sub<<s, (sub+1)<<s) µs where
//     s = i/8 - 1 and sub = 8 + i%8;
//   - the last bucket, OverflowBucket, holds everything from 2^26 µs
//     (67.1 s) up.
//
// A bucket is 1/8 to 1/15 of its lower bound wide (6.7%–12.5%, about 10%
// on average), fine enough for p50/p90/p99 from 1 ms to 60 s. The layout
// is part of the wire format: Histogram.Counts[i] always means bucket i.
const (
	subBucketBits = 3
	subBuckets    = 1 << subBucketBits // 8
	// maxExponent is the last octave with regular buckets: [2^25, 2^26) µs.
	maxExponent = 25
	// OverflowBucket is the index of the last, unbounded bucket.
	OverflowBucket = subBuckets*(maxExponent-subBucketBits+1) + subBuckets // 192
	// NumBuckets is the number of latency buckets.
	NumBuckets = OverflowBucket + 1
)

// BucketIndex is the bucket that latency d falls into.
func BucketIndex(d time.Duration) int {
	if d <= 0 {
		return 0
	}
	return BucketIndexMicros(uint64(d / time.Microsecond))
}

// BucketIndexMicros is the bucket of a latency of us microseconds.
func BucketIndexMicros(us uint64) int {
	if us < subBuckets {
		return int(us)
	}
	k := bits.Len64(us) - 1 // floor(log2 us) ≥ 3
	if k > maxExponent {
		return OverflowBucket
	}
	s := k - subBucketBits
	return int(us>>uint(s)) + subBuckets*s
}

// BucketLowerBound is the smallest latency in bucket i (inclusive).
func BucketLowerBound(i int) time.Duration {
	return time.Duration(bucketLowerMicros(i)) * time.Microsecond
}

// BucketUpperBound is the end of bucket i (exclusive); for the overflow
// bucket it is math.MaxInt64.
func BucketUpperBound(i int) time.Duration {
	if i >= OverflowBucket {
		return time.Duration(math.MaxInt64)
	}
	return BucketLowerBound(i + 1)
}

func bucketLowerMicros(i int) uint64 {
	switch {
	case i <= 0:
		return 0
	case i < subBuckets:
		return uint64(i)
	case i > OverflowBucket:
		i = OverflowBucket
	}
	s := i/subBuckets - 1
	sub := uint64(subBuckets + i%subBuckets)
	return sub << uint(s)
}

// Histogram is a snapshot of latency counts in the fixed buckets above.
// Counters are cumulative since the queue-proxy started: subtract an
// earlier snapshot (Sub) to get the latencies of an interval.
type Histogram struct {
	// Counts[i] is the number of requests whose latency fell into bucket i.
	// It is nil or NumBuckets long.
	Counts []uint64
	// SumMicros is the sum of all recorded latencies, in microseconds.
	SumMicros uint64
}

// Count is the number of recorded latencies.
func (h Histogram) Count() uint64 {
	var n uint64
	for _, c := range h.Counts {
		n += c
	}
	return n
}

// Mean is the average latency, or 0 without samples.
func (h Histogram) Mean() time.Duration {
	n := h.Count()
	if n == 0 {
		return 0
	}
	return time.Duration(h.SumMicros/n) * time.Microsecond
}

// Quantile estimates the q-quantile (0 ≤ q ≤ 1) of the recorded latencies,
// interpolating linearly inside the bucket where it falls, so the error is
// at most one bucket width. It is 0 without samples.
func (h Histogram) Quantile(q float64) time.Duration {
	n := h.Count()
	if n == 0 || math.IsNaN(q) {
		return 0
	}
	q = min(max(q, 0), 1)
	rank := q * float64(n)
	var seen float64
	for i, c := range h.Counts {
		if c == 0 {
			continue
		}
		next := seen + float64(c)
		if next < rank {
			seen = next
			continue
		}
		lo := float64(bucketLowerMicros(i))
		if i == OverflowBucket {
			return time.Duration(lo) * time.Microsecond
		}
		hi := float64(bucketLowerMicros(i + 1))
		frac := (rank - seen) / float64(c)
		return time.Duration((lo + (hi-lo)*frac) * float64(time.Microsecond))
	}
	return BucketLowerBound(OverflowBucket)
}

// Add merges o into h.
func (h *Histogram) Add(o Histogram) {
	if len(o.Counts) == 0 && o.SumMicros == 0 {
		return
	}
	if h.Counts == nil {
		h.Counts = make([]uint64, NumBuckets)
	}
	for i, c := range o.Counts {
		if i < len(h.Counts) {
			h.Counts[i] += c
		}
	}
	h.SumMicros += o.SumMicros
}

// Sub is h minus an earlier snapshot prev of the same counters: the
// latencies recorded in between. Buckets that went backwards (a restarted
// queue-proxy) count from zero.
func (h Histogram) Sub(prev Histogram) Histogram {
	out := Histogram{Counts: make([]uint64, NumBuckets)}
	for i := range out.Counts {
		var cur, old uint64
		if i < len(h.Counts) {
			cur = h.Counts[i]
		}
		if i < len(prev.Counts) {
			old = prev.Counts[i]
		}
		if cur >= old {
			out.Counts[i] = cur - old
		} else {
			out.Counts[i] = cur
		}
	}
	if h.SumMicros >= prev.SumMicros {
		out.SumMicros = h.SumMicros - prev.SumMicros
	} else {
		out.SumMicros = h.SumMicros
	}
	return out
}

// NonZeroRange returns the first and last buckets with a count, or -1, -1
// when every bucket is empty.
func (h Histogram) NonZeroRange() (first, last int) {
	first, last = -1, -1
	for i, c := range h.Counts {
		if c != 0 {
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	return first, last
}

// MarshalJSON encodes only the non-zero range of buckets:
//
//	{"offset":I,"counts":[C_I, C_I+1, ...],"sumMicros":S}
//
// where counts[j] is bucket offset+j and buckets past the end are zero.
func (h Histogram) MarshalJSON() ([]byte, error) {
	first, last := h.NonZeroRange()
	b := make([]byte, 0, 48+8*max(last-first+1, 0))
	b = append(b, `{"offset":`...)
	b = strconv.AppendInt(b, int64(max(first, 0)), 10)
	b = append(b, `,"counts":[`...)
	if first >= 0 {
		for i := first; i <= last; i++ {
			if i > first {
				b = append(b, ',')
			}
			b = strconv.AppendUint(b, h.Counts[i], 10)
		}
	}
	b = append(b, `],"sumMicros":`...)
	b = strconv.AppendUint(b, h.SumMicros, 10)
	return append(b, '}'), nil
}

// wireHistogram is the JSON form of a Histogram.
type wireHistogram struct {
	Offset    int      `json:"offset"`
	Counts    []uint64 `json:"counts"`
	SumMicros uint64   `json:"sumMicros"`
}

// UnmarshalJSON decodes the form MarshalJSON writes. That form is read by
// a scanner of its own (the autoscaler decodes three histograms per pod
// every second, and encoding/json re-validates and reflects over each);
// anything else it leaves to encoding/json, so both accept and refuse the
// same documents.
func (h *Histogram) UnmarshalJSON(data []byte) error {
	w, ok := scanHistogram(data)
	if !ok {
		w = wireHistogram{}
		if err := json.Unmarshal(data, &w); err != nil {
			return fmt.Errorf("decoding latency histogram: %w", err)
		}
	}
	if w.Offset < 0 || w.Offset+len(w.Counts) > NumBuckets {
		return fmt.Errorf("latency histogram: buckets %d..%d outside 0..%d",
			w.Offset, w.Offset+len(w.Counts)-1, NumBuckets-1)
	}
	h.SumMicros = w.SumMicros
	h.Counts = nil
	if len(w.Counts) > 0 {
		h.Counts = make([]uint64, NumBuckets)
		copy(h.Counts[w.Offset:], w.Counts)
	}
	return nil
}
