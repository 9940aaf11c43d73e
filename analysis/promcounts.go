package analysis

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/common/model"

	"github.com/rampdev/ramp/serving/queue/stats"
)

// Counts metrics.
//
// A comparative metric (errorRate, latencyP50/P90/P99) may be measured
// from Prometheus instead of Ramp's telemetry: its Counts queries give the
// sequential judge the same sufficient statistics the builtin provider
// gives, so margins, tolerances, guard rails and evidence work exactly as
// for a builtin metric. Each query is rendered for the canary and the
// stable with Window = the range asked for in whole seconds, and evaluated
// at the range's end:
//
//	requests   one number: the requests in the range (errorRate)
//	errors     one number: those of them answered with a 5xx (errorRate)
//	histogram  the range's latencies as cumulative buckets, one series per
//	           le (seconds), +Inf included (latencies)
//
// A result without series is no data (ErrNoData): Inconclusive, never a
// pass. A query that fails, or returns anything else (several series, a
// matrix, NaN, a negative count, buckets that are not cumulative) is an
// error naming the query.

var _ MetricSampler = (*Prometheus)(nil)

// SamplerFor implements MetricSampler: the Sampler of a metric with Counts
// queries.
func (p *Prometheus) SamplerFor(m Metric) (Sampler, error) {
	if m.Counts.IsZero() {
		return nil, fmt.Errorf("prometheus provider: metric %q has a query, not counts queries: the sequential judge needs requests and errors, or histogram", m.Name)
	}
	if !Comparative(m.Builtin) {
		return nil, fmt.Errorf("prometheus provider: metric %q: counts queries measure errorRate, latencyP50, latencyP90 or latencyP99, not %q", m.Name, m.Builtin)
	}
	return countsSampler{p: p, m: m}, nil
}

// validateCounts checks a counts metric's queries: those of its kind, and
// only those; Prometheus queries must render.
func validateCounts(m Metric, window time.Duration) error {
	c := m.Counts
	switch {
	case m.Query != "":
		return errors.New("set either query or counts queries, not both")
	case !Comparative(m.Builtin):
		return fmt.Errorf("counts queries measure errorRate, latencyP50, latencyP90 or latencyP99, not %s", m.Builtin)
	case m.Builtin == ErrorRate && (c.Requests == "" || c.Errors == "" || c.Histogram != ""):
		return errors.New("an errorRate counts metric needs the requests and errors queries, and no histogram")
	case m.Builtin != ErrorRate && (c.Histogram == "" || c.Requests != "" || c.Errors != ""):
		return fmt.Errorf("a %s counts metric needs the histogram query, and no requests or errors", m.Builtin)
	}
	if m.Provider != PrometheusProvider {
		return nil
	}
	for _, q := range []struct{ name, tmpl string }{{"requests", c.Requests}, {"errors", c.Errors}, {"histogram", c.Histogram}} {
		if q.tmpl == "" {
			continue
		}
		if _, err := renderQuery(q.tmpl, Target{Namespace: "ns", Revision: "rev"}, window); err != nil {
			return fmt.Errorf("%s query: %w", q.name, err)
		}
	}
	return nil
}

// countsSampler samples one counts metric from Prometheus.
type countsSampler struct {
	p *Prometheus
	m Metric
}

var _ Sampler = countsSampler{}

// Sample implements Sampler: the requests and 5xx answers (errorRate), or
// the latency histogram (a latency; its Requests is the histogram's
// count), of target in [from, to).
func (s countsSampler) Sample(ctx context.Context, t Target, from, to time.Time) (Sample, error) {
	if t.Revision == "" {
		return Sample{}, errors.New("prometheus provider: target has no revision")
	}
	if !from.Before(to) {
		return Sample{}, fmt.Errorf("prometheus provider: empty range [%s, %s)", from.Format(time.RFC3339), to.Format(time.RFC3339))
	}
	c := s.m.Counts
	if s.m.Builtin != ErrorRate {
		res, expr, err := s.run(ctx, "histogram", c.Histogram, t, from, to)
		if err != nil {
			return Sample{}, err
		}
		h, err := histogramFromBuckets(res)
		if err != nil {
			return Sample{}, queryError("histogram", expr, err)
		}
		return Sample{Requests: int64(h.Count()), Latency: h}, nil
	}
	res, expr, err := s.run(ctx, "requests", c.Requests, t, from, to)
	if err != nil {
		return Sample{}, err
	}
	requests, err := countValue(res)
	if err != nil {
		return Sample{}, queryError("requests", expr, err)
	}
	if requests == 0 {
		return Sample{}, nil
	}
	res, expr, err = s.run(ctx, "errors", c.Errors, t, from, to)
	if err != nil {
		return Sample{}, err
	}
	errs, err := countValue(res)
	if errors.Is(err, ErrNoData) {
		// Zero is not assumed: a query that matches nothing may be wrong.
		err = fmt.Errorf("no series while the requests query counted %d requests; "+
			"write it so that it returns 0 without errors (e.g. append `or vector(0)`)", requests)
	}
	if err != nil {
		return Sample{}, queryError("errors", expr, err)
	}
	if errs > requests {
		return Sample{}, queryError("errors", expr, fmt.Errorf("counted %d errors, more than the requests query's %d requests: it must count some of the same requests", errs, requests))
	}
	return Sample{Requests: requests, Errors: errs}, nil
}

// run renders the query named name for t over [from, to) and evaluates it
// at to.
func (s countsSampler) run(ctx context.Context, name, tmpl string, t Target, from, to time.Time) (model.Value, string, error) {
	expr, err := renderQuery(tmpl, t, to.Sub(from))
	if err != nil {
		return nil, "", fmt.Errorf("prometheus %s query: %w", name, err)
	}
	res, err := s.p.eval(ctx, expr, to)
	if err != nil {
		return nil, expr, queryError(name, expr, err)
	}
	return res, expr, nil
}

func queryError(name, expr string, err error) error {
	return fmt.Errorf("prometheus %s query `%s`: %w", name, expr, err)
}

// countValue reads a count: a scalar or a one-sample vector, finite and
// not negative, rounded to a whole number (increase extrapolates to the
// range's edges, so it is rarely whole). No series is ErrNoData.
func countValue(res model.Value) (int64, error) {
	var f float64
	switch r := res.(type) {
	case *model.Scalar:
		f = float64(r.Value)
	case model.Vector:
		switch {
		case len(r) == 0:
			return 0, fmt.Errorf("returned no series: %w", ErrNoData)
		case len(r) > 1:
			return 0, fmt.Errorf("returned %d series, want one count (aggregate them with sum)", len(r))
		case r[0].Histogram != nil:
			return 0, errors.New("returned a native histogram, want one count")
		}
		f = float64(r[0].Value)
	case nil:
		return 0, errors.New("returned nothing, want one count")
	default:
		return 0, fmt.Errorf("returned a %s, want one count: a scalar or a vector with one sample", res.Type())
	}
	switch {
	case math.IsNaN(f) || math.IsInf(f, 0):
		return 0, fmt.Errorf("returned %v, want a count", f)
	case f < 0:
		return 0, fmt.Errorf("returned %v, want a count, not negative (use increase on a counter)", f)
	case f >= 1<<62:
		return 0, fmt.Errorf("returned %v, too large for a count", f)
	}
	return int64(math.Round(f)), nil
}

// bucketPoint is one cumulative Prometheus bucket: Count observations at
// most LE seconds.
type bucketPoint struct{ LE, Count float64 }

// monotonicSlack is how much a cumulative count may fall from one bucket
// to the next (a share of the total) before the buckets are refused:
// increase extrapolates each bucket series on its own, so sums may wobble
// by rounding.
const monotonicSlack = 1e-6

// histogramFromBuckets converts a vector of cumulative Prometheus buckets
// (one sample per le label) into a latency histogram in stats' buckets.
//
// The conversion is exact where a bucket bound is a stats bucket boundary
// (Ramp's queue-proxy exports every fourth boundary, two per octave from
// 128µs to 67.1s) and interpolates linearly in between, as
// histogram_quantile does: the observations between two bounds are spread
// over the stats buckets between them in proportion to their overlap.
// Counts are rounded to whole requests on the cumulative curve, so the
// total is the +Inf bucket's, rounded. Observations above the largest
// finite bound are put in the stats bucket holding it (Ramp's largest is
// the overflow bucket's lower bound, 67.1s: exact). Bounds at or below 0
// count as 0. The latency sum is not queried (SumMicros is 0).
//
// No series is ErrNoData; a series without le, an le that is not a number,
// two series with the same le, no +Inf bucket, a count that is NaN,
// infinite or negative, or counts that fall as le grows are errors.
func histogramFromBuckets(res model.Value) (stats.Histogram, error) {
	vec, ok := res.(model.Vector)
	if !ok {
		if res == nil {
			return stats.Histogram{}, errors.New("returned nothing, want buckets by le")
		}
		return stats.Histogram{}, fmt.Errorf("returned a %s, want a vector of cumulative buckets by le (sum by (le) (increase(..._bucket[...])))", res.Type())
	}
	if len(vec) == 0 {
		return stats.Histogram{}, fmt.Errorf("returned no series: %w", ErrNoData)
	}
	points := make([]bucketPoint, 0, len(vec))
	seen := make(map[float64]bool, len(vec))
	for _, s := range vec {
		if s.Histogram != nil {
			return stats.Histogram{}, errors.New("returned a native histogram, want classic buckets by le (sum by (le) (increase(..._bucket[...])))")
		}
		raw, ok := s.Metric[model.BucketLabel]
		if !ok {
			return stats.Histogram{}, fmt.Errorf("returned series %s without an le label: keep it (sum by (le) (...))", s.Metric)
		}
		le, err := strconv.ParseFloat(string(raw), 64)
		if err != nil || math.IsNaN(le) {
			return stats.Histogram{}, fmt.Errorf("returned le=%q, not a number", raw)
		}
		if seen[le] {
			return stats.Histogram{}, fmt.Errorf("returned several series with le=%q: aggregate them with sum by (le)", raw)
		}
		seen[le] = true
		v := float64(s.Value)
		if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
			return stats.Histogram{}, fmt.Errorf("bucket le=%q is %v, want a count, not negative", raw, v)
		}
		points = append(points, bucketPoint{LE: le, Count: v})
	}
	slices.SortFunc(points, func(a, b bucketPoint) int {
		switch {
		case a.LE < b.LE:
			return -1
		case a.LE > b.LE:
			return 1
		}
		return 0
	})
	last := points[len(points)-1]
	if !math.IsInf(last.LE, 1) {
		return stats.Histogram{}, fmt.Errorf("has no le=\"+Inf\" bucket (%d buckets up to le=%v): it holds the total; keep every bucket", len(points), last.LE)
	}
	if len(points) == 1 || points[len(points)-2].LE <= 0 {
		return stats.Histogram{}, errors.New("has no bucket with a finite, positive le: the +Inf bucket alone tells no latency")
	}
	total := last.Count
	for i := 1; i < len(points); i++ {
		if points[i].Count < points[i-1].Count-monotonicSlack*total-1e-9 {
			return stats.Histogram{}, fmt.Errorf("buckets are not cumulative: le=%v has %v but le=%v has %v", points[i].LE, points[i].Count, points[i-1].LE, points[i-1].Count)
		}
		points[i].Count = max(points[i].Count, points[i-1].Count)
	}
	return spreadBuckets(points), nil
}

// spreadBuckets turns sorted, cumulative points ending with +Inf into
// stats' buckets (see histogramFromBuckets).
func spreadBuckets(points []bucketPoint) stats.Histogram {
	total := points[len(points)-1].Count
	finite := points[:len(points)-1]
	// base: observations at or below 0.
	base := 0.0
	for len(finite) > 0 && finite[0].LE <= 0 {
		base, finite = finite[0].Count, finite[1:]
	}
	// cum is the interpolated cumulative count below x seconds.
	cum := func(x float64) float64 {
		lo, c := 0.0, base
		for _, p := range finite {
			if x <= p.LE {
				return c + (p.Count-c)*(x-lo)/(p.LE-lo)
			}
			lo, c = p.LE, p.Count
		}
		return total // all the rest is at the largest finite bound
	}
	h := stats.Histogram{Counts: make([]uint64, stats.NumBuckets)}
	var prev uint64
	for i := range stats.OverflowBucket {
		upper := uint64(math.Round(cum(stats.BucketUpperBound(i).Seconds())))
		upper = max(upper, prev) // rounding never goes back
		h.Counts[i], prev = upper-prev, upper
	}
	if all := uint64(math.Round(total)); all > prev {
		h.Counts[stats.OverflowBucket] = all - prev
	}
	return h
}
