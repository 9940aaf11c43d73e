package main

import (
	"cmp"
	"fmt"
	"io"
	"runtime"
	"slices"
	"time"
)

// Goals of issue 17 at the largest pod count.
const (
	goalCores = 1.0
	goalRSS   = 200 << 20
	// A tick is on time when it starts within this of a second after the
	// previous one (a tick overrunning its second makes the ticker skip
	// one, a gap of two seconds).
	onTimeGap = 1100 * time.Millisecond
)

func quantile[T cmp.Ordered](v []T, q float64) T {
	var zero T
	if len(v) == 0 {
		return zero
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return s[min(int(q*float64(len(s))), len(s)-1)]
}

func sum(v []int) int {
	n := 0
	for _, x := range v {
		n += x
	}
	return n
}

func (r Result) cores() float64 { return r.CPU.Seconds() / r.Wall.Seconds() }

func (r Result) peakRSS() uint64 { return max(r.HWM, r.RSSMax, r.RSSEnd) }

// everySecond tells whether every tick scraped every pod without a
// failure and started on time.
func (r Result) everySecond() bool {
	return len(r.Scraped) > 0 && slices.Min(r.Scraped) == r.Pods && sum(r.Failed) == 0 &&
		(len(r.TickGap) == 0 || slices.Max(r.TickGap) <= onTimeGap)
}

func mib(b uint64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/1e6) }

func summary(r Result) string {
	return fmt.Sprintf("scraped min %d/%d, failed %d, tick p99 %s, %.3f cores, RSS peak %s, decision p99 %s",
		slices.Min(r.Scraped), r.Pods, sum(r.Failed), ms(quantile(r.TickTook, 0.99)), r.cores(),
		mib(r.peakRSS()), ms(quantile(r.DecisionDelay, 0.99)))
}

func report(w io.Writer, o options, rs []Result) {
	fmt.Fprintf(w, "# Autoscaler at scale\n\n")
	fmt.Fprintf(w, "Production autoscaler (controllers/autoscaler) scraping simulated queue-proxies on loopback, "+
		"%d pods per revision, one tick a second for %s after %d fill ticks; measured %s.\n\n",
		o.podsPerRev, o.duration, o.fill, time.Now().UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintln(w, "| pods | revisions | scraped per tick min / median | failed scrapes | tick p50 / p99 / max | scrape phase p50 / p99 | tick gap max | CPU cores | RSS end / peak (VmHWM) | Go heap in use | decision latency p50 / p99 | decisions per tick min | connections per pod |")
	fmt.Fprintln(w, "|---:|---:|---|---:|---|---|---:|---:|---|---:|---|---:|---:|")
	for _, r := range rs {
		gap := time.Duration(0)
		if len(r.TickGap) > 0 {
			gap = slices.Max(r.TickGap)
		}
		fmt.Fprintf(w, "| %d | %d | %d / %d | %d | %s / %s / %s | %s / %s | %s | %.3f | %s / %s | %s | %s / %s | %d | %.2f |\n",
			r.Pods, r.Revisions, slices.Min(r.Scraped), quantile(r.Scraped, 0.5), sum(r.Failed),
			ms(quantile(r.TickTook, 0.5)), ms(quantile(r.TickTook, 0.99)), ms(slices.Max(r.TickTook)),
			ms(quantile(r.ScrapeTook, 0.5)), ms(quantile(r.ScrapeTook, 0.99)), ms(gap), r.cores(),
			mib(r.RSSEnd), mib(r.peakRSS()), mib(r.HeapInuse),
			ms(quantile(r.DecisionDelay, 0.5)), ms(quantile(r.DecisionDelay, 0.99)), slices.Min(r.Decisions),
			float64(r.Connections)/float64(r.Pods))
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "- Machine: %d CPUs, shared; 1-minute load average at the start / end of each measured phase:", runtime.NumCPU())
	for _, r := range rs {
		fmt.Fprintf(w, " %d pods %s / %s;", r.Pods, r.LoadAvg[0], r.LoadAvg[1])
	}
	fmt.Fprintln(w, " open-files limit", rs[len(rs)-1].NoFile, "(soft, raised to the hard limit).")
	for _, r := range rs {
		if r.NoFileNote != "" {
			fmt.Fprintf(w, "- %d pods: open-files limit: %s\n", r.Pods, r.NoFileNote)
		}
	}
	if len(rs) >= 2 {
		lo, hi := rs[0], rs[len(rs)-1]
		per := float64(hi.Pods-lo.Pods) / 100
		fmt.Fprintf(w, "- Growth from %d to %d pods: CPU %.3f → %.3f cores (%.4f cores per 100 pods, ×%.1f); "+
			"peak RSS %s → %s (%.1f MiB per 100 pods, ×%.1f).\n",
			lo.Pods, hi.Pods, lo.cores(), hi.cores(), (hi.cores()-lo.cores())/per, hi.cores()/lo.cores(),
			mib(lo.peakRSS()), mib(hi.peakRSS()),
			(float64(hi.peakRSS())-float64(lo.peakRSS()))/(1<<20)/per, float64(hi.peakRSS())/float64(lo.peakRSS()))
	}
	top := rs[len(rs)-1]
	met := func(ok bool) string {
		if ok {
			return "**met**"
		}
		return "**missed**"
	}
	fmt.Fprintf(w, "- Goal: every pod scraped every second at %d pods: %s (min %d of %d scraped per tick, %d failed, longest gap between ticks %s).\n",
		top.Pods, met(top.everySecond()), slices.Min(top.Scraped), top.Pods, sum(top.Failed), ms(maxOr0(top.TickGap)))
	fmt.Fprintf(w, "- Goal: ≤ %.0f CPU core at %d pods: %s (%.3f cores).\n", goalCores, top.Pods, met(top.cores() <= goalCores), top.cores())
	fmt.Fprintf(w, "- Goal: RSS ≤ %s at %d pods: %s (peak %s, VmHWM over the whole process life, fill included).\n",
		mib(goalRSS), top.Pods, met(top.peakRSS() <= goalRSS), mib(top.peakRSS()))
	fmt.Fprintf(w, "- Goal: decision latency per revision reported: %s (p50 %s, p99 %s from the tick's start to the revision's decision, over %d decisions).\n",
		met(len(top.DecisionDelay) > 0), ms(quantile(top.DecisionDelay, 0.5)), ms(quantile(top.DecisionDelay, 0.99)), len(top.DecisionDelay))
}

func maxOr0(v []time.Duration) time.Duration {
	if len(v) == 0 {
		return 0
	}
	return slices.Max(v)
}
