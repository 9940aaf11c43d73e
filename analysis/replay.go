package analysis

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/rampdev/ramp/serving/queue/stats"
)

// A telemetry trace (TRACE.jsonl) has one JSON object per line:
//
//	{"run":"ID","second":S,"revision":"stable"|"canary","requests":N,"errors":E,"latencies":[0.051,...]}
//
// one line per revision per second that had traffic. errors is the number
// of 5xx answers among the N requests; latencies holds exactly N values in
// seconds. The lines of one run are contiguous, with non-decreasing
// seconds; second 0 is when the step's traffic starts. One file may hold
// many runs.

// Trace revisions.
const (
	TraceCanary = "canary"
	TraceStable = "stable"
)

// TraceLine is one line of a telemetry trace.
type TraceLine struct {
	Run       string    `json:"run"`
	Second    int64     `json:"second"`
	Revision  string    `json:"revision"`
	Requests  int64     `json:"requests"`
	Errors    int64     `json:"errors"`
	Latencies []float64 `json:"latencies"`
}

// TraceError is a bad line of a trace: the file, the line and the field.
type TraceError struct {
	File  string
	Line  int
	Field string
	Err   error
}

func (e *TraceError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err)
	}
	return fmt.Sprintf("%s:%d: %s: %v", e.File, e.Line, e.Field, e.Err)
}

func (e *TraceError) Unwrap() error { return e.Err }

// maxTraceLine bounds one line of a trace (a second of 100k requests).
const maxTraceLine = 16 << 20

// TraceRun is the telemetry of one run, per second and revision.
type TraceRun struct {
	ID string
	// Last is the last second with traffic.
	Last    int64
	seconds map[string][]traceSecond
}

type traceSecond struct {
	second           int64
	requests, errors int64
	latency          stats.Histogram
}

// ReadTrace reads and checks a whole trace; name is the file name errors
// report. Latencies are placed into the queue-proxy's own histogram
// buckets, as live traffic is.
func ReadTrace(r io.Reader, name string) ([]*TraceRun, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 1<<20), maxTraceLine)
	var runs []*TraceRun
	seen := map[string]bool{}
	var cur *TraceRun
	line := 0
	for sc.Scan() {
		line++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		bad := func(field string, format string, args ...any) error {
			return &TraceError{File: name, Line: line, Field: field, Err: fmt.Errorf(format, args...)}
		}
		var raw map[string]json.RawMessage
		if err := json.Unmarshal(b, &raw); err != nil {
			return nil, bad("", "malformed JSON: %v", err)
		}
		for _, f := range []string{"run", "second", "revision", "requests", "errors", "latencies"} {
			v, ok := raw[f]
			switch {
			case !ok:
				return nil, bad(f, "missing")
			case string(bytes.TrimSpace(v)) == "null":
				return nil, bad(f, "must not be null")
			}
		}
		// The array holds numbers only, so any null in it is an element.
		if bytes.Contains(raw["latencies"], []byte("null")) {
			return nil, bad("latencies", "must hold numbers of seconds, not null")
		}
		var l TraceLine
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&l); err != nil {
			var te *json.UnmarshalTypeError
			if errors.As(err, &te) {
				return nil, bad(te.Field, "want a %s, got JSON %s", te.Type, te.Value)
			}
			return nil, bad("", "%v", err)
		}
		switch {
		case l.Run == "":
			return nil, bad("run", "must not be empty")
		case l.Second < 0:
			return nil, bad("second", "must not be negative, got %d", l.Second)
		case l.Revision != TraceCanary && l.Revision != TraceStable:
			return nil, bad("revision", "unknown revision %q, want %q or %q", l.Revision, TraceStable, TraceCanary)
		case l.Requests < 0:
			return nil, bad("requests", "must not be negative, got %d", l.Requests)
		case l.Errors < 0 || l.Errors > l.Requests:
			return nil, bad("errors", "must be from 0 to requests (%d), got %d", l.Requests, l.Errors)
		case int64(len(l.Latencies)) != l.Requests:
			return nil, bad("latencies", "has %d values, want requests = %d", len(l.Latencies), l.Requests)
		}
		ts := traceSecond{second: l.Second, requests: l.Requests, errors: l.Errors}
		if l.Requests > 0 {
			ts.latency.Counts = make([]uint64, stats.NumBuckets)
		}
		for i, v := range l.Latencies {
			if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
				return nil, bad(fmt.Sprintf("latencies[%d]", i), "want seconds, not negative, got %v", v)
			}
			// Beyond 100 years a latency is only "too slow": the overflow
			// bucket, without overflowing a Duration.
			d := time.Duration(math.Min(v, 3e9) * float64(time.Second))
			ts.latency.Counts[stats.BucketIndex(d)]++
			ts.latency.SumMicros += uint64(d / time.Microsecond)
		}
		if cur == nil || cur.ID != l.Run {
			if seen[l.Run] {
				return nil, bad("run", "run %q appears again after other runs: the lines of a run must be contiguous", l.Run)
			}
			seen[l.Run] = true
			cur = &TraceRun{ID: l.Run, seconds: map[string][]traceSecond{}}
			runs = append(runs, cur)
		}
		if l.Second < cur.Last {
			return nil, bad("second", "%d is before second %d of run %q: seconds must not decrease", l.Second, cur.Last, l.Run)
		}
		secs := cur.seconds[l.Revision]
		if n := len(secs); n > 0 && secs[n-1].second == l.Second {
			return nil, bad("second", "second %d of run %q has two %s lines", l.Second, l.Run, l.Revision)
		}
		cur.seconds[l.Revision] = append(secs, ts)
		cur.Last = l.Second
	}
	if err := sc.Err(); err != nil {
		return nil, &TraceError{File: name, Line: line + 1, Err: fmt.Errorf("reading: %w", err)}
	}
	return runs, nil
}

// replayEpoch is the wall time of a run's second 0.
var replayEpoch = time.Unix(1_000_000_000, 0).UTC()

// Sample implements Sampler over the run: Target.Revision is TraceCanary
// or TraceStable; [from, to) is in replay time (second 0 at replayEpoch).
func (r *TraceRun) Sample(_ context.Context, t Target, from, to time.Time) (Sample, error) {
	secs, ok := r.seconds[t.Revision]
	if !ok && t.Revision != TraceCanary && t.Revision != TraceStable {
		return Sample{}, fmt.Errorf("trace has no revision %q", t.Revision)
	}
	lo, hi := int64(from.Sub(replayEpoch)/time.Second), int64(to.Sub(replayEpoch)/time.Second)
	var s Sample
	for i := range secs {
		ts := &secs[i]
		if ts.second < lo {
			continue
		}
		if ts.second >= hi {
			break
		}
		s.Requests += ts.requests
		s.Errors += ts.errors
		s.Latency.Add(ts.latency)
	}
	return s, nil
}

// ReplayConfig is the analysis a replay runs: the same metrics, judge and
// step policy the controller uses for a Rollout's first canary step.
type ReplayConfig struct {
	Metrics  []Metric
	Interval time.Duration
	// Alpha and Beta of the sequential judge.
	Alpha, Beta float64
	Policy      StepPolicy
}

// LookRecord is one look of a replay (a JSON line).
type LookRecord struct {
	Run     string         `json:"run"`
	Second  int64          `json:"second"`
	Phase   Phase          `json:"phase"`
	Metrics []ResultRecord `json:"metrics"`
}

// ResultRecord is one metric of a look.
type ResultRecord struct {
	Name     string    `json:"name"`
	Phase    Phase     `json:"phase"`
	Message  string    `json:"message"`
	Evidence *Evidence `json:"evidence,omitempty"`
}

// RunRecord is the outcome of a replayed run (a JSON line): the first look
// at which the step would advance or roll back, or undecided (the trace
// ended first, or the step paused) with the last look's second.
type RunRecord struct {
	Run     string `json:"run"`
	Outcome string `json:"outcome"`
	Second  int64  `json:"second"`
}

// Replay outcomes.
const (
	OutcomeAdvance   = "advance"
	OutcomeRollback  = "rollback"
	OutcomeUndecided = "undecided"
)

// ReplayRun runs the judge and the step logic over one run with a
// simulated clock, calling look for every look. It stops at the first
// verdict.
func ReplayRun(ctx context.Context, cfg ReplayConfig, run *TraceRun, look func(LookRecord)) RunRecord {
	interval := max(cfg.Interval, time.Second)
	spec := Spec{
		Canary:  Target{Revision: TraceCanary},
		Stable:  Target{Revision: TraceStable},
		Window:  interval,
		Metrics: cfg.Metrics,
		Sequential: SequentialSpec{From: replayEpoch, Interval: interval,
			Alpha: cfg.Alpha, Beta: cfg.Beta},
	}
	providers := Providers{BuiltinProvider: traceProvider{run}}
	out := RunRecord{Run: run.ID, Outcome: OutcomeUndecided}
	var st StepState
	step := int64(interval / time.Second)
	for s := step; s <= run.Last+1; s += step {
		now := replayEpoch.Add(time.Duration(s) * time.Second)
		rep := Evaluate(ctx, providers, spec, now)
		if look != nil {
			rec := LookRecord{Run: run.ID, Second: s, Phase: rep.Phase, Metrics: make([]ResultRecord, len(rep.Results))}
			for i, r := range rep.Results {
				rec.Metrics[i] = ResultRecord{Name: r.Metric, Phase: r.Phase, Message: r.Message, Evidence: r.Evidence}
			}
			if len(rep.Results) == 0 {
				rec.Metrics = []ResultRecord{{Name: "analysis", Phase: rep.Phase, Message: rep.Message}}
			}
			look(rec)
		}
		out.Second = s
		var v Verdict
		v, st, _ = Decide(cfg.Policy, st, rep, time.Duration(s)*time.Second)
		switch v {
		case Advance:
			out.Outcome = OutcomeAdvance
			return out
		case RollBack:
			out.Outcome = OutcomeRollback
			return out
		case Hold:
			return out
		}
	}
	return out
}

// traceProvider is the builtin provider of a replay: the trace's
// telemetry instead of the autoscaler's.
type traceProvider struct{ run *TraceRun }

var (
	_ Provider = traceProvider{}
	_ Sampler  = traceProvider{}
)

func (p traceProvider) Sample(ctx context.Context, t Target, from, to time.Time) (Sample, error) {
	return p.run.Sample(ctx, t, from, to)
}

// Measure implements Provider for threshold metrics on a window.
func (p traceProvider) Measure(ctx context.Context, q Query) (Measurement, error) {
	if !knownBuiltin(q.Metric.Builtin) {
		return Measurement{}, fmt.Errorf("replay: %w %q: a trace has only the builtin metrics", ErrUnknownMetric, q.Metric.Builtin)
	}
	return measureSamples(ctx, p, q)
}

// Replay reads a whole trace (checking every line before it prints
// anything) and writes one JSON line per look and one per run to w.
func Replay(ctx context.Context, cfg ReplayConfig, trace io.Reader, name string, w io.Writer) error {
	for _, m := range cfg.Metrics {
		if m.Builtin == "" || providerName(m) != BuiltinProvider {
			return fmt.Errorf("metric %q: replay judges builtin metrics only (a trace has no %s data)", m.Name, providerName(m))
		}
	}
	runs, err := ReadTrace(trace, name)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	var werr error
	for _, run := range runs {
		if err := ctx.Err(); err != nil {
			return err
		}
		rec := ReplayRun(ctx, cfg, run, func(l LookRecord) {
			if werr == nil {
				werr = enc.Encode(l)
			}
		})
		if werr == nil {
			werr = enc.Encode(rec)
		}
		if werr != nil {
			return fmt.Errorf("writing replay output: %w", werr)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("writing replay output: %w", err)
	}
	return nil
}
