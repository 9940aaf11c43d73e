package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"

	servingv1 "github.com/rampdev/ramp/apis/serving/v1"
	autoscalerctl "github.com/rampdev/ramp/controllers/autoscaler"
	"github.com/rampdev/ramp/serving/autoscaler"
)

// Result is what the autoscaler process measured, written as JSON on its
// stdout for the bench.
type Result struct {
	Pods, Revisions int
	// NoFile is the file-descriptor limit after raising it, and NoFileNote
	// why it could not be raised (empty when it was).
	NoFile     uint64
	NoFileNote string `json:",omitempty"`
	FillTicks  int
	FillTook   time.Duration
	// Per measured tick.
	Scraped, Failed []int
	TickTook        []time.Duration // Autoscaler.Tick: scrape and decide
	ScrapeTook      []time.Duration // the scrape phase (ramp_autoscaler_tick_seconds)
	TickGap         []time.Duration // from the previous tick's start
	// Decisions per measured tick, and each revision's decision latency
	// from its tick's start.
	Decisions     []int
	DecisionDelay []time.Duration
	Changed       int // decisions that changed a revision's desired scale
	// CPU is the user+system CPU time of the measured phase over Wall.
	CPU, Wall time.Duration
	// RSS figures in bytes: VmRSS at the end, its largest value sampled
	// after each measured tick, and VmHWM (peak over the process's life).
	RSSEnd, RSSMax, HWM uint64
	HeapInuse           uint64
	// LoadAvg is the machine's 1-minute load average at the start and the
	// end of the measured phase: other processes' demand for the CPUs,
	// which the simulator and the autoscaler share with them.
	LoadAvg [2]string
	// Connections is how many connections the simulated pods accepted
	// over the whole run (the bench fills it in from the simulator).
	Connections int
}

// runAutoscaler runs the production autoscaler (controllers/autoscaler:
// the EndpointSlice pod source, Scraper, Aggregator, Store, decisions and
// metrics) over the simulated pods, fed by an in-memory cache, and
// measures itself.
func runAutoscaler(pods, podsPerRev, fill int, duration time.Duration, cpuProfile, memProfile string) error {
	res := Result{Pods: pods, Revisions: (pods + podsPerRev - 1) / podsPerRev, FillTicks: fill}
	res.NoFileNote = raiseNoFile(pods + 256)
	res.NoFile = noFileNow()
	reader := newMemReader(pods, podsPerRev)

	var (
		mu        sync.Mutex
		tickStart time.Time
		delays    []time.Duration
		last      = map[autoscaler.RevisionKey]int32{}
	)
	decided := func(key autoscaler.RevisionKey, d autoscaler.Decision) {
		at := time.Now()
		mu.Lock()
		defer mu.Unlock()
		delays = append(delays, at.Sub(tickStart))
		if prev, ok := last[key]; ok && prev != d.DesiredScale {
			res.Changed++
		}
		last[key] = d.DesiredScale
	}
	reg := &capturingRegisterer{Registry: prometheus.NewRegistry()}
	rec, err := autoscalerctl.NewRecorder(reg)
	if err != nil {
		return err
	}
	a := autoscalerctl.New(reader, clock.RealClock{}, events.NewFakeRecorder(16), rec, logr.Discard(),
		autoscalerctl.Options{Namespace: "ramp-system", Decided: decided})
	go func() { // the Revision reconciler's end of the queue
		for range a.Events() {
		}
	}()
	ctx := context.Background()

	// Fill: ticks back to back with the clock one second further each, so
	// that the aggregation windows (5 min) and the telemetry ring (15 min)
	// are full and the memory measured is the steady state's.
	base := time.Now().Truncate(time.Second)
	fillStart := time.Now()
	for i := range fill {
		mu.Lock()
		tickStart = time.Now()
		mu.Unlock()
		a.Tick(ctx, base.Add(time.Duration(i)*time.Second))
		if (i+1)%100 == 0 {
			fmt.Fprintf(os.Stderr, "  autoscaler: fill tick %d/%d\n", i+1, fill)
		}
	}
	res.FillTook = time.Since(fillStart)
	offset := time.Until(base.Add(time.Duration(fill) * time.Second))
	runtime.GC()

	if cpuProfile != "" {
		f, err := os.Create(cpuProfile)
		if err != nil {
			return err
		}
		defer func() { _ = f.Close() }()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	okBefore, errBefore, sumBefore := reg.scrapes()
	cpu0, err := cpuTime()
	if err != nil {
		return err
	}
	wall0 := time.Now()
	res.LoadAvg[0] = loadAvg()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	var prevStart time.Time
	for time.Since(wall0) < duration {
		<-t.C
		start := time.Now()
		mu.Lock()
		tickStart, delays = start, delays[:0]
		mu.Unlock()
		a.Tick(ctx, start.Add(offset))
		took := time.Since(start)
		ok, failed, sum := reg.scrapes()
		mu.Lock()
		res.Decisions = append(res.Decisions, len(delays))
		res.DecisionDelay = append(res.DecisionDelay, delays...)
		mu.Unlock()
		res.Scraped = append(res.Scraped, int(ok-okBefore))
		res.Failed = append(res.Failed, int(failed-errBefore))
		res.ScrapeTook = append(res.ScrapeTook, time.Duration((sum-sumBefore)*float64(time.Second)))
		res.TickTook = append(res.TickTook, took)
		if !prevStart.IsZero() {
			res.TickGap = append(res.TickGap, start.Sub(prevStart))
		}
		prevStart, okBefore, errBefore, sumBefore = start, ok, failed, sum
		if rss, _, err := memory(); err == nil {
			res.RSSMax = max(res.RSSMax, rss)
		}
	}
	cpu1, err := cpuTime()
	if err != nil {
		return err
	}
	res.CPU, res.Wall = cpu1-cpu0, time.Since(wall0)
	res.LoadAvg[1] = loadAvg()
	if res.RSSEnd, res.HWM, err = memory(); err != nil {
		return err
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	res.HeapInuse = ms.HeapInuse
	if memProfile != "" {
		f, err := os.Create(memProfile)
		if err != nil {
			return err
		}
		defer func() { _ = f.Close() }()
		if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
			return err
		}
	}
	return json.NewEncoder(os.Stdout).Encode(res)
}

// capturingRegisterer registers on a Registry and keeps the scrape
// counter and the scrape-duration histogram, so that the bench can read
// them after every tick without gathering every per-revision series.
type capturingRegisterer struct {
	*prometheus.Registry
	counters   *prometheus.CounterVec
	histograms prometheus.Histogram
}

func (c *capturingRegisterer) Register(col prometheus.Collector) error {
	if err := c.Registry.Register(col); err != nil {
		return err
	}
	desc := make(chan *prometheus.Desc, 16)
	col.Describe(desc)
	close(desc)
	for d := range desc {
		switch {
		case containsName(d, "ramp_autoscaler_scrapes_total"):
			c.counters = col.(*prometheus.CounterVec)
		case containsName(d, "ramp_autoscaler_tick_seconds"):
			c.histograms = col.(prometheus.Histogram)
		}
	}
	return nil
}

// containsName tells whether d describes metric name (Desc exposes its
// name only through String).
func containsName(d *prometheus.Desc, name string) bool {
	return strings.Contains(d.String(), `fqName: "`+name+`"`)
}

// scrapes reads the cumulative successful and failed scrapes and the
// summed scrape-phase seconds.
func (c *capturingRegisterer) scrapes() (ok, failed float64, seconds float64) {
	var m dto.Metric
	if c.counters != nil {
		if err := c.counters.WithLabelValues("ok").Write(&m); err == nil {
			ok = m.GetCounter().GetValue()
		}
		if err := c.counters.WithLabelValues("error").Write(&m); err == nil {
			failed = m.GetCounter().GetValue()
		}
	}
	if c.histograms != nil {
		if err := c.histograms.Write(&m); err == nil {
			seconds = m.GetHistogram().GetSampleSum()
		}
	}
	return ok, failed, seconds
}

// newMemReader is the cache the controller would read: one Revision and
// one EndpointSlice per podsPerRev simulated pods, every pod ready.
func newMemReader(pods, podsPerRev int) *memReader {
	r := &memReader{}
	for i := 0; i < pods; i += podsPerRev {
		name := revName(i / podsPerRev)
		rev := servingv1.Revision{ObjectMeta: metav1.ObjectMeta{Namespace: benchNamespace, Name: name}}
		rev.Spec.ContainerConcurrency = ptr.To[int64](10)
		rev.Status.DesiredReplicas = ptr.To(int32(podsPerRev))
		rev.Status.MarkTrue(servingv1.RevisionConditionResourcesAvailable, "Available", "")
		r.revisions = append(r.revisions, rev)
		s := discoveryv1.EndpointSlice{
			ObjectMeta: metav1.ObjectMeta{Namespace: benchNamespace, Name: name + "-abcde", Labels: map[string]string{
				servingv1.LabelRevision: name, discoveryv1.LabelServiceName: name}},
			AddressType: discoveryv1.AddressTypeIPv4,
		}
		for p := i; p < min(i+podsPerRev, pods); p++ {
			s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{Addresses: []string{podIP(p)},
				Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)},
				TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: benchNamespace, Name: podName(p)}})
		}
		r.slices = append(r.slices, s)
	}
	return r
}

const benchNamespace = "bench"
