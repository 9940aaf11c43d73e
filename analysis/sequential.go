package analysis

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/rampdev/ramp/serving/queue/stats"
)

// Sample is what one revision did over a time range, as the sufficient
// statistics the sequential judge needs: counts and the latency histogram
// in the queue-proxy's own buckets. Point values (a rate, a quantile) are
// derived from it for display only.
type Sample struct {
	Requests int64
	// Errors is how many of the Requests were answered with a 5xx status.
	Errors  int64
	Latency stats.Histogram
}

// Sampler is a provider that returns sufficient statistics. The builtin
// provider is one; a metric whose provider is a Sampler is judged by the
// sequential judge.
type Sampler interface {
	// Sample summarizes target's traffic in [from, to).
	Sample(ctx context.Context, target Target, from, to time.Time) (Sample, error)
}

// Margin is a practical-significance allowance of a comparative metric:
// the canary may be Relative (a fraction: 0.2 is 20%) or Absolute (in the
// metric's unit: a fraction of requests for error rates, seconds for
// latencies) worse than the stable, whichever allows more.
type Margin struct {
	Relative, Absolute float64
}

// IsZero reports whether m allows nothing.
func (m Margin) IsZero() bool { return m.Relative == 0 && m.Absolute == 0 }

// apply is the largest canary value within the margin of stable value v.
func (m Margin) apply(v float64) float64 { return math.Max(v*(1+m.Relative), v+m.Absolute) }

func (m Margin) format(kind string) string {
	var parts []string
	if m.Relative > 0 {
		parts = append(parts, "+"+strconv.FormatFloat(m.Relative*100, 'g', 3, 64)+"%")
	}
	if m.Absolute > 0 {
		switch kind {
		case ErrorRate:
			parts = append(parts, "+"+strconv.FormatFloat(m.Absolute*100, 'g', 3, 64)+" pts")
		default:
			parts = append(parts, "+"+FormatValue(kind, m.Absolute))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, " or ")
}

// Defaults of the sequential judge.
const (
	// DefaultAlpha bounds the chance that a healthy canary is rolled back
	// during one step, all looks and all metrics counted.
	DefaultAlpha = 0.01
	// DefaultBeta bounds the chance that a canary worse than the margin
	// passes a step.
	DefaultBeta = 0.05
)

// DefaultMargin is the margin of a builtin comparative metric: how much
// worse than the stable the canary may be shown to be and still pass.
func DefaultMargin(builtin string) Margin {
	switch builtin {
	case ErrorRate:
		return Margin{Relative: 0.5, Absolute: 0.015}
	case LatencyP50, LatencyP90, LatencyP99:
		return Margin{Relative: 0.2}
	}
	return Margin{}
}

// DefaultTolerance is the tolerance of a builtin comparative metric: a
// canary is rolled back only on evidence that it is worse than the stable
// by more than this.
func DefaultTolerance(builtin string) Margin {
	switch builtin {
	case ErrorRate, LatencyP50, LatencyP90, LatencyP99:
		return Margin{Relative: 0.1}
	}
	return Margin{}
}

// Comparative reports whether builtin is judged canary against stable by
// the sequential judge: the error rate and the latencies.
func Comparative(builtin string) bool {
	switch builtin {
	case ErrorRate, LatencyP50, LatencyP90, LatencyP99:
		return true
	}
	return false
}

// Evidence is what a sequential verdict rests on, for status, the CLI and
// Slack.
type Evidence struct {
	// CanaryRequests and StableRequests are the requests judged, since the
	// step's traffic started (latency: since its threshold was fixed).
	CanaryRequests int64 `json:"canaryRequests"`
	StableRequests int64 `json:"stableRequests"`
	// CanaryEvents and StableEvents are the requests that count against
	// each side: 5xx answers, or answers slower than the threshold.
	CanaryEvents int64 `json:"canaryEvents"`
	StableEvents int64 `json:"stableEvents"`
	// Threshold is, for latency, the stable's quantile (seconds) that
	// defines a slow request, fixed from the step's first stable traffic.
	Threshold float64 `json:"threshold,omitempty"`
	// Canary and Stable are the point estimates: error rates, or latency
	// quantiles in seconds.
	Canary float64 `json:"canary"`
	Stable float64 `json:"stable"`
	// Estimate is canary - stable (error rate) or canary / stable
	// (latency). Lower and Upper are an anytime-valid interval: of the
	// difference for error rates, of the canary's share of slow requests
	// for latency.
	Estimate float64 `json:"estimate"`
	Lower    float64 `json:"lower"`
	Upper    float64 `json:"upper"`
	// Margin and Tolerance, formatted.
	Margin    string `json:"margin"`
	Tolerance string `json:"tolerance"`
	// Regression is the e-value of the evidence that the canary is worse
	// than the tolerance, against RegressionBar (1/α); NonRegression the
	// e-value that it is within the margin, against NonRegressionBar.
	Regression       float64 `json:"regression"`
	RegressionBar    float64 `json:"regressionBar"`
	NonRegression    float64 `json:"nonRegression"`
	NonRegressionBar float64 `json:"nonRegressionBar"`
	// MoreRequests estimates the further canary requests needed for a
	// verdict at the current rates (0: unknown, or none needed), and
	// MoreSeconds how long they take at the canary's request rate.
	MoreRequests int64   `json:"moreRequests,omitempty"`
	MoreSeconds  float64 `json:"moreSeconds,omitempty"`
}

// SequentialSpec configures the sequential judge of one look.
type SequentialSpec struct {
	// From is when the step's traffic started: every look judges all the
	// data since then.
	From time.Time
	// Interval between looks; a latency threshold is fixed from the
	// stable's traffic of the first intervals.
	Interval time.Duration
	// Alpha and Beta are the step's error budgets (DefaultAlpha,
	// DefaultBeta), shared evenly among its comparative metrics.
	Alpha, Beta float64
}

// Priors of the beta-binomial confidence sequences: error rates are
// expected around 1%, with the weight of 200 requests.
var errorPrior = RatePrior{Mean: 0.01, Strength: 200}

func tailPrior(q float64) RatePrior { return RatePrior{Mean: 1 - q, Strength: 20 / (1 - q)} }

// minThresholdRequests is how many stable requests fix a latency
// threshold at quantile q: 20 expected above it.
func minThresholdRequests(q float64) uint64 { return uint64(math.Ceil(20/(1-q) - 1e-6)) }

// judgeSequential judges one comparative metric at now.
func judgeSequential(ctx context.Context, s Sampler, spec Spec, m Metric, share int, now time.Time) Result {
	seq := spec.Sequential
	// A rollback on any metric ends the step, so the metrics share alpha
	// (Bonferroni). A step advances only when every metric passes, so a
	// canary worse than one metric's margin advances only if that
	// metric's test errs: each metric gets the whole beta
	// (intersection-union).
	alpha, beta := seq.Alpha/float64(share), seq.Beta
	name := m.Name
	r := Result{Metric: name, Sequential: true}
	fail := func(p Phase, format string, args ...any) Result {
		r.Phase, r.Message = p, name+": "+fmt.Sprintf(format, args...)
		return r
	}
	if spec.Stable.Revision == "" {
		return fail(Inconclusive, "no stable revision to compare with")
	}
	sample := func(t Target, from time.Time) (Sample, error) {
		if !from.Before(now) {
			return Sample{}, nil
		}
		return s.Sample(ctx, t, from, now)
	}
	c, err := sample(spec.Canary, seq.From)
	if errors.Is(err, ErrNoData) {
		return fail(Inconclusive, "no canary data yet (no data is never a pass): %s", oneLine(err.Error()))
	} else if err != nil {
		return fail(Error, "measuring canary: %s", oneLine(err.Error()))
	}
	st, err := sample(spec.Stable, seq.From)
	if errors.Is(err, ErrNoData) {
		return fail(Inconclusive, "no stable data yet to compare with: %s", oneLine(err.Error()))
	} else if err != nil {
		return fail(Error, "measuring stable: %s", oneLine(err.Error()))
	}
	r.Canary, r.Stable = builtinValue(m.Builtin, c, now.Sub(seq.From)), builtinValue(m.Builtin, st, now.Sub(seq.From))
	switch {
	case c.Requests == 0:
		return fail(Inconclusive, "no canary requests yet (a verdict needs canary traffic; no data is never a pass)")
	case st.Requests == 0:
		return fail(Inconclusive, "no stable requests yet to compare with (%d canary requests)", c.Requests)
	}
	var ev Evidence
	var phase Phase
	var msg string
	if m.Builtin == ErrorRate {
		ev, phase, msg = judgeErrors(m, c, st, alpha, beta, now.Sub(seq.From))
	} else {
		ev, phase, msg, err = judgeLatency(ctx, s, spec, m, c, st, alpha, beta, now)
		if err != nil {
			return fail(Error, "%s", oneLine(err.Error()))
		}
	}
	r.Evidence = &ev
	return fail(phase, "%s", msg)
}

// judgeErrors is the error-rate test. Rollback: the conditional mixture
// e-value against "canary rate ≤ (1+relative tolerance) × stable rate"
// reaches 1/alpha and, when the tolerance has an absolute part, the
// anytime-valid lower bound of the difference (each side's bound at
// alpha/2) is above it too. A rollback needs both nulls rejected, so each
// test may use the whole alpha. Pass: the anytime-valid upper bound of the
// canary's rate (at 3/4 of beta) is within the margin of the stable's
// lower bound (at 1/4 of beta; the stable has most of the traffic, so its
// bound is tight).
func judgeErrors(m Metric, c, s Sample, alpha, beta float64, elapsed time.Duration) (Evidence, Phase, string) {
	tol, mar := m.Tolerance, m.Margin
	ev := Evidence{
		CanaryRequests: c.Requests, StableRequests: s.Requests, CanaryEvents: c.Errors, StableEvents: s.Errors,
		Canary: float64(c.Errors) / float64(c.Requests), Stable: float64(s.Errors) / float64(s.Requests),
		Margin: mar.format(ErrorRate), Tolerance: tol.format(ErrorRate),
		RegressionBar: 1 / alpha,
	}
	ev.Estimate = ev.Canary - ev.Stable
	cLo, cHi := RateBounds(c.Errors, c.Requests, beta*3/4, errorPrior)
	sLo, sHi := RateBounds(s.Errors, s.Requests, beta/4, errorPrior)
	ev.Lower, ev.Upper = cLo-sHi, cHi-sLo
	logReg := LogConditionalE(c.Errors, c.Requests, s.Errors, s.Requests, 1+tol.Relative, Above, errorGrid)
	ev.Regression = math.Exp(logReg)
	head := fmt.Sprintf("canary 5xx %s vs stable %s (n=%s vs %s): difference %s [%s, %s]",
		FormatValue(ErrorRate, ev.Canary), FormatValue(ErrorRate, ev.Stable), count(c.Requests), count(s.Requests),
		points(ev.Estimate), points(ev.Lower), points(ev.Upper))

	if g := guardRate(m, c.Errors, c.Requests, alpha); g != "" {
		return ev, Fail, head + "; " + g
	}
	if logReg >= math.Log(ev.RegressionBar) {
		lb := RatioLowerBound(c.Errors, c.Requests, s.Errors, s.Requests, alpha, errorGrid)
		why := fmt.Sprintf("the canary's error rate is at least %s the stable's (e=%s ≥ %s)", ratio(lb), evalue(ev.Regression), evalue(ev.RegressionBar))
		diffLo := 0.0
		if tol.Absolute > 0 {
			lo, _ := RateBounds(c.Errors, c.Requests, alpha/2, errorPrior)
			_, hi := RateBounds(s.Errors, s.Requests, alpha/2, errorPrior)
			diffLo = lo - hi
			why += fmt.Sprintf(" and at least %s above it", points(diffLo))
		}
		if tol.Absolute == 0 || diffLo > tol.Absolute {
			return ev, Fail, fmt.Sprintf("%s; evidence of regression beyond tolerance %s: %s", head, ev.Tolerance, why)
		}
	}
	withinMargin := func(k, n int64) bool {
		_, hi := RateBounds(k, n, beta*3/4, errorPrior)
		return hi <= mar.apply(sLo)
	}
	if withinMargin(c.Errors, c.Requests) {
		return ev, Pass, fmt.Sprintf("%s; evidence of non-regression: canary's upper bound %s is within margin %s of the stable's lower bound %s (e=%s < %s for regression)",
			head, FormatValue(ErrorRate, cHi), ev.Margin, FormatValue(ErrorRate, sLo), evalue(ev.Regression), evalue(ev.RegressionBar))
	}
	// How many more canary requests, at the rate seen so far (at least the
	// stable's), would show non-regression?
	rate := math.Max(ev.Canary, ev.Stable)
	ev.MoreRequests = moreRequests(c.Requests, func(extra int64) bool {
		return withinMargin(c.Errors+int64(math.Round(rate*float64(extra))), c.Requests+extra)
	})
	return ev, Inconclusive, fmt.Sprintf("%s; regression e=%s < %s; %s", head, evalue(ev.Regression), evalue(ev.RegressionBar), gathering(&ev, elapsed, c.Requests))
}

// judgeLatency is the latency test on quantile q. The stable's q-quantile
// from the step's first stable traffic fixes a threshold T (the end of its
// histogram bucket); the requests after that are then counted as slow or
// not. Rollback: more canary requests above T·(1+tolerance) than stable
// requests above T, with conditional e-value ≥ 1/alpha; pass: fewer canary
// requests above T·(1+margin) than stable requests above T, with e-value ≥
// 1/beta. Both reduce to the same conditional binomial as errors.
func judgeLatency(ctx context.Context, s Sampler, spec Spec, m Metric, c, st Sample, alpha, beta float64, now time.Time) (Evidence, Phase, string, error) {
	q := latencyQuantiles[m.Builtin]
	seq := spec.Sequential
	ev := Evidence{Margin: m.Margin.format(m.Builtin), Tolerance: m.Tolerance.format(m.Builtin),
		RegressionBar: 1 / alpha, NonRegressionBar: 1 / beta}
	ev.Canary, ev.Stable = c.Latency.Quantile(q).Seconds(), st.Latency.Quantile(q).Seconds()
	if ev.Stable > 0 {
		ev.Estimate = ev.Canary / ev.Stable
	}
	pq := "p" + strconv.FormatFloat(q*100, 'g', 3, 64)
	head := fmt.Sprintf("canary %s %s vs stable %s", pq, FormatValue(m.Builtin, ev.Canary), FormatValue(m.Builtin, ev.Stable))
	if g := guardLatency(m, c.Latency, q, alpha); g != "" {
		return ev, Fail, head + "; " + g, nil
	}
	// Fix the threshold from the first looks' stable traffic: all of it
	// since the step started, up to the first look with enough (one range
	// per look, so that a provider that samples coarsely, such as
	// Prometheus's increase over a few scrapes, sees whole ranges). No
	// data yet is no traffic yet.
	need := minThresholdRequests(q)
	var fixed time.Time
	var base Sample
	interval := max(seq.Interval, time.Second)
	for at := seq.From.Add(interval); !at.After(now); at = at.Add(interval) {
		b, err := s.Sample(ctx, spec.Stable, seq.From, at)
		if err != nil && !errors.Is(err, ErrNoData) {
			return ev, Error, "", fmt.Errorf("measuring stable: %w", err)
		}
		if b.Latency.Count() >= need {
			fixed, base = at, b
			break
		}
	}
	if fixed.IsZero() {
		ev.MoreRequests = 0
		return ev, Inconclusive, fmt.Sprintf("%s; waiting for %d stable requests to fix the %s threshold (have %d)",
			head, need, pq, st.Latency.Count()), nil
	}
	ti := thresholdBucket(base.Latency, q)
	ev.Threshold = stats.BucketLowerBound(ti).Seconds()
	fi := bucketNearest(m.Tolerance.apply(ev.Threshold))
	pi := bucketNearest(m.Margin.apply(ev.Threshold))
	var c1, s1 Sample
	if fixed.Before(now) {
		var err error
		if c1, err = s.Sample(ctx, spec.Canary, fixed, now); err != nil && !errors.Is(err, ErrNoData) {
			return ev, Error, "", fmt.Errorf("measuring canary: %w", err)
		}
		if s1, err = s.Sample(ctx, spec.Stable, fixed, now); err != nil && !errors.Is(err, ErrNoData) {
			return ev, Error, "", fmt.Errorf("measuring stable: %w", err)
		}
	}
	nc, ns := int64(c1.Latency.Count()), int64(s1.Latency.Count())
	ks := int64(above(s1.Latency, ti))
	kcFail, kcPass := int64(above(c1.Latency, fi)), int64(above(c1.Latency, pi))
	ev.CanaryRequests, ev.StableRequests, ev.CanaryEvents, ev.StableEvents = nc, ns, int64(above(c1.Latency, ti)), ks
	if nc == 0 || ns == 0 {
		return ev, Inconclusive, fmt.Sprintf("%s; %s threshold %s fixed, waiting for canary and stable requests after it",
			head, pq, FormatValue(m.Builtin, ev.Threshold)), nil
	}
	cLo, cHi := RateBounds(ev.CanaryEvents, nc, alpha, tailPrior(q))
	ev.Lower, ev.Upper = cLo, cHi // the canary's share above the threshold
	logReg := LogConditionalE(kcFail, nc, ks, ns, 1, Above, latencyGrid)
	logNon := LogConditionalE(kcPass, nc, ks, ns, 1, Below, latencyGrid)
	ev.Regression, ev.NonRegression = math.Exp(logReg), math.Exp(logNon)
	head = fmt.Sprintf("%s; above the stable's %s %s: canary %s [%s, %s] vs stable %s (n=%s vs %s)",
		head, pq, FormatValue(m.Builtin, ev.Threshold),
		pct(float64(ev.CanaryEvents)/float64(nc)), pct(cLo), pct(cHi), pct(float64(ks)/float64(ns)), count(nc), count(ns))
	switch {
	case logReg >= math.Log(ev.RegressionBar):
		lb := RatioLowerBound(kcFail, nc, ks, ns, alpha, latencyGrid)
		return ev, Fail, fmt.Sprintf("%s; evidence of regression beyond tolerance %s: at least %s as many canary requests are slower than %s (e=%s ≥ %s)",
			head, ev.Tolerance, ratio(lb), FormatValue(m.Builtin, stats.BucketLowerBound(fi).Seconds()), evalue(ev.Regression), evalue(ev.RegressionBar)), nil
	case logNon >= math.Log(ev.NonRegressionBar):
		return ev, Pass, fmt.Sprintf("%s; evidence of non-regression within margin %s: e=%s ≥ %s", head, ev.Margin, evalue(ev.NonRegression), evalue(ev.NonRegressionBar)), nil
	}
	share := float64(kcPass) / float64(nc)
	ratio := float64(ks) / float64(ns)
	ev.MoreRequests = moreRequests(nc, func(extra int64) bool {
		f := float64(extra)
		return LogConditionalE(kcPass+int64(share*f), nc+extra, ks+int64(ratio*f*float64(ns)/float64(nc)), ns+int64(f*float64(ns)/float64(nc)), 1, Below, latencyGrid) >= math.Log(ev.NonRegressionBar)
	})
	return ev, Inconclusive, fmt.Sprintf("%s; regression e=%s < %s, non-regression e=%s < %s; %s", head, evalue(ev.Regression), evalue(ev.RegressionBar),
		evalue(ev.NonRegression), evalue(ev.NonRegressionBar), gathering(&ev, now.Sub(seq.From), c.Requests)), nil
}

// guardRate judges the absolute limits max and min of an error rate with
// its confidence sequence: over max only when the lower bound is, under
// min only when the upper bound is. It returns "" when neither is crossed.
func guardRate(m Metric, k, n int64, alpha float64) string {
	f := func(v float64) string { return FormatValue(ErrorRate, v) }
	lo, hi := RateBounds(k, n, alpha, errorPrior)
	if m.Max != nil && lo > *m.Max {
		return fmt.Sprintf("over max %s: canary's lower bound %s", f(*m.Max), f(lo))
	}
	if m.Min != nil && hi < *m.Min {
		return fmt.Sprintf("under min %s: canary's upper bound %s", f(*m.Min), f(hi))
	}
	return ""
}

// guardLatency judges the absolute limits of a latency quantile q: the
// canary's quantile is over max only when the lower bound of its share of
// requests slower than max is above 1-q, and under min only when the upper
// bound of its share slower than min is below 1-q.
func guardLatency(m Metric, h stats.Histogram, q, alpha float64) string {
	n := int64(h.Count())
	if n == 0 {
		return ""
	}
	f := func(v float64) string { return FormatValue(m.Builtin, v) }
	if m.Max != nil {
		slow := int64(above(h, bucketAtLeast(*m.Max)))
		if lo, _ := RateBounds(slow, n, alpha, tailPrior(q)); lo > 1-q {
			return fmt.Sprintf("over max %s: at least %s of canary requests are slower, more than %s", f(*m.Max), pct(lo), pct(1-q))
		}
	}
	if m.Min != nil {
		// Count the whole bucket holding min as slower: the bound must not
		// undercount the requests slower than min.
		slow := int64(above(h, stats.BucketIndex(time.Duration(math.Min(*m.Min, 1e9)*float64(time.Second)))))
		if _, hi := RateBounds(slow, n, alpha, tailPrior(q)); hi < 1-q {
			return fmt.Sprintf("under min %s: at most %s of canary requests are slower, less than %s", f(*m.Min), pct(hi), pct(1-q))
		}
	}
	return ""
}

// thresholdBucket is the bucket boundary nearest to h's q-quantile in
// share: of the two edges of the bucket holding the quantile, the one that
// leaves closer to 1-q of h at or above it. (Always taking the upper edge
// can leave almost nothing above it when the quantile sits at the start
// of a wide, crowded bucket.)
func thresholdBucket(h stats.Histogram, q float64) int {
	n := h.Count()
	rank := uint64(math.Ceil(q * float64(n)))
	var seen uint64
	for i, c := range h.Counts {
		seen += c
		if seen < rank || c == 0 {
			continue
		}
		if i+1 > stats.OverflowBucket {
			return stats.OverflowBucket
		}
		want := (1 - q) * float64(n)
		lower, upper := float64(above(h, i)), float64(n-seen) // at or above each edge
		if i > 0 && math.Abs(lower-want) < math.Abs(upper-want) {
			return i
		}
		return i + 1
	}
	return stats.OverflowBucket
}

// bucketAtLeast is the first bucket whose lower bound is at least v
// seconds (to the microsecond, the histogram's resolution).
func bucketAtLeast(v float64) int {
	us := uint64(math.Round(v * 1e6))
	i := stats.BucketIndexMicros(us)
	if uint64(stats.BucketLowerBound(i)/time.Microsecond) < us {
		i++
	}
	return min(i, stats.OverflowBucket)
}

// bucketNearest is the bucket whose lower bound is nearest to v seconds
// in ratio: the histogram cannot place a threshold between bucket
// boundaries, which are 6.7% to 12.5% apart.
func bucketNearest(v float64) int {
	i := bucketAtLeast(v)
	if i == 0 || i >= stats.OverflowBucket {
		return i
	}
	hi, lo := stats.BucketLowerBound(i).Seconds(), stats.BucketLowerBound(i-1).Seconds()
	if lo > 0 && v/lo < hi/v {
		return i - 1
	}
	return i
}

// above counts h's requests in buckets from i on.
func above(h stats.Histogram, i int) uint64 {
	var n uint64
	for j := i; j < len(h.Counts); j++ {
		n += h.Counts[j]
	}
	return n
}

// moreRequests is the least extra (up to 10 million) for which ok holds,
// 0 if none does; ok must be monotone.
func moreRequests(have int64, ok func(extra int64) bool) int64 {
	const limit = 10_000_000
	hi := max(have, 16)
	for !ok(hi) {
		if hi >= limit {
			return 0
		}
		hi *= 2
	}
	lo := int64(0)
	for hi-lo > max(1, hi/100) {
		mid := (lo + hi) / 2
		if ok(mid) {
			hi = mid
		} else {
			lo = mid
		}
	}
	return hi
}

// gathering says that the look keeps gathering data, and how much more it
// needs at the current rates.
func gathering(ev *Evidence, elapsed time.Duration, canaryRequests int64) string {
	if ev.MoreRequests <= 0 {
		return "no verdict yet: the canary is not within the margin at its current rate, gathering data"
	}
	msg := fmt.Sprintf("no verdict yet: about %s more canary requests needed", count(ev.MoreRequests))
	if elapsed > 0 && canaryRequests > 0 {
		rate := float64(canaryRequests) / elapsed.Seconds()
		more := time.Duration(float64(ev.MoreRequests) / rate * float64(time.Second)).Round(time.Second)
		ev.MoreSeconds = more.Seconds()
		about := "~" + more.String()
		if more < time.Second {
			about = "under 1s"
		}
		msg += fmt.Sprintf(" (%s at %s)", about, FormatValue(RequestRate, rate))
	}
	return msg
}
