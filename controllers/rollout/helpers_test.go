package rollout

import (
	"fmt"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/rampdev/ramp/analysis"
	rolloutsv1alpha1 "github.com/rampdev/ramp/apis/rollouts/v1alpha1"
	servingv1 "github.com/rampdev/ramp/apis/serving/v1"
	"github.com/rampdev/ramp/controllers/rollout/resources"
)

// t0 is the planner tests' "now" unless a case moves it.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// at is t0+d as a status time.
func at(d time.Duration) *metav1.Time {
	t := metav1.NewTime(t0.Add(d))
	return &t
}

// Test steps: the issue's five, with a 2m pause on step 1 and an approval
// at step 2.
func issueSteps() []rolloutsv1alpha1.CanaryStep {
	return []rolloutsv1alpha1.CanaryStep{
		{Weight: ptr.To[int32](5)},
		{Weight: ptr.To[int32](20), Pause: &metav1.Duration{Duration: 2 * time.Minute}},
		{Approval: &rolloutsv1alpha1.Approval{}},
		{Weight: ptr.To[int32](50)},
		{Weight: ptr.To[int32](100)},
	}
}

type specMutator func(*rolloutsv1alpha1.RolloutSpec)

// canarySpec is the issue's canary spec: five steps, analysis every 10s
// with failureLimit 2 and inconclusiveLimit 3 (the limit of Error looks),
// the default step times (at least 30s, at most 10m, then rollback),
// progress deadline 10m.
func canarySpec(ms ...specMutator) *rolloutsv1alpha1.RolloutSpec {
	max1 := rolloutsv1alpha1.Threshold("1%")
	s := &rolloutsv1alpha1.RolloutSpec{
		Strategy: rolloutsv1alpha1.Strategy{Canary: &rolloutsv1alpha1.CanaryStrategy{Steps: issueSteps()}},
		Analysis: &rolloutsv1alpha1.Analysis{
			Interval: &metav1.Duration{Duration: 10 * time.Second}, Window: &metav1.Duration{Duration: time.Minute},
			FailureLimit: 2, InconclusiveLimit: 3,
			Metrics: []rolloutsv1alpha1.Metric{{Name: "error-rate", Builtin: "errorRate", Max: &max1}},
		},
		ProgressDeadline: &metav1.Duration{Duration: 10 * time.Minute},
	}
	for _, m := range ms {
		m(s)
	}
	return s
}

// dryRunAnalysis measures every metric but lets none decide.
func dryRunAnalysis(s *rolloutsv1alpha1.RolloutSpec) { s.Analysis.DryRun = true }

// weekdaysOnly allows promotion on weekdays from 09:00 UTC for 8 hours:
// closed at t0, a Sunday, until Monday 09:00 (t0 + 21h).
func weekdaysOnly(s *rolloutsv1alpha1.RolloutSpec) { s.PromotionWindows = weekdays9to5("") }

// analysisDisabled is analysis: {disabled: true}: steps pass once the
// gateway applies their traffic.
func analysisDisabled(s *rolloutsv1alpha1.RolloutSpec) {
	s.Analysis = &rolloutsv1alpha1.Analysis{Disabled: true}
}

// stepTimes sets the analysis' minimum and maximum step times and, unless
// empty, its timeout policy.
func stepTimes(minT, maxT time.Duration, onTimeout string) specMutator {
	return func(s *rolloutsv1alpha1.RolloutSpec) {
		s.Analysis.MinStepTime, s.Analysis.MaxStepTime = &metav1.Duration{Duration: minT}, &metav1.Duration{Duration: maxT}
		s.Analysis.OnTimeout = onTimeout
	}
}

func blueGreen(autoPromote time.Duration) specMutator {
	return func(s *rolloutsv1alpha1.RolloutSpec) {
		s.Strategy = rolloutsv1alpha1.Strategy{BlueGreen: &rolloutsv1alpha1.BlueGreenStrategy{PreviewTag: "preview"}}
		if autoPromote > 0 {
			s.Strategy.BlueGreen.AutoPromoteAfter = &metav1.Duration{Duration: autoPromote}
		}
	}
}

type stMutator func(*rolloutsv1alpha1.RolloutStatus)

// status builds a status from mutators, starting empty.
func status(ms ...stMutator) *rolloutsv1alpha1.RolloutStatus {
	st := &rolloutsv1alpha1.RolloutStatus{}
	for _, m := range ms {
		m(st)
	}
	return st
}

// healthy: stable has all the traffic, template h1.
func healthy(stable string) stMutator {
	return func(st *rolloutsv1alpha1.RolloutStatus) {
		st.Phase, st.StableRevision, st.TemplateHash = rolloutsv1alpha1.PhaseHealthy, stable, "h1"
		st.Message = "Revision " + stable + " has all the traffic"
	}
}

// waiting: rollout of template h2 started at started, canary not Ready.
func waiting(stable, canary string, started time.Duration) stMutator {
	return func(st *rolloutsv1alpha1.RolloutStatus) {
		st.Phase, st.TemplateHash = rolloutsv1alpha1.PhaseProgressing, "h2"
		st.StableRevision, st.CanaryRevision = stable, canary
		st.StepStartedAt = at(started)
	}
}

// step: at step i with weight w, started at started.
func step(i, w int32, started time.Duration) stMutator {
	return func(st *rolloutsv1alpha1.RolloutStatus) {
		st.CurrentStepIndex, st.CanaryWeight, st.StepStartedAt = ptr.To(i), w, at(started)
	}
}

func ready(d time.Duration) stMutator {
	return func(st *rolloutsv1alpha1.RolloutStatus) { st.StepReadyAt = at(d) }
}

func nextMeasurement(d time.Duration) stMutator {
	return func(st *rolloutsv1alpha1.RolloutStatus) { st.NextMeasurementAt = at(d) }
}

func pauseUntil(d time.Duration) stMutator {
	return func(st *rolloutsv1alpha1.RolloutStatus) { st.PauseUntil = at(d) }
}

func counters(failures, inconclusive int32) stMutator {
	return func(st *rolloutsv1alpha1.RolloutStatus) {
		st.ConsecutiveFailures, st.ConsecutiveInconclusive = failures, inconclusive
	}
}

func phase(p rolloutsv1alpha1.Phase, msg string) stMutator {
	return func(st *rolloutsv1alpha1.RolloutStatus) { st.Phase, st.Message = p, msg }
}

func lastAction(id, action, result string, d time.Duration) stMutator {
	return func(st *rolloutsv1alpha1.RolloutStatus) {
		st.LastAction = &rolloutsv1alpha1.ActionRecord{ID: id, Action: action, Time: *at(d), Result: result}
	}
}

func measurements(ms ...rolloutsv1alpha1.Measurement) stMutator {
	return func(st *rolloutsv1alpha1.RolloutStatus) { st.Measurements = append(st.Measurements, ms...) }
}

func measured(d time.Duration, p analysis.Phase, stepIndex int32, msg string) rolloutsv1alpha1.Measurement {
	return rolloutsv1alpha1.Measurement{Time: *at(d), Phase: string(p), Step: ptr.To(stepIndex), Message: msg}
}

// report is a one-metric report on error-rate.
func report(p analysis.Phase, msg string) *analysis.Report {
	return &analysis.Report{Phase: p, Message: msg, Time: t0}
}

// sequentialReport is a report whose one metric, error-rate, the
// sequential judge decided: a Fail is evidence of regression.
func sequentialReport(p analysis.Phase, msg string) *analysis.Report {
	return &analysis.Report{Phase: p, Message: msg, Time: t0,
		Results: []analysis.Result{{Metric: "error-rate", Phase: p, Message: msg, Sequential: true}}}
}

// sequentialMeasured is the measurement status keeps of a sequentialReport.
func sequentialMeasured(d time.Duration, p analysis.Phase, stepIndex int32, msg string) rolloutsv1alpha1.Measurement {
	m := measured(d, p, stepIndex, msg)
	m.Metrics = []rolloutsv1alpha1.MetricResult{{Name: "error-rate", Phase: string(p), Message: msg}}
	return m
}

// revision observes the current template's revision.
func revision(name string, isReady bool) RevisionState {
	return RevisionState{Name: name, Ready: isReady}
}

// routeFor observes a Ready route serving exactly what st calls for.
func routeFor(spec *rolloutsv1alpha1.RolloutSpec, st *rolloutsv1alpha1.RolloutStatus) RouteState {
	return RouteState{Ready: true, Traffic: resolved(resources.Traffic(spec, st))}
}

// resolved is traffic as a Route's status shows it.
func resolved(ts []servingv1.TrafficTarget) []servingv1.TrafficTarget {
	out := make([]servingv1.TrafficTarget, len(ts))
	for i, t := range ts {
		out[i] = servingv1.TrafficTarget{RevisionName: t.RevisionName, LatestRevision: ptr.To(false), Percent: t.Percent, Tag: t.Tag,
			URL: "http://" + t.Tag + "-ro.ns.example.com"}
	}
	return out
}

func reasons(events []Event) []string {
	var out []string
	for _, e := range events {
		out = append(out, e.Reason)
	}
	return out
}

// trafficString formats traffic as "rev=percent(tag) ...".
func trafficString(ts []servingv1.TrafficTarget) string {
	parts := make([]string, len(ts))
	for i, t := range ts {
		parts[i] = fmt.Sprintf("%s=%d(%s)", t.RevisionName, t.PercentOf(), t.Tag)
	}
	return strings.Join(parts, " ")
}

// rollingBack: a rollback recorded at t0, the traffic on its way back.
func rollingBack(msg string) stMutator {
	return func(st *rolloutsv1alpha1.RolloutStatus) {
		st.Phase, st.Message, st.TransitionStartedAt = rolloutsv1alpha1.PhaseRollingBack, msg, at(0)
	}
}

// aborting: an abort recorded at t0, the traffic on its way back.
func aborting(msg string) stMutator {
	return func(st *rolloutsv1alpha1.RolloutStatus) {
		st.Phase, st.Message, st.TransitionStartedAt = rolloutsv1alpha1.PhaseAborting, msg, at(0)
	}
}

// since moves the start of the current transition to t0+d.
func since(d time.Duration) stMutator {
	return func(st *rolloutsv1alpha1.RolloutStatus) { st.TransitionStartedAt = at(d) }
}
