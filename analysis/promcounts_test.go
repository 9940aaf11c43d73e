package analysis

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/common/model"

	"github.com/rampdev/ramp/serving/queue/stats"
)

// docCounts are the counts queries of docs/analysis.md's
// ClusterAnalysisTemplate example, so that the example is what the tests
// run.
func docCounts(t *testing.T) CountsQueries {
	t.Helper()
	b, err := os.ReadFile("../docs/analysis.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	start, end := strings.Index(doc, "<!-- counts-example -->"), strings.Index(doc, "<!-- /counts-example -->")
	if start < 0 || end < start {
		t.Fatal("docs/analysis.md has no <!-- counts-example --> block")
	}
	got := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^\s+(requests|errors|histogram): '(.*)'$`).FindAllStringSubmatch(doc[start:end], -1) {
		if _, dup := got[m[1]]; dup {
			t.Fatalf("docs example has two %s queries", m[1])
		}
		got[m[1]] = m[2]
	}
	c := CountsQueries{Requests: got["requests"], Errors: got["errors"], Histogram: got["histogram"]}
	if c.Requests == "" || c.Errors == "" || c.Histogram == "" {
		t.Fatalf("docs example queries %+v: want requests, errors and histogram", c)
	}
	return c
}

// Ramp's queue-proxy exports every fourth latency bucket boundary from
// bucket 40 (128µs) to the overflow bucket as le bounds (serving/queue's
// promFirstBucket and promBucketStep).
func rampBounds() []int {
	var out []int
	for i := 40; i <= stats.OverflowBucket; i += 4 {
		out = append(out, i)
	}
	return out
}

// rampBuckets is h as the queue-proxy exports it: cumulative counts at
// each bound, then +Inf.
func rampBuckets(h stats.Histogram) []bucketPoint {
	var out []bucketPoint
	for _, b := range rampBounds() {
		var cum uint64
		for i := 0; i < b && i < len(h.Counts); i++ {
			cum += h.Counts[i]
		}
		out = append(out, bucketPoint{LE: stats.BucketLowerBound(b).Seconds(), Count: float64(cum)})
	}
	return append(out, bucketPoint{LE: math.Inf(1), Count: float64(h.Count())})
}

// promTraffic is a Prometheus HTTP API over per-second traffic (the
// fakeSampler's), answering the queries of docs/analysis.md as Prometheus
// would answer them over Ramp's queue-proxy metrics: increase over the
// range is the traffic of the seconds in [time-range, time).
type promTraffic struct {
	t         *testing.T
	namespace string
	seconds   map[string][]perSecond

	mu      sync.Mutex
	queries []string
}

var (
	promRequestsRE  = regexp.MustCompile(`^sum\(increase\(ramp_queue_requests_total\{namespace="([^"]*)",revision="([^"]*)"(,class="5xx")?\}\[(\d+)s\]\)\)$`)
	promHistogramRE = regexp.MustCompile(`^sum by \(le\) \(increase\(ramp_queue_request_duration_seconds_bucket\{namespace="([^"]*)",revision="([^"]*)"\}\[(\d+)s\]\)\)$`)
)

func (f *promTraffic) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.FormValue("query")
	f.mu.Lock()
	f.queries = append(f.queries, q)
	f.mu.Unlock()
	ts, err := strconv.ParseFloat(r.FormValue("time"), 64)
	if err != nil {
		f.t.Errorf("query %q at time %q", q, r.FormValue("time"))
	}
	end := time.Unix(int64(math.Round(ts)), 0)
	sum := func(ns, rev, rng string) (perSecond, bool) {
		if ns != f.namespace {
			f.t.Errorf("query %q: namespace %q, want %q", q, ns, f.namespace)
		}
		secs, ok := f.seconds[rev]
		n, _ := strconv.Atoi(rng)
		var out perSecond
		for i := range secs {
			if s := at(i); !s.Before(end.Add(-time.Duration(n)*time.Second)) && s.Before(end) {
				out.requests += secs[i].requests
				out.errors += secs[i].errors
				out.latency.Add(secs[i].latency)
			}
		}
		return out, ok
	}
	sample := func(labels map[string]string, v float64) map[string]any {
		return map[string]any{"metric": labels, "value": []any{ts, strconv.FormatFloat(v, 'g', -1, 64)}}
	}
	result := []any{}
	switch {
	case promRequestsRE.MatchString(q):
		m := promRequestsRE.FindStringSubmatch(q)
		if s, ok := sum(m[1], m[2], m[4]); ok {
			v := float64(s.requests)
			if m[3] != "" {
				v = float64(s.errors)
			}
			result = append(result, sample(map[string]string{}, v))
		}
	case promHistogramRE.MatchString(q):
		m := promHistogramRE.FindStringSubmatch(q)
		if s, ok := sum(m[1], m[2], m[3]); ok {
			for _, b := range rampBuckets(s.latency) {
				result = append(result, sample(map[string]string{"le": strconv.FormatFloat(b.LE, 'g', -1, 64)}, b.Count))
			}
		}
	default:
		f.t.Errorf("query %q is not one of the docs' example", q)
	}
	body, _ := json.Marshal(map[string]any{"status": "success", "data": map[string]any{"resultType": "vector", "result": result}})
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(body)
}

func newPromTraffic(t *testing.T, s *fakeSampler) (*promTraffic, *Prometheus) {
	t.Helper()
	f := &promTraffic{t: t, namespace: "shop", seconds: s.seconds}
	srv := httptest.NewUnstartedServer(f)
	srv.Config.ReadHeaderTimeout, srv.Config.MaxHeaderBytes = 5*time.Second, 1<<16
	srv.Start()
	t.Cleanup(srv.Close)
	p, err := NewPrometheus(srv.URL, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return f, p
}

// countsMetric is the docs' counts metric of kind.
func countsMetric(t *testing.T, name, kind string) Metric {
	c := docCounts(t)
	m := seqMetric(name, kind)
	m.Provider = PrometheusProvider
	if kind == ErrorRate {
		m.Counts = CountsQueries{Requests: c.Requests, Errors: c.Errors}
	} else {
		m.Counts = CountsQueries{Histogram: c.Histogram}
	}
	return m
}

// The sequential judge on Prometheus counts reaches the builtin's verdicts
// on the same traffic: for the error rate with the same counts, evidence
// and message at every look; for latency (whose buckets Prometheus only
// has every fourth of) the same verdicts.
func TestPrometheusCountsMatchBuiltin(t *testing.T) {
	healthy := traffic{rps: 60, errRate: 0.002, median: 0.05, sigma: 0.4}
	tests := map[string]struct {
		kind           string
		canary, stable traffic
		seconds        int
		want           Phase // the builtin's final verdict, to keep the cases meaningful
	}{
		"errors, healthy":   {kind: ErrorRate, canary: healthy, stable: healthy, seconds: 300, want: Pass},
		"errors, broken":    {kind: ErrorRate, canary: traffic{rps: 20, errRate: 0.08, median: 0.05}, stable: healthy, seconds: 120, want: Fail},
		"p90, healthy":      {kind: LatencyP90, canary: healthy, stable: healthy, seconds: 300, want: Pass},
		"p90, twice slower": {kind: LatencyP90, canary: traffic{rps: 20, errRate: 0.002, median: 0.1, sigma: 0.4}, stable: healthy, seconds: 120, want: Fail},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s := sampler(seedOf(name), tc.seconds, tc.canary, tc.stable)
			f, p := newPromTraffic(t, s)
			builtinSpec := seqSpec(seqMetric("m", tc.kind))
			promSpec := seqSpec(countsMetric(t, "m", tc.kind))
			for _, sp := range []*Spec{&builtinSpec, &promSpec} {
				sp.Canary.Namespace, sp.Stable.Namespace = "shop", "shop"
			}
			builtin := looks(t, s, builtinSpec, tc.seconds)
			var prom []Report
			for i := range builtin {
				prom = append(prom, Evaluate(context.Background(), Providers{PrometheusProvider: p}, promSpec, builtin[i].Time))
			}
			if got := builtin[len(builtin)-1].Phase; got != tc.want {
				t.Fatalf("the builtin's final verdict is %s (%s), want %s: the case does not test what it says", got, builtin[len(builtin)-1].Message, tc.want)
			}
			for i := range builtin {
				b, pr := builtin[i].Results[0], prom[i].Results[0]
				if tc.kind == ErrorRate {
					if diff := cmp.Diff(b, pr); diff != "" {
						t.Fatalf("look %d (-builtin +prometheus):\n%s", i, diff)
					}
					continue
				}
				if b.Phase != pr.Phase {
					t.Fatalf("look %d: prometheus %s (%s), builtin %s (%s)", i, pr.Phase, pr.Message, b.Phase, b.Message)
				}
				if (b.Evidence == nil) != (pr.Evidence == nil) {
					t.Fatalf("look %d: evidence %+v vs the builtin's %+v", i, pr.Evidence, b.Evidence)
				}
				if b.Evidence != nil && (pr.Evidence.CanaryRequests != b.Evidence.CanaryRequests || pr.Evidence.StableRequests != b.Evidence.StableRequests) {
					t.Errorf("look %d: requests %d/%d, builtin %d/%d: the histograms' totals must be exact", i,
						pr.Evidence.CanaryRequests, pr.Evidence.StableRequests, b.Evidence.CanaryRequests, b.Evidence.StableRequests)
				}
			}
			if b, pr := builtin[len(builtin)-1].Results[0], prom[len(prom)-1].Results[0]; tc.kind != ErrorRate && b.Evidence != nil {
				t.Logf("last look: slow requests canary %d vs builtin %d, stable %d vs %d; threshold %.4fs vs %.4fs",
					pr.Evidence.CanaryEvents, b.Evidence.CanaryEvents, pr.Evidence.StableEvents, b.Evidence.StableEvents, pr.Evidence.Threshold, b.Evidence.Threshold)
			}
			if len(f.queries) == 0 {
				t.Error("no query reached the fake Prometheus")
			}
		})
	}
}

// A counts metric measured over a window (no sequential judge yet) is
// judged on its thresholds as the builtin of its kind.
func TestPrometheusCountsMeasure(t *testing.T) {
	s := sampler(7, 120, traffic{rps: 20, errRate: 0.1, median: 0.05}, traffic{rps: 80, median: 0.05})
	_, p := newPromTraffic(t, s)
	m := countsMetric(t, "e", ErrorRate)
	m.Max = ptr(0.05)
	spec := Spec{Canary: Target{Namespace: "shop", Revision: "canary"}, Stable: Target{Namespace: "shop", Revision: "stable"},
		Window: time.Minute, Metrics: []Metric{m}}
	rep := Evaluate(context.Background(), Providers{PrometheusProvider: p}, spec, at(120))
	// The builtin's verdict on the same traffic (the fake's own Measure
	// answers fixed values: measure through its Sampler).
	bm := Metric{Name: "e", Builtin: ErrorRate, Thresholds: Thresholds{Max: ptr(0.05)}}
	meas, err := measureSamples(context.Background(), s, Query{Metric: bm, Canary: spec.Canary, Stable: spec.Stable, Window: time.Minute, Now: at(120)})
	if err != nil {
		t.Fatal(err)
	}
	builtin := Judge(bm, meas, 0)
	if rep.Phase != Fail || builtin.Phase != Fail || rep.Message != builtin.Message {
		t.Errorf("Evaluate() = %s %q, want the builtin's %s %q", rep.Phase, rep.Message, builtin.Phase, builtin.Message)
	}
	if r := rep.Results[0]; r.Canary.Requests != 1200 || r.Sequential {
		t.Errorf("result %+v, want 1200 canary requests judged on thresholds", r)
	}
}

const (
	reqT  = `requests{rev="{{.Revision}}"}[{{.Window}}]`
	errT  = `errors{rev="{{.Revision}}"}[{{.Window}}]`
	histT = `buckets{rev="{{.Revision}}"}[{{.Window}}]`
)

func vector(samples ...string) string {
	return `{"resultType":"vector","result":[` + strings.Join(samples, ",") + `]}`
}

func bucket(le string, v float64) string {
	return fmt.Sprintf(`{"metric":{"le":%q},"value":[1,"%v"]}`, le, v)
}

func oneCount(v float64) string { return fmt.Sprintf(`{"metric":{},"value":[1,"%v"]}`, v) }

// What Prometheus answers that is not counts is never a pass: no series
// is Inconclusive, anything else an Error naming the metric and the query.
func TestPrometheusCountsBadAnswers(t *testing.T) {
	goodHist := vector(bucket("0.1", 10), bucket("0.5", 90), bucket("+Inf", 100))
	tests := map[string]struct {
		kind                   string
		canaryReq, canaryErrs  string // answers; "" leaves the query unanswered (bad_data)
		canaryHist, stableHist string
		wantPhase              Phase
		want                   string
	}{
		"no requests series": {kind: ErrorRate, canaryReq: emptyVector,
			wantPhase: Inconclusive, want: "e: no canary data yet (no data is never a pass): prometheus requests query `requests{rev=\"canary\"}[60s]`: returned no series: no data"},
		"no errors series": {kind: ErrorRate, canaryReq: vector(oneCount(100)), canaryErrs: emptyVector,
			wantPhase: Error, want: "e: measuring canary: prometheus errors query `errors{rev=\"canary\"}[60s]`: no series while the requests query counted 100 requests; write it so that it returns 0 without errors (e.g. append `or vector(0)`)"},
		"several series": {kind: ErrorRate, canaryReq: twoSamples,
			wantPhase: Error, want: "e: measuring canary: prometheus requests query `requests{rev=\"canary\"}[60s]`: returned 2 series, want one count (aggregate them with sum)"},
		"a matrix": {kind: ErrorRate, canaryReq: matrix,
			wantPhase: Error, want: "returned a matrix, want one count: a scalar or a vector with one sample"},
		"a bad query": {kind: ErrorRate, canaryReq: "",
			wantPhase: Error, want: "e: measuring canary: prometheus requests query `requests{rev=\"canary\"}[60s]`: bad_data: parse error at char 5"},
		"NaN": {kind: ErrorRate, canaryReq: nanSample, wantPhase: Error, want: "returned NaN, want a count"},
		"negative": {kind: ErrorRate, canaryReq: vector(oneCount(-3)), wantPhase: Error,
			want: "returned -3, want a count, not negative (use increase on a counter)"},
		"more errors than requests": {kind: ErrorRate, canaryReq: vector(oneCount(10)), canaryErrs: vector(oneCount(12)), wantPhase: Error,
			want: "counted 12 errors, more than the requests query's 10 requests"},
		"no +Inf bucket": {kind: LatencyP50, canaryHist: vector(bucket("0.1", 10), bucket("0.5", 90)), wantPhase: Error,
			want: "l: measuring canary: prometheus histogram query `buckets{rev=\"canary\"}[60s]`: has no le=\"+Inf\" bucket (2 buckets up to le=0.5)"},
		"no buckets": {kind: LatencyP50, canaryHist: emptyVector, wantPhase: Inconclusive, want: "l: no canary data yet"},
		"stable buckets not cumulative": {kind: LatencyP50, canaryHist: goodHist,
			stableHist: vector(bucket("0.1", 50), bucket("0.5", 40), bucket("+Inf", 100)), wantPhase: Error,
			want: "l: measuring stable: prometheus histogram query `buckets{rev=\"stable\"}[60s]`: buckets are not cumulative: le=0.5 has 40 but le=0.1 has 50"},
		"buckets without le": {kind: LatencyP50, canaryHist: vector(oneCount(3)), wantPhase: Error,
			want: "returned series {} without an le label: keep it (sum by (le) (...))"},
		"a NaN bucket": {kind: LatencyP50, canaryHist: vector(bucket("0.1", math.NaN()), bucket("+Inf", 1)), wantPhase: Error,
			want: `bucket le="0.1" is NaN, want a count, not negative`},
		"a scalar histogram": {kind: LatencyP50, canaryHist: scalar, wantPhase: Error,
			want: "returned a scalar, want a vector of cumulative buckets by le"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			answers, fail := map[string]string{}, map[string]string{}
			set := func(q, a string) {
				if a == "" {
					fail[q] = badData
				} else {
					answers[q] = a
				}
			}
			m := Metric{Name: "e", Builtin: tc.kind, Provider: PrometheusProvider, Counts: CountsQueries{Requests: reqT, Errors: errT}}
			if tc.kind == ErrorRate {
				set(`requests{rev="canary"}[60s]`, tc.canaryReq)
				if tc.canaryErrs != "" {
					set(`errors{rev="canary"}[60s]`, tc.canaryErrs)
				}
				answers[`requests{rev="stable"}[60s]`] = vector(oneCount(1000))
				answers[`errors{rev="stable"}[60s]`] = vector(oneCount(1))
			} else {
				m = Metric{Name: "l", Builtin: tc.kind, Provider: PrometheusProvider, Counts: CountsQueries{Histogram: histT}}
				set(`buckets{rev="canary"}[60s]`, tc.canaryHist)
				if tc.stableHist == "" {
					tc.stableHist = goodHist
				}
				set(`buckets{rev="stable"}[60s]`, tc.stableHist)
			}
			m.Margin, m.Tolerance = DefaultMargin(tc.kind), DefaultTolerance(tc.kind)
			_, p := newFakePrometheus(t, answers, fail)
			rep := Evaluate(context.Background(), Providers{PrometheusProvider: p}, seqSpec(m), at(60))
			if rep.Phase != tc.wantPhase || !strings.Contains(rep.Message, tc.want) {
				t.Errorf("Evaluate() = %s %q,\nwant %s containing %q", rep.Phase, rep.Message, tc.wantPhase, tc.want)
			}
			if !rep.Results[0].Sequential {
				t.Error("result not sequential")
			}
		})
	}
}

// An unreachable server is an Error naming the metric and the query.
func TestPrometheusCountsUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	addr := srv.URL
	srv.Close()
	p, err := NewPrometheus(addr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	m := Metric{Name: "e", Builtin: ErrorRate, Provider: PrometheusProvider, Counts: CountsQueries{Requests: reqT, Errors: errT},
		Margin: DefaultMargin(ErrorRate), Tolerance: DefaultTolerance(ErrorRate)}
	rep := Evaluate(context.Background(), Providers{PrometheusProvider: p}, seqSpec(m), at(30))
	want := "e: measuring canary: prometheus requests query `requests{rev=\"canary\"}[30s]`: "
	if rep.Phase != Error || !strings.HasPrefix(rep.Message, want) || !strings.Contains(rep.Message, "connection refused") {
		t.Errorf("Evaluate() = %s %q, want Error starting %q, saying connection refused", rep.Phase, rep.Message, want)
	}
}

func TestValidateCounts(t *testing.T) {
	ok := func(kind string, c CountsQueries) Metric {
		return Metric{Name: "m", Builtin: kind, Provider: PrometheusProvider, Counts: c}
	}
	errs := CountsQueries{Requests: reqT, Errors: errT}
	hist := CountsQueries{Histogram: histT}
	tests := map[string]struct {
		m       Metric
		wantErr string
	}{
		"error rate":   {m: ok(ErrorRate, errs)},
		"latency":      {m: ok(LatencyP99, hist)},
		"no errors":    {m: ok(ErrorRate, CountsQueries{Requests: reqT}), wantErr: "an errorRate counts metric needs the requests and errors queries, and no histogram"},
		"with buckets": {m: ok(ErrorRate, CountsQueries{Requests: reqT, Errors: errT, Histogram: histT}), wantErr: "and no histogram"},
		"latency with requests": {m: ok(LatencyP50, CountsQueries{Requests: reqT, Histogram: histT}),
			wantErr: "a latencyP50 counts metric needs the histogram query, and no requests or errors"},
		"request rate": {m: ok(RequestRate, CountsQueries{Requests: reqT}), wantErr: "counts queries measure errorRate, latencyP50, latencyP90 or latencyP99, not requestRate"},
		"and a query": {m: func() Metric { m := ok(ErrorRate, errs); m.Query = "up"; return m }(),
			wantErr: "set either builtin or query, not both"},
		"no kind": {m: Metric{Name: "m", Query: "up", Provider: PrometheusProvider, Counts: errs, Thresholds: Thresholds{Max: ptr(1)}},
			wantErr: "counts queries need the kind of the metric as builtin"},
		"builtin provider": {m: Metric{Name: "m", Builtin: ErrorRate, Counts: errs},
			wantErr: "counts queries need a provider such as prometheus, not the builtin one"},
		"no counts": {m: Metric{Name: "m", Builtin: ErrorRate, Provider: PrometheusProvider},
			wantErr: `builtin errorRate is measured by the builtin provider, not "prometheus" (which needs counts queries)`},
		"bad template": {m: ok(LatencyP90, CountsQueries{Histogram: "x{{.Pod}}"}), wantErr: "histogram query: query template"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			err := Validate(seqSpec(tc.m))
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate() = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("Validate() = %v, want an error containing %q", err, tc.wantErr)
			}
		})
	}
}

// A provider that gives the sequential judge no counts is an Error for a
// comparative metric, never a fallback to thresholds.
func TestSamplerFor(t *testing.T) {
	m := Metric{Name: "e", Builtin: ErrorRate, Provider: "other", Counts: CountsQueries{Requests: reqT, Errors: errT},
		Margin: DefaultMargin(ErrorRate), Tolerance: DefaultTolerance(ErrorRate)}
	rep := Evaluate(context.Background(), Providers{"other": &fakeProvider{}}, seqSpec(m), at(30))
	if rep.Phase != Error || rep.Message != "e: the other provider gives no counts for the sequential judge" {
		t.Errorf("Evaluate() = %s %q", rep.Phase, rep.Message)
	}
	if _, err := (&Prometheus{}).SamplerFor(Metric{Name: "q", Query: "up"}); err == nil || !strings.Contains(err.Error(), "has a query, not counts queries") {
		t.Errorf("SamplerFor(a query metric) = %v", err)
	}
}

// Ramp's buckets convert exactly: the counts at every bound, the total,
// and so every count above a bound; in between they are interpolated.
func TestHistogramFromRampBuckets(t *testing.T) {
	r := newRand(11)
	for trial := range 50 {
		var h stats.Histogram
		h.Counts = make([]uint64, stats.NumBuckets)
		for range 1 + r.IntN(2000) {
			h.Counts[r.IntN(stats.NumBuckets)]++
		}
		got := spreadBuckets(rampBuckets(h))
		if got.Count() != h.Count() {
			t.Fatalf("trial %d: %d requests, want %d", trial, got.Count(), h.Count())
		}
		for _, b := range rampBounds() {
			if g, w := above(got, b), above(h, b); g != w {
				t.Fatalf("trial %d: %d requests from bucket %d (%s) on, want %d", trial, g, b, stats.BucketLowerBound(b), w)
			}
		}
		// Below the first bound (128µs) Prometheus has one bucket: its
		// requests are spread over [0, 128µs).
		if g, w := above(got, 40), above(h, 40); g != w {
			t.Fatalf("trial %d: %d requests from 128µs on, want %d", trial, g, w)
		}
	}
}

func TestHistogramFromBucketsInterpolates(t *testing.T) {
	// 100 requests between 100ms and 200ms, none elsewhere: linear
	// interpolation puts half below 150ms, as histogram_quantile does.
	h := spreadBuckets([]bucketPoint{{0.1, 0}, {0.2, 100}, {math.Inf(1), 100}})
	if n := h.Count(); n != 100 {
		t.Fatalf("%d requests, want 100", n)
	}
	if q := h.Quantile(0.5).Seconds(); math.Abs(q-0.15) > 0.15*0.07 {
		t.Errorf("median %.4fs, want 0.15s within a bucket", q)
	}
	if below := h.Count() - above(h, stats.BucketIndex(100*time.Millisecond)); below != 0 {
		t.Errorf("%d requests below 100ms, want none", below)
	}
	// Requests above the largest finite bound sit at it; le ≤ 0 at 0.
	h = spreadBuckets([]bucketPoint{{0, 5}, {1, 5}, {math.Inf(1), 12}})
	if b := stats.BucketIndex(time.Second); h.Counts[0] != 5 || h.Counts[b] != 7 || h.Count() != 12 {
		t.Errorf("counts: bucket 0 = %d, the bucket of 1s = %d, total %d; want 5, 7, 12", h.Counts[0], h.Counts[b], h.Count())
	}
}

func TestHistogramFromBucketsRejects(t *testing.T) {
	for name, tc := range map[string]struct {
		answer, want string
	}{
		"only +Inf":   {vector(bucket("+Inf", 3)), "has no bucket with a finite, positive le"},
		"duplicate":   {vector(bucket("0.1", 1), bucket("0.1", 2), bucket("+Inf", 3)), `several series with le="0.1": aggregate them with sum by (le)`},
		"bad le":      {vector(bucket("fast", 1), bucket("+Inf", 3)), `returned le="fast", not a number`},
		"infinite":    {vector(bucket("0.1", math.Inf(1)), bucket("+Inf", 3)), `bucket le="0.1" is +Inf`},
		"native":      {histo, "returned a native histogram, want classic buckets by le"},
		"empty is no": {emptyVector, "returned no series: no data"},
	} {
		t.Run(name, func(t *testing.T) {
			v := decodeValue(t, tc.answer)
			_, err := histogramFromBuckets(v)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("histogramFromBuckets() = %v, want an error containing %q", err, tc.want)
			}
		})
	}
	if _, err := histogramFromBuckets(&model.String{Value: "x"}); err == nil || !strings.Contains(err.Error(), "returned a string") {
		t.Errorf("histogramFromBuckets(a string) = %v", err)
	}
	// Within rounding, falling counts are fine (increase extrapolates
	// each bucket series on its own).
	h, err := histogramFromBuckets(decodeValue(t, vector(bucket("0.1", 10.0000000001), bucket("0.2", 10), bucket("+Inf", 10))))
	if err != nil || h.Count() != 10 {
		t.Errorf("histogramFromBuckets(wobbling counts) = %d requests, %v; want 10", h.Count(), err)
	}
}

// decodeValue is the value of a query answer's data, through the client.
func decodeValue(t *testing.T, data string) model.Value {
	t.Helper()
	_, p := newFakePrometheus(t, map[string]string{"q": data}, nil)
	v, err := p.eval(context.Background(), "q", evalNow)
	if err != nil {
		t.Fatalf("decoding %s: %v", data, err)
	}
	return v
}

// BenchmarkHistogramFromBuckets converts the queue-proxy's 40 buckets, as
// every latency look does for each side.
func BenchmarkHistogramFromBuckets(b *testing.B) {
	var h stats.Histogram
	h.Counts = make([]uint64, stats.NumBuckets)
	r := newRand(1)
	for range 10000 {
		h.Counts[60+r.IntN(80)]++
	}
	points := rampBuckets(h)
	b.ReportAllocs()
	for b.Loop() {
		_ = spreadBuckets(points)
	}
	b.ReportMetric(float64(len(points)), "buckets")
}

// BenchmarkCheckQuery renders and parses the docs' histogram query, as
// admission does for each query.
func BenchmarkCheckQuery(b *testing.B) {
	q := `sum by (le) (increase(ramp_queue_request_duration_seconds_bucket{namespace="{{.Namespace}}",revision="{{.Revision}}"}[{{.Window}}]))`
	b.ReportAllocs()
	for b.Loop() {
		if err := CheckQuery(q); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(q)), "query-bytes")
}
