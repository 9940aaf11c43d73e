package autoscaler

import (
	"math"

	"github.com/rampdev/ramp/serving/queue/stats"
)

// sparseHistogram is a latency histogram that keeps only the range of
// buckets from its first to its last non-zero one, as 32-bit counts. The
// latencies of one second of one revision typically span 20 to 40
// buckets, 80 to 160 bytes instead of a stats.Histogram's 1.5 KB: the
// Aggregator and the Store keep one per second, for minutes, for every
// revision, so this is most of their memory.
type sparseHistogram struct {
	offset int32
	counts []uint32 // buckets offset.. ; saturate at math.MaxUint32
	sum    uint64
}

// reset empties h and keeps its array for reuse.
func (h *sparseHistogram) reset() {
	*h = sparseHistogram{counts: h.counts[:0]}
}

// add merges o into h.
func (h *sparseHistogram) add(o stats.Histogram) {
	h.sum += o.SumMicros
	first, last := o.NonZeroRange()
	if first < 0 {
		return
	}
	if len(h.counts) == 0 {
		h.offset = int32(first)
		if n := last - first + 1; cap(h.counts) >= n {
			h.counts = h.counts[:n]
			clear(h.counts)
		}
	}
	lo, hi := min(int(h.offset), first), max(int(h.offset)+len(h.counts)-1, last)
	if lo != int(h.offset) || hi-lo+1 != len(h.counts) {
		grown := make([]uint32, hi-lo+1)
		copy(grown[int(h.offset)-lo:], h.counts)
		h.counts, h.offset = grown, int32(lo)
	}
	for i := first; i <= last; i++ {
		h.counts[i-lo] = uint32(min(uint64(h.counts[i-lo])+o.Counts[i], math.MaxUint32))
	}
}

// addTo merges h into dst.
func (h *sparseHistogram) addTo(dst *stats.Histogram) {
	if len(h.counts) > 0 && dst.Counts == nil {
		dst.Counts = make([]uint64, stats.NumBuckets)
	}
	for i, c := range h.counts {
		dst.Counts[int(h.offset)+i] += uint64(c)
	}
	dst.SumMicros += h.sum
}
