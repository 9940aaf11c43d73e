package analysis

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/rampdev/ramp/serving/queue/stats"
)

// seqEpoch is when the step's traffic starts in these tests: second 0.
var seqEpoch = time.Date(2030, 1, 2, 3, 0, 0, 0, time.UTC)

func at(second int) time.Time { return seqEpoch.Add(time.Duration(second) * time.Second) }

// perSecond is one revision's traffic in one second.
type perSecond struct {
	requests, errors int64
	latency          stats.Histogram
}

// fakeSampler is a builtin provider over per-second traffic, keyed by
// Target.Revision, with second 0 at seqEpoch. A revision in errs fails.
type fakeSampler struct {
	seconds map[string][]perSecond
	errs    map[string]error

	mu    sync.Mutex
	calls int
}

var (
	_ Sampler  = (*fakeSampler)(nil)
	_ Provider = (*fakeSampler)(nil)
)

func (f *fakeSampler) Sample(_ context.Context, t Target, from, to time.Time) (Sample, error) {
	f.mu.Lock()
	f.calls++
	f.mu.Unlock()
	if err := f.errs[t.Revision]; err != nil {
		return Sample{}, err
	}
	var s Sample
	secs := f.seconds[t.Revision]
	for i := range secs {
		sec := at(i)
		if sec.Before(from) || !sec.Before(to) {
			continue
		}
		s.Requests += secs[i].requests
		s.Errors += secs[i].errors
		s.Latency.Add(secs[i].latency)
	}
	return s, nil
}

// Measure answers the threshold metrics (requestRate here) with a fixed
// healthy measurement.
func (f *fakeSampler) Measure(context.Context, Query) (Measurement, error) {
	return Measurement{Canary: valid(10, 100), Stable: valid(10, 100)}, nil
}

// traffic describes a revision's requests: rps a second, each failing
// with probability errRate, with log-normal latencies of the given median
// (seconds) and log standard deviation sigma (0: all at the median).
type traffic struct {
	rps     int64
	errRate float64
	median  float64
	sigma   float64
}

// gen draws seconds of tr's traffic, deterministically from seed.
func (tr traffic) gen(seed uint64, seconds int) []perSecond {
	r := newRand(seed)
	out := make([]perSecond, seconds)
	for i := range out {
		ps := &out[i]
		ps.requests = tr.rps
		if tr.rps == 0 {
			continue
		}
		ps.latency.Counts = make([]uint64, stats.NumBuckets)
		for range tr.rps {
			if r.Float64() < tr.errRate {
				ps.errors++
			}
			v := tr.median
			if tr.sigma > 0 {
				v *= math.Exp(tr.sigma * r.NormFloat64())
			}
			d := time.Duration(v * float64(time.Second))
			ps.latency.Counts[stats.BucketIndex(d)]++
			ps.latency.SumMicros += uint64(d / time.Microsecond)
		}
	}
	return out
}

// sampler is a fakeSampler with canary and stable traffic over seconds.
func sampler(seed uint64, seconds int, canary, stable traffic) *fakeSampler {
	return &fakeSampler{seconds: map[string][]perSecond{
		"canary": canary.gen(seed, seconds),
		"stable": stable.gen(seed+1_000_000, seconds),
	}}
}

func seqMetric(name, builtin string) Metric {
	return Metric{Name: name, Builtin: builtin, Margin: DefaultMargin(builtin), Tolerance: DefaultTolerance(builtin)}
}

var (
	seqErrors = seqMetric("error-rate", ErrorRate)
	seqP90    = seqMetric("latency-p90", LatencyP90)
)

func seqSpec(metrics ...Metric) Spec {
	return Spec{
		Canary:  Target{Revision: "canary"},
		Stable:  Target{Revision: "stable"},
		Window:  10 * time.Second,
		Metrics: metrics,
		Sequential: SequentialSpec{From: seqEpoch, Interval: 10 * time.Second,
			Alpha: 0.01, Beta: 0.05},
	}
}

// looks evaluates spec every interval up to last seconds and returns the
// reports.
func looks(t *testing.T, p Provider, spec Spec, last int) []Report {
	t.Helper()
	var out []Report
	step := int(spec.Sequential.Interval / time.Second)
	for s := step; s <= last; s += step {
		out = append(out, Evaluate(context.Background(), Providers{BuiltinProvider: p}, spec, at(s)))
	}
	return out
}

// firstLook is the index of the first report in phase p, -1 if none.
func firstLook(reps []Report, p Phase) int {
	for i, r := range reps {
		if r.Phase == p {
			return i
		}
	}
	return -1
}

func TestSequentialNoCanaryRequests(t *testing.T) {
	s := sampler(1, 300, traffic{}, traffic{rps: 90, errRate: 0.001, median: 0.05, sigma: 0.5})
	for _, m := range []Metric{seqErrors, seqP90} {
		t.Run(m.Name, func(t *testing.T) {
			for i, rep := range looks(t, s, seqSpec(m), 300) {
				if rep.Phase != Inconclusive {
					t.Fatalf("look %d: phase %s (%q), want Inconclusive: no data is never a pass", i, rep.Phase, rep.Message)
				}
				r := rep.Results[0]
				if !r.Sequential || !strings.Contains(r.Message, "no canary requests") || r.Evidence != nil {
					t.Fatalf("look %d: result %+v, want a sequential result saying no canary requests, without evidence", i, r)
				}
			}
		})
	}
}

func TestSequentialNothingToCompareWith(t *testing.T) {
	healthy := traffic{rps: 50, errRate: 0.001, median: 0.05, sigma: 0.5}
	tests := map[string]struct {
		sampler *fakeSampler
		spec    func(Spec) Spec
		want    string
	}{
		"no stable revision": {
			sampler: sampler(2, 120, healthy, healthy),
			spec:    func(s Spec) Spec { s.Stable = Target{}; return s },
			want:    "no stable revision to compare with",
		},
		"no stable requests": {
			sampler: sampler(3, 120, healthy, traffic{}),
			spec:    func(s Spec) Spec { return s },
			want:    "no stable requests yet to compare with (6000 canary requests)",
		},
	}
	for name, tc := range tests {
		for _, m := range []Metric{seqErrors, seqP90} {
			t.Run(name+"/"+m.Name, func(t *testing.T) {
				rep := Evaluate(context.Background(), Providers{BuiltinProvider: tc.sampler}, tc.spec(seqSpec(m)), at(120))
				want := m.Name + ": " + tc.want
				if rep.Phase != Inconclusive || rep.Message != want {
					t.Errorf("Evaluate() = %s %q, want Inconclusive %q", rep.Phase, rep.Message, want)
				}
				if !rep.Results[0].Sequential {
					t.Errorf("result not marked sequential")
				}
			})
		}
	}
}

func TestSequentialBeforeTheStepStarts(t *testing.T) {
	s := sampler(4, 60, traffic{rps: 10, errRate: 0.5}, traffic{rps: 90})
	// A look at the step's very start has no data yet (and asks for none).
	rep := Evaluate(context.Background(), Providers{BuiltinProvider: s}, seqSpec(seqErrors), seqEpoch)
	if rep.Phase != Inconclusive || !strings.Contains(rep.Message, "no canary requests") {
		t.Errorf("Evaluate() at From = %s %q, want Inconclusive without canary requests", rep.Phase, rep.Message)
	}
	if s.calls != 0 {
		t.Errorf("%d Sample calls for an empty range, want 0", s.calls)
	}
}

func TestSequentialErrorRateRegression(t *testing.T) {
	s := sampler(5, 120, traffic{rps: 10, errRate: 0.10}, traffic{rps: 90, errRate: 0.001})
	spec := seqSpec(seqErrors)
	reps := looks(t, s, spec, 120)
	i := firstLook(reps, Fail)
	if i < 0 || i > 5 {
		t.Fatalf("first Fail at look %d, want within the first 60 s; phases %v", i, phasesOf(reps))
	}
	if j := firstLook(reps, Pass); j >= 0 && j < i {
		t.Fatalf("look %d passed before the regression was found", j)
	}
	rep := reps[i]
	r := rep.Results[0]
	if !r.Sequential || r.Evidence == nil {
		t.Fatalf("result %+v, want sequential with evidence", r)
	}
	now := at((i + 1) * 10)
	c, _ := s.Sample(context.Background(), spec.Canary, seqEpoch, now)
	st, _ := s.Sample(context.Background(), spec.Stable, seqEpoch, now)
	ev := *r.Evidence
	want := Evidence{
		CanaryRequests: c.Requests, StableRequests: st.Requests, CanaryEvents: c.Errors, StableEvents: st.Errors,
		Canary: float64(c.Errors) / float64(c.Requests), Stable: float64(st.Errors) / float64(st.Requests),
		Margin: "+50% or +1.5 pts", Tolerance: "+10%", RegressionBar: 100,
	}
	want.Estimate = want.Canary - want.Stable
	got := ev
	got.Lower, got.Upper, got.Regression = 0, 0, 0
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("evidence (-want +got):\n%s", diff)
	}
	if !(ev.Regression >= ev.RegressionBar) {
		t.Errorf("Regression = %v, want at least the bar %v", ev.Regression, ev.RegressionBar)
	}
	if !(ev.Lower <= ev.Estimate && ev.Estimate <= ev.Upper) {
		t.Errorf("interval [%v, %v] must hold the estimate %v", ev.Lower, ev.Upper, ev.Estimate)
	}
	if !strings.HasPrefix(rep.Message, "error-rate: canary 5xx ") || !strings.Contains(rep.Message, "evidence of regression beyond tolerance +10%") {
		t.Errorf("message %q, want the canary's rate and the evidence of regression", rep.Message)
	}
	lb := RatioLowerBound(c.Errors, c.Requests, st.Errors, st.Requests, 0.01, errorGrid)
	if want := "the canary's error rate is at least " + ratio(lb) + " the stable's"; lb <= 1 || !strings.Contains(rep.Message, want) {
		t.Errorf("message %q, want it to contain %q (a ratio bound above 1)", rep.Message, want)
	}
	if r.Canary != (Value{Value: want.Canary, Requests: c.Requests, Valid: true}) {
		t.Errorf("Canary value %+v, want the rate since the step started", r.Canary)
	}
	// A sequential failure is final: the step rolls back at once.
	if v, _, _ := Decide(StepPolicy{FailureLimit: 5}, StepState{}, rep, 10*time.Second); v != RollBack {
		t.Errorf("Decide() = %s, want %s on evidence of regression", v, RollBack)
	}
}

func phasesOf(reps []Report) []Phase {
	var out []Phase
	for _, r := range reps {
		out = append(out, r.Phase)
	}
	return out
}

func TestSequentialErrorRateHealthy(t *testing.T) {
	s := sampler(6, 600, traffic{rps: 50, errRate: 0.001}, traffic{rps: 450, errRate: 0.001})
	reps := looks(t, s, seqSpec(seqErrors), 600)
	i := firstLook(reps, Pass)
	if i < 0 {
		t.Fatalf("never passed with 30,000 healthy canary requests; phases %v; last %q", phasesOf(reps), reps[len(reps)-1].Message)
	}
	if j := firstLook(reps, Fail); j >= 0 {
		t.Fatalf("look %d failed a healthy canary: %q", j, reps[j].Message)
	}
	r := reps[i].Results[0]
	if !r.Sequential || r.Evidence == nil || !strings.Contains(r.Message, "evidence of non-regression") {
		t.Fatalf("pass %+v, want a sequential pass with evidence of non-regression", r)
	}
	if ev := r.Evidence; ev.Regression >= ev.RegressionBar || ev.MoreRequests != 0 {
		t.Errorf("evidence %+v: regression under the bar and no more requests wanted", ev)
	}
	for _, rep := range reps[:i] {
		if rep.Phase != Inconclusive {
			t.Errorf("before the pass: %s %q, want Inconclusive", rep.Phase, rep.Message)
		}
	}
}

func TestSequentialErrorRateNeedsMoreRequests(t *testing.T) {
	// 3 canary requests a second for 10 s: far too few to bound its rate
	// within the margin.
	s := sampler(7, 10, traffic{rps: 3}, traffic{rps: 300, errRate: 0.001})
	rep := Evaluate(context.Background(), Providers{BuiltinProvider: s}, seqSpec(seqErrors), at(10))
	if rep.Phase != Inconclusive {
		t.Fatalf("Evaluate() = %s %q, want Inconclusive", rep.Phase, rep.Message)
	}
	ev := rep.Results[0].Evidence
	if ev == nil || ev.MoreRequests <= 0 || ev.MoreSeconds <= 0 {
		t.Fatalf("evidence %+v, want an estimate of more requests and seconds", ev)
	}
	if !strings.Contains(rep.Message, "more canary requests needed") || !strings.Contains(rep.Message, "no verdict yet") {
		t.Errorf("message %q, want how many more canary requests are needed", rep.Message)
	}
	// The estimate is about right: the canary passes once it has them.
	need := ev.MoreRequests + 30
	s2 := sampler(8, int(need/3)+2, traffic{rps: 3}, traffic{rps: 300, errRate: 0.001})
	rep = Evaluate(context.Background(), Providers{BuiltinProvider: s2}, seqSpec(seqErrors), at(int(need/3)+2))
	if rep.Phase != Pass {
		t.Errorf("with %d canary requests (30 + %d more): %s %q, want Pass", need, ev.MoreRequests, rep.Phase, rep.Message)
	}
	// 3 requests/s × MoreRequests.
	if want := float64(ev.MoreRequests) / 3; math.Abs(ev.MoreSeconds-want) > 1 {
		t.Errorf("MoreSeconds = %v, want about %v at 3 req/s", ev.MoreSeconds, want)
	}
}

func TestSequentialLatencyRegression(t *testing.T) {
	stable := traffic{rps: 90, median: 0.05, sigma: 0.5}
	canary := traffic{rps: 10, median: 0.075, sigma: 0.5}
	s := sampler(9, 300, canary, stable)
	reps := looks(t, s, seqSpec(seqP90), 300)
	i := firstLook(reps, Fail)
	if i < 0 {
		t.Fatalf("a canary 1.5x slower never failed; phases %v; last %q", phasesOf(reps), reps[len(reps)-1].Message)
	}
	if j := firstLook(reps, Pass); j >= 0 && j < i {
		t.Fatalf("look %d passed a canary 1.5x slower: %q", j, reps[j].Message)
	}
	r := reps[i].Results[0]
	ev := r.Evidence
	if !r.Sequential || ev == nil {
		t.Fatalf("result %+v, want sequential with evidence", r)
	}
	if !strings.Contains(r.Message, "evidence of regression beyond tolerance +10%: at least ") ||
		!strings.Contains(r.Message, " as many canary requests are slower than ") || !strings.HasPrefix(r.Message, "latency-p90: canary p90 ") {
		t.Errorf("message %q, want evidence of regression with its ratio bound", r.Message)
	}
	if ev.Regression < ev.RegressionBar || ev.RegressionBar != 100 || ev.NonRegressionBar != 20 {
		t.Errorf("evidence %+v: want Regression ≥ RegressionBar = 100, NonRegressionBar 20", ev)
	}
	// The threshold is a bucket boundary near the stable's p90 (50ms ×
	// e^(0.5×1.28) ≈ 95ms).
	if ev.Threshold < 0.08 || ev.Threshold > 0.12 || stats.BucketLowerBound(stats.BucketIndex(time.Duration(ev.Threshold*float64(time.Second)))).Seconds() != ev.Threshold {
		t.Errorf("threshold %v, want the bucket boundary near the stable's p90", ev.Threshold)
	}
	if ev.CanaryEvents <= 0 || ev.CanaryEvents > ev.CanaryRequests || ev.StableEvents > ev.StableRequests {
		t.Errorf("evidence counts %+v", ev)
	}
	if !(ev.Estimate > 1.2 && ev.Estimate < 2) {
		t.Errorf("Estimate (canary/stable p90) = %v, want about 1.5", ev.Estimate)
	}
	if !(ev.Lower <= float64(ev.CanaryEvents)/float64(ev.CanaryRequests) && float64(ev.CanaryEvents)/float64(ev.CanaryRequests) <= ev.Upper) {
		t.Errorf("canary's slow share %d/%d outside [%v, %v]", ev.CanaryEvents, ev.CanaryRequests, ev.Lower, ev.Upper)
	}
}

func TestSequentialLatencySameDistributionPasses(t *testing.T) {
	same := traffic{rps: 50, median: 0.05, sigma: 0.5}
	s := sampler(10, 600, same, traffic{rps: 150, median: 0.05, sigma: 0.5})
	reps := looks(t, s, seqSpec(seqP90), 600)
	i := firstLook(reps, Pass)
	if i < 0 {
		t.Fatalf("the same latencies never passed; phases %v; last %q", phasesOf(reps), reps[len(reps)-1].Message)
	}
	if j := firstLook(reps, Fail); j >= 0 {
		t.Fatalf("look %d failed the same latencies: %q", j, reps[j].Message)
	}
	r := reps[i].Results[0]
	if !strings.Contains(r.Message, "evidence of non-regression within margin +20%") || r.Evidence.NonRegression < r.Evidence.NonRegressionBar {
		t.Errorf("pass %q with evidence %+v, want evidence of non-regression", r.Message, r.Evidence)
	}
	// Undecided looks before it say how far they are.
	for _, rep := range reps[:i] {
		if rep.Phase != Inconclusive {
			t.Errorf("before the pass: %s %q, want Inconclusive", rep.Phase, rep.Message)
		}
	}
}

func TestSequentialLatencyWaitsForThreshold(t *testing.T) {
	// p90 needs 200 stable requests to fix its threshold; 5 a second for
	// 20 s is 100.
	s := sampler(11, 20, traffic{rps: 5, median: 0.05, sigma: 0.5}, traffic{rps: 5, median: 0.05, sigma: 0.5})
	rep := Evaluate(context.Background(), Providers{BuiltinProvider: s}, seqSpec(seqP90), at(20))
	// 20 expected above the quantile: 20/(1-0.9), which rounds up to 201
	// in floating point.
	need := minThresholdRequests(0.9)
	if need != 200 && need != 201 {
		t.Errorf("minThresholdRequests(0.9) = %d, want 200 (or 201 from rounding)", need)
	}
	if want := fmt.Sprintf("waiting for %d stable requests to fix the p90 threshold (have 100)", need); rep.Phase != Inconclusive || !strings.Contains(rep.Message, want) {
		t.Errorf("Evaluate() = %s %q, want Inconclusive waiting for the threshold", rep.Phase, rep.Message)
	}
	if ev := rep.Results[0].Evidence; ev == nil || ev.Threshold != 0 || ev.CanaryRequests != 0 {
		t.Errorf("evidence %+v, want one without a threshold", ev)
	}
	// p99 needs 2000.
	rep = Evaluate(context.Background(), Providers{BuiltinProvider: s}, seqSpec(seqMetric("latency-p99", LatencyP99)), at(20))
	if !strings.Contains(rep.Message, "waiting for 2000 stable requests to fix the p99 threshold") {
		t.Errorf("p99: %q, want waiting for 2000", rep.Message)
	}
}

func TestSequentialLatencyWaitsForTrafficAfterThreshold(t *testing.T) {
	// The threshold is fixed from the first interval; the look is at its
	// end, so nothing has been counted after it yet.
	s := sampler(12, 10, traffic{rps: 50, median: 0.05, sigma: 0.5}, traffic{rps: 100, median: 0.05, sigma: 0.5})
	rep := Evaluate(context.Background(), Providers{BuiltinProvider: s}, seqSpec(seqP90), at(10))
	if rep.Phase != Inconclusive || !strings.Contains(rep.Message, "fixed, waiting for canary and stable requests after it") {
		t.Errorf("Evaluate() = %s %q, want Inconclusive waiting for requests after the threshold", rep.Phase, rep.Message)
	}
	if ev := rep.Results[0].Evidence; ev == nil || ev.Threshold <= 0 {
		t.Errorf("evidence %+v, want the fixed threshold", ev)
	}
}

func TestSequentialGuardRails(t *testing.T) {
	withTh := func(m Metric, th Thresholds) Metric { m.Thresholds = th; return m }
	bad := traffic{rps: 20, errRate: 0.2, median: 0.05, sigma: 0.3}
	slow := traffic{rps: 20, median: 0.3, sigma: 0.3}
	tests := map[string]struct {
		metric         Metric
		canary, stable traffic
		last           int
		want           string
	}{
		// As bad as the stable: no regression, but over the absolute max.
		"error rate over max": {
			metric: withTh(seqErrors, Thresholds{Max: ptr(0.01)}),
			canary: bad, stable: traffic{rps: 180, errRate: 0.2, median: 0.05, sigma: 0.3},
			last: 30, want: "over max 1.00%: canary's lower bound",
		},
		"error rate under min": {
			metric: withTh(seqErrors, Thresholds{Min: ptr(0.5)}),
			canary: traffic{rps: 20}, stable: traffic{rps: 180},
			last: 30, want: "under min 50.00%: canary's upper bound",
		},
		"latency over max": {
			metric: withTh(seqP90, Thresholds{Max: ptr(0.1)}),
			canary: slow, stable: traffic{rps: 180, median: 0.3, sigma: 0.3},
			last: 30, want: "over max 100ms: at least",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s := sampler(13, tc.last, tc.canary, tc.stable)
			reps := looks(t, s, seqSpec(tc.metric), tc.last)
			i := firstLook(reps, Fail)
			if i < 0 {
				t.Fatalf("never failed; phases %v; last %q", phasesOf(reps), reps[len(reps)-1].Message)
			}
			r := reps[i].Results[0]
			if !r.Sequential || !strings.Contains(r.Message, tc.want) {
				t.Errorf("failure %q (sequential %v), want a sequential failure containing %q", r.Message, r.Sequential, tc.want)
			}
			if v, _, _ := Decide(StepPolicy{FailureLimit: 3}, StepState{}, reps[i], time.Minute); v != RollBack {
				t.Errorf("Decide() = %s, want a guard rail to roll back at once", v)
			}
		})
	}
	// Within the guard rails nothing fails.
	for name, m := range map[string]Metric{
		"error rate under max": withTh(seqErrors, Thresholds{Max: ptr(0.3)}),
		"latency under max":    withTh(seqP90, Thresholds{Max: ptr(1.0)}),
	} {
		t.Run(name, func(t *testing.T) {
			st := traffic{rps: 180, errRate: 0.2, median: 0.3, sigma: 0.3}
			s := sampler(14, 60, traffic{rps: 20, errRate: 0.2, median: 0.3, sigma: 0.3}, st)
			for _, rep := range looks(t, s, seqSpec(m), 60) {
				if rep.Phase == Fail {
					t.Fatalf("failed within the guard rails: %q", rep.Message)
				}
			}
		})
	}
}

func TestSequentialLatencyMinGuard(t *testing.T) {
	// Every canary request takes 102ms, in the bucket [98.304ms, 106.496ms)
	// whose lower bound is below the min of 100ms.
	m := seqP90
	m.Min = ptr(0.1)
	same := traffic{rps: 20, median: 0.102}
	s := sampler(15, 60, same, traffic{rps: 180, median: 0.102})
	for _, rep := range looks(t, s, seqSpec(m), 60) {
		if rep.Phase == Fail {
			t.Fatalf("every request takes 102ms, yet p90 is judged under the min of 100ms: %q", rep.Message)
		}
	}
}

// A canary within the absolute tolerance must be rolled back with
// probability at most alpha, however many looks.
func TestSequentialErrorRateAbsoluteTolerance(t *testing.T) {
	// One look: 8 of 1,600 canary requests failed against 13 of 14,400.
	// The judge's own interval for the difference reaches below the
	// tolerance, yet it reports evidence of regression beyond it.
	m := seqErrors
	m.Tolerance = Margin{Absolute: 0.001}
	s := &fakeSampler{seconds: map[string][]perSecond{
		"canary": {{requests: 1600, errors: 8}},
		"stable": {{requests: 14400, errors: 13}},
	}}
	rep := Evaluate(context.Background(), Providers{BuiltinProvider: s}, seqSpec(m), at(10))
	if ev := rep.Results[0].Evidence; rep.Phase == Fail && ev.Lower <= m.Tolerance.Absolute {
		t.Errorf("rolled back although the difference's lower bound %s is within the tolerance: %q", points(ev.Lower), rep.Message)
	}
	// Many steps of a canary 0.09 points worse than the stable.
	const alpha, runs, steps = 0.01, 300, 60
	r := newRand(41)
	rolledBack := 0
	for range runs {
		var c, st Sample
		for look := range steps {
			c.Requests += 100
			st.Requests += 900
			c.Errors += binomial(r, 100, 0.0019)
			st.Errors += binomial(r, 900, 0.001)
			if _, phase, _ := judgeErrors(m, c, st, alpha, 0.05, time.Duration(look+1)*10*time.Second); phase == Fail {
				rolledBack++
				break
			}
		}
	}
	if got := float64(rolledBack) / runs; got > alpha+slack(alpha, runs) {
		t.Errorf("a canary within the tolerance was rolled back in %d of %d steps (%.1f%%), want at most alpha = %.0f%%", rolledBack, runs, got*100, alpha*100)
	}
}

func TestSequentialMeasurementErrors(t *testing.T) {
	healthy := traffic{rps: 20, median: 0.05, sigma: 0.5}
	for _, m := range []Metric{seqErrors, seqP90} {
		for rev, want := range map[string]string{"canary": "measuring canary: telemetry down", "stable": "measuring stable: telemetry down"} {
			t.Run(m.Name+"/"+rev, func(t *testing.T) {
				s := sampler(16, 30, healthy, healthy)
				s.errs = map[string]error{rev: errors.New("telemetry\n  down")}
				rep := Evaluate(context.Background(), Providers{BuiltinProvider: s}, seqSpec(m), at(30))
				if rep.Phase != Error || rep.Message != m.Name+": "+want || !rep.Results[0].Sequential {
					t.Errorf("Evaluate() = %s %q, want Error %q", rep.Phase, rep.Message, m.Name+": "+want)
				}
			})
		}
	}
	t.Run("provider without counts", func(t *testing.T) {
		rep := Evaluate(context.Background(), Providers{BuiltinProvider: &fakeProvider{}}, seqSpec(seqErrors), at(30))
		if rep.Phase != Error || !strings.Contains(rep.Message, "gives no counts for the sequential judge") {
			t.Errorf("Evaluate() = %s %q, want Error: no counts", rep.Phase, rep.Message)
		}
	})
}

// The metrics of a step share alpha: each rolls back at e ≥ share/alpha.
// Threshold metrics take no share.
func TestSequentialAlphaIsShared(t *testing.T) {
	s := sampler(17, 120, traffic{rps: 10, errRate: 0.1, median: 0.075, sigma: 0.5}, traffic{rps: 90, errRate: 0.001, median: 0.05, sigma: 0.5})
	rate := Metric{Name: "request-rate", Builtin: RequestRate, Thresholds: Thresholds{Min: ptr(1)}}
	rep := Evaluate(context.Background(), Providers{BuiltinProvider: s}, seqSpec(seqErrors, seqP90, rate), at(120))
	if len(rep.Results) != 3 {
		t.Fatalf("%d results, want 3", len(rep.Results))
	}
	for _, r := range rep.Results[:2] {
		if r.Evidence == nil || r.Evidence.RegressionBar != 200 {
			t.Errorf("%s: evidence %+v, want RegressionBar 200 (alpha 0.01 shared by 2)", r.Metric, r.Evidence)
		}
		if r.Evidence != nil && r.Evidence.NonRegressionBar != 0 && r.Evidence.NonRegressionBar != 20 {
			t.Errorf("%s: NonRegressionBar %v, want 1/beta = 20 (beta is not shared)", r.Metric, r.Evidence.NonRegressionBar)
		}
	}
	if r := rep.Results[2]; r.Sequential || r.Phase != Pass {
		t.Errorf("request-rate: %+v, want a threshold Pass", r)
	}
	if rep.Phase != Fail {
		t.Errorf("phase %s %q, want Fail", rep.Phase, rep.Message)
	}
}

// Without Sequential.From the comparative builtins are threshold metrics.
func TestSequentialOnlyWithFrom(t *testing.T) {
	sp := seqSpec(seqErrors)
	sp.Sequential = SequentialSpec{}
	if sequential(sp, seqErrors) {
		t.Errorf("sequential() without From = true")
	}
	if !sequential(seqSpec(seqErrors), seqErrors) {
		t.Errorf("sequential() with From = false")
	}
	if sequential(seqSpec(), Metric{Name: "rps", Builtin: RequestRate}) {
		t.Errorf("requestRate is not comparative")
	}
	if sequential(seqSpec(), Metric{Name: "q", Query: "up", Provider: PrometheusProvider}) {
		t.Errorf("a query is not sequential")
	}
	rep := Evaluate(context.Background(), Providers{BuiltinProvider: &fakeSampler{}}, sp, at(30))
	if rep.Phase != Error || !strings.Contains(rep.Message, "no threshold") {
		t.Errorf("Evaluate() = %s %q, want Error: a threshold metric needs a threshold", rep.Phase, rep.Message)
	}
}

func TestBucketAtLeastAndNearest(t *testing.T) {
	for i := 0; i <= stats.OverflowBucket; i++ {
		v := stats.BucketLowerBound(i).Seconds()
		if got := bucketAtLeast(v); got != i {
			t.Errorf("bucketAtLeast(%v) = %d, want %d (its own lower bound)", v, got, i)
		}
		if got := bucketNearest(v); got != i {
			t.Errorf("bucketNearest(%v) = %d, want %d (its own lower bound)", v, got, i)
		}
		if i < stats.OverflowBucket {
			if got := bucketAtLeast(v + 1e-6); got != i+1 {
				t.Errorf("bucketAtLeast(%v + 1µs) = %d, want %d", v, got, i+1)
			}
		}
	}
	// Against brute force: the first bucket whose lower bound is at least
	// v, and of it and the one below, the nearer in ratio.
	r := newRand(18)
	for range 2000 {
		v := math.Exp(r.Float64()*math.Log(100/1e-6)) * 1e-6 // 1µs to 100s
		us := time.Duration(math.Round(v*1e6)) * time.Microsecond
		want := stats.OverflowBucket
		for j := 0; j <= stats.OverflowBucket; j++ {
			if stats.BucketLowerBound(j) >= us {
				want = j
				break
			}
		}
		if got := bucketAtLeast(v); got != want {
			t.Fatalf("bucketAtLeast(%v) = %d, want %d", v, got, want)
		}
		near := want
		if want > 0 && want < stats.OverflowBucket {
			hi, lo := stats.BucketLowerBound(want).Seconds(), stats.BucketLowerBound(want-1).Seconds()
			if lo > 0 && v/lo < hi/v {
				near = want - 1
			}
		}
		if got := bucketNearest(v); got != near {
			t.Fatalf("bucketNearest(%v) = %d, want %d", v, got, near)
		}
	}
	// Either side of the geometric midpoint of two boundaries.
	lo, hi := stats.BucketLowerBound(100).Seconds(), stats.BucketLowerBound(101).Seconds()
	mid := math.Sqrt(lo * hi)
	if got := bucketNearest(mid * 0.999); got != 100 {
		t.Errorf("bucketNearest just under the midpoint = %d, want 100", got)
	}
	if got := bucketNearest(mid * 1.001); got != 101 {
		t.Errorf("bucketNearest just over the midpoint = %d, want 101", got)
	}
	for _, v := range []float64{0, 1e-9} {
		if got := bucketAtLeast(v); got != 0 {
			t.Errorf("bucketAtLeast(%v) = %d, want 0", v, got)
		}
	}
	for _, v := range []float64{67.2, 1000, 1e9} {
		if got, got2 := bucketAtLeast(v), bucketNearest(v); got != stats.OverflowBucket || got2 != stats.OverflowBucket {
			t.Errorf("bucketAtLeast(%v), bucketNearest = %d, %d; want the overflow bucket %d", v, got, got2, stats.OverflowBucket)
		}
	}
}

func TestThresholdBucket(t *testing.T) {
	mk := func(counts map[int]uint64) stats.Histogram {
		h := stats.Histogram{Counts: make([]uint64, stats.NumBuckets)}
		for i, c := range counts {
			h.Counts[i] = c
		}
		return h
	}
	tests := map[string]struct {
		h    stats.Histogram
		q    float64
		want int
	}{
		"quantile at the end of a bucket": {h: mk(map[int]uint64{50: 90, 60: 10}), q: 0.9, want: 51},
		"quantile in the next bucket":     {h: mk(map[int]uint64{50: 90, 60: 10}), q: 0.91, want: 60},
		"one bucket":                      {h: mk(map[int]uint64{70: 100}), q: 0.99, want: 71},
		"median":                          {h: mk(map[int]uint64{10: 1, 20: 1, 30: 1}), q: 0.5, want: 21},
		"overflow stays overflow":         {h: mk(map[int]uint64{stats.OverflowBucket: 5}), q: 0.9, want: stats.OverflowBucket},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := thresholdBucket(tc.h, tc.q)
			if got != tc.want {
				t.Errorf("thresholdBucket() = %d, want %d", got, tc.want)
			}
		})
	}
	// The threshold is an edge of the bucket holding the quantile, the
	// one whose share at or above it is nearer 1-q: never an edge that
	// leaves almost nothing of the stable to count.
	r := newRand(19)
	for range 200 {
		h := stats.Histogram{Counts: make([]uint64, stats.NumBuckets)}
		for range 1 + r.IntN(500) {
			h.Counts[80+r.IntN(40)]++
		}
		n := float64(h.Count())
		for _, q := range []float64{0.5, 0.9, 0.99} {
			i := thresholdBucket(h, q)
			qb := stats.BucketIndex(h.Quantile(q))
			// Quantile interpolates inside a bucket; its bucket is i-1 or i.
			if i != qb && i != qb+1 {
				t.Fatalf("q=%v: threshold bucket %d is not an edge of the quantile's bucket %d", q, i, qb)
			}
			other := i + 1
			if i == qb+1 {
				other = qb
			}
			if d, o := math.Abs(float64(above(h, i))-(1-q)*n), math.Abs(float64(above(h, other))-(1-q)*n); d > o+1e-9 {
				t.Fatalf("q=%v: bucket %d leaves %d above (want %.1f), the other edge %d leaves %d", q, i, above(h, i), (1-q)*n, other, above(h, other))
			}
		}
	}
}

func TestMoreRequests(t *testing.T) {
	for _, need := range []int64{1, 17, 1000, 123456, 9_000_000} {
		got := moreRequests(100, func(extra int64) bool { return extra >= need })
		if got < need || float64(got) > float64(need)*1.01+1 {
			t.Errorf("need %d: moreRequests() = %d, want within 1%% above", need, got)
		}
	}
	if got := moreRequests(100, func(int64) bool { return false }); got != 0 {
		t.Errorf("never enough: moreRequests() = %d, want 0", got)
	}
}

func TestFormatting(t *testing.T) {
	for n, want := range map[int64]string{
		0: "0", 7: "7", 999: "999", 1000: "1,000", 12345: "12,345", 123456: "123,456",
		1234567: "1,234,567", -1234567: "-1,234,567", -12: "-12",
		math.MaxInt64: "9,223,372,036,854,775,807", math.MinInt64: "-9,223,372,036,854,775,808",
	} {
		if got := count(n); got != want {
			t.Errorf("count(%d) = %q, want %q", n, got, want)
		}
	}
	for v, want := range map[float64]string{0.0123: "+1.23 pts", 0: "+0.00 pts", -0.005: "-0.50 pts", 0.1: "+10.00 pts"} {
		if got := points(v); got != want {
			t.Errorf("points(%v) = %q, want %q", v, got, want)
		}
	}
	for v, want := range map[float64]string{0.123: "12.3%", 0: "0.0%", 1: "100.0%"} {
		if got := pct(v); got != want {
			t.Errorf("pct(%v) = %q, want %q", v, got, want)
		}
	}
	for v, want := range map[float64]string{
		0.5: "0.50", 3.456: "3.46", 10: "10", 212.4: "212", 999_999: "999999", 3.4e7: "3.4e+07", math.Inf(1): "1.8e+308",
	} {
		if got := evalue(v); got != want {
			t.Errorf("evalue(%v) = %q, want %q", v, got, want)
		}
	}
	if got := FormatEvidence(212.4, 100); got != "212 / 100" {
		t.Errorf("FormatEvidence(212.4, 100) = %q, want %q", got, "212 / 100")
	}
	if got := FormatEvidence(5, 0); got != "" {
		t.Errorf("FormatEvidence without a bar = %q, want empty", got)
	}
	if got := FormatPoints(0.0123); got != "+1.23 pts" {
		t.Errorf("FormatPoints(0.0123) = %q", got)
	}
	if got := FormatPercent(0.0912); got != "9.1%" {
		t.Errorf("FormatPercent(0.0912) = %q", got)
	}
	for _, tc := range []struct {
		m    Margin
		kind string
		want string
	}{
		{Margin{}, ErrorRate, "none"},
		{DefaultMargin(ErrorRate), ErrorRate, "+50% or +1.5 pts"},
		{DefaultTolerance(ErrorRate), ErrorRate, "+10%"},
		{Margin{Absolute: 0.001}, ErrorRate, "+0.1 pts"},
		{DefaultMargin(LatencyP99), LatencyP99, "+20%"},
		{Margin{Relative: 0.1, Absolute: 0.05}, LatencyP90, "+10% or +50ms"},
	} {
		if got := tc.m.format(tc.kind); got != tc.want {
			t.Errorf("%+v.format(%s) = %q, want %q", tc.m, tc.kind, got, tc.want)
		}
	}
}

func TestMargin(t *testing.T) {
	m := Margin{Relative: 0.5, Absolute: 0.015}
	for v, want := range map[float64]float64{0: 0.015, 0.01: 0.025, 0.1: 0.15} {
		if got := m.apply(v); math.Abs(got-want) > 1e-12 {
			t.Errorf("apply(%v) = %v, want %v (whichever allows more)", v, got, want)
		}
	}
	if !(Margin{}).IsZero() || m.IsZero() || (Margin{Absolute: 1}).IsZero() {
		t.Errorf("IsZero wrong")
	}
	for _, b := range Builtins {
		c := Comparative(b)
		if c != (b != RequestRate) {
			t.Errorf("Comparative(%s) = %v", b, c)
		}
		if c && (DefaultMargin(b).IsZero() || DefaultTolerance(b).IsZero()) {
			t.Errorf("%s: zero default margin or tolerance", b)
		}
		if !c && (!DefaultMargin(b).IsZero() || !DefaultTolerance(b).IsZero()) {
			t.Errorf("%s: default margin or tolerance for a non-comparative metric", b)
		}
	}
}

func TestValidateSequential(t *testing.T) {
	with := func(f func(*Spec)) Spec {
		s := seqSpec(seqErrors, seqP90)
		f(&s)
		return s
	}
	withMetric := func(f func(*Metric)) Spec {
		m := seqErrors
		f(&m)
		return seqSpec(m)
	}
	tests := map[string]struct {
		spec    Spec
		wantErr string // "" means valid
	}{
		"valid":                           {spec: seqSpec(seqErrors, seqP90)},
		"comparative without a threshold": {spec: seqSpec(seqMetric("p50", LatencyP50))},
		"alpha 0.5":                       {spec: with(func(s *Spec) { s.Sequential.Alpha = 0.5 })},
		"zero alpha":                      {spec: with(func(s *Spec) { s.Sequential.Alpha = 0 }), wantErr: "alpha must be in (0, 0.5], got 0"},
		"negative alpha":                  {spec: with(func(s *Spec) { s.Sequential.Alpha = -0.01 }), wantErr: "alpha must be in (0, 0.5]"},
		"alpha over 0.5":                  {spec: with(func(s *Spec) { s.Sequential.Alpha = 0.51 }), wantErr: "alpha must be in (0, 0.5], got 0.51"},
		"alpha 1":                         {spec: with(func(s *Spec) { s.Sequential.Alpha = 1 }), wantErr: "alpha must be in (0, 0.5]"},
		"NaN alpha":                       {spec: with(func(s *Spec) { s.Sequential.Alpha = math.NaN() }), wantErr: "alpha must be in (0, 0.5], got NaN"},
		"zero beta":                       {spec: with(func(s *Spec) { s.Sequential.Beta = 0 }), wantErr: "beta must be in (0, 0.5], got 0"},
		"beta over 0.5":                   {spec: with(func(s *Spec) { s.Sequential.Beta = 0.6 }), wantErr: "beta must be in (0, 0.5]"},
		"zero interval":                   {spec: with(func(s *Spec) { s.Sequential.Interval = 0 }), wantErr: "interval must be positive"},
		"alpha unchecked without From": {spec: with(func(s *Spec) {
			s.Sequential = SequentialSpec{Alpha: 7}
			s.Metrics = []Metric{builtinMetric("e", ErrorRate, Thresholds{Max: ptr(0.01)})}
		})},
		"negative relative margin":  {spec: withMetric(func(m *Metric) { m.Margin.Relative = -0.1 }), wantErr: `metric "error-rate": margin must not be negative`},
		"negative absolute margin":  {spec: withMetric(func(m *Metric) { m.Margin.Absolute = -0.001 }), wantErr: "margin must not be negative"},
		"negative tolerance":        {spec: withMetric(func(m *Metric) { m.Tolerance.Relative = -1 }), wantErr: "tolerance must not be negative"},
		"NaN margin":                {spec: withMetric(func(m *Metric) { m.Margin.Relative = math.NaN() }), wantErr: "margin must not be negative"},
		"infinite tolerance":        {spec: withMetric(func(m *Metric) { m.Tolerance.Absolute = math.Inf(1) }), wantErr: "tolerance must not be negative"},
		"zero margin and tolerance": {spec: withMetric(func(m *Metric) { m.Margin, m.Tolerance = Margin{}, Margin{} })},
		"negative margin without From": {spec: func() Spec {
			s := spec(Metric{Name: "e", Builtin: ErrorRate, Thresholds: Thresholds{Max: ptr(0.01)}, Margin: Margin{Relative: -1}})
			return s
		}(), wantErr: "margin must not be negative"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			err := Validate(tc.spec)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Validate() = %v, want error containing %q", err, tc.wantErr)
			}
			// Evaluate refuses it too, without measuring.
			s := &fakeSampler{}
			rep := Evaluate(context.Background(), Providers{BuiltinProvider: s}, tc.spec, at(30))
			if rep.Phase != Error || !strings.HasPrefix(rep.Message, "invalid analysis: ") || s.calls != 0 {
				t.Errorf("Evaluate() = %s %q after %d samples, want Error: invalid analysis, nothing measured", rep.Phase, rep.Message, s.calls)
			}
		})
	}
}
