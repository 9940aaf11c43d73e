package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Analysis compares the canary with the stable revision at every interval
// of a step, on all the traffic since the step's traffic started, with
// sequential tests that stay valid however often they look.
//
// Comparative metrics (errorRate and the latencies, measured by Ramp's own
// queue-proxies) need no thresholds: a weight step advances only on
// evidence that the canary is within each metric's margin of the stable
// (after minStepTime), and rolls back as soon as there is evidence that it
// is worse than the stable beyond the metric's tolerance. No data is never
// a pass: a step without that evidence by maxStepTime does what onTimeout
// says. Absolute thresholds (max, min) stay available as guard rails,
// judged with a confidence bound. Prometheus metrics with a kind and
// counts queries are judged the same way from Prometheus's counts;
// Prometheus query metrics are judged on their thresholds every interval,
// and failureLimit consecutive failures roll back.
//
// A Rollout without an analysis block gets the default metrics: error-rate
// (errorRate) and latency (latencyP90), canary against stable. Set
// disabled: true for steps that pass as soon as the gateway applies their
// traffic.
// +kubebuilder:validation:XValidation:rule="!has(self.interval) || !self.interval.matches('^([0-9]+([.][0-9]+)?(ms|s|m|h))+$') || duration(self.interval) >= duration('1s')",message="interval must be at least 1s",fieldPath=".interval"
// +kubebuilder:validation:XValidation:rule="!has(self.window) || !has(self.interval) || !self.window.matches('^([0-9]+([.][0-9]+)?(ms|s|m|h))+$') || !self.interval.matches('^([0-9]+([.][0-9]+)?(ms|s|m|h))+$') || duration(self.window) >= duration(self.interval)",message="window must be at least the interval",fieldPath=".window"
// +kubebuilder:validation:XValidation:rule="!has(self.metrics) || self.metrics.all(m, self.metrics.exists_one(n, n.name == m.name))",message="metric names must be unique",fieldPath=".metrics"
// +kubebuilder:validation:XValidation:rule="!has(self.minStepTime) || !has(self.maxStepTime) || !self.minStepTime.matches('^([0-9]+([.][0-9]+)?(ms|s|m|h))+$') || !self.maxStepTime.matches('^([0-9]+([.][0-9]+)?(ms|s|m|h))+$') || duration(self.minStepTime) <= duration(self.maxStepTime)",message="minStepTime must not be above maxStepTime",fieldPath=".minStepTime"
// +kubebuilder:validation:XValidation:rule="!(has(self.disabled) && self.disabled) || (!has(self.metrics) && !has(self.templates))",message="a disabled analysis has no metrics or templates",fieldPath=".disabled"
type Analysis struct {
	// Disabled turns analysis off: steps pass as soon as the gateway
	// applies their traffic.
	// +optional
	Disabled bool `json:"disabled,omitempty"`

	// Interval between looks, at least 1s. Default: the controller's
	// --analysis-interval (5s; Helm value analysis.interval).
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?(ms|s|m|h))+$') && duration(self) > duration('0s')",message="must be a positive duration such as 90s, 10m or 1h30m"
	Interval *metav1.Duration `json:"interval,omitempty"`

	// Window is how far back a Prometheus query metric looks, at least the
	// interval (comparative metrics judge the whole step). Default: the
	// controller's --analysis-window (1m).
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?(ms|s|m|h))+$') && duration(self) > duration('0s')",message="must be a positive duration such as 90s, 10m or 1h30m"
	Window *metav1.Duration `json:"window,omitempty"`

	// Alpha bounds the chance that a healthy canary is rolled back during
	// a step (all looks and all comparative metrics counted): a number in
	// (0, 0.5]. Default: the controller's --analysis-alpha (0.01).
	// +optional
	// +kubebuilder:validation:MaxLength=16
	// +kubebuilder:validation:XValidation:rule="self.matches('^(0|[1-9][0-9]*)?([.][0-9]+)?$') && self != '' && self != '.' && double(self) > 0.0 && double(self) <= 0.5",message="must be a number in (0, 0.5], such as 0.01"
	Alpha *string `json:"alpha,omitempty"`

	// Beta bounds the chance that a canary worse than a metric's margin
	// passes a step: a number in (0, 0.5]. Default: the controller's
	// --analysis-beta (0.05).
	// +optional
	// +kubebuilder:validation:MaxLength=16
	// +kubebuilder:validation:XValidation:rule="self.matches('^(0|[1-9][0-9]*)?([.][0-9]+)?$') && self != '' && self != '.' && double(self) > 0.0 && double(self) <= 0.5",message="must be a number in (0, 0.5], such as 0.05"
	Beta *string `json:"beta,omitempty"`

	// MinStepTime is the least time a weight step runs before it may
	// advance (evidence of a regression rolls back at once). Default: the
	// controller's --analysis-min-step-time (30s).
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?(ms|s|m|h))+$')",message="must be a duration such as 30s or 2m"
	MinStepTime *metav1.Duration `json:"minStepTime,omitempty"`

	// MaxStepTime is how long a weight step may gather evidence before
	// onTimeout, at most 15m (the builtin telemetry's retention). Default:
	// the controller's --analysis-max-step-time (10m).
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?(ms|s|m|h))+$') && duration(self) > duration('0s') && duration(self) <= duration('15m')",message="must be a positive duration of at most 15m (the builtin telemetry keeps 15 minutes), such as 10m"
	MaxStepTime *metav1.Duration `json:"maxStepTime,omitempty"`

	// OnTimeout is what a step without a verdict at maxStepTime does:
	// rollback (the default: no evidence is not a pass) or pause (for a
	// human to approve or abort).
	// +optional
	// +kubebuilder:validation:Enum=rollback;pause
	OnTimeout string `json:"onTimeout,omitempty"`

	// MinRequests is the number of canary requests a Prometheus query
	// metric's window needs; with fewer, the look is Inconclusive.
	// Default: the controller's --analysis-min-requests (50).
	// +optional
	// +kubebuilder:validation:Minimum=0
	MinRequests *int64 `json:"minRequests,omitempty"`

	// FailureLimit is the number of consecutive looks failed by Prometheus
	// query metrics that roll back (comparative metrics roll back on
	// evidence at once). Default: the controller's
	// --analysis-failure-limit (2).
	// +optional
	// +kubebuilder:validation:Minimum=1
	FailureLimit int32 `json:"failureLimit,omitempty"`

	// InconclusiveLimit is the number of consecutive looks whose
	// measurement failed (Error) that pause the Rollout. Default: the
	// controller's --analysis-inconclusive-limit (12).
	// +optional
	// +kubebuilder:validation:Minimum=1
	InconclusiveLimit int32 `json:"inconclusiveLimit,omitempty"`

	// Metrics to judge, besides those of Templates. Default (with no
	// templates either): error-rate (errorRate) and latency (latencyP90).
	// +optional
	// +kubebuilder:validation:MaxItems=16
	// +listType=atomic
	Metrics []Metric `json:"metrics,omitempty"`

	// Templates whose metrics this analysis judges too: AnalysisTemplates
	// in the Rollout's namespace, or ClusterAnalysisTemplates with
	// clusterScope. Metric names must not clash across templates and
	// Metrics. Each look reads the templates afresh (an edit affects the
	// next look, never a finished one) and records their generations; a
	// missing template is an Error look naming it, never a pass.
	// +optional
	// +kubebuilder:validation:MaxItems=8
	// +listType=atomic
	// +kubebuilder:validation:XValidation:rule="self.all(t, self.exists_one(u, u.name == t.name && (has(u.clusterScope) && u.clusterScope) == (has(t.clusterScope) && t.clusterScope)))",message="a template is referenced at most once"
	Templates []AnalysisTemplateRef `json:"templates,omitempty"`

	// Args give the templates' arguments their values.
	// +optional
	// +kubebuilder:validation:MaxItems=32
	// +listType=atomic
	// +kubebuilder:validation:XValidation:rule="self.all(a, self.exists_one(b, b.name == a.name))",message="argument names must be unique"
	Args []AnalysisArg `json:"args,omitempty"`

	// DryRun measures, stores and shows every metric but lets none decide:
	// steps advance as with analysis disabled. To trial an analysis on
	// live rollouts.
	// +optional
	DryRun bool `json:"dryRun,omitempty"`

	// HistoryLimit is how many looks status keeps (default 10, at most 50).
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=50
	HistoryLimit *int32 `json:"historyLimit,omitempty"`
}

// AnalysisTemplateRef names an AnalysisTemplate, or a
// ClusterAnalysisTemplate with clusterScope.
type AnalysisTemplateRef struct {
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`
	Name string `json:"name"`
	// +optional
	ClusterScope bool `json:"clusterScope,omitempty"`
}

// AnalysisArg is the value of a template argument: given here, or read
// from a key of a Secret or ConfigMap in the Rollout's namespace at each
// look.
// +kubebuilder:validation:XValidation:rule="has(self.value) != has(self.valueFrom)",message="set exactly one of value and valueFrom"
type AnalysisArg struct {
	// +kubebuilder:validation:Pattern=`^[A-Za-z_][A-Za-z0-9_]*$`
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name"`
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Value *string `json:"value,omitempty"`
	// +optional
	ValueFrom *ArgSource `json:"valueFrom,omitempty"`
}

// ArgSource is where an argument's value is read from.
// +kubebuilder:validation:XValidation:rule="has(self.secretKeyRef) != has(self.configMapKeyRef)",message="set exactly one of secretKeyRef and configMapKeyRef"
type ArgSource struct {
	// +optional
	SecretKeyRef *KeyRef `json:"secretKeyRef,omitempty"`
	// +optional
	ConfigMapKeyRef *KeyRef `json:"configMapKeyRef,omitempty"`
}

// KeyRef is a key of a Secret or ConfigMap in the Rollout's namespace.
type KeyRef struct {
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Key string `json:"key"`
}

// MarginSpec is how much worse than the stable a canary may be, relative
// ("20%" or 0.2) or absolute (in the metric's unit: "1%" of requests for
// errorRate, "10ms" for a latency), whichever allows more. Neither may be
// negative.
// +kubebuilder:validation:XValidation:rule="!has(self.relative) || !self.relative.startsWith('-')",message="must not be negative",fieldPath=".relative"
// +kubebuilder:validation:XValidation:rule="!has(self.absolute) || !self.absolute.startsWith('-')",message="must not be negative",fieldPath=".absolute"
type MarginSpec struct {
	// +optional
	// +kubebuilder:validation:MaxLength=16
	// +kubebuilder:validation:XValidation:rule="self.matches('^[0-9]+([.][0-9]+)?%?$')",message="must be a percentage (20%) or a fraction (0.2), not negative"
	Relative *string `json:"relative,omitempty"`
	// +optional
	Absolute *Threshold `json:"absolute,omitempty"`
}

// Builtin metrics, measured from Ramp's own queue-proxy telemetry.
// +kubebuilder:validation:Enum=errorRate;latencyP50;latencyP90;latencyP99;requestRate
type Builtin string

// Threshold is a limit on a metric, in the metric's natural unit:
//
//	errorRate            a percentage "1%" or a fraction "0.01" (0 to 1)
//	latencyP50/P90/P99   a duration "500ms", "1.5s", or seconds "0.5"
//	requestRate          requests per second "10", "10/s", "10 req/s"
//	prometheus queries   a number "0.5", or a percentage "5%" (0.05)
//
// +kubebuilder:validation:MaxLength=32
// +kubebuilder:validation:XValidation:rule="self.matches('^(-?[0-9]+([.][0-9]+)?([eE][-+]?[0-9]+)?|[0-9]+([.][0-9]+)?%|([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+|[0-9]+([.][0-9]+)? ?(/s|req/s|rps))$')",message="must be a percentage (1%), a duration (500ms), a rate (10/s) or a number (0.01)"
type Threshold string

// Ratio is a limit on canary / stable: a number greater than 0 ("1.2"
// lets the canary be 20% above the stable).
// +kubebuilder:validation:MaxLength=32
// +kubebuilder:validation:XValidation:rule="self.matches('^[0-9]+([.][0-9]+)?$') && double(self) > 0.0",message="must be a number greater than 0, such as 1.2"
type Ratio string

// Metric is one measurement and its thresholds. Exactly one of builtin,
// prometheus and web names what to measure.
// +kubebuilder:validation:XValidation:rule="[has(self.builtin), has(self.prometheus), has(self.web)].filter(x, x).size() == 1",message="exactly one of builtin, prometheus and web must be set"
// +kubebuilder:validation:XValidation:rule="(has(self.builtin) && self.builtin != 'requestRate') || (has(self.prometheus) && has(self.prometheus.kind)) || has(self.max) || has(self.min) || has(self.maxIncrease) || has(self.maxRatio)",message="requestRate, prometheus and web metrics need at least one of max, min, maxIncrease and maxRatio"
// +kubebuilder:validation:XValidation:rule="(has(self.builtin) && self.builtin != 'requestRate') || (has(self.prometheus) && has(self.prometheus.kind)) || (!has(self.margin) && !has(self.tolerance))",message="margin and tolerance apply to errorRate and latency metrics, which compare the canary with the stable"
// +kubebuilder:validation:XValidation:rule="!((has(self.builtin) && self.builtin.startsWith('latency')) || ((has(self.prometheus) && has(self.prometheus.kind)) && self.prometheus.kind.startsWith('latency'))) || [has(self.max) ? self.max : '0', has(self.min) ? self.min : '0', has(self.maxIncrease) ? self.maxIncrease : '0'].all(t, t.matches('^-?[0-9]+([.][0-9]+)?([eE][-+]?[0-9]+)?$') || t.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$'))",message="latency thresholds are durations (500ms) or seconds (0.5)"
// +kubebuilder:validation:XValidation:rule="!has(self.builtin) || self.builtin != 'requestRate' || [has(self.max) ? self.max : '0', has(self.min) ? self.min : '0', has(self.maxIncrease) ? self.maxIncrease : '0'].all(t, t.matches('^[0-9]+([.][0-9]+)?( ?(/s|req/s|rps))?$'))",message="requestRate thresholds are requests per second (10, 10/s or 10 req/s)"
// +kubebuilder:validation:XValidation:rule="(has(self.builtin) && self.builtin != 'errorRate') || ((has(self.prometheus) && has(self.prometheus.kind)) && self.prometheus.kind != 'errorRate') || [has(self.max) ? self.max : '0', has(self.min) ? self.min : '0', has(self.maxIncrease) ? self.maxIncrease : '0'].all(t, t.matches('^-?[0-9]+([.][0-9]+)?([eE][-+]?[0-9]+)?$') || t.matches('^[0-9]+([.][0-9]+)?%$'))",message="errorRate, prometheus and web thresholds are percentages (1%) or numbers (0.01)"
type Metric struct {
	// Name identifies the metric in measurements and messages.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Name string `json:"name"`

	// Builtin measures one of Ramp's own metrics: errorRate (share of 5xx
	// answers), latencyP50, latencyP90, latencyP99 or requestRate.
	// +optional
	Builtin Builtin `json:"builtin,omitempty"`

	// Prometheus measures with PromQL: one query judged on the
	// thresholds, or, with a kind, the counts the sequential judge compares
	// canary against stable.
	// +optional
	Prometheus *PrometheusQuery `json:"prometheus,omitempty"`

	// Web measures a number in the JSON answer of an HTTP request.
	// +optional
	Web *WebMetric `json:"web,omitempty"`

	// Max is the highest acceptable canary value: a guard rail on an
	// errorRate or latency metric, crossed only when the canary's
	// confidence bound is.
	// +optional
	Max *Threshold `json:"max,omitempty"`
	// DryRun measures, stores and shows the metric, but its verdict never
	// decides a step: to trial a metric on live rollouts.
	// +optional
	DryRun bool `json:"dryRun,omitempty"`
	// Min is the lowest acceptable canary value.
	// +optional
	Min *Threshold `json:"min,omitempty"`
	// MaxIncrease limits how much higher than the stable's the canary's
	// value may be (canary - stable).
	// +optional
	MaxIncrease *Threshold `json:"maxIncrease,omitempty"`
	// MaxRatio limits canary / stable; checked only when the stable's value
	// is above zero.
	// +optional
	MaxRatio *Ratio `json:"maxRatio,omitempty"`

	// Margin of an errorRate or latency metric: a step advances only on
	// evidence that the canary is within it of the stable. Defaults:
	// errorRate 50% or 1.5 points, latencies 20%.
	// +optional
	Margin *MarginSpec `json:"margin,omitempty"`
	// Tolerance of an errorRate or latency metric: the canary is rolled
	// back only on evidence that it is worse than the stable by more than
	// this (both parts, when both are set). Defaults: 10% for errorRate
	// and latencies.
	// +optional
	Tolerance *MarginSpec `json:"tolerance,omitempty"`
}

// PrometheusQuery is what a Prometheus metric measures: either one query
// judged on the metric's thresholds, or, with kind, the counts that the
// sequential judge compares canary against stable, exactly as the builtin
// metric of that kind (margin, tolerance, max and min as guard rails).
// Each query is a template rendered for the canary and for the stable:
// {{.Namespace}}, {{.Revision}}, {{.Tag}} (the route tag measured, "" for
// all traffic) and {{.Window}} (the range measured, in whole seconds:
// "60s"), evaluated at the range's end. See docs/analysis.md.
// +kubebuilder:validation:XValidation:rule="has(self.query) != has(self.kind)",message="set either query (one number, judged on thresholds) or kind with its counts queries (judged canary against stable)"
// +kubebuilder:validation:XValidation:rule="has(self.kind) || (!has(self.requests) && !has(self.errors) && !has(self.histogram))",message="requests, errors and histogram are counts queries: set kind (errorRate, latencyP50, latencyP90 or latencyP99) with them, instead of query"
// +kubebuilder:validation:XValidation:rule="!has(self.kind) || self.kind != 'errorRate' || (has(self.requests) && has(self.errors) && !has(self.histogram))",message="kind errorRate needs the requests and errors queries, and no histogram"
// +kubebuilder:validation:XValidation:rule="!has(self.kind) || !self.kind.startsWith('latency') || (has(self.histogram) && !has(self.requests) && !has(self.errors))",message="a latency kind needs the histogram query, and no requests or errors"
type PrometheusQuery struct {
	// Query returns one number (a scalar, or a vector with one sample),
	// judged on the metric's thresholds over the analysis window.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=4096
	Query string `json:"query,omitempty"`

	// Kind makes this a counts metric judged like the builtin of that
	// kind: errorRate (with requests and errors) or latencyP50, latencyP90,
	// latencyP99 (with histogram).
	// +optional
	Kind CountsKind `json:"kind,omitempty"`

	// Requests returns one number: the target's requests over the window,
	// such as sum(increase(ramp_queue_requests_total{...}[{{.Window}}])).
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=4096
	Requests string `json:"requests,omitempty"`

	// Errors returns one number: those of the requests answered with a
	// 5xx status over the window. It must return 0, not nothing, when
	// there are none (append "or vector(0)" if its series may be missing).
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=4096
	Errors string `json:"errors,omitempty"`

	// Histogram returns the window's latencies as cumulative buckets, one
	// series per le label (seconds), +Inf included, such as
	// sum by (le) (increase(ramp_queue_request_duration_seconds_bucket{...}[{{.Window}}])).
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=4096
	Histogram string `json:"histogram,omitempty"`
}

// CountsKind is the kind of a Prometheus counts metric: the builtin
// comparative metric it is judged as.
// +kubebuilder:validation:Enum=errorRate;latencyP50;latencyP90;latencyP99
type CountsKind string
