package proxy

import "time"

// QueueFullHeader marks a queue-proxy's 503 for a request it turned away
// because containerConcurrency requests were in flight and its queue was
// full: the request never reached the user container, so the gateway may
// send a bodiless one again once capacity frees up (Knative's activator
// meters requests per pod for the same reason). Its value is "true".
const QueueFullHeader = "Ramp-Queue-Full"

// QueueFullAttempts bounds the gateway's queue-full retries: a bodiless
// request the queue-proxy turned away goes again after QueueFullBackoff(n),
// at most QueueFullAttempts times in all.
const QueueFullAttempts = 30

// QueueFullBackoff is the wait before attempt n (n >= 1) of a request a
// queue-proxy turned away: 20ms doubling to at most 500ms.
func QueueFullBackoff(n int) time.Duration {
	d := 20 * time.Millisecond << min(n-1, 5)
	return min(d, 500*time.Millisecond)
}
