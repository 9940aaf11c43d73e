package analysis

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rampdev/ramp/serving/queue/stats"
)

// traceLine is one line of a trace with the given latencies (as many
// requests) and errors.
func traceLine(run string, second int64, rev string, errs int64, latencies ...float64) string {
	if latencies == nil {
		latencies = []float64{}
	}
	b, err := json.Marshal(TraceLine{Run: run, Second: second, Revision: rev, Requests: int64(len(latencies)), Errors: errs, Latencies: latencies})
	if err != nil {
		panic(err)
	}
	return string(b)
}

// writeRun appends seconds of a run's traffic to b, one line per revision
// per second with requests, drawn from seed.
func writeRun(b *strings.Builder, seed uint64, run string, seconds int, canary, stable traffic) {
	r := newRand(seed)
	for s := range seconds {
		for _, side := range []struct {
			rev string
			tr  traffic
		}{{TraceStable, stable}, {TraceCanary, canary}} {
			if side.tr.rps == 0 {
				continue
			}
			var errs int64
			buf := []byte("[")
			for i := range side.tr.rps {
				if r.Float64() < side.tr.errRate {
					errs++
				}
				v := side.tr.median
				if side.tr.sigma > 0 {
					v *= math.Exp(side.tr.sigma * r.NormFloat64())
				}
				if i > 0 {
					buf = append(buf, ',')
				}
				buf = strconv.AppendFloat(buf, v, 'g', 5, 64)
			}
			buf = append(buf, ']')
			fmt.Fprintf(b, `{"run":%q,"second":%d,"revision":%q,"requests":%d,"errors":%d,"latencies":%s}`+"\n",
				run, s, side.rev, side.tr.rps, errs, buf)
		}
	}
}

func TestReadTraceErrors(t *testing.T) {
	good := traceLine("a", 0, TraceCanary, 0, 0.01, 0.02)
	tests := map[string]struct {
		trace     string
		wantLine  int
		wantField string
		wantErr   string
	}{
		"malformed JSON": {
			trace:    good + "\n" + `{"run":"a","second":1,`,
			wantLine: 2, wantErr: "malformed JSON",
		},
		"not an object": {
			trace:    `[1, 2]`,
			wantLine: 1, wantErr: "malformed JSON",
		},
		"two values on a line": {
			trace:    good + " " + good,
			wantLine: 1, wantErr: "malformed JSON",
		},
		"missing field": {
			trace:    good + "\n" + `{"run":"a","second":1,"revision":"canary","requests":1,"latencies":[0.1]}`,
			wantLine: 2, wantField: "errors", wantErr: "missing",
		},
		"missing run": {
			trace:    `{"second":1,"revision":"canary","requests":1,"errors":0,"latencies":[0.1]}`,
			wantLine: 1, wantField: "run", wantErr: "missing",
		},
		"missing latencies": {
			trace:    `{"run":"a","second":1,"revision":"canary","requests":0,"errors":0}`,
			wantLine: 1, wantField: "latencies", wantErr: "missing",
		},
		"requests is not the number of latencies": {
			trace:    good + "\n" + `{"run":"a","second":1,"revision":"canary","requests":3,"errors":0,"latencies":[0.1,0.2]}`,
			wantLine: 2, wantField: "latencies", wantErr: "has 2 values, want requests = 3",
		},
		"more errors than requests": {
			trace:    `{"run":"a","second":1,"revision":"stable","requests":2,"errors":3,"latencies":[0.1,0.2]}`,
			wantLine: 1, wantField: "errors", wantErr: "must be from 0 to requests (2), got 3",
		},
		"negative errors": {
			trace:    `{"run":"a","second":1,"revision":"stable","requests":2,"errors":-1,"latencies":[0.1,0.2]}`,
			wantLine: 1, wantField: "errors", wantErr: "must be from 0 to requests",
		},
		"negative requests": {
			trace:    `{"run":"a","second":1,"revision":"stable","requests":-1,"errors":0,"latencies":[]}`,
			wantLine: 1, wantField: "requests", wantErr: "must not be negative, got -1",
		},
		"unknown revision": {
			trace:    good + "\n" + traceLine("a", 1, "baseline", 0, 0.1),
			wantLine: 2, wantField: "revision", wantErr: `unknown revision "baseline", want "stable" or "canary"`,
		},
		"empty run": {
			trace:    traceLine("", 1, TraceCanary, 0, 0.1),
			wantLine: 1, wantField: "run", wantErr: "must not be empty",
		},
		"negative second": {
			trace:    traceLine("a", -1, TraceCanary, 0, 0.1),
			wantLine: 1, wantField: "second", wantErr: "must not be negative, got -1",
		},
		"decreasing seconds": {
			trace: traceLine("a", 5, TraceStable, 0, 0.1) + "\n" + traceLine("a", 5, TraceCanary, 0, 0.1) + "\n" +
				traceLine("a", 3, TraceStable, 0, 0.1),
			wantLine: 3, wantField: "second", wantErr: `3 is before second 5 of run "a": seconds must not decrease`,
		},
		"two lines for one second and revision": {
			trace:    traceLine("a", 5, TraceStable, 0, 0.1) + "\n" + traceLine("a", 5, TraceStable, 0, 0.2),
			wantLine: 2, wantField: "second", wantErr: `second 5 of run "a" has two stable lines`,
		},
		"run appears again after another": {
			trace: traceLine("a", 0, TraceStable, 0, 0.1) + "\n" + traceLine("b", 0, TraceStable, 0, 0.1) + "\n" +
				traceLine("a", 1, TraceStable, 0, 0.1),
			wantLine: 3, wantField: "run", wantErr: `run "a" appears again after other runs`,
		},
		"negative latency": {
			trace:    good + "\n" + traceLine("a", 1, TraceCanary, 0, 0.01, 0.02, -0.5),
			wantLine: 2, wantField: "latencies[2]", wantErr: "want seconds, not negative, got -0.5",
		},
		"latency out of range": {
			trace:    `{"run":"a","second":1,"revision":"stable","requests":1,"errors":0,"latencies":[1e400]}`,
			wantLine: 1, wantField: "latencies", wantErr: "want a float64",
		},
		"latency of the wrong type": {
			trace:    `{"run":"a","second":1,"revision":"stable","requests":1,"errors":0,"latencies":["0.1"]}`,
			wantLine: 1, wantField: "latencies", wantErr: "want a float64, got JSON string",
		},
		"second of the wrong type": {
			trace:    `{"run":"a","second":"1","revision":"stable","requests":1,"errors":0,"latencies":[0.1]}`,
			wantLine: 1, wantField: "second", wantErr: "want a int64, got JSON string",
		},
		"fractional second": {
			trace:    `{"run":"a","second":1.5,"revision":"stable","requests":1,"errors":0,"latencies":[0.1]}`,
			wantLine: 1, wantField: "second", wantErr: "got JSON number 1.5",
		},
		"unknown field": {
			trace:    `{"run":"a","second":1,"revision":"stable","requests":1,"errors":0,"latencies":[0.1],"status":200}`,
			wantLine: 1, wantErr: `unknown field "status"`,
		},
		"blank lines count": {
			trace:    good + "\n\n   \n" + `{"run":"a"}`,
			wantLine: 4, wantField: "second", wantErr: "missing",
		},
		"CRLF line ends": {
			trace:    good + "\r\n" + traceLine("a", 1, TraceCanary, 3, 0.1) + "\r\n",
			wantLine: 2, wantField: "errors", wantErr: "must be from 0 to requests (1), got 3",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			runs, err := ReadTrace(strings.NewReader(tc.trace), "trace.jsonl")
			if err == nil {
				t.Fatalf("ReadTrace() = %d runs, want an error", len(runs))
			}
			if runs != nil {
				t.Errorf("ReadTrace() returned %d runs with its error, want none", len(runs))
			}
			var te *TraceError
			if !errors.As(err, &te) {
				t.Fatalf("error %v (%T), want a *TraceError", err, err)
			}
			if te.File != "trace.jsonl" || te.Line != tc.wantLine || te.Field != tc.wantField {
				t.Errorf("TraceError at %s:%d field %q, want trace.jsonl:%d field %q", te.File, te.Line, te.Field, tc.wantLine, tc.wantField)
			}
			msg := err.Error()
			if want := fmt.Sprintf("trace.jsonl:%d: ", tc.wantLine); !strings.HasPrefix(msg, want) {
				t.Errorf("Error() = %q, want it to start with %q", msg, want)
			}
			if tc.wantField != "" && !strings.Contains(msg, ": "+tc.wantField+": ") {
				t.Errorf("Error() = %q, want it to name the field %q", msg, tc.wantField)
			}
			if !strings.Contains(msg, tc.wantErr) {
				t.Errorf("Error() = %q, want it to contain %q", msg, tc.wantErr)
			}
			if errors.Unwrap(err) == nil {
				t.Errorf("TraceError does not unwrap")
			}
		})
	}
}

func TestReadTraceLongLine(t *testing.T) {
	// A line longer than the scanner allows is a read error naming the line
	// after the last good one.
	long := `{"run":"a","second":0,"revision":"stable","requests":1,"errors":0,"latencies":[0.1` + strings.Repeat("0", maxTraceLine) + `]}`
	_, err := ReadTrace(strings.NewReader(traceLine("a", 0, TraceCanary, 0, 0.1)+"\n"+long), "big.jsonl")
	var te *TraceError
	if !errors.As(err, &te) || te.Line != 2 || !strings.HasPrefix(err.Error(), "big.jsonl:2: reading: ") {
		t.Fatalf("ReadTrace() error %v, want a read error at big.jsonl:2", err)
	}
}

func TestReadTraceReaderError(t *testing.T) {
	_, err := ReadTrace(iotest.ErrReader(errors.New("disk on fire")), "t.jsonl")
	var te *TraceError
	if !errors.As(err, &te) || te.Line != 1 || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("ReadTrace() error %v, want a TraceError at line 1 wrapping the read error", err)
	}
}

// Validation gaps found while writing these tests.
func TestReadTraceRejectsNulls(t *testing.T) {
	for name, line := range map[string]string{
		"null latency": `{"run":"a","second":0,"revision":"canary","requests":1,"errors":0,"latencies":[null]}`,
		"null fields":  `{"run":"a","second":null,"revision":"canary","requests":null,"errors":null,"latencies":null}`,
	} {
		if runs, err := ReadTrace(strings.NewReader(line), "t.jsonl"); err == nil {
			t.Errorf("%s: ReadTrace() = %d runs, nil; want a TraceError", name, len(runs))
		}
	}
}

func TestReadTraceHugeLatency(t *testing.T) {
	runs, err := ReadTrace(strings.NewReader(traceLine("a", 0, TraceCanary, 0, 1e10)), "t.jsonl")
	if err != nil {
		return // refusing it is fine
	}
	s, _ := runs[0].Sample(context.Background(), Target{Revision: TraceCanary}, replayEpoch, replayEpoch.Add(time.Second))
	if s.Latency.Counts[stats.OverflowBucket] != 1 {
		t.Errorf("a latency of 1e10 s is in bucket %d, want the overflow bucket %d", firstNonZero(s.Latency), stats.OverflowBucket)
	}
}

func firstNonZero(h stats.Histogram) int {
	for i, c := range h.Counts {
		if c > 0 {
			return i
		}
	}
	return -1
}

// hist is the histogram of latencies in seconds.
func hist(latencies ...float64) stats.Histogram {
	h := stats.Histogram{Counts: make([]uint64, stats.NumBuckets)}
	for _, v := range latencies {
		d := time.Duration(v * float64(time.Second))
		h.Counts[stats.BucketIndex(d)]++
		h.SumMicros += uint64(d / time.Microsecond)
	}
	return h
}

func TestReadTraceRuns(t *testing.T) {
	trace := strings.Join([]string{
		traceLine("r1", 0, TraceStable, 1, 0.01, 0.02, 0.03),
		traceLine("r1", 0, TraceCanary, 0, 0.5),
		"",
		traceLine("r1", 2, TraceStable, 0),
		traceLine("r1", 2, TraceCanary, 1, 0.25),
		"   ",
		traceLine("r2", 0, TraceCanary, 2, 0.1, 70),
		traceLine("r2", 5, TraceCanary, 0, 0.2),
		traceLine("r3", 100, TraceStable, 0, 0.3),
	}, "\n") + "\n"
	runs, err := ReadTrace(strings.NewReader(trace), "t.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	var lasts []int64
	for _, r := range runs {
		ids = append(ids, r.ID)
		lasts = append(lasts, r.Last)
	}
	if diff := cmp.Diff([]string{"r1", "r2", "r3"}, ids); diff != "" {
		t.Errorf("run IDs (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]int64{2, 5, 100}, lasts); diff != "" {
		t.Errorf("last seconds (-want +got):\n%s", diff)
	}
	ctx := context.Background()
	sec := func(s int) time.Time { return replayEpoch.Add(time.Duration(s) * time.Second) }
	tests := []struct {
		run      int
		rev      string
		from, to int
		want     Sample
	}{
		{0, TraceStable, 0, 3, Sample{Requests: 3, Errors: 1, Latency: hist(0.01, 0.02, 0.03)}},
		{0, TraceCanary, 0, 3, Sample{Requests: 2, Errors: 1, Latency: hist(0.5, 0.25)}},
		{0, TraceCanary, 0, 2, Sample{Requests: 1, Errors: 0, Latency: hist(0.5)}},
		{0, TraceCanary, 1, 3, Sample{Requests: 1, Errors: 1, Latency: hist(0.25)}},
		{0, TraceCanary, 3, 10, Sample{}},
		{1, TraceCanary, 0, 6, Sample{Requests: 3, Errors: 2, Latency: hist(0.1, 70, 0.2)}},
		{1, TraceStable, 0, 6, Sample{}}, // no stable lines: no traffic, no error
		{2, TraceStable, 0, 101, Sample{Requests: 1, Latency: hist(0.3)}},
		{2, TraceStable, 0, 100, Sample{}},
	}
	for _, tc := range tests {
		got, err := runs[tc.run].Sample(ctx, Target{Revision: tc.rev}, sec(tc.from), sec(tc.to))
		if err != nil {
			t.Errorf("%s %s [%d, %d): %v", runs[tc.run].ID, tc.rev, tc.from, tc.to, err)
			continue
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%s %s [%d, %d) (-want +got):\n%s", runs[tc.run].ID, tc.rev, tc.from, tc.to, diff)
		}
	}
	if s, _ := runs[1].Sample(ctx, Target{Revision: TraceCanary}, sec(0), sec(1)); s.Latency.Counts[stats.OverflowBucket] != 1 {
		t.Errorf("a latency of 70 s is not in the overflow bucket")
	}
	if _, err := runs[0].Sample(ctx, Target{Revision: "cart-00001"}, sec(0), sec(3)); err == nil || !strings.Contains(err.Error(), `trace has no revision "cart-00001"`) {
		t.Errorf("Sample of an unknown revision: %v, want an error", err)
	}
	// An empty trace has no runs.
	if runs, err := ReadTrace(strings.NewReader("\n\n"), "empty.jsonl"); err != nil || len(runs) != 0 {
		t.Errorf("empty trace: %d runs, %v; want none", len(runs), err)
	}
}

// replayConfig judges errors and p90 latency every 10 s; a step advances
// after 30 s, rolls back at the first sequential failure and pauses after
// 3 Error looks; the maximum step time is off unless a test sets it.
func replayConfig() ReplayConfig {
	return ReplayConfig{
		Metrics:  []Metric{seqErrors, seqP90},
		Interval: 10 * time.Second,
		Alpha:    0.01, Beta: 0.05,
		Policy: StepPolicy{MinStepTime: 30 * time.Second, OnTimeout: TimeoutPause, FailureLimit: 3, ErrorLimit: 3},
	}
}

var (
	replayHealthy = traffic{rps: 20, errRate: 0.001, median: 0.05, sigma: 0.5}
	replayStable  = traffic{rps: 180, errRate: 0.001, median: 0.05, sigma: 0.5}
	replayBad     = traffic{rps: 20, errRate: 0.2, median: 0.05, sigma: 0.5}
)

// replayTrace has a healthy run, a run with a bad canary and a run
// without canary traffic.
func replayTrace() string {
	var b strings.Builder
	writeRun(&b, 21, "healthy", 120, replayHealthy, replayStable)
	writeRun(&b, 22, "bad-canary", 120, replayBad, replayStable)
	writeRun(&b, 23, "no-canary", 120, traffic{}, replayStable)
	return b.String()
}

func TestReplay(t *testing.T) {
	trace := replayTrace()
	var out bytes.Buffer
	if err := Replay(context.Background(), replayConfig(), strings.NewReader(trace), "trace.jsonl", &out); err != nil {
		t.Fatal(err)
	}
	type runOut struct {
		looks []LookRecord
		rec   RunRecord
	}
	var got []runOut
	var looks []LookRecord
	for i, line := range strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n") {
		var fields map[string]json.RawMessage
		if err := json.Unmarshal([]byte(line), &fields); err != nil {
			t.Fatalf("output line %d is not JSON: %v: %s", i+1, err, line)
		}
		dec := json.NewDecoder(strings.NewReader(line))
		dec.DisallowUnknownFields()
		if _, ok := fields["outcome"]; ok {
			var rec RunRecord
			if err := dec.Decode(&rec); err != nil {
				t.Fatalf("run line %d: %v: %s", i+1, err, line)
			}
			got = append(got, runOut{looks, rec})
			looks = nil
			continue
		}
		var l LookRecord
		if err := dec.Decode(&l); err != nil {
			t.Fatalf("look line %d: %v: %s", i+1, err, line)
		}
		looks = append(looks, l)
	}
	if len(looks) != 0 {
		t.Fatalf("%d look lines after the last run line", len(looks))
	}
	wantOutcome := map[string]string{"healthy": OutcomeAdvance, "bad-canary": OutcomeRollback, "no-canary": OutcomeUndecided}
	var ids []string
	for _, r := range got {
		ids = append(ids, r.rec.Run)
		if len(r.looks) == 0 {
			t.Errorf("run %s: no look lines before its run line", r.rec.Run)
			continue
		}
		for i, l := range r.looks {
			if l.Run != r.rec.Run {
				t.Errorf("run %s: look %d is of run %q", r.rec.Run, i, l.Run)
			}
			if l.Second != int64(10*(i+1)) {
				t.Errorf("run %s: look %d at second %d, want %d (every interval)", r.rec.Run, i, l.Second, 10*(i+1))
			}
			if len(l.Metrics) != 2 || l.Metrics[0].Name != "error-rate" || l.Metrics[1].Name != "latency-p90" {
				t.Errorf("run %s look %d: metrics %+v, want error-rate and latency-p90", r.rec.Run, i, l.Metrics)
			}
		}
		if last := r.looks[len(r.looks)-1].Second; r.rec.Second != last || r.rec.Second%10 != 0 {
			t.Errorf("run %s: outcome at second %d, want at its last look %d, a multiple of the interval", r.rec.Run, r.rec.Second, last)
		}
		if r.rec.Outcome != wantOutcome[r.rec.Run] {
			t.Errorf("run %s: outcome %q, want %q; last look %+v", r.rec.Run, r.rec.Outcome, wantOutcome[r.rec.Run], r.looks[len(r.looks)-1])
		}
		switch r.rec.Outcome {
		case OutcomeAdvance:
			if r.rec.Second < 30 {
				t.Errorf("run %s advanced at %d s, before the minimum step time", r.rec.Run, r.rec.Second)
			}
			if l := r.looks[len(r.looks)-1]; l.Phase != Pass {
				t.Errorf("run %s advanced on a %s look", r.rec.Run, l.Phase)
			}
		case OutcomeRollback:
			l := r.looks[len(r.looks)-1]
			if l.Phase != Fail || l.Metrics[0].Phase != Fail || l.Metrics[0].Evidence == nil ||
				!strings.Contains(l.Metrics[0].Message, "evidence of regression") {
				t.Errorf("run %s rolled back on %+v, want the error rate's evidence of regression", r.rec.Run, l)
			}
		case OutcomeUndecided:
			if r.rec.Second != 120 {
				t.Errorf("run %s undecided at %d, want at the trace's end (120)", r.rec.Run, r.rec.Second)
			}
			for _, l := range r.looks {
				if l.Phase == Pass || l.Phase == Fail {
					t.Errorf("run %s: look at %d s is %s", r.rec.Run, l.Second, l.Phase)
				}
				for _, m := range l.Metrics {
					if !strings.Contains(m.Message, "no canary requests") || m.Evidence != nil {
						t.Errorf("run %s: %+v, want no canary requests", r.rec.Run, m)
					}
				}
			}
		}
	}
	if diff := cmp.Diff([]string{"healthy", "bad-canary", "no-canary"}, ids); diff != "" {
		t.Errorf("runs in the output (-want +got):\n%s", diff)
	}
	// Replay is deterministic.
	var again bytes.Buffer
	if err := Replay(context.Background(), replayConfig(), strings.NewReader(trace), "trace.jsonl", &again); err != nil || again.String() != out.String() {
		t.Errorf("a second replay differs (err %v)", err)
	}
}

func TestReplayBadTraceWritesNothing(t *testing.T) {
	// The good runs come first: nothing is written before the whole trace
	// is checked.
	trace := replayTrace() + traceLine("late", 0, TraceCanary, 0, 0.1) + "\n" + `{"run":"late","second":1}` + "\n"
	lines := strings.Count(trace, "\n")
	var out bytes.Buffer
	err := Replay(context.Background(), replayConfig(), strings.NewReader(trace), "trace.jsonl", &out)
	var te *TraceError
	if !errors.As(err, &te) || te.Line != lines || te.Field != "revision" {
		t.Fatalf("Replay() = %v, want a TraceError at line %d field revision", err, lines)
	}
	if out.Len() != 0 {
		t.Errorf("Replay() wrote %d bytes for a bad trace, want nothing:\n%.300s", out.Len(), out.String())
	}
}

func TestReplayRefusesOtherMetrics(t *testing.T) {
	for name, m := range map[string]Metric{
		"query":                  {Name: "saturation", Query: "up", Provider: PrometheusProvider, Thresholds: Thresholds{Max: ptr(1)}},
		"builtin elsewhere":      {Name: "e", Builtin: ErrorRate, Provider: PrometheusProvider},
		"query with the builtin": {Name: "q", Query: "up", Provider: BuiltinProvider},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := replayConfig()
			cfg.Metrics = append(cfg.Metrics, m)
			var out bytes.Buffer
			// The trace is not even read.
			err := Replay(context.Background(), cfg, iotest.ErrReader(errors.New("read")), "trace.jsonl", &out)
			if err == nil || !strings.Contains(err.Error(), "replay judges builtin metrics only") || out.Len() != 0 {
				t.Errorf("Replay() = %v, wrote %d bytes; want an error naming the metric, nothing written", err, out.Len())
			}
		})
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestReplayWriteError(t *testing.T) {
	err := Replay(context.Background(), replayConfig(), strings.NewReader(replayTrace()), "trace.jsonl", failingWriter{})
	if err == nil || !strings.Contains(err.Error(), "writing replay output: disk full") {
		t.Errorf("Replay() = %v, want a write error", err)
	}
}

func TestReplayCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out bytes.Buffer
	err := Replay(ctx, replayConfig(), strings.NewReader(replayTrace()), "trace.jsonl", &out)
	if !errors.Is(err, context.Canceled) || out.Len() != 0 {
		t.Errorf("Replay() = %v, wrote %d bytes; want context.Canceled, nothing written", err, out.Len())
	}
}

func TestReplayRun(t *testing.T) {
	read := func(t *testing.T, trace string) *TraceRun {
		t.Helper()
		runs, err := ReadTrace(strings.NewReader(trace), "t.jsonl")
		if err != nil || len(runs) != 1 {
			t.Fatalf("ReadTrace() = %d runs, %v", len(runs), err)
		}
		return runs[0]
	}
	var b strings.Builder
	writeRun(&b, 31, "bad", 120, replayBad, replayStable)
	bad := read(t, b.String())
	b.Reset()
	writeRun(&b, 32, "quiet", 120, traffic{}, replayStable)
	quiet := read(t, b.String())
	b.Reset()
	writeRun(&b, 33, "short", 5, replayHealthy, replayStable)
	short := read(t, b.String())

	withPolicy := func(f func(*StepPolicy)) ReplayConfig {
		c := replayConfig()
		f(&c.Policy)
		return c
	}
	tests := map[string]struct {
		cfg       ReplayConfig
		run       *TraceRun
		want      RunRecord
		wantLooks int
	}{
		"a bad canary rolls back at once": {
			cfg: replayConfig(), run: bad,
			want: RunRecord{Run: "bad", Outcome: OutcomeRollback, Second: 10}, wantLooks: 1,
		},
		"no canary traffic is undecided to the end": {
			cfg: replayConfig(), run: quiet,
			want: RunRecord{Run: "quiet", Outcome: OutcomeUndecided, Second: 120}, wantLooks: 12,
		},
		"no canary traffic pauses at the maximum step time": {
			cfg: withPolicy(func(p *StepPolicy) { p.MaxStepTime = time.Minute }), run: quiet,
			want: RunRecord{Run: "quiet", Outcome: OutcomeUndecided, Second: 60}, wantLooks: 6,
		},
		"no canary traffic rolls back at the maximum step time": {
			cfg: withPolicy(func(p *StepPolicy) { p.MaxStepTime = time.Minute; p.OnTimeout = TimeoutRollback }), run: quiet,
			want: RunRecord{Run: "quiet", Outcome: OutcomeRollback, Second: 60}, wantLooks: 6,
		},
		"a run shorter than an interval gets no look": {
			cfg: replayConfig(), run: short,
			want: RunRecord{Run: "short", Outcome: OutcomeUndecided}, wantLooks: 0,
		},
		"a longer interval looks less often": {
			cfg: func() ReplayConfig { c := replayConfig(); c.Interval = 30 * time.Second; return c }(), run: quiet,
			want: RunRecord{Run: "quiet", Outcome: OutcomeUndecided, Second: 120}, wantLooks: 4,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var looks []LookRecord
			got := ReplayRun(context.Background(), tc.cfg, tc.run, func(l LookRecord) { looks = append(looks, l) })
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ReplayRun() (-want +got):\n%s", diff)
			}
			if len(looks) != tc.wantLooks {
				t.Errorf("%d looks, want %d", len(looks), tc.wantLooks)
			}
			step := int64(max(tc.cfg.Interval, time.Second) / time.Second)
			for i, l := range looks {
				if l.Second != step*int64(i+1) {
					t.Errorf("look %d at %d s, want %d", i, l.Second, step*int64(i+1))
				}
				if tc.run == quiet && l.Phase == Pass {
					t.Errorf("look %d passed without canary traffic", i)
				}
			}
			// Without a callback the outcome is the same.
			if again := ReplayRun(context.Background(), tc.cfg, tc.run, nil); again != got {
				t.Errorf("ReplayRun(nil look) = %+v, want %+v", again, got)
			}
		})
	}
	t.Run("an invalid config is one analysis error per look", func(t *testing.T) {
		cfg := replayConfig()
		cfg.Alpha = 0
		var looks []LookRecord
		got := ReplayRun(context.Background(), cfg, bad, func(l LookRecord) { looks = append(looks, l) })
		// Three Error looks pause the step.
		if want := (RunRecord{Run: "bad", Outcome: OutcomeUndecided, Second: 30}); got != want {
			t.Errorf("ReplayRun() = %+v, want %+v", got, want)
		}
		for _, l := range looks {
			if l.Phase != Error || len(l.Metrics) != 1 || l.Metrics[0].Name != "analysis" || !strings.Contains(l.Metrics[0].Message, "alpha must be in") {
				t.Errorf("look %+v, want one Error entry for the analysis", l)
			}
		}
	})
}

func TestTraceProviderMeasure(t *testing.T) {
	runs, err := ReadTrace(strings.NewReader(strings.Join([]string{
		traceLine("r", 0, TraceStable, 1, 0.1, 0.1, 0.1, 0.1),
		traceLine("r", 0, TraceCanary, 1, 0.2, 0.2),
		traceLine("r", 9, TraceCanary, 0, 0.2, 0.2),
	}, "\n")), "t.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	p := traceProvider{runs[0]}
	q := Query{Metric: Metric{Name: "e", Builtin: ErrorRate}, Canary: Target{Revision: TraceCanary}, Stable: Target{Revision: TraceStable},
		Window: 10 * time.Second, Now: replayEpoch.Add(10 * time.Second)}
	m, err := p.Measure(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	want := Measurement{Canary: valid(0.25, 4), Stable: valid(0.25, 4)}
	if diff := cmp.Diff(want, m); diff != "" {
		t.Errorf("Measure() (-want +got):\n%s", diff)
	}
	q.Metric = Metric{Name: "rps", Builtin: RequestRate}
	if m, err := p.Measure(context.Background(), q); err != nil || m.Canary != valid(0.4, 4) {
		t.Errorf("requestRate Measure() = %+v, %v; want 0.4 req/s", m, err)
	}
	q.Metric = Metric{Name: "q", Query: "up", Provider: PrometheusProvider}
	if _, err := p.Measure(context.Background(), q); !errors.Is(err, ErrUnknownMetric) {
		t.Errorf("query Measure() error %v, want ErrUnknownMetric", err)
	}
}
