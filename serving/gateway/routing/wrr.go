package routing

import (
	"sync"
	"sync/atomic"
)

// wrr is the smooth weighted round-robin state of one rule (nginx's
// algorithm): on each pick every backend's current value grows by its
// weight, the largest wins and is lowered by the total weight. The sequence
// has period total and each backend wins exactly weight times per period;
// with percents summing to 100, any 100 consecutive picks are a rotation of
// one period, so every backend gets exactly its percent of them.
//
// The period is computed once, when the rule is installed, and a pick is
// one atomic increment into it: no lock on the request path. A period
// longer than maxSchedule (weights that do not sum to 100 and are large)
// is run step by step under a mutex instead.
type wrr struct {
	weights []int // immutable
	total   int   // immutable

	schedule []int // one period of picks; nil when total > maxSchedule
	pos      atomic.Uint64

	mu      sync.Mutex // guards current, without a schedule
	current []int
}

// maxSchedule bounds the period precomputed for a rule (an int per pick).
const maxSchedule = 10_000

func newWRR(backends []Backend) *wrr {
	w := &wrr{weights: make([]int, len(backends)), current: make([]int, len(backends))}
	for i, b := range backends {
		if b.Percent > 0 { // Build drops the others; stay defensive
			w.weights[i] = b.Percent
			w.total += b.Percent
		}
	}
	if w.total > 0 && w.total <= maxSchedule && len(w.weights) > 1 {
		w.schedule = make([]int, w.total)
		for i := range w.schedule {
			w.schedule[i] = w.step()
		}
	}
	return w
}

// next returns the index of the chosen backend, or -1 when no backend has
// a positive weight.
func (w *wrr) next() int {
	switch {
	case w.total <= 0:
		return -1
	case len(w.weights) == 1:
		return 0 // the only backend with a positive weight: no state needed
	case w.schedule != nil:
		return w.schedule[(w.pos.Add(1)-1)%uint64(len(w.schedule))]
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.step()
}

// step runs one pick of the algorithm on current.
func (w *wrr) step() int {
	best := -1
	for i, wt := range w.weights {
		if wt <= 0 {
			continue
		}
		w.current[i] += wt
		if best < 0 || w.current[i] > w.current[best] {
			best = i
		}
	}
	w.current[best] -= w.total
	return best
}
