package autoscaler

import (
	"encoding/binary"

	"github.com/rampdev/ramp/serving/queue/stats"
)

// second is one second of a series' telemetry while it is being added to.
type second struct {
	sec       int64 // Unix second; 0 = none
	requests  uint64
	errors5xx uint64
	pods      uint64 // pod reports (AllTags only)
	latency   sparseHistogram
}

func (s *second) add(requests, errors5xx uint64, h stats.Histogram) {
	s.requests += requests
	s.errors5xx += errors5xx
	s.latency.add(h)
}

// appendEncoded appends s, without its sec, as unsigned varints:
// requests, errors5xx, pods, the latency sum, the histogram's offset, its
// number of buckets and then each count. A second of a revision with
// latencies over 40 buckets takes about 60 bytes this way, against about
// 230 as a struct with a sparseHistogram: the Store keeps 900 of them per
// series, so this is most of its memory.
func (s *second) appendEncoded(b []byte) []byte {
	b = binary.AppendUvarint(b, s.requests)
	b = binary.AppendUvarint(b, s.errors5xx)
	b = binary.AppendUvarint(b, s.pods)
	b = binary.AppendUvarint(b, s.latency.sum)
	b = binary.AppendUvarint(b, uint64(s.latency.offset))
	b = binary.AppendUvarint(b, uint64(len(s.latency.counts)))
	for _, c := range s.latency.counts {
		b = binary.AppendUvarint(b, uint64(c))
	}
	return b
}

// decodedSecond reads what appendEncoded wrote, without allocating.
type decodedSecond struct {
	b   []byte
	bad bool
}

func (d *decodedSecond) next() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.bad, d.b = true, nil
		return 0
	}
	d.b = d.b[n:]
	return v
}

// addEncodedTo adds the second encoded in b to sum (Pods: the largest).
// The encoding is the Store's own, so it is well formed; a malformed one
// would only lose that second's latencies past the damage.
func addEncodedTo(b []byte, sum *Summary) {
	d := decodedSecond{b: b}
	sum.Requests += int64(d.next())
	sum.Errors5xx += int64(d.next())
	sum.Pods = max(sum.Pods, int(d.next()))
	sum.Latency.SumMicros += d.next()
	offset, n := d.next(), d.next()
	if d.bad || n == 0 || offset+n > stats.NumBuckets {
		return
	}
	if sum.Latency.Counts == nil {
		sum.Latency.Counts = make([]uint64, stats.NumBuckets)
	}
	for i := range n {
		c := d.next()
		if d.bad {
			return
		}
		sum.Latency.Counts[offset+i] += c
	}
}

// decode fills s (whose sec the caller sets) from b, for a late report to
// a second already encoded.
func (s *second) decode(b []byte) {
	d := decodedSecond{b: b}
	s.requests, s.errors5xx, s.pods = d.next(), d.next(), d.next()
	s.latency.reset()
	s.latency.sum = d.next()
	offset, n := d.next(), d.next()
	if d.bad || n == 0 || offset+n > stats.NumBuckets {
		return
	}
	h := stats.Histogram{Counts: make([]uint64, stats.NumBuckets)}
	for i := range n {
		h.Counts[offset+i] = d.next()
	}
	s.latency.add(h)
}
