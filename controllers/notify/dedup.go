package notify

import (
	"container/list"
	"sync"
)

// recent remembers the last IDs of applied actions, so a repeat is answered
// without acting again. It is bounded and in memory: the Rollout controller
// also applies each action ID once, so this is defence in depth, not the
// guarantee.
type recent struct {
	mu    sync.Mutex
	max   int
	order *list.List // of *recentEntry, most recent first
	byID  map[string]*list.Element
}

type recentEntry struct {
	id string
	// done is false while the action is being applied.
	done    bool
	message string
}

func newRecent(maxEntries int) *recent {
	return &recent{max: maxEntries, order: list.New(), byID: map[string]*list.Element{}}
}

// begin claims id. It returns ok when the caller should apply the action;
// otherwise the entry tells whether the action is done (with its message) or
// still in progress.
func (r *recent) begin(id string) (prev recentEntry, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if el, found := r.byID[id]; found {
		r.order.MoveToFront(el)
		return *el.Value.(*recentEntry), false
	}
	r.byID[id] = r.order.PushFront(&recentEntry{id: id})
	for r.order.Len() > r.max {
		oldest := r.order.Back()
		r.order.Remove(oldest)
		delete(r.byID, oldest.Value.(*recentEntry).id)
	}
	return recentEntry{}, true
}

// finish records the outcome of a claimed id. A failed action is forgotten,
// so it can be tried again.
func (r *recent) finish(id, message string, failed bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	el, found := r.byID[id]
	if !found {
		return
	}
	if failed {
		r.order.Remove(el)
		delete(r.byID, id)
		return
	}
	e := el.Value.(*recentEntry)
	e.done, e.message = true, message
}
