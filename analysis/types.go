package analysis

import (
	"context"
	"errors"
	"time"
)

// Phase is the outcome of one metric, or of one whole measurement.
type Phase string

// Phases, from best to worst for the purpose of combining them:
// Fail beats Error beats Inconclusive beats Pass.
const (
	// Pass means every threshold held, with enough data.
	Pass Phase = "Pass"
	// Fail means a threshold was crossed, with enough data.
	Fail Phase = "Fail"
	// Inconclusive means there was not enough data to decide (no requests,
	// or fewer than MinRequests). It is never a pass.
	Inconclusive Phase = "Inconclusive"
	// Error means the measurement itself failed (provider unreachable, bad
	// query). It is never a pass either.
	Error Phase = "Error"
)

// Builtin metric names, measured from Ramp's own queue-proxy telemetry.
const (
	// ErrorRate is the share of requests answered with a 5xx status, as a
	// fraction (0.01 = 1%).
	ErrorRate = "errorRate"
	// LatencyP50, LatencyP90 and LatencyP99 are latency quantiles, in
	// seconds.
	LatencyP50 = "latencyP50"
	LatencyP90 = "latencyP90"
	LatencyP99 = "latencyP99"
	// RequestRate is requests per second.
	RequestRate = "requestRate"
)

// Builtins lists every builtin metric name.
var Builtins = []string{ErrorRate, LatencyP50, LatencyP90, LatencyP99, RequestRate}

// Sentinel errors.
var (
	// ErrNoData means the provider has no data at all for a target.
	ErrNoData = errors.New("no data")
	// ErrUnknownMetric means a metric names neither a builtin nor a query.
	ErrUnknownMetric = errors.New("unknown metric")
	// ErrUnknownProvider means a metric names a provider that is not
	// configured (Providers.For).
	ErrUnknownProvider = errors.New("unknown provider")
)

// Provider names, the keys of Providers.
const (
	// BuiltinProvider measures Builtin metrics from Ramp's own telemetry
	// (see Builtin); a Metric with an empty Provider and a Builtin uses it.
	BuiltinProvider = "builtin"
	// PrometheusProvider runs Query metrics as PromQL templates (see
	// Prometheus).
	PrometheusProvider = "prometheus"
	// WebProvider measures Web metrics: a number in the JSON answer of an
	// HTTP request (see Web).
	WebProvider = "web"
)

// Target names the traffic being measured: one revision, optionally only
// the requests that reached it through one route tag ("" means all).
type Target struct {
	Namespace string
	Revision  string
	Tag       string
}

// Thresholds bound a metric. Nil fields are not checked. Units are the
// metric's: fractions for rates of errors, seconds for latencies,
// requests per second for request rates.
type Thresholds struct {
	// Max and Min are absolute limits on the canary's value.
	Max, Min *float64
	// MaxIncrease limits canary - stable.
	MaxIncrease *float64
	// MaxRatio limits canary / stable (checked only when stable > 0; see
	// Judge for a stable of 0).
	MaxRatio *float64
}

// Metric is one thing to measure and judge.
type Metric struct {
	// Name identifies the metric in results ("error-rate").
	Name string
	// Builtin is one of Builtins; exactly one of Builtin and Query is set.
	// With Counts, it is the kind of a comparative metric that another
	// provider measures (errorRate or a latency).
	Builtin string
	// Query is a provider query (for Prometheus, a PromQL template; see
	// the Prometheus provider for its variables).
	Query string
	// Web is the request of a web metric (Provider "web"), instead of a
	// Builtin or a Query.
	Web *WebRequest
	// Provider names the provider: "" or "builtin" for Builtin metrics,
	// "prometheus" for Query metrics and Counts metrics, "web" for Web
	// metrics.
	Provider string
	// Counts are the queries of a comparative metric (Builtin errorRate or
	// a latency) measured by Provider instead of Ramp's telemetry: the
	// provider gives the sequential judge a Sampler over them, and the
	// metric is judged exactly as the builtin of its kind.
	Counts CountsQueries
	// Thresholds are absolute limits. On a comparative builtin (errorRate,
	// latencies) they are guard rails judged with a confidence bound; on a
	// query metric they are the whole judgement.
	Thresholds
	// Margin (advance only on evidence that the canary is within it of
	// the stable) and Tolerance (roll back only on evidence that it is
	// worse than the stable by more) of a comparative builtin.
	Margin, Tolerance Margin
	// DryRun metrics are measured and judged, but their results never
	// decide the report's phase: a sequential one is judged as if it
	// were added to the deciding metrics (its share of alpha counts it).
	DryRun bool
}

// CountsQueries are the query templates of a counts metric, each rendered
// for one target over [from, to) and evaluated at to (see the Prometheus
// provider for the variables).
type CountsQueries struct {
	// Requests and Errors (errorRate) each return one number: the requests
	// over the window, and those of them answered with a 5xx status.
	Requests, Errors string
	// Histogram (latencies) returns the window's latencies as cumulative
	// buckets, one series per le label (seconds), +Inf included.
	Histogram string
}

// IsZero reports whether no counts query is set.
func (c CountsQueries) IsZero() bool { return c == CountsQueries{} }

// Value is one side (canary or stable) of a measurement.
type Value struct {
	// Value is the measured value, meaningful only when Valid.
	Value float64
	// Requests is the number of requests behind Value, when the provider
	// knows it (-1 when it does not).
	Requests int64
	// Valid is false when there was no data.
	Valid bool
}

// Measurement is a metric measured for the canary and the stable over the
// same window.
type Measurement struct {
	Canary, Stable Value
}

// Query asks a provider for one metric over [Now-Window, Now).
type Query struct {
	Metric Metric
	Canary Target
	// Stable may be zero (no stable revision, e.g. the first rollout);
	// relative thresholds are then Inconclusive.
	Stable Target
	Window time.Duration
	Now    time.Time
}

// Provider measures metrics. Implementations must be safe for concurrent
// use.
type Provider interface {
	// Measure measures q. An error means Error, never Pass.
	Measure(ctx context.Context, q Query) (Measurement, error)
}

// Result is one metric's judgement.
type Result struct {
	Metric  string
	Phase   Phase
	Canary  Value
	Stable  Value
	Message string // one line, for humans
	// Sequential is true when the sequential judge decided: a Fail is then
	// final (evidence of regression), a Pass is evidence of
	// non-regression.
	Sequential bool
	// Evidence is what a sequential verdict rests on.
	Evidence *Evidence
	// DryRun is the metric's: the result is shown but does not decide.
	DryRun bool
}

// Spec is one measurement round.
type Spec struct {
	Canary, Stable Target
	Window         time.Duration
	// MinRequests is the number of canary requests needed in the window;
	// fewer make the round Inconclusive.
	MinRequests int64
	Metrics     []Metric
	// Sequential configures the sequential judge of comparative builtins;
	// a zero From judges them with thresholds on the window instead.
	Sequential SequentialSpec
}

// Report is the outcome of one measurement round.
type Report struct {
	// Phase combines the results: Fail if any failed, else Error if any
	// errored, else Inconclusive if any was, else Pass. A Spec without
	// metrics is Inconclusive.
	Phase   Phase
	Results []Result
	// Message is a one-line summary; for Fail it names the failing
	// metric, the canary and stable values and the threshold.
	Message string
	Time    time.Time
}
