package routing

import "sync"

// wrr is the smooth weighted round-robin state of one rule (nginx's
// algorithm): on each pick every backend's current value grows by its
// weight, the largest wins and is lowered by the total weight. The sequence
// has period total and each backend wins exactly weight times per period;
// with percents summing to 100, any 100 consecutive picks are a rotation of
// one period, so every backend gets exactly its percent of them.
type wrr struct {
	weights []int // immutable
	total   int   // immutable

	mu      sync.Mutex
	current []int
}

func newWRR(backends []Backend) *wrr {
	w := &wrr{weights: make([]int, len(backends)), current: make([]int, len(backends))}
	for i, b := range backends {
		if b.Percent > 0 { // Build drops the others; stay defensive
			w.weights[i] = b.Percent
			w.total += b.Percent
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
	}
	best := -1
	w.mu.Lock()
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
	w.mu.Unlock()
	return best
}
