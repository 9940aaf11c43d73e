// Package stats is the queue-proxy's telemetry report: what GET /stats on
// the admin port returns, and what the autoscaler and the canary analysis
// read. It imports only the standard library so that its readers do not
// pull in the queue-proxy's HTTP stack.
//
// Every counter is cumulative since the queue-proxy started, so a missed
// scrape loses nothing: the reader keeps the previous report and works on
// differences (AverageConcurrency, Histogram.Sub, Delta). StartTime tells a
// restarted queue-proxy (counters back at zero) from a running one.
package stats

import (
	"encoding/json"
	"fmt"
	"time"
)

// Version is the current value of Stats.V.
const Version = 1

// Tags.
const (
	// MaxTags is how many distinct route tags (the untagged "" included)
	// get their own entry in ByTag; requests with further tags are counted
	// under OtherTag.
	MaxTags = 16
	// OtherTag collects requests whose tag did not get an entry of its own,
	// or whose tag is not a valid tag (longer than MaxTagLength, or with
	// characters other than ASCII letters, digits, '-', '_' and '.').
	OtherTag = "other"
	// MaxTagLength is the longest tag that gets an entry of its own.
	MaxTagLength = 63
)

// Status classes, the keys of Stats.ByClass.
const (
	Class1xx = "1xx"
	Class2xx = "2xx"
	Class3xx = "3xx"
	Class4xx = "4xx"
	Class5xx = "5xx"
)

// Classes lists the status classes in order; Classes[i] is the class of
// status codes (i+1)00-(i+1)99.
var Classes = [5]string{Class1xx, Class2xx, Class3xx, Class4xx, Class5xx}

// Stats is one report of a queue-proxy. JSON field names are given in
// brackets.
type Stats struct {
	// V [v] is the format version: Version.
	V int `json:"v"`
	// PodName [podName] is the pod the queue-proxy runs in.
	PodName string `json:"podName"`
	// Revision [revision] is the revision the pod serves.
	Revision string `json:"revision"`
	// StartTime [startTime] is when this queue-proxy started, in Unix
	// nanoseconds. All counters start from zero then; a report with another
	// StartTime than the previous one comes from a restarted queue-proxy.
	StartTime int64 `json:"startTime"`
	// Timestamp [timestamp] is when the report was taken, in Unix
	// nanoseconds.
	Timestamp int64 `json:"timestamp"`

	// RequestCount [requestCount] is the number of requests answered,
	// including those the queue-proxy answered itself (QueueRejects,
	// Timeouts, ProxyErrors). It equals the sum of ByClass.
	RequestCount uint64 `json:"requestCount"`
	// ByClass [byClass] counts answered requests by status class
	// ("1xx".."5xx"); classes without requests are left out. Upgraded
	// connections (WebSocket) count under the status the user container
	// answered the upgrade with, normally 1xx.
	ByClass map[string]uint64 `json:"byClass"`
	// ByTag [byTag] splits the requests by route tag, the Ramp-Route-Tag
	// request header set by the gateway ("" for untagged traffic). At most
	// MaxTags tags get an entry; the rest count under OtherTag.
	ByTag map[string]TagStats `json:"byTag"`
	// Latency [latency] is the latency of all answered requests: from the
	// moment the queue-proxy read the request's headers (so time queued for
	// a concurrency slot is included) until the last byte of the response
	// was handed to the client.
	Latency Histogram `json:"latency"`

	// InFlight [inFlight] is the number of requests inside the queue-proxy
	// at Timestamp: waiting for a slot or being served.
	InFlight int64 `json:"inFlight"`
	// ConcurrencyIntegral [concurrencyIntegral] is the integral of InFlight
	// over time since StartTime, in request-seconds. Its increase between
	// two reports divided by the time between them is the time-weighted
	// average concurrency of that interval (AverageConcurrency).
	ConcurrencyIntegral float64 `json:"concurrencyIntegral"`

	// QueueRejects [queueRejects] counts requests answered 503 because the
	// pending-request queue was full (containerConcurrency reached and the
	// queue at its depth). They are also in ByClass["5xx"].
	QueueRejects uint64 `json:"queueRejects"`
	// Timeouts [timeouts] counts requests cut off at the revision timeout:
	// answered 504 before the response started, or aborted while its body
	// was streaming. The 504s are also in ByClass["5xx"].
	Timeouts uint64 `json:"timeouts"`
	// ProxyErrors [proxyErrors] counts requests answered 502 because the
	// user container could not be reached (connection refused, reset,
	// malformed response). They are also in ByClass["5xx"].
	ProxyErrors uint64 `json:"proxyErrors"`
}

// TagStats are the counters of one route tag.
type TagStats struct {
	// Requests [requests] is the number of answered requests with the tag.
	Requests uint64 `json:"requests"`
	// Errors5xx [errors5xx] is how many of them were answered 5xx,
	// including the queue-proxy's own 502, 503 and 504.
	Errors5xx uint64 `json:"errors5xx"`
	// Latency [latency] is their latency histogram.
	Latency Histogram `json:"latency"`
}

// ClassIndex is the index into Classes of HTTP status code code; codes
// outside 100-599 count as 5xx (the proxy could not make sense of them).
func ClassIndex(code int) int {
	if code < 100 || code > 599 {
		return 4
	}
	return code/100 - 1
}

// Parse decodes a report and checks its version.
func Parse(data []byte) (*Stats, error) {
	var s Stats
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("decoding queue-proxy stats: %w", err)
	}
	if s.V != Version {
		return nil, fmt.Errorf("queue-proxy stats version %d, want %d", s.V, Version)
	}
	return &s, nil
}

// Restarted tells whether cur comes from another run of the queue-proxy
// than prev, in which case cur's counters are not comparable to prev's.
func Restarted(prev, cur *Stats) bool {
	return prev.StartTime != cur.StartTime || cur.Timestamp < prev.Timestamp
}

// AverageConcurrency is the time-weighted average number of requests in
// flight between two reports of the same queue-proxy (Knative's "average
// concurrency per scrape interval"). It is cur.InFlight when the reports
// are not comparable or no time passed.
func AverageConcurrency(prev, cur *Stats) float64 {
	dt := time.Duration(cur.Timestamp - prev.Timestamp).Seconds()
	if Restarted(prev, cur) || dt <= 0 || cur.ConcurrencyIntegral < prev.ConcurrencyIntegral {
		return float64(cur.InFlight)
	}
	return (cur.ConcurrencyIntegral - prev.ConcurrencyIntegral) / dt
}

// Delta is what happened between two reports: counters, histograms and
// ConcurrencyIntegral are cur minus prev (or cur alone when the queue-proxy
// restarted in between); the other fields are cur's.
func Delta(prev, cur *Stats) *Stats {
	base := prev
	if Restarted(prev, cur) {
		base = &Stats{}
	}
	d := &Stats{
		V: cur.V, PodName: cur.PodName, Revision: cur.Revision, StartTime: cur.StartTime,
		Timestamp:           cur.Timestamp,
		RequestCount:        sub(cur.RequestCount, base.RequestCount),
		ByClass:             map[string]uint64{},
		ByTag:               map[string]TagStats{},
		Latency:             cur.Latency.Sub(base.Latency),
		InFlight:            cur.InFlight,
		ConcurrencyIntegral: cur.ConcurrencyIntegral - base.ConcurrencyIntegral,
		QueueRejects:        sub(cur.QueueRejects, base.QueueRejects),
		Timeouts:            sub(cur.Timeouts, base.Timeouts),
		ProxyErrors:         sub(cur.ProxyErrors, base.ProxyErrors),
	}
	for c, n := range cur.ByClass {
		if v := sub(n, base.ByClass[c]); v > 0 {
			d.ByClass[c] = v
		}
	}
	for tag, t := range cur.ByTag {
		old := base.ByTag[tag]
		d.ByTag[tag] = TagStats{
			Requests:  sub(t.Requests, old.Requests),
			Errors5xx: sub(t.Errors5xx, old.Errors5xx),
			Latency:   t.Latency.Sub(old.Latency),
		}
	}
	return d
}

func sub(cur, prev uint64) uint64 {
	if cur < prev {
		return cur
	}
	return cur - prev
}
