package rollout

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/rampdev/ramp/analysis"
	rolloutsv1alpha1 "github.com/rampdev/ramp/apis/rollouts/v1alpha1"
	servingv1 "github.com/rampdev/ramp/apis/serving/v1"
	"github.com/rampdev/ramp/controllers/rollout/resources"
)

// defaultHistoryLimit is how many measurements status keeps by default
// (analysis.historyLimit).
const defaultHistoryLimit = 10

func historyLimit(a *rolloutsv1alpha1.Analysis) int {
	if a == nil || a.HistoryLimit == nil || *a.HistoryLimit < 1 {
		return defaultHistoryLimit
	}
	return int(*a.HistoryLimit)
}

// maxTransitions bounds the transitions of one planning round. A round
// never runs two weight steps: each waits for the gateway (or a
// measurement) and those are observed once per round.
const maxTransitions = 8

// Observed is what the controller saw of the serving objects.
type Observed struct {
	// TemplateHash identifies the Rollout's current template.
	TemplateHash string
	// Revision is the Revision made from the current template.
	Revision RevisionState
	// Route is the Route of the Rollout's Service.
	Route RouteState
}

// RevisionState is the Revision of the current template.
type RevisionState struct {
	// Name is empty until the Configuration has created it.
	Name  string
	Ready bool
	// Message says why it is not Ready (or why it does not exist yet).
	Message string
}

// RouteState is the Route's resolved state.
type RouteState struct {
	// Ready is True for the Route's current generation: every gateway
	// replica has applied its routing table.
	Ready bool
	// Traffic is the resolved traffic (status.traffic).
	Traffic []servingv1.TrafficTarget
	// Message says why it is not Ready.
	Message string
}

// Action is a pending action from the Rollout's annotations.
type Action struct {
	ID, Name, By string
	// Stale says why the action, made for another run of the Rollout (a
	// Slack button of an earlier message), no longer applies; empty if it
	// does. See PendingAction.
	Stale string
}

// Input is everything one planning round works from.
type Input struct {
	Spec     *rolloutsv1alpha1.RolloutSpec
	Status   *rolloutsv1alpha1.RolloutStatus
	Observed Observed
	// Action is the pending action, nil when none.
	Action *Action
	// Report is the measurement taken this round, nil when none was due
	// (see MeasurementDue).
	Report *analysis.Report
	// Kinds maps metric names to their kind, for formatting values.
	Kinds map[string]string
	// Templates are the analysis templates the Report used, recorded
	// with its measurement.
	Templates []string
	Now       time.Time
}

// Event is an event to record once the status is written.
type Event struct {
	Type, Reason, Message string
}

// Plan is the outcome of a planning round.
type Plan struct {
	Status rolloutsv1alpha1.RolloutStatus
	Events []Event
	// Measured is the phase of the measurement recorded, "" for none.
	Measured analysis.Phase
	// RequeueAfter is when to look again without any event (0: never).
	RequeueAfter time.Duration
}

// Run plans one round: the pending action first, then a template change,
// then the measurement, then as many transitions as the observations
// allow. It is pure: time comes from in.Now.
func Run(in Input) Plan {
	p := &planner{spec: in.Spec, st: in.Status.DeepCopy(), obs: in.Observed, now: in.Now, kinds: in.Kinds, templates: in.Templates}
	if in.Action != nil {
		p.action(*in.Action)
	}
	if p.st.TemplateHash != in.Observed.TemplateHash {
		p.newTemplate()
	}
	if p.st.Phase == rolloutsv1alpha1.PhaseProgressing && p.st.CurrentStepIndex == nil && in.Observed.Revision.Name != "" {
		p.st.CanaryRevision = in.Observed.Revision.Name
	}
	measured := analysis.Phase("")
	// The report was taken for the status before this round: it counts only
	// if nothing above moved the rollout away from that measurement.
	if in.Report != nil && MeasurementDue(in.Spec, p.st, in.Now) && p.st.CanaryRevision == in.Status.CanaryRevision {
		p.record(*in.Report)
		measured = in.Report.Phase
	}
	for range maxTransitions {
		if !p.advance() {
			break
		}
	}
	return Plan{Status: *p.st, Events: p.events, Measured: measured, RequeueAfter: NextWake(in.Spec, p.st, in.Now)}
}

// MeasurementDue reports whether an analysis measurement is due: a canary
// step (or preview) whose traffic the gateway has applied, with its next
// measurement time reached.
func MeasurementDue(spec *rolloutsv1alpha1.RolloutSpec, st *rolloutsv1alpha1.RolloutStatus, now time.Time) bool {
	return spec.HasAnalysis() && st.Phase == rolloutsv1alpha1.PhaseProgressing &&
		st.CurrentStepIndex != nil && *st.CurrentStepIndex < spec.NumSteps() &&
		st.NextMeasurementAt != nil && !now.Before(st.NextMeasurementAt.Time)
}

// NextWake is how long until something is due that no watch event would
// announce: a measurement, the end of a pause, a deadline, an automatic
// promotion. Zero means nothing is.
func NextWake(spec *rolloutsv1alpha1.RolloutSpec, st *rolloutsv1alpha1.RolloutStatus, now time.Time) time.Duration {
	if st.Phase != rolloutsv1alpha1.PhaseProgressing {
		return 0
	}
	var times []time.Time
	if st.NextMeasurementAt != nil {
		times = append(times, st.NextMeasurementAt.Time)
	}
	if st.PauseUntil != nil {
		times = append(times, st.PauseUntil.Time)
	}
	if st.StepStartedAt != nil && (st.CurrentStepIndex == nil || st.StepReadyAt == nil) {
		times = append(times, st.StepStartedAt.Add(spec.Deadline()))
	}
	if at, ok := autoPromoteAt(spec, st); ok {
		times = append(times, at)
	}
	var wake time.Duration
	for _, t := range times {
		if d := t.Sub(now); d > 0 && (wake == 0 || d < wake) {
			wake = d
		}
	}
	return wake
}

// autoPromoteAt is when a blue/green preview is promoted automatically.
func autoPromoteAt(spec *rolloutsv1alpha1.RolloutSpec, st *rolloutsv1alpha1.RolloutStatus) (time.Time, bool) {
	bg := spec.Strategy.BlueGreen
	if bg == nil || bg.AutoPromoteAfter == nil || st.StepReadyAt == nil || st.CurrentStepIndex == nil || *st.CurrentStepIndex != 0 {
		return time.Time{}, false
	}
	return st.StepReadyAt.Add(bg.AutoPromoteAfter.Duration), true
}

type planner struct {
	spec      *rolloutsv1alpha1.RolloutSpec
	st        *rolloutsv1alpha1.RolloutStatus
	obs       Observed
	now       time.Time
	kinds     map[string]string
	templates []string
	events    []Event
}

func (p *planner) event(typ, reason, format string, args ...any) {
	p.events = append(p.events, Event{Type: typ, Reason: reason, Message: fmt.Sprintf(format, args...)})
}

func (p *planner) at(d time.Duration) *metav1.Time {
	t := metav1.NewTime(p.now.Add(d))
	return &t
}

// step returns step i of a canary strategy, nil for blue/green or past the
// last step.
func (p *planner) step(i int32) *rolloutsv1alpha1.CanaryStep {
	if c := p.spec.Strategy.Canary; c != nil && i >= 0 && int(i) < len(c.Steps) {
		return &c.Steps[i]
	}
	return nil
}

// stepName describes step i for messages: "step 2/5 (weight 20%)".
func (p *planner) stepName(i int32) string {
	n := p.spec.NumSteps()
	switch {
	case i >= n:
		return "promotion"
	case !p.spec.IsCanary():
		return "preview"
	}
	s := p.step(i)
	what := "approval"
	switch {
	case s.Weight != nil && s.Pause != nil:
		what = fmt.Sprintf("weight %d%%, then pause %s", *s.Weight, s.Pause.Duration)
	case s.Weight != nil:
		what = fmt.Sprintf("weight %d%%", *s.Weight)
	case s.Pause != nil:
		what = "pause " + s.Pause.Duration.String()
	}
	return fmt.Sprintf("step %d/%d (%s)", i+1, n, what)
}

// newTemplate starts a rollout of a new template. A canary in flight loses
// its traffic at once: the new canary starts over from the first step once
// its revision is Ready.
func (p *planner) newTemplate() {
	st := p.st
	if st.TemplateHash != "" && st.CanaryRevision != "" && (st.Phase == rolloutsv1alpha1.PhaseProgressing || st.Phase == rolloutsv1alpha1.PhasePaused) {
		p.event(corev1.EventTypeNormal, "Superseded", "Template changed during the rollout of %s: traffic goes back to %s, the new revision starts over",
			st.CanaryRevision, st.StableRevision)
	}
	st.TemplateHash = p.obs.TemplateHash
	p.start()
	p.event(corev1.EventTypeNormal, "RolloutStarted", "New template %s: waiting for its revision to become ready", st.TemplateHash)
}

// start (re)starts the rollout of the current template before its first
// step.
func (p *planner) start() {
	st := p.st
	st.Phase = rolloutsv1alpha1.PhaseProgressing
	st.Message = ""
	st.CanaryRevision = p.obs.Revision.Name
	st.CurrentStepIndex = nil
	st.CanaryWeight = 0
	st.StepStartedAt = p.at(0)
	st.StepReadyAt, st.PauseUntil, st.NextMeasurementAt = nil, nil, nil
	st.TransitionStartedAt = nil // a new template interrupts a RollingBack or Aborting
	st.ConsecutiveFailures, st.ConsecutiveInconclusive = 0, 0
	st.Measurements = nil
}

// enterStep starts step i; i equal to the number of steps is the
// promotion to 100%.
func (p *planner) enterStep(i int32) {
	st := p.st
	st.CurrentStepIndex = &i
	st.StepStartedAt = p.at(0)
	st.StepReadyAt, st.PauseUntil, st.NextMeasurementAt = nil, nil, nil
	switch s := p.step(i); {
	case i >= p.spec.NumSteps():
		st.CanaryWeight = 100
		p.event(corev1.EventTypeNormal, "Promoting", "Promoting %s to 100%% of the traffic", st.CanaryRevision)
		return
	case s != nil && s.Weight != nil:
		st.CanaryWeight = *s.Weight
	case s == nil:
		st.CanaryWeight = 0
	}
	p.event(corev1.EventTypeNormal, "StepStarted", "Started %s of %s", p.stepName(i), st.CanaryRevision)
}

// complete makes the canary the stable revision.
func (p *planner) complete() {
	st := p.st
	st.StableRevision, st.CanaryRevision = st.CanaryRevision, ""
	st.Phase = rolloutsv1alpha1.PhaseHealthy
	st.Message = fmt.Sprintf("Revision %s has all the traffic", st.StableRevision)
	st.CurrentStepIndex = nil
	st.CanaryWeight = 0
	st.StepStartedAt, st.StepReadyAt, st.PauseUntil, st.NextMeasurementAt = nil, nil, nil, nil
	st.ConsecutiveFailures, st.ConsecutiveInconclusive = 0, 0
	p.event(corev1.EventTypeNormal, "Healthy", "%s", st.Message)
}

// stop ends the rollout of the canary: traffic goes back to the stable.
// The status records the intent, a transitional phase (RollingBack or
// Aborting) with msg; settle makes it final, with its event and
// notification, once the gateway serves the stable alone. So the status,
// the events and Slack never say "rolled back" while users still reach
// the canary, and a controller restarted in between finishes the move.
func (p *planner) stop(transitional rolloutsv1alpha1.Phase, reason, msg string) {
	st := p.st
	st.Phase, st.Message = transitional, msg
	st.CanaryWeight = 0
	st.StepReadyAt, st.PauseUntil, st.NextMeasurementAt = nil, nil, nil
	st.TransitionStartedAt = p.at(0)
	p.event(corev1.EventTypeWarning, reason, "%s", msg)
}

// Messages of a rollback or abort: the intent, then the settled phase.
const (
	rollingBackPrefix, rolledBackPrefix = "Rolling back to ", "Rolled back to "
	abortingPrefix, abortedPrefix       = "Aborting ", "Aborted "
)

// settle moves a transitional phase to its final one once the gateway
// serves the stable revision alone.
func (p *planner) settle() bool {
	st := p.st
	if !p.applied() {
		return false
	}
	final := st.Phase.Settled()
	st.Phase, st.TransitionStartedAt = final, nil
	reason := rolloutsv1alpha1.ReasonRolledBack
	if final == rolloutsv1alpha1.PhaseAborted {
		reason = rolloutsv1alpha1.ReasonAborted
		st.Message = strings.Replace(st.Message, abortingPrefix, abortedPrefix, 1)
	} else {
		st.Message = strings.Replace(st.Message, rollingBackPrefix, rolledBackPrefix, 1)
	}
	p.event(corev1.EventTypeWarning, reason, "%s", st.Message)
	return true
}

// pause stops measuring and keeps the traffic where it is until an
// approve (resume) or retry action.
func (p *planner) pause(msg string) {
	p.st.Phase, p.st.Message = rolloutsv1alpha1.PhasePaused, msg
	p.st.NextMeasurementAt = nil
	p.event(corev1.EventTypeWarning, rolloutsv1alpha1.ReasonPaused, "%s", msg)
}

func (p *planner) rollback(msg string) {
	p.stop(rolloutsv1alpha1.PhaseRollingBack, rolloutsv1alpha1.ReasonRollingBack,
		fmt.Sprintf("%s%s: %s", rollingBackPrefix, p.st.StableRevision, msg))
}

// applied reports whether the gateway serves the traffic the status calls
// for.
func (p *planner) applied() bool {
	return p.obs.Route.Ready && resources.Applied(resources.Traffic(p.spec, p.st), p.obs.Route.Traffic)
}

func (p *planner) deadlinePassed() bool {
	return p.st.StepStartedAt != nil && !p.now.Before(p.st.StepStartedAt.Add(p.spec.Deadline()))
}

// advance makes one transition, if the observations allow one.
func (p *planner) advance() bool {
	st := p.st
	if st.Phase.Transitional() {
		return p.settle()
	}
	if st.Phase != rolloutsv1alpha1.PhaseProgressing {
		return false
	}
	if st.CurrentStepIndex == nil {
		return p.advanceWaiting()
	}
	i := *st.CurrentStepIndex
	if st.StepReadyAt == nil {
		if !p.applied() {
			if p.deadlinePassed() && st.StableRevision != "" && st.CanaryRevision != st.StableRevision {
				msg := fmt.Sprintf("the gateway did not apply the traffic of %s within %s", p.stepName(i), p.spec.Deadline())
				if m := p.obs.Route.Message; m != "" {
					msg += ": " + m
				}
				p.rollback(msg)
				return true
			}
			return false
		}
		st.StepReadyAt = p.at(0)
		if i >= p.spec.NumSteps() {
			p.complete()
			return true
		}
		if p.spec.HasAnalysis() {
			st.NextMeasurementAt = p.at(resources.Interval(p.spec.Analysis))
		}
		if s := p.step(i); s != nil {
			switch {
			case s.Weight == nil && s.Pause != nil:
				st.PauseUntil = p.at(s.Pause.Duration)
			case s.Weight != nil && (!p.spec.AnalysisDecides() || *s.Weight >= 100):
				// At 100% the stable serves nothing: there is nothing to
				// compare the canary with, so the step passes once applied.
				p.stepPassed(i)
			}
		}
		return true
	}
	if s := p.step(i); s != nil && s.Weight != nil && *s.Weight >= 100 && st.PauseUntil == nil && p.spec.AnalysisDecides() {
		// Applied before this rule existed (or just now): nothing to
		// compare with at 100%, so the step passes.
		p.stepPassed(i)
		return true
	}
	if st.PauseUntil != nil {
		if p.now.Before(st.PauseUntil.Time) {
			return false
		}
		return p.promoteTo(i + 1)
	}
	if at, ok := autoPromoteAt(p.spec, st); ok && !p.now.Before(at) && p.lastPassed() {
		if !promotionWindows(p.spec.PromotionWindows, p.now).Open {
			return p.promoteTo(1) // holds until a window opens
		}
		p.event(corev1.EventTypeNormal, "AutoPromoted", "Preview of %s passed for %s", st.CanaryRevision, p.spec.Strategy.BlueGreen.AutoPromoteAfter.Duration)
		p.enterStep(1)
		return true
	}
	return false
}

// advanceWaiting moves on once the canary revision is Ready: to the first
// step, or straight to 100% on the first rollout.
func (p *planner) advanceWaiting() bool {
	st := p.st
	rev := p.obs.Revision
	if rev.Name == "" || !rev.Ready {
		if p.deadlinePassed() && st.StableRevision != "" {
			what := "its revision was not created"
			if rev.Name != "" {
				what = fmt.Sprintf("revision %s did not become ready", rev.Name)
			}
			if rev.Message != "" {
				what += ": " + rev.Message
			}
			p.rollback(fmt.Sprintf("%s within the progress deadline %s", what, p.spec.Deadline()))
			return true
		}
		return false
	}
	if st.StableRevision == "" || st.StableRevision == st.CanaryRevision {
		p.enterStep(p.spec.NumSteps())
		return true
	}
	if st.PauseUntil != nil && p.now.Before(st.PauseUntil.Time) {
		return false // holding for a promotion window
	}
	return p.promoteTo(0)
}

// promoteTo starts step i if the promotion windows allow it now. When
// they are closed, the rollout holds its traffic until the next opening
// (PauseUntil); a window it cannot understand pauses it.
func (p *planner) promoteTo(i int32) bool {
	w := promotionWindows(p.spec.PromotionWindows, p.now)
	switch {
	case w.Err != nil:
		p.pause(fmt.Sprintf("Cannot start %s: %v", p.stepName(i), w.Err))
		return true
	case !w.Open:
		if p.st.PauseUntil != nil && p.st.PauseUntil.Time.Equal(w.Next) {
			return false
		}
		p.st.PauseUntil = &metav1.Time{Time: w.Next}
		p.event(corev1.EventTypeNormal, "WaitingForWindow", "Holding before %s of %s until the next promotion window opens at %s",
			p.stepName(i), p.st.CanaryRevision, w.Next.Format(time.RFC3339))
		return true
	}
	p.enterStep(i)
	return true
}

// stepPassed handles a weight step's pass: its pause, or the next step.
func (p *planner) stepPassed(i int32) {
	if s := p.step(i); s != nil && s.Pause != nil {
		p.st.PauseUntil = p.at(s.Pause.Duration)
		p.event(corev1.EventTypeNormal, "StepPassed", "Passed %s: pausing until %s", p.stepName(i), p.st.PauseUntil.UTC().Format(time.RFC3339))
		return
	}
	p.promoteTo(i + 1)
}

// lastPassed reports whether analysis allows an automatic promotion: no
// analysis, or the last measurement passed.
func (p *planner) lastPassed() bool {
	if !p.spec.HasAnalysis() {
		return true
	}
	ms := p.st.Measurements
	return len(ms) > 0 && ms[len(ms)-1].Phase == string(analysis.Pass)
}

// record adds a measurement and applies its consequences through the
// analysis package's step logic (analysis.Decide, which `ramp analysis
// replay` runs too): on a weight step that has not passed yet, evidence
// of non-regression after the minimum step time passes it, and no verdict
// by the maximum step time applies the timeout policy. On every step,
// evidence of regression rolls back, threshold failures roll back at the
// failure limit and repeated measurement errors pause.
func (p *planner) record(rep analysis.Report) {
	st := p.st
	i := *st.CurrentStepIndex
	st.Measurements = append(st.Measurements, p.measurement(rep, i))
	a := p.spec.Analysis
	if n, limit := len(st.Measurements), historyLimit(a); n > limit {
		st.Measurements = st.Measurements[n-limit:]
	}
	st.NextMeasurementAt = p.at(resources.Interval(a))
	if a.DryRun {
		return // measured and shown; steps pass as with analysis off
	}
	policy, err := resources.StepPolicy(a)
	if err != nil {
		p.pause(fmt.Sprintf("Paused at %s: invalid analysis: %v", p.stepName(i), err))
		return
	}
	s := p.step(i)
	judging := s != nil && s.Weight != nil && *s.Weight < 100 && st.PauseUntil == nil
	if !judging {
		// Pauses, approvals, a passed step's pause and the blue/green
		// preview are not decided by analysis, only stopped by it.
		policy.MinStepTime, policy.MaxStepTime = 0, 0
	}
	var elapsed time.Duration
	if st.StepReadyAt != nil {
		elapsed = p.now.Sub(st.StepReadyAt.Time)
	}
	v, state, msg := analysis.Decide(policy, analysis.StepState{Failures: st.ConsecutiveFailures, Errors: st.ConsecutiveInconclusive}, rep, elapsed)
	st.ConsecutiveFailures, st.ConsecutiveInconclusive = state.Failures, state.Errors
	if rep.Phase == analysis.Fail {
		p.event(corev1.EventTypeWarning, "MeasurementFailed", "Measurement failed at %s: %s", p.stepName(i), rep.Message)
	}
	switch v {
	case analysis.Advance:
		if judging {
			p.stepPassed(i)
		}
	case analysis.RollBack:
		p.rollback(fmt.Sprintf("at %s: %s", p.stepName(i), msg))
	case analysis.Hold:
		p.pause(fmt.Sprintf("Paused at %s: %s; approve to resume (the step gathers evidence afresh), promote to go on, abort to roll back",
			p.stepName(i), msg))
	}
}

func (p *planner) measurement(rep analysis.Report, step int32) rolloutsv1alpha1.Measurement {
	m := rolloutsv1alpha1.Measurement{Time: metav1.NewTime(p.now), Phase: string(rep.Phase), Step: &step, Message: rep.Message,
		Templates: p.templates}
	for _, r := range rep.Results {
		kind := p.kinds[r.Metric]
		m.Metrics = append(m.Metrics, rolloutsv1alpha1.MetricResult{
			Name: r.Metric, Phase: string(r.Phase), Message: r.Message,
			Canary: formatValue(kind, r.Canary), Stable: formatValue(kind, r.Stable),
			Evidence: evidence(kind, r.Evidence), DryRun: r.DryRun,
		})
	}
	return m
}

func formatValue(kind string, v analysis.Value) string {
	if !v.Valid {
		return ""
	}
	return analysis.FormatValue(kind, v.Value)
}

// evidence is a sequential verdict's evidence as the status shows it.
func evidence(kind string, e *analysis.Evidence) *rolloutsv1alpha1.Evidence {
	if e == nil {
		return nil
	}
	out := &rolloutsv1alpha1.Evidence{
		CanaryRequests: e.CanaryRequests, StableRequests: e.StableRequests,
		CanaryEvents: e.CanaryEvents, StableEvents: e.StableEvents,
		Margin: e.Margin, Tolerance: e.Tolerance,
		Regression:    analysis.FormatEvidence(e.Regression, e.RegressionBar),
		NonRegression: analysis.FormatEvidence(e.NonRegression, e.NonRegressionBar),
		MoreRequests:  e.MoreRequests,
	}
	if e.MoreSeconds > 0 {
		out.MoreTime = (time.Duration(e.MoreSeconds) * time.Second).String()
	}
	if kind == analysis.ErrorRate {
		out.Estimate = analysis.FormatPoints(e.Estimate)
		out.Interval = "[" + analysis.FormatPoints(e.Lower) + ", " + analysis.FormatPoints(e.Upper) + "]"
	} else {
		out.Threshold = analysis.FormatValue(kind, e.Threshold)
		if e.Estimate > 0 {
			out.Estimate = strconv.FormatFloat(e.Estimate, 'f', 2, 64) + "x"
		}
		out.Interval = "[" + analysis.FormatPercent(e.Lower) + ", " + analysis.FormatPercent(e.Upper) + "] above threshold"
	}
	return out
}
