package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	servingv1 "github.com/rampdev/ramp/apis/serving/v1"
)

// RolloutSpec is what a Rollout delivers and how.
type RolloutSpec struct {
	// Template is the Revision template, with the same schema as a serving
	// Service's. Each change creates a new Revision, the canary, which the
	// strategy brings in front of users while the previous one, the stable,
	// keeps the rest of the traffic.
	Template servingv1.RevisionTemplateSpec `json:"template"`

	// Strategy is how the canary gets traffic: canary steps or blue/green.
	Strategy Strategy `json:"strategy"`

	// Analysis compares the canary with the stable revision at every
	// interval while the canary is being rolled out. Without it, the
	// default analysis applies (error rate and p90 latency, canary against
	// stable); disabled: true makes steps pass as soon as the gateway has
	// applied their traffic.
	// +optional
	Analysis *Analysis `json:"analysis,omitempty"`

	// ProgressDeadline bounds how long the canary revision may take to
	// become Ready, and each step's traffic to be applied by the gateway.
	// Past it the Rollout rolls back to the stable revision. Default 10m.
	// +optional
	// +kubebuilder:default="10m"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?(ms|s|m|h))+$') && duration(self) > duration('0s')",message="must be a positive duration such as 90s, 10m or 1h30m"
	ProgressDeadline *metav1.Duration `json:"progressDeadline,omitempty"`

	// PromotionWindows, when set, restrict when traffic moves forward to
	// the canary: a step starts only while one of the windows is open;
	// outside them the Rollout holds its current traffic and waits for the
	// next opening. Analysis, rollbacks, aborts and the promote and approve
	// actions are not restricted. A Rollout's first revision (no stable
	// yet) is not held either.
	// +optional
	// +kubebuilder:validation:MaxItems=16
	// +listType=atomic
	PromotionWindows []PromotionWindow `json:"promotionWindows,omitempty"`
}

// PromotionWindow opens on a cron schedule for a duration, e.g. schedule
// "0 9 * * 1-5" and duration 8h: weekdays from 09:00 to 17:00.
type PromotionWindow struct {
	// Schedule is when the window opens: a standard cron expression with
	// five fields (minute hour day-of-month month day-of-week) or a
	// descriptor such as @daily.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:XValidation:rule="self.matches('^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|[^ ]+( +[^ ]+){4})$')",message="must be a cron expression with five fields, such as '0 9 * * 1-5', or a descriptor such as @daily"
	Schedule string `json:"schedule"`
	// Duration is how long the window stays open.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?(ms|s|m|h))+$') && duration(self) > duration('0s')",message="must be a positive duration such as 90s, 10m or 1h30m"
	Duration metav1.Duration `json:"duration"`
	// TimeZone of the schedule, an IANA name such as Europe/Paris. Default
	// UTC.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	TimeZone string `json:"timeZone,omitempty"`
}

// Strategy selects canary steps or blue/green.
// +kubebuilder:validation:XValidation:rule="has(self.canary) != has(self.blueGreen)",message="exactly one of canary and blueGreen must be set"
type Strategy struct {
	// Canary moves a growing share of the traffic to the canary, step by
	// step.
	// +optional
	Canary *CanaryStrategy `json:"canary,omitempty"`

	// BlueGreen deploys the canary next to the stable with no traffic but a
	// preview URL, then flips all traffic to it at once.
	// +optional
	BlueGreen *BlueGreenStrategy `json:"blueGreen,omitempty"`
	// HeaderRoutes send requests carrying one of these headers (exact
	// value) to the new revision while it is rolled out, whatever its
	// weight: A/B testing, e.g. X-Beta: "true" for beta users, possibly
	// with a weight-0 first step. Once the rollout ends they go back to
	// the stable revision with everyone else.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=8
	HeaderRoutes []HeaderMatch `json:"headerRoutes,omitempty"`
}

// HeaderMatch matches a request header by exact value.
type HeaderMatch struct {
	// Name of the header, matched case-insensitively.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9!#$%&'*+.^_|~-]+$`
	Name string `json:"name"`
	// Value the header must have, exactly.
	// +kubebuilder:validation:MaxLength=256
	Value string `json:"value"`
}

// CanaryStrategy is a list of steps. After the last one the canary gets
// 100% of the traffic and becomes the stable revision.
type CanaryStrategy struct {
	// Steps run in order. Weights must not decrease.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:XValidation:rule="self.filter(s, has(s.weight)).map(s, s.weight).isSorted()",message="step weights must not decrease"
	// +listType=atomic
	Steps []CanaryStep `json:"steps"`
}

// CanaryStep is one stage of a canary rollout: either a weight (optionally
// followed by a pause), a pause alone, or an approval gate.
//
// A weight step sends that percentage of the traffic to the canary, waits
// until the gateway has applied it, and passes on evidence of
// non-regression after the analysis' minStepTime (at once with analysis
// disabled, or at 100%, where the stable serves nothing to compare with);
// its pause, if any, then runs before the next step. A pause alone keeps the weight for that long.
// An approval keeps the weight until an approve (or promote) action.
// Analysis keeps measuring during pauses and approvals: failures still roll
// back.
// +kubebuilder:validation:XValidation:rule="!(has(self.weight) && has(self.approval))",message="a step sets weight or approval, not both"
// +kubebuilder:validation:XValidation:rule="!(has(self.pause) && has(self.approval))",message="an approval step cannot have a pause"
// +kubebuilder:validation:XValidation:rule="has(self.weight) || has(self.pause) || has(self.approval)",message="a step needs a weight, a pause or an approval"
type CanaryStep struct {
	// Weight is the percentage of the traffic sent to the canary.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	Weight *int32 `json:"weight,omitempty"`

	// Pause waits this long: after the weight step has passed, or on its own.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?(ms|s|m|h))+$') && duration(self) > duration('0s')",message="must be a positive duration such as 90s, 10m or 1h30m"
	Pause *metav1.Duration `json:"pause,omitempty"`

	// Approval waits for an approve (or promote) action: the annotations
	// rollouts.ramp.dev/action: approve and rollouts.ramp.dev/action-id.
	// +optional
	Approval *Approval `json:"approval,omitempty"`
}

// Approval is a gate that waits for an approve action. It has no fields:
// write `approval: {}`.
type Approval struct{}

// BlueGreenStrategy runs the new revision next to the stable one with 0% of
// the traffic and a tag URL, then sends it all the traffic at once: on an
// approve or promote action, or automatically after AutoPromoteAfter if the
// analysis passes.
type BlueGreenStrategy struct {
	// PreviewTag is the tag of the new revision while it is previewed: it is
	// reachable at <previewTag>-<name>.<namespace>.<domain>. Default
	// "preview".
	// +optional
	// +kubebuilder:default=preview
	// +kubebuilder:validation:MaxLength=40
	// +kubebuilder:validation:Pattern=`^[a-z]([-a-z0-9]*[a-z0-9])?$`
	// +kubebuilder:validation:XValidation:rule="self != 'stable'",message="previewTag \"stable\" is reserved for the stable revision"
	PreviewTag string `json:"previewTag,omitempty"`

	// AutoPromoteAfter promotes the preview this long after the gateway
	// published it, provided the last analysis measurement passed (or there
	// is no analysis). Without it, promotion waits for an action.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?(ms|s|m|h))+$') && duration(self) > duration('0s')",message="must be a positive duration such as 90s, 10m or 1h30m"
	AutoPromoteAfter *metav1.Duration `json:"autoPromoteAfter,omitempty"`
}

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
// judged with a confidence bound. Prometheus query metrics are judged on
// their thresholds every interval; failureLimit consecutive failures roll
// back.
//
// A Rollout without an analysis block gets the default metrics: error-rate
// (errorRate) and latency (latencyP90), canary against stable. Set
// disabled: true for steps that pass as soon as the gateway applies their
// traffic.
// +kubebuilder:validation:XValidation:rule="!has(self.interval) || !self.interval.matches('^([0-9]+([.][0-9]+)?(ms|s|m|h))+$') || duration(self.interval) >= duration('1s')",message="interval must be at least 1s",fieldPath=".interval"
// +kubebuilder:validation:XValidation:rule="!has(self.window) || !has(self.interval) || !self.window.matches('^([0-9]+([.][0-9]+)?(ms|s|m|h))+$') || !self.interval.matches('^([0-9]+([.][0-9]+)?(ms|s|m|h))+$') || duration(self.window) >= duration(self.interval)",message="window must be at least the interval",fieldPath=".window"
// +kubebuilder:validation:XValidation:rule="!has(self.metrics) || self.metrics.all(m, self.metrics.exists_one(n, n.name == m.name))",message="metric names must be unique",fieldPath=".metrics"
// +kubebuilder:validation:XValidation:rule="!has(self.minStepTime) || !has(self.maxStepTime) || !self.minStepTime.matches('^([0-9]+([.][0-9]+)?(ms|s|m|h))+$') || !self.maxStepTime.matches('^([0-9]+([.][0-9]+)?(ms|s|m|h))+$') || duration(self.minStepTime) <= duration(self.maxStepTime)",message="minStepTime must not be above maxStepTime",fieldPath=".minStepTime"
// +kubebuilder:validation:XValidation:rule="!(has(self.disabled) && self.disabled) || !has(self.metrics)",message="a disabled analysis has no metrics",fieldPath=".disabled"
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

	// Metrics to judge. Default: error-rate (errorRate) and latency
	// (latencyP90).
	// +optional
	// +kubebuilder:validation:MaxItems=16
	// +listType=atomic
	Metrics []Metric `json:"metrics,omitempty"`
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

// Metric is one measurement and its thresholds. Exactly one of builtin and
// prometheus names what to measure.
// +kubebuilder:validation:XValidation:rule="has(self.builtin) != has(self.prometheus)",message="exactly one of builtin and prometheus must be set"
// +kubebuilder:validation:XValidation:rule="(has(self.builtin) && self.builtin != 'requestRate') || has(self.max) || has(self.min) || has(self.maxIncrease) || has(self.maxRatio)",message="requestRate and prometheus metrics need at least one of max, min, maxIncrease and maxRatio"
// +kubebuilder:validation:XValidation:rule="(has(self.builtin) && self.builtin != 'requestRate') || (!has(self.margin) && !has(self.tolerance))",message="margin and tolerance apply to errorRate and latency metrics, which compare the canary with the stable"
// +kubebuilder:validation:XValidation:rule="!has(self.builtin) || !self.builtin.startsWith('latency') || [has(self.max) ? self.max : '0', has(self.min) ? self.min : '0', has(self.maxIncrease) ? self.maxIncrease : '0'].all(t, t.matches('^-?[0-9]+([.][0-9]+)?([eE][-+]?[0-9]+)?$') || t.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$'))",message="latency thresholds are durations (500ms) or seconds (0.5)"
// +kubebuilder:validation:XValidation:rule="!has(self.builtin) || self.builtin != 'requestRate' || [has(self.max) ? self.max : '0', has(self.min) ? self.min : '0', has(self.maxIncrease) ? self.maxIncrease : '0'].all(t, t.matches('^[0-9]+([.][0-9]+)?( ?(/s|req/s|rps))?$'))",message="requestRate thresholds are requests per second (10, 10/s or 10 req/s)"
// +kubebuilder:validation:XValidation:rule="(has(self.builtin) && self.builtin != 'errorRate') || [has(self.max) ? self.max : '0', has(self.min) ? self.min : '0', has(self.maxIncrease) ? self.maxIncrease : '0'].all(t, t.matches('^-?[0-9]+([.][0-9]+)?([eE][-+]?[0-9]+)?$') || t.matches('^[0-9]+([.][0-9]+)?%$'))",message="errorRate and prometheus thresholds are percentages (1%) or numbers (0.01)"
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

	// Prometheus measures the result of a PromQL query.
	// +optional
	Prometheus *PrometheusQuery `json:"prometheus,omitempty"`

	// Max is the highest acceptable canary value: a guard rail on an
	// errorRate or latency metric, crossed only when the canary's
	// confidence bound is.
	// +optional
	Max *Threshold `json:"max,omitempty"`
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

// PrometheusQuery is a PromQL query measuring one revision. The query is a
// template: see the analysis package's Prometheus provider for the
// variables (the revision, the namespace, the window).
type PrometheusQuery struct {
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=4096
	Query string `json:"query"`
}

// RolloutStatus is the observed state of a Rollout. Everything the
// controller needs to resume after a restart is here.
type RolloutStatus struct {
	// ObservedGeneration is the generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions: Ready summarises Progressing and Analysis.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// Phase is Progressing, Paused, Healthy, RollingBack, RolledBack,
	// Aborting or Aborted.
	// +optional
	Phase Phase `json:"phase,omitempty"`

	// Message explains the phase in one line: for RolledBack, the metric,
	// the canary and stable values and the threshold.
	// +optional
	Message string `json:"message,omitempty"`

	// StableRevision serves the traffic the canary does not get.
	// +optional
	StableRevision string `json:"stableRevision,omitempty"`

	// CanaryRevision is the Revision of the template being rolled out.
	// +optional
	CanaryRevision string `json:"canaryRevision,omitempty"`

	// TemplateHash identifies the template the rollout is for; a template
	// with another hash starts a new rollout.
	// +optional
	TemplateHash string `json:"templateHash,omitempty"`

	// CurrentStepIndex is the step being run. It is unset while the canary
	// revision is not Ready yet, and equals the number of steps while the
	// canary is being promoted to 100%. Blue/green has one step: the
	// preview.
	// +optional
	CurrentStepIndex *int32 `json:"currentStepIndex,omitempty"`

	// CanaryWeight is the percentage of the traffic the canary gets.
	// +optional
	CanaryWeight int32 `json:"canaryWeight"`

	// StepStartedAt is when the current step began (or, before the first
	// step, when the rollout began); deadlines count from it.
	// +optional
	StepStartedAt *metav1.Time `json:"stepStartedAt,omitempty"`

	// StepReadyAt is when the gateway was seen to have applied the current
	// step's traffic.
	// +optional
	StepReadyAt *metav1.Time `json:"stepReadyAt,omitempty"`

	// PauseUntil is when the current step's pause ends.
	// +optional
	PauseUntil *metav1.Time `json:"pauseUntil,omitempty"`

	// TransitionStartedAt is when the current RollingBack or Aborting
	// began: how long the traffic has been on its way back.
	// +optional
	TransitionStartedAt *metav1.Time `json:"transitionStartedAt,omitempty"`

	// NextMeasurementAt is when the next analysis measurement is due.
	// +optional
	NextMeasurementAt *metav1.Time `json:"nextMeasurementAt,omitempty"`

	// ConsecutiveFailures counts consecutive failed measurements (any
	// other outcome resets it).
	// +optional
	ConsecutiveFailures int32 `json:"consecutiveFailures,omitempty"`

	// ConsecutiveInconclusive counts consecutive measurements that could
	// not measure (Error) since the last other outcome.
	// +optional
	ConsecutiveInconclusive int32 `json:"consecutiveInconclusive,omitempty"`

	// Measurements are the last 10 analysis measurements, oldest first.
	// +optional
	// +kubebuilder:validation:MaxItems=10
	// +listType=atomic
	Measurements []Measurement `json:"measurements,omitempty"`

	// LastAction is the last action applied (or refused); an action is
	// applied only if its id differs from this one's.
	// +optional
	LastAction *ActionRecord `json:"lastAction,omitempty"`
}

// Phase of a Rollout.
type Phase string

// Phases.
const (
	// PhaseProgressing: a canary is being rolled out.
	PhaseProgressing Phase = "Progressing"
	// PhasePaused: a step without a verdict at its maximum time (with
	// onTimeout: pause), repeated measurement errors or a promotion window
	// it cannot read; waiting for an approve (resume) or retry action.
	// Traffic stays where it was.
	PhasePaused Phase = "Paused"
	// PhaseHealthy: the stable revision has all the traffic.
	PhaseHealthy Phase = "Healthy"
	// PhaseRollingBack: the canary failed; the traffic is on its way back
	// to the stable revision. The Rollout is RolledBack (and says so in
	// its events and notifications) once the gateway serves that.
	PhaseRollingBack Phase = "RollingBack"
	// PhaseAborting: an abort action; the traffic is on its way back to
	// the stable revision. Aborted once the gateway serves that.
	PhaseAborting Phase = "Aborting"
	// PhaseRolledBack: the canary failed (analysis or deadline); all the
	// traffic is back on the stable revision.
	PhaseRolledBack Phase = "RolledBack"
	// PhaseAborted: an abort action sent all the traffic back to the stable
	// revision.
	PhaseAborted Phase = "Aborted"
)

// Measurement is one analysis round.
type Measurement struct {
	Time metav1.Time `json:"time"`
	// Phase is Pass, Fail, Inconclusive or Error.
	Phase string `json:"phase"`
	// Step is the step index the measurement was taken at.
	// +optional
	Step *int32 `json:"step,omitempty"`
	// +optional
	Message string `json:"message,omitempty"`
	// +optional
	// +listType=atomic
	Metrics []MetricResult `json:"metrics,omitempty"`
}

// MetricResult is one metric of a measurement; values are formatted for
// humans ("" when there was no data).
type MetricResult struct {
	Name  string `json:"name"`
	Phase string `json:"phase"`
	// +optional
	Canary string `json:"canary,omitempty"`
	// +optional
	Stable string `json:"stable,omitempty"`
	// Message explains the verdict in one line: counts, estimate,
	// interval, margin and statistic.
	// +optional
	Message string `json:"message,omitempty"`
	// Evidence is what a comparative metric's verdict rests on.
	// +optional
	Evidence *Evidence `json:"evidence,omitempty"`
}

// Evidence of a comparative metric at one look, counted over the step so
// far; numbers are formatted for humans.
type Evidence struct {
	// CanaryRequests and StableRequests are the requests judged.
	CanaryRequests int64 `json:"canaryRequests"`
	StableRequests int64 `json:"stableRequests"`
	// CanaryEvents and StableEvents are those that count against each
	// side: 5xx answers, or answers slower than the threshold.
	CanaryEvents int64 `json:"canaryEvents"`
	StableEvents int64 `json:"stableEvents"`
	// Threshold is, for latency, the stable's quantile that makes a
	// request slow.
	// +optional
	Threshold string `json:"threshold,omitempty"`
	// Estimate is the difference (error rate, in points) or ratio
	// (latency) of canary to stable.
	Estimate string `json:"estimate"`
	// Interval is an anytime-valid interval: of the difference for error
	// rates, of the canary's share of slow requests for latency.
	Interval string `json:"interval"`
	// Margin and Tolerance in force.
	Margin    string `json:"margin"`
	Tolerance string `json:"tolerance"`
	// Regression is the e-value for a regression and the bar it must
	// reach ("212 / 100"); NonRegression the same for non-regression.
	Regression    string `json:"regression"`
	NonRegression string `json:"nonRegression"`
	// MoreRequests estimates the canary requests still needed for a
	// verdict, MoreTime how long they take at the current traffic.
	// +optional
	MoreRequests int64 `json:"moreRequests,omitempty"`
	// +optional
	MoreTime string `json:"moreTime,omitempty"`
}

// ActionRecord is an action the controller has handled.
type ActionRecord struct {
	// ID is the rollouts.ramp.dev/action-id annotation.
	ID string `json:"id"`
	// Action is promote, abort, retry or approve.
	Action string `json:"action"`
	// By is the rollouts.ramp.dev/action-by annotation.
	// +optional
	By   string      `json:"by,omitempty"`
	Time metav1.Time `json:"time"`
	// Result says what the action did, or why it did nothing: then it
	// starts with "ignored:" (nothing to act on) or "rejected:" (an unknown
	// action, or no id).
	Result string `json:"result"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:categories=ramp;rollouts,shortName=ro
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Step",type=integer,JSONPath=`.status.currentStepIndex`
// +kubebuilder:printcolumn:name="Weight",type=integer,JSONPath=`.status.canaryWeight`
// +kubebuilder:printcolumn:name="Canary",type=string,JSONPath=`.status.canaryRevision`
// +kubebuilder:printcolumn:name="Stable",type=string,JSONPath=`.status.stableRevision`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="size(self.metadata.name) <= 56",message="metadata.name must be at most 56 characters: the tag hosts stable-<name> and canary-<name> are DNS labels of at most 63"
// +kubebuilder:validation:XValidation:rule="!has(self.spec.template.metadata) || !has(self.spec.template.metadata.name) || self.spec.template.metadata.name.startsWith(self.metadata.name + '-')",message="template.metadata.name must start with the rollout's name and a dash",fieldPath=".spec.template.metadata.name"
// +kubebuilder:validation:XValidation:rule="!has(self.spec.strategy.blueGreen) || size(self.spec.strategy.blueGreen.previewTag) + size(self.metadata.name) < 63",message="the preview host label <previewTag>-<name> must be at most 63 characters",fieldPath=".spec.strategy.blueGreen.previewTag"

// Rollout delivers a serving Service progressively. It owns the serving
// Service of its name and is the only writer of that Service's traffic: a
// template change creates a new Revision (the canary), which the strategy
// brings from 0% to 100% of the traffic while analysis compares it with
// the previous Revision (the stable). A failing canary is rolled back.
//
// Actions are annotations: rollouts.ramp.dev/action (promote, abort, retry
// or approve) with a unique rollouts.ramp.dev/action-id, and optionally
// rollouts.ramp.dev/action-by. An action runs once per id; the annotations
// are never removed.
type Rollout struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   RolloutSpec   `json:"spec,omitempty"`
	Status RolloutStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// RolloutList is a list of Rollouts.
type RolloutList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Rollout `json:"items"`
}
