package main

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"
)

// Goals of issue 17 for what Ramp adds to a scale from zero.
const (
	goalP50 = 10 * time.Millisecond
	goalP99 = 50 * time.Millisecond
)

// stage is one row of the breakdown: the time from one timestamp to the
// next, and whose work it is.
type stage struct {
	name, from, to, by string
}

var stages = []stage{
	{"activation noticed by the autoscaler", tSent, tReceived, "Ramp: gateway holds, signals"},
	{"scale decision", tReceived, tDecided, "Ramp: autoscaler"},
	{"Deployment scaled", tDecided, tScaled, "Ramp: Revision reconciler"},
	{"pod created", tScaled, tCreated, "Kubernetes: Deployment, ReplicaSet controllers"},
	{"pod scheduled", tCreated, tBound, "node agent: binds"},
	{"process started", tBound, tStarted, "node agent: sandbox, credentials, fork/exec"},
	{"pod Ready", tStarted, tReady, "node agent: readiness probes (app start-up)"},
	{"endpoints seen by the gateway", tReady, tEndpoints, "the pod's IP through the API (status, EndpointSlice); the gateway's probe of it"},
	{"requests released", tEndpoints, tReleased, "Ramp: gateway table rebuilt, waiters released"},
	{"first byte", tReleased, tFirstByte, "Ramp: gateway, queue-proxy; the app"},
}

// sums are derived rows: sums of spans between timestamps.
type sum struct {
	name  string
	spans [][2]string
}

var (
	total      = sum{"total: sent to first byte", [][2]string{{tSent, tFirstByte}}}
	rampAdded  = sum{"Ramp-added: (sent to decision) + (Ready to first byte)", [][2]string{{tSent, tDecided}, {tReady, tFirstByte}}}
	rampOwn    = sum{"  of which Ramp's own code: (sent to decision) + (endpoints seen to first byte)", [][2]string{{tSent, tDecided}, {tEndpoints, tFirstByte}}}
	nodeShare  = sum{"node agent: pod created to Ready", [][2]string{{tCreated, tReady}}}
	written    = sum{"off the path: Ready to Ready written (the node's status patch)", [][2]string{{tReady, tReadyWritten}}}
	rampScaled = sum{"Ramp, decision to Deployment scaled (outside the goal's formula)", [][2]string{{tDecided, tScaled}}}
	lastByte   = sum{"last response's first byte", [][2]string{{tSent, tLastByte}}}
)

func (s sum) of(r runResult) (time.Duration, bool) {
	var d time.Duration
	for _, sp := range s.spans {
		a, b := r.at[sp[0]], r.at[sp[1]]
		if a.IsZero() || b.IsZero() {
			return 0, false
		}
		d += b.Sub(a)
	}
	return d, true
}

// report renders the benchmark's tables in Markdown.
func report(results []runResult, took time.Duration) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "## Scale from zero: %d cold starts in %s\n\n", len(results), took.Round(time.Second))
	groups := map[int][]runResult{}
	var sizes []int
	for _, r := range results {
		if _, ok := groups[r.concurrency]; !ok {
			sizes = append(sizes, r.concurrency)
		}
		groups[r.concurrency] = append(groups[r.concurrency], r)
	}
	sort.Ints(sizes)
	sb.WriteString("| burst | runs | answered 200 | first byte p50 | p99 | last response p50 | p99 |\n|---|---|---|---|---|---|---|\n")
	for _, n := range sizes {
		g := groups[n]
		sent, ok := 0, 0
		for _, r := range g {
			sent, ok = sent+r.sent, ok+r.ok
		}
		fb, lb := collect(g, total), collect(g, lastByte)
		cc := "containerConcurrency 0"
		if n == 100 {
			cc = "containerConcurrency 1"
		}
		fmt.Fprintf(&sb, "| %d concurrent (%s) | %d | %d/%d | %s | %s | %s | %s |\n", n, cc, len(g), ok, sent,
			ms(quantile(fb, 0.5)), ms(quantile(fb, 0.99)), ms(quantile(lb, 0.5)), ms(quantile(lb, 0.99)))
	}
	fmt.Fprintf(&sb, "\nThe first response's latency by stage, over all %d cold starts (p99 of so few runs is their maximum):\n\n", len(results))
	sb.WriteString("| stage | whose | median | p99 |\n|---|---|---|---|\n")
	for _, st := range stages {
		d := collect(results, sum{st.name, [][2]string{{st.from, st.to}}})
		fmt.Fprintf(&sb, "| %s | %s | %s | %s |\n", st.name, st.by, ms(quantile(d, 0.5)), ms(quantile(d, 0.99)))
	}
	for _, s := range []sum{total, nodeShare, written, rampScaled, rampAdded, rampOwn} {
		d := collect(results, s)
		fmt.Fprintf(&sb, "| **%s** | | %s | %s |\n", strings.TrimSpace(s.name), ms(quantile(d, 0.5)), ms(quantile(d, 0.99)))
	}
	added := collect(results, rampAdded)
	p50, p99 := quantile(added, 0.5), quantile(added, 0.99)
	fmt.Fprintf(&sb, "\nGoal, Ramp-added ≤ %s p50 and ≤ %s p99: p50 %s (%s), p99 %s (%s).\n",
		ms(goalP50), ms(goalP99), ms(p50), metOrMissed(p50 <= goalP50), ms(p99), metOrMissed(p99 <= goalP99))
	nodeD, totalD := collect(results, nodeShare), collect(results, total)
	if len(nodeD) > 0 && len(totalD) > 0 {
		fmt.Fprintf(&sb, "The node agent's pod start (created to Ready) is %s of the median total %s (%.0f%%).\n",
			ms(quantile(nodeD, 0.5)), ms(quantile(totalD, 0.5)), 100*quantile(nodeD, 0.5).Seconds()/quantile(totalD, 0.5).Seconds())
	}
	var problems []string
	for i, r := range results {
		if len(r.missing) > 0 {
			problems = append(problems, fmt.Sprintf("run %d (%s): no %s recorded", i+1, r.service, strings.Join(r.missing, ", ")))
		}
		for what, n := range r.failures {
			problems = append(problems, fmt.Sprintf("run %d (%s): %d answered %s", i+1, r.service, n, what))
		}
	}
	if len(problems) > 0 {
		sb.WriteString("\nProblems:\n")
		for _, p := range problems {
			fmt.Fprintf(&sb, "- %s\n", p)
		}
	}
	return sb.String()
}

func collect(rs []runResult, s sum) []time.Duration {
	var out []time.Duration
	for _, r := range rs {
		if d, ok := s.of(r); ok {
			out = append(out, d)
		}
	}
	return out
}

// noData is the quantile of no sample.
const noData = time.Duration(math.MinInt64)

// quantile is the nearest-rank quantile q of ds; noData when ds is empty.
func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return noData
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

// dropped counts the requests not answered 200 by the right version.
func dropped(rs []runResult) int {
	n := 0
	for _, r := range rs {
		n += r.sent - r.ok
	}
	return n
}

func ms(d time.Duration) string {
	if d == noData {
		return "n/a"
	}
	return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
}

func metOrMissed(ok bool) string {
	if ok {
		return "met"
	}
	return "missed"
}
