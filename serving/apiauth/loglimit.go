package apiauth

import (
	"sync"
	"time"

	"k8s.io/utils/clock"
)

// logLimiter lets one log line per key through every interval, counting
// the ones it holds back. It forgets every key when it knows max of them,
// so a flood of distinct clients costs bounded memory.
type logLimiter struct {
	clock    clock.PassiveClock
	interval time.Duration
	max      int

	mu   sync.Mutex
	keys map[string]*logState
}

type logState struct {
	last       time.Time
	suppressed int
}

func newLogLimiter(c clock.PassiveClock, interval time.Duration, max int) *logLimiter {
	return &logLimiter{clock: c, interval: interval, max: max, keys: map[string]*logState{}}
}

// allow reports whether a line for key may be logged now, and how many
// were held back since the last one.
func (l *logLimiter) allow(key string) (bool, int) {
	now := l.clock.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	s, ok := l.keys[key]
	if !ok {
		if len(l.keys) >= l.max {
			l.keys = map[string]*logState{}
		}
		l.keys[key] = &logState{last: now}
		return true, 0
	}
	if now.Sub(s.last) < l.interval {
		s.suppressed++
		return false, 0
	}
	n := s.suppressed
	s.last, s.suppressed = now, 0
	return true, n
}
