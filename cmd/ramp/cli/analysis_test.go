package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rampdev/ramp/analysis"
	autoscaling "github.com/rampdev/ramp/controllers/autoscaler"
	"github.com/rampdev/ramp/serving/queue/stats"
)

// traceLines writes seconds [0, seconds) of a run: n stable and n/9
// canary requests a second, the canary failing every k-th request (0:
// never), latencies spread from 30 to 100 ms alike on both sides.
func traceLines(run string, seconds, n, k int) string {
	var b strings.Builder
	errs := 0
	for s := range seconds {
		for _, side := range []struct {
			rev string
			n   int
		}{{"stable", n}, {"canary", n / 9}} {
			lat := make([]string, side.n)
			e := 0
			for i := range lat {
				lat[i] = fmt.Sprintf("%.4f", 0.03+0.07*float64((i*7+s*3)%20)/20)
				if side.rev == "canary" && k > 0 {
					if errs++; errs%k == 0 {
						e++
					}
				}
			}
			fmt.Fprintf(&b, `{"run":%q,"second":%d,"revision":%q,"requests":%d,"errors":%d,"latencies":[%s]}`+"\n",
				run, s, side.rev, side.n, e, strings.Join(lat, ","))
		}
	}
	return b.String()
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func runReplay(t *testing.T, args ...string) (stdout string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err = execute(context.Background(), newRootCommand("ramp"), append([]string{"analysis", "replay"}, args...), &out, &errOut)
	return out.String(), err
}

func TestReplay(t *testing.T) {
	rollout := writeFile(t, "rollout.yaml", DefaultReplayRollout)
	trace := writeFile(t, "trace.jsonl", traceLines("good", 90, 90, 0)+traceLines("bad", 90, 90, 5))
	out, err := runReplay(t, "-f", rollout, "--telemetry", trace)
	if err != nil {
		t.Fatalf("replay: %v", err)
	}
	outcomes := map[string]analysis.RunRecord{}
	looks := 0
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var rec map[string]json.RawMessage
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("output line %q: %v", sc.Text(), err)
		}
		if _, ok := rec["outcome"]; ok {
			var r analysis.RunRecord
			_ = json.Unmarshal(sc.Bytes(), &r)
			outcomes[r.Run] = r
			continue
		}
		var l analysis.LookRecord
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatal(err)
		}
		if l.Second%5 != 0 || len(l.Metrics) != 2 {
			t.Errorf("look %+v: want a second that is a multiple of the 5s default interval and both default metrics", l)
		}
		looks++
	}
	if got := outcomes["good"]; got.Outcome != analysis.OutcomeAdvance || got.Second < 30 {
		t.Errorf("good run: %+v, want advance after the 30s minimum step time", got)
	}
	if got := outcomes["bad"]; got.Outcome != analysis.OutcomeRollback {
		t.Errorf("bad run (20%% errors): %+v, want rollback", got)
	}
	if looks == 0 {
		t.Error("no look lines")
	}
}

func TestReplayRefusesBadInput(t *testing.T) {
	rollout := writeFile(t, "rollout.yaml", DefaultReplayRollout)
	good := traceLines("r", 3, 9, 0)
	tests := map[string]struct {
		trace, want string
	}{
		"malformed JSON":       {good + "{not json\n", ":7: malformed JSON"},
		"requests ≠ latencies": {`{"run":"r","second":0,"revision":"canary","requests":2,"errors":0,"latencies":[0.1]}` + "\n", ":1: latencies: has 1 values, want requests = 2"},
		"errors > requests":    {`{"run":"r","second":0,"revision":"canary","requests":1,"errors":2,"latencies":[0.1]}` + "\n", ":1: errors:"},
		"unknown revision":     {`{"run":"r","second":0,"revision":"blue","requests":0,"errors":0,"latencies":[]}` + "\n", `:1: revision: unknown revision "blue"`},
		"seconds going back":   {good + `{"run":"r","second":1,"revision":"canary","requests":0,"errors":0,"latencies":[]}` + "\n", ":7: second: 1 is before second 2"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			trace := writeFile(t, "trace.jsonl", tc.trace)
			out, err := runReplay(t, "-f", rollout, "--telemetry", trace)
			var exit *ExitError
			if !errors.As(err, &exit) || exit.Code != 2 {
				t.Fatalf("replay = %v, want exit code 2", err)
			}
			if !strings.Contains(err.Error(), trace+tc.want) {
				t.Errorf("error %q, want it to name %q", err, trace+tc.want)
			}
			if out != "" {
				t.Errorf("replay printed %q before refusing the trace", out)
			}
		})
	}
	t.Run("not a rollout", func(t *testing.T) {
		bad := writeFile(t, "svc.yaml", "apiVersion: v1\nkind: Service\nmetadata: {name: x}\n")
		_, err := runReplay(t, "-f", bad, "--telemetry", writeFile(t, "t.jsonl", good))
		var exit *ExitError
		if !errors.As(err, &exit) || exit.Code != 2 || !strings.Contains(err.Error(), "svc.yaml") {
			t.Errorf("replay = %v, want exit 2 naming the manifest", err)
		}
	})
	t.Run("hostile analysis", func(t *testing.T) {
		m := strings.Replace(DefaultReplayRollout, "  strategy:", "  analysis: {alpha: \"0.9\"}\n  strategy:", 1)
		_, err := runReplay(t, "-f", writeFile(t, "r.yaml", m), "--telemetry", writeFile(t, "t.jsonl", good))
		if err == nil || !strings.Contains(err.Error(), "spec.analysis.alpha") {
			t.Errorf("replay = %v, want an error naming spec.analysis.alpha", err)
		}
	})
}

// Recorded seconds come back from replay into the same histogram buckets
// and counts: what the controller judged live is what replay judges.
func TestRecordedTraceRoundTrips(t *testing.T) {
	h := stats.Histogram{Counts: make([]uint64, stats.NumBuckets)}
	for _, d := range []time.Duration{3 * time.Microsecond, 900 * time.Microsecond, 48 * time.Millisecond, 51 * time.Millisecond, 2 * time.Second, 90 * time.Second} {
		h.Counts[stats.BucketIndex(d)] += 3
	}
	start := time.Unix(1_700_000_000, 0)
	stable := []autoscaling.Second{{Unix: start.Unix(), Requests: 18, Errors5xx: 1, Latency: h}, {Unix: start.Unix() + 2, Requests: 18, Latency: h}}
	canary := []autoscaling.Second{{Unix: start.Unix() + 1, Requests: 18, Errors5xx: 2, Latency: h}}
	var buf bytes.Buffer
	n, err := writeTrace(&buf, "rec", start, analysis.TraceStable, stable, analysis.TraceCanary, canary)
	if err != nil || n != 3 {
		t.Fatalf("writeTrace = %d, %v; want 3 lines", n, err)
	}
	runs, err := analysis.ReadTrace(&buf, "rec.jsonl")
	if err != nil || len(runs) != 1 {
		t.Fatalf("ReadTrace = %v, %v", runs, err)
	}
	got, err := runs[0].Sample(context.Background(), analysis.Target{Revision: analysis.TraceCanary},
		time.Unix(1_000_000_000, 0), time.Unix(1_000_000_000+3, 0))
	if err != nil {
		t.Fatal(err)
	}
	if got.Requests != 18 || got.Errors != 2 {
		t.Errorf("canary sample %d requests, %d errors; want 18, 2", got.Requests, got.Errors)
	}
	for i, c := range h.Counts {
		if got.Latency.Counts[i] != c {
			t.Errorf("bucket %d: %d after the round trip, want %d", i, got.Latency.Counts[i], c)
		}
	}
	if lat := bucketLatencies(h, 20); len(lat) != 20 || math.IsNaN(lat[19]) {
		t.Errorf("bucketLatencies pads to the request count: %v", lat)
	}
}
