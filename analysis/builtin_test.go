package analysis

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rampdev/ramp/serving/autoscaler"
	"github.com/rampdev/ramp/serving/queue/stats"
)

type windowCall struct {
	Namespace, Revision, Tag string
	From, To                 time.Time
}

// fakeTelemetry returns crafted summaries by revision and records calls.
type fakeTelemetry struct {
	sums map[string]autoscaler.Summary // by revision
	errs map[string]error              // by revision

	mu    sync.Mutex
	calls []windowCall
}

var _ autoscaler.Telemetry = (*fakeTelemetry)(nil)

func (f *fakeTelemetry) Window(_ context.Context, namespace, revision, tag string, from, to time.Time) (autoscaler.Summary, error) {
	f.mu.Lock()
	f.calls = append(f.calls, windowCall{namespace, revision, tag, from, to})
	f.mu.Unlock()
	return f.sums[revision], f.errs[revision]
}

// histogram puts n latencies of d for each (d, n).
func histogram(samples map[time.Duration]uint64) stats.Histogram {
	h := stats.Histogram{Counts: make([]uint64, stats.NumBuckets)}
	for d, n := range samples {
		h.Counts[stats.BucketIndex(d)] += n
		h.SumMicros += n * uint64(d/time.Microsecond)
	}
	return h
}

func TestBuiltinMeasure(t *testing.T) {
	// 100 requests: 50 at 10ms, 40 at 100ms, 9 at 500ms, 1 at 2s, so that
	// p50, p90 and p99 fall into different buckets.
	lat := histogram(map[time.Duration]uint64{10 * time.Millisecond: 50, 100 * time.Millisecond: 40,
		500 * time.Millisecond: 9, 2 * time.Second: 1})
	stableLat := histogram(map[time.Duration]uint64{20 * time.Millisecond: 1000})
	sums := map[string]autoscaler.Summary{
		"cart-00002": {Requests: 100, Errors5xx: 5, Latency: lat, Pods: 1},
		"cart-00001": {Requests: 1200, Errors5xx: 6, Latency: stableLat, Pods: 3},
		"idle":       {},
		"no-latency": {Requests: 30, Errors5xx: 0},
	}
	q := func(d time.Duration) float64 { return d.Seconds() }
	tests := map[string]struct {
		builtin       string
		canary        Target
		stable        Target
		want          Measurement
		wantErr       string
		wantIsUnknown bool
	}{
		"error rate": {
			builtin: ErrorRate, canary: canaryTarget, stable: stableTarget,
			want: Measurement{Canary: valid(0.05, 100), Stable: valid(0.005, 1200)},
		},
		"request rate": {
			builtin: RequestRate, canary: canaryTarget, stable: stableTarget,
			want: Measurement{Canary: valid(100.0/60, 100), Stable: valid(20, 1200)},
		},
		"latency p50": {
			builtin: LatencyP50, canary: canaryTarget, stable: stableTarget,
			want: Measurement{Canary: valid(q(lat.Quantile(0.5)), 100), Stable: valid(q(stableLat.Quantile(0.5)), 1200)},
		},
		"latency p90": {
			builtin: LatencyP90, canary: canaryTarget, stable: stableTarget,
			want: Measurement{Canary: valid(q(lat.Quantile(0.9)), 100), Stable: valid(q(stableLat.Quantile(0.9)), 1200)},
		},
		"latency p99": {
			builtin: LatencyP99, canary: canaryTarget, stable: stableTarget,
			want: Measurement{Canary: valid(q(lat.Quantile(0.99)), 100), Stable: valid(q(stableLat.Quantile(0.99)), 1200)},
		},
		"no requests is no data": {
			builtin: ErrorRate, canary: Target{Namespace: "shop", Revision: "idle"}, stable: stableTarget,
			want: Measurement{Canary: Value{Requests: 0}, Stable: valid(0.005, 1200)},
		},
		"no requests is no data for the request rate too": {
			builtin: RequestRate, canary: Target{Namespace: "shop", Revision: "idle"},
			want: Measurement{Canary: Value{Requests: 0}},
		},
		"no latencies is no data": {
			builtin: LatencyP99, canary: Target{Namespace: "shop", Revision: "no-latency"},
			want: Measurement{Canary: Value{Requests: 30}},
		},
		"no stable": {
			builtin: ErrorRate, canary: canaryTarget,
			want: Measurement{Canary: valid(0.05, 100)},
		},
		"unknown builtin": {
			builtin: "cpu", canary: canaryTarget, wantErr: `builtin provider: unknown metric "cpu"`, wantIsUnknown: true,
		},
		"query metric": {
			builtin: "", canary: canaryTarget, wantErr: `builtin provider: unknown metric ""`, wantIsUnknown: true,
		},
		"no canary revision": {
			builtin: ErrorRate, wantErr: "builtin provider: canary has no revision",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			b := &Builtin{Telemetry: &fakeTelemetry{sums: sums}}
			got, err := b.Measure(context.Background(), Query{Metric: Metric{Name: "m", Builtin: tc.builtin},
				Canary: tc.canary, Stable: tc.stable, Window: time.Minute, Now: evalNow})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Measure() = %+v, %v; want error containing %q", got, err, tc.wantErr)
				}
				if errors.Is(err, ErrUnknownMetric) != tc.wantIsUnknown {
					t.Errorf("errors.Is(%v, ErrUnknownMetric) = %v", err, !tc.wantIsUnknown)
				}
				return
			}
			if err != nil {
				t.Fatalf("Measure(): %v", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Measure() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// The latency quantiles are distinct, so a mix-up between them shows.
func TestBuiltinLatencyQuantilesDiffer(t *testing.T) {
	lat := histogram(map[time.Duration]uint64{10 * time.Millisecond: 50, 100 * time.Millisecond: 40,
		500 * time.Millisecond: 9, 2 * time.Second: 1})
	sum := Sample{Requests: 100, Latency: lat}
	p50 := builtinValue(LatencyP50, sum, time.Minute).Value
	p90 := builtinValue(LatencyP90, sum, time.Minute).Value
	p99 := builtinValue(LatencyP99, sum, time.Minute).Value
	for _, c := range []struct {
		name   string
		v      float64
		lo, hi time.Duration
	}{{"p50", p50, 9 * time.Millisecond, 11 * time.Millisecond},
		{"p90", p90, 90 * time.Millisecond, 110 * time.Millisecond},
		{"p99", p99, 450 * time.Millisecond, 550 * time.Millisecond}} {
		if c.v < c.lo.Seconds() || c.v > c.hi.Seconds() {
			t.Errorf("%s = %vs, want %v..%v", c.name, c.v, c.lo, c.hi)
		}
	}
}

func TestBuiltinWindowAndTags(t *testing.T) {
	tel := &fakeTelemetry{sums: map[string]autoscaler.Summary{"cart-00002": {Requests: 1}}}
	b := &Builtin{Telemetry: tel}
	_, err := b.Measure(context.Background(), Query{Metric: Metric{Name: "e", Builtin: ErrorRate},
		Canary: canaryTarget, Stable: stableTarget, Window: 2 * time.Minute, Now: evalNow})
	if err != nil {
		t.Fatalf("Measure(): %v", err)
	}
	from := evalNow.Add(-2 * time.Minute)
	want := []windowCall{
		{Namespace: "shop", Revision: "cart-00002", Tag: "canary", From: from, To: evalNow},
		{Namespace: "shop", Revision: "cart-00001", Tag: autoscaler.AllTags, From: from, To: evalNow},
	}
	if diff := cmp.Diff(want, tel.calls); diff != "" {
		t.Errorf("telemetry calls (-want +got):\n%s", diff)
	}
}

func TestBuiltinErrors(t *testing.T) {
	failing := &fakeTelemetry{errs: map[string]error{"cart-00001": errors.New("store closed")}}
	tests := map[string]struct {
		b       *Builtin
		window  time.Duration
		wantErr string
	}{
		"telemetry error on the stable": {b: &Builtin{Telemetry: failing}, window: time.Minute,
			wantErr: "stable: telemetry of shop/cart-00001: store closed"},
		"no telemetry":  {b: &Builtin{}, window: time.Minute, wantErr: "builtin provider: no telemetry"},
		"no window":     {b: &Builtin{Telemetry: failing}, wantErr: "builtin provider: window must be positive, got 0s"},
		"negative time": {b: &Builtin{Telemetry: failing}, window: -time.Second, wantErr: "window must be positive"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := tc.b.Measure(context.Background(), Query{Metric: Metric{Name: "e", Builtin: ErrorRate},
				Canary: canaryTarget, Stable: stableTarget, Window: tc.window, Now: evalNow})
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("Measure() error = %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

// Against the real telemetry store: only the window [now-window, now)
// counts, and the tag "" means all traffic.
func TestBuiltinWithStore(t *testing.T) {
	store := autoscaler.NewStore(0)
	rev := autoscaler.RevisionKey{Namespace: "shop", Name: "cart-00002"}
	record := func(at time.Time, ok, failed uint64, tag string) {
		store.Record(at, rev, &stats.Stats{
			RequestCount: ok + failed,
			ByClass:      map[string]uint64{stats.Class2xx: ok, stats.Class5xx: failed},
			ByTag: map[string]stats.TagStats{tag: {Requests: ok + failed, Errors5xx: failed,
				Latency: histogram(map[time.Duration]uint64{50 * time.Millisecond: ok + failed})}},
			Latency: histogram(map[time.Duration]uint64{50 * time.Millisecond: ok + failed}),
		})
	}
	record(evalNow.Add(-2*time.Minute), 0, 100, "") // before the window
	record(evalNow.Add(-30*time.Second), 90, 10, "canary")
	record(evalNow.Add(-10*time.Second), 100, 0, "")
	record(evalNow, 0, 100, "") // at the end of the window: excluded

	b := &Builtin{Telemetry: store}
	tests := map[string]struct {
		tag  string
		want Value
	}{
		"all traffic": {tag: "", want: valid(10.0/200, 200)},
		"one tag":     {tag: "canary", want: valid(10.0/100, 100)},
		"other tag":   {tag: "blue", want: Value{Requests: 0}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := b.Measure(context.Background(), Query{Metric: Metric{Name: "e", Builtin: ErrorRate},
				Canary: Target{Namespace: "shop", Revision: "cart-00002", Tag: tc.tag}, Window: time.Minute, Now: evalNow})
			if err != nil {
				t.Fatalf("Measure(): %v", err)
			}
			if diff := cmp.Diff(Measurement{Canary: tc.want}, got); diff != "" {
				t.Errorf("Measure() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}
