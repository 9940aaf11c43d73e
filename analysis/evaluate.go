package analysis

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"
)

// maxParallelMeasurements bounds how many metrics Evaluate measures at
// once.
const maxParallelMeasurements = 4

// Providers are the configured providers, by name (BuiltinProvider,
// PrometheusProvider, ...).
type Providers map[string]Provider

// For returns the provider of m: m.Provider, or BuiltinProvider for a
// Builtin metric without one. A provider that is not configured is an
// error wrapping ErrUnknownProvider, never a fallback.
func (p Providers) For(m Metric) (Provider, error) {
	name := providerName(m)
	if name == "" {
		return nil, fmt.Errorf("metric %q: a query metric needs a provider (%s): %w",
			m.Name, PrometheusProvider, ErrUnknownProvider)
	}
	if pr, ok := p[name]; ok && pr != nil {
		return pr, nil
	}
	known := "none configured"
	if len(p) > 0 {
		known = "configured: " + strings.Join(slices.Sorted(maps.Keys(p)), ", ")
	}
	return nil, fmt.Errorf("metric %q: %w %q (%s)", m.Name, ErrUnknownProvider, name, known)
}

func providerName(m Metric) string {
	if m.Provider == "" && m.Builtin != "" {
		return BuiltinProvider
	}
	return m.Provider
}

// Validate checks spec without measuring anything: a positive window, a
// canary revision, and for each metric a unique non-empty name, exactly
// one of Builtin, Query and Web, a known builtin (else an error wrapping
// ErrUnknownMetric), a provider that fits (builtin metrics use the builtin
// provider, web metrics the web one, query metrics another one, counts
// metrics the queries of their kind), Prometheus queries that render, a web
// request that CheckWeb accepts, and at least one sane threshold. It
// returns the first problem found.
func Validate(spec Spec) error {
	if spec.Window <= 0 {
		return fmt.Errorf("analysis window must be positive, got %s", spec.Window)
	}
	if spec.MinRequests < 0 {
		return fmt.Errorf("minimum requests must not be negative, got %d", spec.MinRequests)
	}
	if spec.Canary.Revision == "" {
		return errors.New("analysis needs a canary revision")
	}
	if seq := spec.Sequential; !seq.From.IsZero() {
		if !(seq.Alpha > 0 && seq.Alpha <= 0.5) {
			return fmt.Errorf("alpha must be in (0, 0.5], got %v", seq.Alpha)
		}
		if !(seq.Beta > 0 && seq.Beta <= 0.5) {
			return fmt.Errorf("beta must be in (0, 0.5], got %v", seq.Beta)
		}
		if seq.Interval <= 0 {
			return fmt.Errorf("interval must be positive, got %s", seq.Interval)
		}
	}
	seen := make(map[string]bool, len(spec.Metrics))
	for i, m := range spec.Metrics {
		if m.Name == "" {
			return fmt.Errorf("metric %d has no name", i)
		}
		if seen[m.Name] {
			return fmt.Errorf("metric %q appears twice", m.Name)
		}
		seen[m.Name] = true
		if err := validateMetric(m, spec.Window, sequential(spec, m)); err != nil {
			return fmt.Errorf("metric %q: %w", m.Name, err)
		}
	}
	return nil
}

func validateMetric(m Metric, window time.Duration, seq bool) error {
	switch {
	case m.Builtin != "" && m.Query != "":
		return errors.New("set either builtin or query, not both")
	case m.Web != nil && (m.Builtin != "" || m.Query != ""):
		return errors.New("set one of builtin, query and web, not several")
	case m.Web != nil:
		if p := providerName(m); p != WebProvider {
			return fmt.Errorf("a web metric is measured by the %s provider, not %q", WebProvider, p)
		}
		if err := CheckWeb(m.Web); err != nil {
			return err
		}
	case m.Builtin == "" && m.Query == "":
		return fmt.Errorf("%w: set builtin (%s), query or web", ErrUnknownMetric, strings.Join(Builtins, ", "))
	case m.Builtin != "":
		if !knownBuiltin(m.Builtin) {
			return fmt.Errorf("%w %q (want one of %s)", ErrUnknownMetric, m.Builtin, strings.Join(Builtins, ", "))
		}
		switch p := providerName(m); {
		case p == BuiltinProvider && !m.Counts.IsZero():
			return fmt.Errorf("counts queries need a provider such as %s, not the %s one", PrometheusProvider, BuiltinProvider)
		case p != BuiltinProvider && m.Counts.IsZero():
			return fmt.Errorf("builtin %s is measured by the %s provider, not %q (which needs counts queries)", m.Builtin, BuiltinProvider, p)
		case p != BuiltinProvider:
			if err := validateCounts(m, window); err != nil {
				return err
			}
		}
	default:
		if !m.Counts.IsZero() {
			return errors.New("counts queries need the kind of the metric as builtin (errorRate, latencyP50, latencyP90 or latencyP99), and no query")
		}
		switch m.Provider {
		case "", BuiltinProvider:
			return fmt.Errorf("a query needs a provider such as %s", PrometheusProvider)
		case PrometheusProvider:
			if _, err := renderQuery(m.Query, Target{Namespace: "ns", Revision: "rev"}, window); err != nil {
				return err
			}
		}
	}
	for _, mg := range []struct {
		name string
		m    Margin
	}{{"margin", m.Margin}, {"tolerance", m.Tolerance}} {
		if !finite(mg.m.Relative) || !finite(mg.m.Absolute) || mg.m.Relative < 0 || mg.m.Absolute < 0 {
			return fmt.Errorf("%s must not be negative, got relative %v and absolute %v", mg.name, mg.m.Relative, mg.m.Absolute)
		}
	}
	t := m.Thresholds
	if !seq && t.Max == nil && t.Min == nil && t.MaxIncrease == nil && t.MaxRatio == nil {
		return errors.New("no threshold: set max, min, maxIncrease or maxRatio")
	}
	for _, th := range []struct {
		name string
		v    *float64
	}{{"max", t.Max}, {"min", t.Min}, {"maxIncrease", t.MaxIncrease}, {"maxRatio", t.MaxRatio}} {
		if th.v != nil && !finite(*th.v) {
			return fmt.Errorf("%s is %v, want a finite number", th.name, *th.v)
		}
	}
	if t.MaxRatio != nil && *t.MaxRatio <= 0 {
		return fmt.Errorf("maxRatio must be greater than 0, got %v", *t.MaxRatio)
	}
	if t.Min != nil && t.Max != nil && *t.Min > *t.Max {
		f := func(v float64) string { return FormatValue(m.Builtin, v) }
		return fmt.Errorf("min %s is above max %s", f(*t.Min), f(*t.Max))
	}
	return nil
}

// Evaluate runs one measurement round at now: it validates spec (an
// invalid spec is an Error report), measures every metric over
// [now-spec.Window, now) with its provider (a few at a time), judges each
// with Judge and combines the results as described on Report. A provider
// error is an Error result; ErrNoData is Inconclusive.
func Evaluate(ctx context.Context, providers Providers, spec Spec, now time.Time) Report {
	rep := Report{Time: now}
	if err := Validate(spec); err != nil {
		rep.Phase, rep.Message = Error, "invalid analysis: "+err.Error()
		return rep
	}
	rep.Results = make([]Result, len(spec.Metrics))
	share := 0 // the deciding sequential metrics share alpha
	for _, m := range spec.Metrics {
		if sequential(spec, m) && !m.DryRun {
			share++
		}
	}
	sem := make(chan struct{}, maxParallelMeasurements)
	var wg sync.WaitGroup
	for i, m := range spec.Metrics {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			n := share
			if m.DryRun && sequential(spec, m) {
				n++ // judged as if it were one more deciding metric
			}
			rep.Results[i] = evaluateMetric(ctx, providers, spec, m, n, now)
			rep.Results[i].DryRun = m.DryRun
		})
	}
	wg.Wait()
	rep.Phase, rep.Message = combine(rep.Results)
	return rep
}

// sequential reports whether m is judged by the sequential judge: a
// comparative metric, whichever provider gives its counts (samplerFor).
func sequential(spec Spec, m Metric) bool {
	return !spec.Sequential.From.IsZero() && Comparative(m.Builtin)
}

// MetricSampler is a provider that gives the sequential judge a Sampler
// for some of its metrics: Prometheus, for metrics with Counts.
type MetricSampler interface {
	SamplerFor(m Metric) (Sampler, error)
}

// samplerFor is the Sampler of p for m: its own for m when p is a
// MetricSampler, else p itself when it is a Sampler (the builtin
// provider).
func samplerFor(p Provider, m Metric) (Sampler, error) {
	if ms, ok := p.(MetricSampler); ok {
		return ms.SamplerFor(m)
	}
	if s, ok := p.(Sampler); ok {
		return s, nil
	}
	return nil, fmt.Errorf("the %s provider gives no counts for the sequential judge", providerName(m))
}

func evaluateMetric(ctx context.Context, providers Providers, spec Spec, m Metric, share int, now time.Time) Result {
	p, err := providers.For(m)
	if err != nil {
		return Result{Metric: m.Name, Phase: Error, Message: oneLine(err.Error())}
	}
	if sequential(spec, m) {
		s, err := samplerFor(p, m)
		if err != nil {
			return Result{Metric: m.Name, Phase: Error, Sequential: true, Message: oneLine(m.Name + ": " + err.Error())}
		}
		return judgeSequential(ctx, s, spec, m, share, now)
	}
	meas, err := p.Measure(ctx, Query{Metric: m, Canary: spec.Canary, Stable: spec.Stable, Window: spec.Window, Now: now})
	switch {
	case errors.Is(err, ErrNoData):
		return Result{Metric: m.Name, Phase: Inconclusive, Message: oneLine(m.Name + ": " + err.Error())}
	case err != nil:
		return Result{Metric: m.Name, Phase: Error, Message: oneLine(m.Name + ": measuring: " + err.Error())}
	}
	return Judge(m, meas, spec.MinRequests)
}

// combine folds results into a phase, Fail > Error > Inconclusive > Pass,
// and a message: the first deciding result's, with a count of the others
// of the same phase, or a summary for Pass.
func combine(all []Result) (Phase, string) {
	if len(all) == 0 {
		return Inconclusive, "no metrics to evaluate"
	}
	results := make([]Result, 0, len(all))
	for _, r := range all {
		if !r.DryRun {
			results = append(results, r)
		}
	}
	if len(results) == 0 {
		return Inconclusive, fmt.Sprintf("every metric is a dry run (%d measured, none decides)", len(all))
	}
	for _, p := range []Phase{Fail, Error, Inconclusive} {
		var first *Result
		n := 0
		for i := range results {
			if results[i].Phase == p {
				if first == nil {
					first = &results[i]
				}
				n++
			}
		}
		switch {
		case n == 1:
			return p, first.Message
		case n > 1:
			return p, fmt.Sprintf("%s (%d more %s)", first.Message, n-1, pastTense[p])
		}
	}
	if len(results) == 1 {
		return Pass, results[0].Message
	}
	names := make([]string, len(results))
	for i, r := range results {
		names[i] = r.Metric
	}
	return Pass, fmt.Sprintf("all %d metrics passed: %s", len(results), strings.Join(names, ", "))
}

var pastTense = map[Phase]string{Fail: "failed", Error: "errored", Inconclusive: "inconclusive"}

// oneLine keeps provider errors on one line.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
