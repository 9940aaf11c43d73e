package autoscaler

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/rampdev/ramp/serving/queue/stats"
)

// AllTags is the tag that, passed to Telemetry.Window, selects all of a
// revision's traffic; any other value (including "" for untagged traffic
// and stats.OtherTag) selects the requests with that route tag.
const AllTags = "*"

// DefaultRetention is how much history a Store keeps by default.
const DefaultRetention = 15 * time.Minute

// Summary is what a revision (or one of its tags) did during a window.
type Summary struct {
	// Requests is the number of requests answered, Errors5xx how many of
	// them with a 5xx status.
	Requests, Errors5xx int64
	// Latency is the latency histogram of those requests; take quantiles
	// with Latency.Quantile.
	Latency stats.Histogram
	// Pods is the largest number of pods that reported in one second of
	// the window (AllTags only).
	Pods int
}

// Telemetry is the read side of the request telemetry, for canary
// analysis.
type Telemetry interface {
	// Window summarizes the seconds in [from, to) of a revision's traffic
	// with route tag tag (AllTags for all of it).
	Window(ctx context.Context, namespace, revision, tag string, from, to time.Time) (Summary, error)
}

// Store keeps per-second request telemetry for every revision and tag in
// a fixed ring of Retention seconds (900 by default) and implements
// Telemetry. Feed it the deltas Aggregator.Record returns.
//
// Memory: a series (one revision, or one of its tags; at most
// stats.MaxTags+1 per revision plus the total) holds Retention slots of
// 72 bytes plus the non-zero range of that second's latency histogram at
// 4 bytes a bucket (sparseHistogram). At 1 s resolution over 15 minutes
// that is 65 KB per series with no traffic, about 140 KB with latencies
// spread over 20 buckets, and at most 870 KB (all 193 buckets every
// second); a revision with untagged traffic and one tag (three series:
// total, "", the tag) typically needs about 420 KB.
type Store struct {
	size int64

	mu     sync.RWMutex
	series map[seriesKey]*series
	tags   map[RevisionKey]int // series per revision besides AllTags
	// late and lateSlot hold a closed second reopened for a late report
	// (see Store.second) while it is being added to.
	late     second
	lateSlot *slot
}

type seriesKey struct {
	rev RevisionKey
	tag string
}

// slot is a closed second of a series, encoded (second.appendEncoded).
type slot struct {
	sec  int64
	data []byte
}

// series is a ring of closed seconds plus the latest second, open while
// reports for it arrive (a tick records every pod at the same second).
type series struct {
	slots []slot
	open  second
	last  int64
}

// NewStore returns a Store keeping retention (DefaultRetention when 0) of
// history at 1 s resolution.
func NewStore(retention time.Duration) *Store {
	if retention <= 0 {
		retention = DefaultRetention
	}
	return &Store{size: int64(math.Ceil(retention.Seconds())), series: map[seriesKey]*series{},
		tags: map[RevisionKey]int{}}
}

// Record adds delta, one pod's difference between two reports, to the
// second of now.
func (s *Store) Record(now time.Time, rev RevisionKey, delta *stats.Stats) {
	if delta == nil {
		return
	}
	sec := now.Unix()
	s.mu.Lock()
	defer s.mu.Unlock()
	if sc := s.second(seriesKey{rev, AllTags}, sec); sc != nil {
		sc.pods++
		sc.add(delta.RequestCount, delta.ByClass[stats.Class5xx], delta.Latency)
		s.closeLate()
	}
	for tag, ts := range delta.ByTag {
		if ts.Requests == 0 && ts.Errors5xx == 0 {
			continue
		}
		k := seriesKey{rev, tag}
		if s.series[k] == nil && s.tags[rev] >= stats.MaxTags {
			k.tag = stats.OtherTag // more tags than a queue-proxy reports
		}
		if sc := s.second(k, sec); sc != nil {
			sc.add(ts.Requests, ts.Errors5xx, ts.Latency)
			s.closeLate()
		}
	}
}

// second returns series k's second sec to add to, or nil when sec is
// older than the retention. A later second closes the open one into the
// ring; an earlier one (a late report) is reopened from the ring into
// s.late, which the caller encodes back with closeLate once it has added
// the report, before asking for another second.
func (s *Store) second(k seriesKey, sec int64) *second {
	se := s.series[k]
	if se == nil {
		se = &series{slots: make([]slot, s.size)}
		s.series[k] = se
		if k.tag != AllTags {
			s.tags[k.rev]++
		}
	}
	se.last = max(se.last, sec)
	switch o := &se.open; {
	case sec == o.sec:
		return o
	case sec > o.sec:
		se.close()
		o.latency.reset()
		*o = second{sec: sec, latency: o.latency}
		return o
	case o.sec-sec >= s.size:
		return nil // older than the retention
	}
	sl := &se.slots[sec%s.size]
	if sl.sec > sec {
		return nil // overwritten by a newer second
	}
	late := &s.late
	late.sec = sec
	if sl.sec == sec {
		late.decode(sl.data)
	} else {
		late.latency.reset()
		*late = second{sec: sec, latency: late.latency}
	}
	s.lateSlot = sl
	return late
}

// close encodes the open second into the ring.
func (se *series) close() {
	if se.open.sec == 0 {
		return
	}
	sl := &se.slots[se.open.sec%int64(len(se.slots))]
	sl.sec, sl.data = se.open.sec, se.open.appendEncoded(sl.data[:0])
}

// closeLate encodes a reopened second back into its slot.
func (s *Store) closeLate() {
	if s.lateSlot == nil {
		return
	}
	s.lateSlot.sec, s.lateSlot.data = s.late.sec, s.late.appendEncoded(s.lateSlot.data[:0])
	s.lateSlot = nil
}

// Window implements Telemetry: it sums the seconds that overlap
// [from, to). Seconds older than the retention are
// gone; a window reaching before them summarizes what is left.
func (s *Store) Window(ctx context.Context, namespace, revision, tag string, from, to time.Time) (Summary, error) {
	if err := ctx.Err(); err != nil {
		return Summary{}, fmt.Errorf("telemetry window: %w", err)
	}
	if to.Before(from) {
		return Summary{}, fmt.Errorf("telemetry window: to %s before from %s", to, from)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	var sum Summary
	se := s.series[seriesKey{RevisionKey{namespace, revision}, tag}]
	if se == nil {
		return sum, nil
	}
	start, end := max(from.Unix(), se.last-s.size+1), min(to.Unix()-1, se.last)
	if !to.Equal(time.Unix(to.Unix(), 0)) {
		end = min(to.Unix(), se.last) // to inside a second: include it
	}
	for sec := start; sec <= end; sec++ {
		if o := &se.open; o.sec == sec {
			sum.Requests += int64(o.requests)
			sum.Errors5xx += int64(o.errors5xx)
			sum.Pods = max(sum.Pods, int(o.pods))
			o.latency.addTo(&sum.Latency)
			continue
		}
		if sl := &se.slots[sec%s.size]; sl.sec == sec {
			addEncodedTo(sl.data, &sum)
		}
	}
	return sum, nil
}

// Prune drops the series of revisions and tags without data for the
// whole retention.
func (s *Store) Prune(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, se := range s.series {
		if now.Unix()-se.last >= s.size {
			delete(s.series, k)
			if k.tag != AllTags {
				if s.tags[k.rev]--; s.tags[k.rev] <= 0 {
					delete(s.tags, k.rev)
				}
			}
		}
	}
}
