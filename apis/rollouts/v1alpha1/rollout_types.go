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

	// Measurements are the last analysis measurements (analysis.historyLimit,
	// default 10), oldest first.
	// +optional
	// +kubebuilder:validation:MaxItems=50
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
	// Templates are the analysis templates this look used, as
	// "<Kind>/<name>@<generation>" (namespaced ones in the Rollout's
	// namespace).
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=8
	Templates []string `json:"templates,omitempty"`
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
	// DryRun marks a metric that is shown but does not decide.
	// +optional
	DryRun bool `json:"dryRun,omitempty"`
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
