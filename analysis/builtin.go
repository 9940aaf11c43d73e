package analysis

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rampdev/ramp/serving/autoscaler"
)

// Builtin is the provider of the builtin metrics: it reads the request
// telemetry Ramp's queue-proxies report, so it needs no Prometheus.
type Builtin struct {
	Telemetry autoscaler.Telemetry
}

var (
	_ Provider = (*Builtin)(nil)
	_ Sampler  = (*Builtin)(nil)
)

// Sample implements Sampler: target's requests, 5xx answers and latency
// histogram in [from, to). A Target with Tag "" samples all of the
// revision's traffic.
func (b *Builtin) Sample(ctx context.Context, t Target, from, to time.Time) (Sample, error) {
	if b.Telemetry == nil {
		return Sample{}, errors.New("builtin provider: no telemetry")
	}
	if t.Revision == "" {
		return Sample{}, errors.New("builtin provider: target has no revision")
	}
	tag := t.Tag
	if tag == "" {
		tag = autoscaler.AllTags
	}
	sum, err := b.Telemetry.Window(ctx, t.Namespace, t.Revision, tag, from, to)
	if err != nil {
		return Sample{}, fmt.Errorf("telemetry of %s/%s: %w", t.Namespace, t.Revision, err)
	}
	return Sample{Requests: sum.Requests, Errors: sum.Errors5xx, Latency: sum.Latency}, nil
}

// Measure implements Provider for the Builtin metrics over
// [q.Now-q.Window, q.Now). A Target with Tag "" measures all of the
// revision's traffic. A window without requests gives a Value that is not
// Valid (Requests 0), as does a stable Target without a Revision; a
// latency without recorded latencies is not Valid either.
func (b *Builtin) Measure(ctx context.Context, q Query) (Measurement, error) {
	m := q.Metric
	if !knownBuiltin(m.Builtin) {
		return Measurement{}, fmt.Errorf("builtin provider: %w %q", ErrUnknownMetric, m.Builtin)
	}
	if b.Telemetry == nil {
		return Measurement{}, errors.New("builtin provider: no telemetry")
	}
	if q.Window <= 0 {
		return Measurement{}, fmt.Errorf("builtin provider: window must be positive, got %s", q.Window)
	}
	if q.Canary.Revision == "" {
		return Measurement{}, errors.New("builtin provider: canary has no revision")
	}
	return measureSamples(ctx, b, q)
}

// measureSamples measures the builtin metric of q from s over
// [q.Now-q.Window, q.Now): the canary, and the stable when it has a
// revision.
func measureSamples(ctx context.Context, s Sampler, q Query) (Measurement, error) {
	value := func(t Target) (Value, error) {
		sample, err := s.Sample(ctx, t, q.Now.Add(-q.Window), q.Now)
		if err != nil {
			return Value{}, err
		}
		return builtinValue(q.Metric.Builtin, sample, q.Window), nil
	}
	canary, err := value(q.Canary)
	if err != nil {
		return Measurement{}, fmt.Errorf("canary: %w", err)
	}
	var stable Value
	if q.Stable.Revision != "" {
		if stable, err = value(q.Stable); err != nil {
			return Measurement{}, fmt.Errorf("stable: %w", err)
		}
	}
	return Measurement{Canary: canary, Stable: stable}, nil
}

// builtinValue computes metric from one window's sample (a request rate
// divides by window).
func builtinValue(metric string, sum Sample, window time.Duration) Value {
	v := Value{Requests: sum.Requests}
	if sum.Requests <= 0 {
		return v
	}
	switch metric {
	case ErrorRate:
		v.Value = float64(sum.Errors) / float64(sum.Requests)
	case RequestRate:
		v.Value = float64(sum.Requests) / window.Seconds()
	default:
		quantile, ok := latencyQuantiles[metric]
		if !ok || sum.Latency.Count() == 0 {
			return v
		}
		v.Value = sum.Latency.Quantile(quantile).Seconds()
	}
	v.Valid = true
	return v
}

var latencyQuantiles = map[string]float64{LatencyP50: 0.5, LatencyP90: 0.9, LatencyP99: 0.99}
