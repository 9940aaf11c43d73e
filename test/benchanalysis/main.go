// Command benchanalysis measures the accuracy of Ramp's canary analysis:
// it simulates canary steps (seeded), feeds each run's telemetry trace
// through the same entry point as `ramp analysis replay` with the analysis
// a Rollout without an analysis block gets, and prints, per scenario, how
// often the step rolled back within 60 s and 120 s, advanced or stayed
// undecided, the median time to decide and, for error scenarios, an
// oracle: an exact binomial test at α = 0.01 at 60 s that knows the
// stable's true error rate.
//
//	go run ./test/benchanalysis -runs 1000 -seed 1
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rampdev/ramp/analysis"
	"github.com/rampdev/ramp/cmd/ramp/cli"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "benchanalysis:", err)
		os.Exit(1)
	}
}

// Result is one scenario's tally.
type Result struct {
	Scenario                       Scenario
	Runs                           int
	Rollback60, Rollback120        int
	Advance, Undecided             int
	DecideSeconds                  []int64
	Oracle60, SingleLook60         int
	OracleApplies                  bool
	AdvanceWithin120, RollbackEver int
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("benchanalysis", flag.ContinueOnError)
	runs := fs.Int("runs", 1000, "runs per scenario")
	seconds := fs.Int("seconds", 120, "length of each run, in seconds")
	seed := fs.Uint64("seed", 1, "random seed")
	workers := fs.Int("workers", 2, "scenarios simulated at once")
	only := fs.String("scenario", "", "run only scenarios whose name contains this")
	rolloutFile := fs.String("f", "", "a Rollout manifest whose analysis to measure (default: a Rollout without an analysis block)")
	write := fs.String("write", "", "write the selected scenarios' traces to this JSONL file (for `ramp analysis replay`) instead of judging them")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *runs < 1 || *seconds < 10 {
		return fmt.Errorf("-runs must be at least 1 and -seconds at least 10")
	}
	manifest := []byte(cli.DefaultReplayRollout)
	if *rolloutFile != "" {
		b, err := os.ReadFile(*rolloutFile)
		if err != nil {
			return err
		}
		manifest = b
	}
	cfg, err := cli.ReplayConfigFromManifest(manifest, *rolloutFile)
	if err != nil {
		return err
	}
	var scenarios []Scenario
	for _, s := range Scenarios() {
		if strings.Contains(s.Name, *only) {
			scenarios = append(scenarios, s)
		}
	}
	if *write != "" {
		return writeTraces(*write, scenarios, *runs, *seconds, *seed, stderr)
	}
	fmt.Fprintf(stderr, ">> %d scenarios x %d runs of %d s (seed %d), interval %s, alpha %g, beta %g, step %s-%s\n",
		len(scenarios), *runs, *seconds, *seed, cfg.Interval, cfg.Alpha, cfg.Beta, cfg.Policy.MinStepTime, cfg.Policy.MaxStepTime)
	start := time.Now()
	results := make([]Result, len(scenarios))
	sem := make(chan struct{}, max(*workers, 1))
	var wg sync.WaitGroup
	var mu sync.Mutex
	done := 0
	for i, s := range scenarios {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			results[i] = simulate(cfg, s, *runs, *seconds, *seed+uint64(i)*7919)
			mu.Lock()
			done++
			fmt.Fprintf(stderr, ">> [%d/%d] %s (%s)\n", done, len(scenarios), s.Name, time.Since(start).Round(time.Second))
			mu.Unlock()
		})
	}
	wg.Wait()
	printTable(stdout, results, *seconds)
	fmt.Fprintf(stderr, ">> %d runs judged in %s\n", len(scenarios)**runs, time.Since(start).Round(time.Second))
	return nil
}

// simulate runs one scenario.
func simulate(cfg analysis.ReplayConfig, s Scenario, runs, seconds int, seed uint64) Result {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	res := Result{Scenario: s, Runs: runs, OracleApplies: s.ErrorScenario()}
	var buf bytes.Buffer
	ctx := context.Background()
	for i := range runs {
		buf.Reset()
		id := fmt.Sprintf("%d", i)
		n, k, ns, ks := runTrace(&buf, s, id, seconds, 60, rng)
		if res.OracleApplies && oracleRejects(k, n, s.StableErrors, 0.01) {
			res.Oracle60++
		}
		if res.OracleApplies && singleLookRejects(k, n, ks, ns, 0.01) {
			res.SingleLook60++
		}
		trace, err := analysis.ReadTrace(&buf, "sim.jsonl")
		if err != nil {
			panic(err) // the simulator writes valid traces
		}
		var out analysis.RunRecord
		if len(trace) == 0 { // no traffic at all
			out = analysis.RunRecord{Run: id, Outcome: analysis.OutcomeUndecided}
		} else {
			out = analysis.ReplayRun(ctx, cfg, trace[0], nil)
		}
		switch out.Outcome {
		case analysis.OutcomeRollback:
			if out.Second <= 60 {
				res.Rollback60++
			}
			if out.Second <= 120 {
				res.Rollback120++
			}
			res.RollbackEver++
			res.DecideSeconds = append(res.DecideSeconds, out.Second)
		case analysis.OutcomeAdvance:
			res.Advance++
			if out.Second <= 120 {
				res.AdvanceWithin120++
			}
			res.DecideSeconds = append(res.DecideSeconds, out.Second)
		default:
			res.Undecided++
		}
	}
	return res
}

func printTable(w io.Writer, results []Result, seconds int) {
	fmt.Fprintf(w, "\nCanary analysis accuracy: 50 req/s unless named, 10%% canary weight, %d s per run, defaults (no analysis block)\n\n", seconds)
	fmt.Fprintln(w, "| scenario | runs | rollback ≤60s | rollback ≤120s | advance | undecided | median decide | oracle rollback ≤60s | single look ≤60s |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|")
	for _, r := range results {
		pct := func(n int) string { return fmt.Sprintf("%.1f%%", 100*float64(n)/float64(r.Runs)) }
		med := "-"
		if len(r.DecideSeconds) > 0 {
			slices.Sort(r.DecideSeconds)
			med = fmt.Sprintf("%ds", r.DecideSeconds[len(r.DecideSeconds)/2])
		}
		oracle, single := "-", "-"
		if r.OracleApplies {
			oracle, single = pct(r.Oracle60), pct(r.SingleLook60)
		}
		fmt.Fprintf(w, "| %s | %d | %s | %s | %s | %s | %s | %s | %s |\n", r.Scenario.Name, r.Runs,
			pct(r.Rollback60), pct(r.Rollback120), pct(r.Advance), pct(r.Undecided), med, oracle, single)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "oracle: exact binomial test at α = 0.01 on the canary's first 60 s, knowing the stable's true error rate.")
	fmt.Fprintln(w, "single look: exact conditional binomial test at α = 0.01 on the first 60 s of both revisions, not knowing the")
	fmt.Fprintln(w, "stable's rate: the most a single, pre-planned look can tell; Ramp's judge looks every interval and stays valid.")
	fmt.Fprintln(w)
	for _, g := range goals(results) {
		fmt.Fprintln(w, g)
	}
}

// goals checks the goals against the results and says which hold.
func goals(results []Result) []string {
	by := map[string]Result{}
	for _, r := range results {
		by[r.Scenario.Name] = r
	}
	var out []string
	check := func(name string, ok bool, format string, args ...any) {
		mark := "PASS"
		if !ok {
			mark = "MISS"
		}
		out = append(out, fmt.Sprintf("goal %s: %s: %s", mark, name, fmt.Sprintf(format, args...)))
	}
	share := func(n, of int) float64 { return float64(n) / float64(of) }
	for name, r := range by {
		s := r.Scenario
		switch {
		case s.NoCanary:
			check(name, r.Advance == 0, "never advances (%d advanced)", r.Advance)
		case !s.Bad:
			check(name, share(r.RollbackEver, r.Runs) <= 0.01, "rolled back ≤ 1%% (%.1f%%)", 100*share(r.RollbackEver, r.Runs))
		default:
			check(name, share(r.Advance, r.Runs) <= 0.05, "advances ≤ 5%% (%.1f%%)", 100*share(r.Advance, r.Runs))
		}
	}
	if r, ok := by["+2 pts over 0.1%"]; ok {
		check(r.Scenario.Name, share(r.Rollback60, r.Runs) >= 0.95, "rolled back ≤60s in ≥ 95%% (%.1f%%)", 100*share(r.Rollback60, r.Runs))
	}
	for _, n := range []string{"+2 pts over 0.5%", "+2 pts over 1%"} {
		if r, ok := by[n]; ok {
			check(n, share(r.Rollback60, r.Runs) >= 0.9*share(r.Oracle60, r.Runs), "rolled back ≤60s in ≥ 0.9x the oracle (%.1f%% vs oracle %.1f%%)",
				100*share(r.Rollback60, r.Runs), 100*share(r.Oracle60, r.Runs))
			check(n, share(r.Rollback120, r.Runs) >= 0.9, "rolled back ≤120s in ≥ 90%% (%.1f%%)", 100*share(r.Rollback120, r.Runs))
		}
	}
	if r, ok := by["latency x1.3"]; ok {
		check(r.Scenario.Name, share(r.Rollback60, r.Runs) >= 0.9, "rolled back ≤60s in ≥ 90%% (%.1f%%)", 100*share(r.Rollback60, r.Runs))
	}
	if r, ok := by["latency x1.05"]; ok {
		check(r.Scenario.Name, share(r.RollbackEver, r.Runs) <= 0.05, "rolled back ≤ 5%% (%.1f%%)", 100*share(r.RollbackEver, r.Runs))
	}
	if r, ok := by["healthy, 0.1% baseline"]; ok {
		check(r.Scenario.Name, share(r.AdvanceWithin120, r.Runs) >= 0.9, "advances ≤120s in ≥ 90%% (%.1f%%)", 100*share(r.AdvanceWithin120, r.Runs))
	}
	slices.Sort(out)
	return out
}

// writeTraces writes every run of scenarios as one trace file; run ids
// are "<scenario index>-<run>".
func writeTraces(path string, scenarios []Scenario, runs, seconds int, seed uint64, stderr io.Writer) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	for i, s := range scenarios {
		rng := rand.New(rand.NewPCG(seed+uint64(i)*7919, (seed+uint64(i)*7919)^0x9e3779b97f4a7c15))
		for r := range runs {
			buf.Reset()
			runTrace(&buf, s, fmt.Sprintf("%d-%d", i, r), seconds, 60, rng)
			if _, err := f.Write(buf.Bytes()); err != nil {
				f.Close()
				return err
			}
		}
		fmt.Fprintf(stderr, ">> wrote %d runs of %s\n", runs, s.Name)
	}
	return f.Close()
}
