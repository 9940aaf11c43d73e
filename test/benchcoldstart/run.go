package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/rampdev/ramp/test/localcluster/node"
)

// Stage timestamps of one cold start, by name. The order is the path of
// the first request.
const (
	tSent         = "sent"         // the burst left this program
	tHeld         = "held"         // gateway: the first request held
	tReceived     = "received"     // autoscaler: the gateway's signal received
	tDecided      = "decided"      // autoscaler: one pod or more asked for
	tScaled       = "scaled"       // watch: the Deployment asks for pods
	tCreated      = "created"      // watch: the first pod exists
	tBound        = "bound"        // node: the pod bound to the node
	tStarted      = "started"      // node: the pod's last process started
	tReady        = "ready"        // node: the pod's last container ready
	tReadyWritten = "readyWritten" // node: Ready=True accepted by the API
	tEndpoints    = "endpoints"    // watch: the EndpointSlice lists it ready
	tReleased     = "released"     // gateway: the held requests released to it
	tFirstByte    = "firstByte"    // this program: the first response's first byte
	tSignalled    = "signalled"    // gateway: the autoscaler accepted the signal
	tLastByte     = "lastByte"     // this program: the last response's first byte
	tNodeSandbox  = "sandbox"      // node: sandbox and credentials ready
	metricGateway = "ramp_gateway_activation_stage_timestamp_seconds"
	metricScaler  = "ramp_revision_activation_timestamp_seconds"
)

// runResult is one cold start.
type runResult struct {
	service     string
	concurrency int
	sent, ok    int
	failures    map[string]int // by status or error
	at          map[string]time.Time
	missing     []string // stages not recorded
}

func (r runResult) firstByte() time.Duration { return r.since(tFirstByte) }
func (r runResult) lastByte() time.Duration  { return r.since(tLastByte) }

func (r runResult) since(stage string) time.Duration {
	t := r.at[stage]
	if t.IsZero() {
		return noData
	}
	return t.Sub(r.at[tSent])
}

// coldStart waits until the service is at zero, sends its burst at once
// and collects the stages of the scale from zero.
func (b *bench) coldStart(ctx context.Context, p planned) (runResult, error) {
	if err := b.waitZero(ctx, p.service); err != nil {
		return runResult{}, err
	}
	rev := revisionOf(p.service)
	r := runResult{service: p.service, concurrency: p.concurrency, failures: map[string]int{}, at: map[string]time.Time{}}
	first, last, t0 := b.burst(ctx, p, &r)
	r.at[tSent], r.at[tFirstByte], r.at[tLastByte] = t0, first, last

	seen := b.w.since(rev, t0)
	r.at[tScaled], r.at[tCreated] = seen.scaled, seen.podCreated
	gw, err := stageTimes(ctx, gatewayMetricsURL(b.gatewayIP), metricGateway, rev)
	if err != nil {
		return r, err
	}
	as, err := stageTimes(ctx, controllerMetricsURL(b.controllerIP), metricScaler, rev)
	if err != nil {
		return r, err
	}
	r.at[tHeld], r.at[tSignalled], r.at[tEndpoints], r.at[tReleased] = gw["held"], gw["signalled"], gw["endpoints"], gw["released"]
	r.at[tReceived], r.at[tDecided] = as["received"], as["decided"]
	if seen.pod != nil {
		b.nodeTimes(ctx, seen, &r)
	}
	for k, t := range r.at {
		if t.Before(t0) { // an earlier cold start's, or none
			r.at[k] = time.Time{}
		}
	}
	for _, s := range []string{tHeld, tSignalled, tReceived, tDecided, tScaled, tCreated, tBound, tStarted, tReady,
		tReadyWritten, tEndpoints, tReleased, tFirstByte} {
		if r.at[s].IsZero() {
			r.missing = append(r.missing, s)
		}
	}
	return r, nil
}

// burst sends p.concurrency requests at once (each on its own
// connection, as that many clients would) and returns when the first and
// the last response's first byte came, and when they were sent.
func (b *bench) burst(ctx context.Context, p planned, r *runResult) (first, last, t0 time.Time) {
	tr := &http.Transport{DisableKeepAlives: true, MaxConnsPerHost: 0}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 60 * time.Second}
	url := gatewayURL(b.gatewayIP) // checked to be a loopback address in setUp
	start := make(chan struct{})
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range p.concurrency {
		wg.Go(func() {
			<-start
			var fb time.Time
			trace := &httptrace.ClientTrace{GotFirstResponseByte: func() { fb = time.Now() }}
			req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), http.MethodGet, url, nil)
			if err != nil {
				panic(err) // a constant, valid URL
			}
			req.Host = hostOf(p.service)
			outcome := ""
			resp, err := client.Do(req)
			if err != nil {
				outcome = "transport error: " + err.Error()
			} else {
				_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
				_ = resp.Body.Close()
				switch {
				case resp.StatusCode != http.StatusOK:
					outcome = strconv.Itoa(resp.StatusCode)
				case resp.Header.Get("X-Sampleapp-Version") != "v1":
					outcome = "answered by " + resp.Header.Get("X-Sampleapp-Version")
				}
			}
			mu.Lock()
			defer mu.Unlock()
			r.sent++
			if outcome != "" {
				r.failures[outcome]++
				return
			}
			r.ok++
			if first.IsZero() || fb.Before(first) {
				first = fb
			}
			if fb.After(last) {
				last = fb
			}
		})
	}
	t0 = time.Now()
	close(start)
	wg.Wait()
	return first, last, t0
}

// stageTimes reads a component's /metrics and returns the stage
// timestamps of a revision from the gauge named metric.
func stageTimes(ctx context.Context, url, metric, rev string) (map[string]time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", url, err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("reading %s: %s", url, resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return nil, fmt.Errorf("parsing %s: %w", url, err)
	}
	out := map[string]time.Time{}
	fam := fams[metric]
	if fam == nil {
		return out, nil // nothing recorded yet
	}
	for _, m := range fam.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		if labels["namespace"] != namespace || labels["revision"] != rev {
			continue
		}
		sec := m.GetGauge().GetValue()
		out[labels["stage"]] = time.Unix(0, int64(sec*1e9))
	}
	return out, nil
}

// nodeTimes reads the node agent's timeline of the first pod. The agent
// records Ready written after the API answers, which can be a moment
// after the gateway released the requests: it waits up to a second for
// that line.
func (b *bench) nodeTimes(ctx context.Context, seen observed, r *runResult) {
	deadline := time.Now().Add(time.Second)
	for {
		entries, err := node.ReadTimeline(b.c.PodsDir(), seen.pod)
		if err == nil {
			// Each stage's first time (a container's first start, its
			// first readiness); the pod's is its last container's.
			firsts := map[string]time.Time{}
			for _, e := range entries {
				if _, ok := firsts[e.Stage]; !ok {
					firsts[e.Stage] = e.At()
				}
			}
			for name, at := range firsts {
				stage, _, _ := strings.Cut(name, ":")
				switch stage {
				case node.StageBound:
					r.at[tBound] = at
				case node.StageSandbox:
					r.at[tNodeSandbox] = at
				case node.StageStarted:
					r.at[tStarted] = later(r.at[tStarted], at)
				case node.StageContainerReady:
					r.at[tReady] = later(r.at[tReady], at)
				case node.StageReadyWritten:
					r.at[tReadyWritten] = at
				}
			}
		}
		if !r.at[tReadyWritten].IsZero() || time.Now().After(deadline) || ctx.Err() != nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
