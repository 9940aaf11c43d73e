package apiauth

import (
	"container/list"
	"sync"
	"time"
)

// ttlCache is a bounded map whose entries expire: at most size entries, the
// least recently used evicted first. It is safe for concurrent use.
type ttlCache[K comparable, V any] struct {
	size int

	mu      sync.Mutex
	entries map[K]*list.Element
	order   *list.List // front: most recently used
}

type ttlEntry[K comparable, V any] struct {
	key     K
	value   V
	expires time.Time
}

func newTTLCache[K comparable, V any](size int) *ttlCache[K, V] {
	return &ttlCache[K, V]{size: size, entries: map[K]*list.Element{}, order: list.New()}
}

// get returns the value of key unless it is missing or expired at now.
func (c *ttlCache[K, V]) get(key K, now time.Time) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.entries[key]
	if !ok {
		var zero V
		return zero, false
	}
	e := el.Value.(*ttlEntry[K, V])
	if !now.Before(e.expires) {
		c.order.Remove(el)
		delete(c.entries, key)
		var zero V
		return zero, false
	}
	c.order.MoveToFront(el)
	return e.value, true
}

// set stores value under key until expires, evicting the least recently
// used entry when the cache is full.
func (c *ttlCache[K, V]) set(key K, value V, expires time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[key]; ok {
		e := el.Value.(*ttlEntry[K, V])
		e.value, e.expires = value, expires
		c.order.MoveToFront(el)
		return
	}
	for c.order.Len() >= c.size && c.order.Len() > 0 {
		oldest := c.order.Back()
		c.order.Remove(oldest)
		delete(c.entries, oldest.Value.(*ttlEntry[K, V]).key)
	}
	c.entries[key] = c.order.PushFront(&ttlEntry[K, V]{key: key, value: value, expires: expires})
}

// len is the number of entries, expired ones included.
func (c *ttlCache[K, V]) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}
