package analysis

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"text/template"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
)

// Prometheus is the provider of query metrics written in PromQL: each
// Metric.Query is a text/template rendered for the canary and for the
// stable (see the package documentation for its variables) and evaluated
// at the end of the window.
type Prometheus struct {
	// API is the Prometheus HTTP API.
	API v1.API
	// Timeout bounds each query, on the server and on the client; 0 means
	// only the context's deadline.
	Timeout time.Duration
}

var _ Provider = (*Prometheus)(nil)

// NewPrometheus returns a provider querying the Prometheus server at
// address ("http://prometheus.monitoring:9090") without credentials, each
// query bounded by timeout (0: none). NewPrometheusFromConfig configures
// TLS and credentials.
func NewPrometheus(address string, timeout time.Duration) (*Prometheus, error) {
	return NewPrometheusFromConfig(PrometheusConfig{URL: address, Timeout: timeout})
}

// IsOnline checks that the server answers a trivial query.
func (p *Prometheus) IsOnline(ctx context.Context) error {
	v, err := p.query(ctx, "vector(1)", time.Time{})
	if err != nil {
		return err
	}
	if !v.Valid || v.Value != 1 {
		return errors.New("prometheus: vector(1) did not return 1")
	}
	return nil
}

// Measure implements Provider. A counts metric is measured from its counts
// over the window, as the builtin provider measures its kind. For a query
// metric, a stable Target without a Revision is not measured (its Value is
// not Valid); a result that is an empty vector, NaN or infinite is a Value
// that is not Valid; anything but a scalar or a one-sample vector is an
// error; Requests is always -1 (unknown).
func (p *Prometheus) Measure(ctx context.Context, q Query) (Measurement, error) {
	if !q.Metric.Counts.IsZero() {
		return p.measureCounts(ctx, q)
	}
	if q.Metric.Query == "" {
		return Measurement{}, fmt.Errorf("prometheus provider: metric %q has no query: %w", q.Metric.Name, ErrUnknownMetric)
	}
	if q.Canary.Revision == "" {
		return Measurement{}, errors.New("prometheus provider: canary has no revision")
	}
	canary, err := p.measure(ctx, q.Metric.Query, q.Canary, q.Window, q.Now)
	if err != nil {
		return Measurement{}, fmt.Errorf("canary: %w", err)
	}
	stable := Value{Requests: -1}
	if q.Stable.Revision != "" {
		if stable, err = p.measure(ctx, q.Metric.Query, q.Stable, q.Window, q.Now); err != nil {
			return Measurement{}, fmt.Errorf("stable: %w", err)
		}
	}
	return Measurement{Canary: canary, Stable: stable}, nil
}

// measureCounts measures a counts metric over the window, as the builtin
// provider measures its kind.
func (p *Prometheus) measureCounts(ctx context.Context, q Query) (Measurement, error) {
	s, err := p.SamplerFor(q.Metric)
	if err != nil {
		return Measurement{}, err
	}
	if q.Window <= 0 {
		return Measurement{}, fmt.Errorf("prometheus provider: window must be positive, got %s", q.Window)
	}
	if q.Canary.Revision == "" {
		return Measurement{}, errors.New("prometheus provider: canary has no revision")
	}
	return measureSamples(ctx, s, q)
}

func (p *Prometheus) measure(ctx context.Context, tmpl string, t Target, window time.Duration, now time.Time) (Value, error) {
	expr, err := renderQuery(tmpl, t, window)
	if err != nil {
		return Value{}, err
	}
	return p.query(ctx, expr, now)
}

// query evaluates expr at ts (the server's now when zero).
func (p *Prometheus) query(ctx context.Context, expr string, ts time.Time) (Value, error) {
	res, err := p.eval(ctx, expr, ts)
	if err != nil {
		return Value{}, fmt.Errorf("prometheus query `%s`: %w", expr, err)
	}
	v, err := sampleValue(res)
	if err != nil {
		return Value{}, fmt.Errorf("prometheus query `%s`: %w", expr, err)
	}
	return v, nil
}

// eval evaluates expr at ts (the server's now when zero), bounded by
// p.Timeout.
func (p *Prometheus) eval(ctx context.Context, expr string, ts time.Time) (model.Value, error) {
	if p.API == nil {
		return nil, errors.New("prometheus provider: no API client")
	}
	var opts []v1.Option
	if p.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, p.Timeout)
		defer cancel()
		opts = append(opts, v1.WithTimeout(p.Timeout))
	}
	res, _, err := p.API.Query(ctx, expr, ts, opts...)
	return res, err
}

// sampleValue reads the single number a query must return.
func sampleValue(res model.Value) (Value, error) {
	var f float64
	switch r := res.(type) {
	case *model.Scalar:
		f = float64(r.Value)
	case model.Vector:
		switch {
		case len(r) == 0:
			return Value{Requests: -1}, nil
		case len(r) > 1:
			return Value{}, fmt.Errorf("returned %d series, want one number (aggregate them with sum, avg, max, ...)", len(r))
		case r[0].Histogram != nil:
			return Value{}, errors.New("returned a native histogram, want one number (use histogram_quantile, ...)")
		}
		f = float64(r[0].Value)
	case nil:
		return Value{}, errors.New("returned nothing, want one number")
	default:
		return Value{}, fmt.Errorf("returned a %s, want a scalar or a vector with one sample", res.Type())
	}
	if !finite(f) {
		return Value{Requests: -1}, nil
	}
	return Value{Value: f, Requests: -1, Valid: true}, nil
}

// queryVars are the variables of a query template.
type queryVars struct {
	Namespace, Revision, Tag string
	// Window is the window as a Prometheus duration in whole seconds, at
	// least "1s".
	Window string
}

// renderQuery renders the query template tmpl for t over window.
func renderQuery(tmpl string, t Target, window time.Duration) (string, error) {
	parsed, err := template.New("query").Option("missingkey=error").Parse(tmpl)
	if err != nil {
		return "", fmt.Errorf("query template: %w", err)
	}
	secs := max(int64(math.Ceil(window.Seconds())), 1)
	var b strings.Builder
	vars := queryVars{Namespace: t.Namespace, Revision: t.Revision, Tag: t.Tag, Window: strconv.FormatInt(secs, 10) + "s"}
	if err := parsed.Execute(&b, vars); err != nil {
		return "", fmt.Errorf("query template (variables: .Namespace .Revision .Tag .Window): %w", err)
	}
	if strings.TrimSpace(b.String()) == "" {
		return "", errors.New("query template renders to an empty query")
	}
	return b.String(), nil
}
