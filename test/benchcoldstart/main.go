// Command benchcoldstart measures Ramp's scale from zero on a local cluster
// (make bench-coldstart): it starts a cluster, installs the chart, and
// repeats cold starts of revisions at zero pods, first with bursts of 20
// concurrent requests (containerConcurrency 0), then with bursts of 100
// (containerConcurrency 1). For each cold start it breaks the first
// response's latency into stages, from millisecond timestamps that the
// components record themselves (the API's are whole seconds):
//
//   - the gateway: request held, signal accepted, EndpointSlice arrived,
//     requests released (ramp_gateway_activation_stage_timestamp_seconds);
//   - the autoscaler: signal received, scale decided
//     (ramp_revision_activation_timestamp_seconds);
//   - the node agent: pod bound, processes started, containers ready,
//     Ready written (the pod sandbox's timeline.jsonl);
//   - this program's watches: Deployment scaled, pod created; and its
//     clients: first byte.
//
// It prints a table of each stage's median and p99 and what Ramp adds
// beyond the pod's own start against the goal, and checks that every
// request was answered 200. Only 127.0.0.0/8 is ever sent requests, and
// every wait is bounded.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"
)

type options struct {
	runs20, runs100 int
	services        int
	out             string
	keep            bool
	timeout         time.Duration
}

func main() {
	var o options
	flag.IntVar(&o.runs20, "runs20", 20, "cold starts with 20 concurrent requests (containerConcurrency 0)")
	flag.IntVar(&o.runs100, "runs100", 10, "cold starts with 100 concurrent requests (containerConcurrency 1)")
	flag.IntVar(&o.services, "services", 4, "Services per burst size, used in turn so that one scales to zero while the others are measured")
	flag.StringVar(&o.out, "out", "_out/bench/coldstart.md", "where to write the report (also printed)")
	flag.BoolVar(&o.keep, "keep", false, "keep the cluster's directory (logs) after the run")
	flag.DurationVar(&o.timeout, "timeout", 12*time.Minute, "bound on the whole benchmark")
	flag.Parse()
	if o.runs20 < 1 || o.runs100 < 0 || o.services < 1 {
		fmt.Fprintln(os.Stderr, "benchcoldstart: -runs20 must be at least 1, -runs100 at least 0, -services at least 1")
		os.Exit(2)
	}
	if err := runWithSignals(o); err != nil {
		fmt.Fprintf(os.Stderr, "benchcoldstart: %v\n", err)
		os.Exit(1)
	}
}

// runWithSignals is run, cancelled by SIGINT/SIGTERM and by -timeout.
func runWithSignals(o options) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	return run(ctx, o)
}

func run(ctx context.Context, o options) (err error) {
	start := time.Now()
	b, err := setUp(ctx, o)
	if b != nil {
		defer func() {
			progress("stopping the cluster")
			err = errors.Join(err, b.c.Stop(o.keep || err != nil))
		}()
	}
	if err != nil {
		return err
	}
	var results []runResult
	plan := schedule(o)
	for i, p := range plan {
		r, err := b.coldStart(ctx, p)
		if err != nil {
			return fmt.Errorf("cold start %d/%d (%s, %d concurrent): %w", i+1, len(plan), p.service, p.concurrency, err)
		}
		progress("cold start %2d/%d: %-8s %3d concurrent: %3d/%d answered 200, first byte %s, last %s",
			i+1, len(plan), p.service, p.concurrency, r.ok, r.sent, ms(r.firstByte()), ms(r.lastByte()))
		results = append(results, r)
	}
	rep := report(results, time.Since(start))
	fmt.Print(rep)
	if err := os.MkdirAll(filepath.Dir(o.out), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(o.out, []byte(rep), 0o644); err != nil {
		return err
	}
	progress("report written to %s", o.out)
	if failed := dropped(results); failed > 0 {
		return fmt.Errorf("%d requests were not answered 200 (see the table)", failed)
	}
	return nil
}

// planned is one cold start to run.
type planned struct {
	service     string
	concurrency int
}

// schedule interleaves the two burst sizes and, within each, cycles
// through its Services, so that each Service has as long as possible to
// scale back to zero before its next turn.
func schedule(o options) []planned {
	var out []planned
	i20, i100 := 0, 0
	for i20 < o.runs20 || i100 < o.runs100 {
		// Two bursts of 20 for each of 100 while both remain.
		for k := 0; k < 2 && i20 < o.runs20; k++ {
			out = append(out, planned{service: serviceName(20, i20%o.services), concurrency: 20})
			i20++
		}
		if i100 < o.runs100 {
			out = append(out, planned{service: serviceName(100, i100%o.services), concurrency: 100})
			i100++
		}
	}
	return out
}

func serviceName(concurrency, i int) string { return fmt.Sprintf("c%d-%c", concurrency, 'a'+i) }

var progressOut io.Writer = os.Stderr

func progress(format string, args ...any) {
	fmt.Fprintf(progressOut, ">> %s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}
