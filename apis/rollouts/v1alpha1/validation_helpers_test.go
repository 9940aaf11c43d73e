package v1alpha1_test

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	rolloutsv1alpha1 "github.com/rampdev/ramp/apis/rollouts/v1alpha1"
	servingv1 "github.com/rampdev/ramp/apis/serving/v1"
)

// roMutator changes a minimal valid Rollout into the case under test.
type roMutator func(*rolloutsv1alpha1.Rollout)

// rollout returns a minimal valid Rollout (one container, canary steps 20
// then 100, no analysis) with the mutators applied. The name is left empty
// unless a mutator sets it: the table fills it in from the case's key.
func rollout(mutators ...roMutator) *rolloutsv1alpha1.Rollout {
	ro := &rolloutsv1alpha1.Rollout{
		Spec: rolloutsv1alpha1.RolloutSpec{
			Template: servingv1.RevisionTemplateSpec{Spec: servingv1.RevisionSpec{
				Containers: []servingv1.Container{{Image: "ramp/sampleapp:v1"}},
			}},
			Strategy: rolloutsv1alpha1.Strategy{Canary: &rolloutsv1alpha1.CanaryStrategy{
				Steps: []rolloutsv1alpha1.CanaryStep{weight(20), weight(100)},
			}},
		},
	}
	for _, m := range mutators {
		m(ro)
	}
	return ro
}

func named(name string) roMutator { return func(ro *rolloutsv1alpha1.Rollout) { ro.Name = name } }

func withSteps(steps ...rolloutsv1alpha1.CanaryStep) roMutator {
	return func(ro *rolloutsv1alpha1.Rollout) { ro.Spec.Strategy.Canary.Steps = steps }
}

func withBlueGreen(bg *rolloutsv1alpha1.BlueGreenStrategy) roMutator {
	return func(ro *rolloutsv1alpha1.Rollout) { ro.Spec.Strategy.BlueGreen = bg }
}

func withoutCanary() roMutator {
	return func(ro *rolloutsv1alpha1.Rollout) { ro.Spec.Strategy.Canary = nil }
}

func withAnalysis(a rolloutsv1alpha1.Analysis) roMutator {
	return func(ro *rolloutsv1alpha1.Rollout) { ro.Spec.Analysis = &a }
}

func withMetrics(ms ...rolloutsv1alpha1.Metric) roMutator {
	return withAnalysis(rolloutsv1alpha1.Analysis{Metrics: ms})
}

func withAnnotation(k, v string) roMutator {
	return func(ro *rolloutsv1alpha1.Rollout) {
		if ro.Annotations == nil {
			ro.Annotations = map[string]string{}
		}
		ro.Annotations[k] = v
	}
}

func withTemplateName(name string) roMutator {
	return func(ro *rolloutsv1alpha1.Rollout) { ro.Spec.Template.Metadata.Name = name }
}

func withDeadline(d time.Duration) roMutator {
	return func(ro *rolloutsv1alpha1.Rollout) { ro.Spec.ProgressDeadline = &metav1.Duration{Duration: d} }
}

func weight(w int32) rolloutsv1alpha1.CanaryStep { return rolloutsv1alpha1.CanaryStep{Weight: &w} }

func pause(d time.Duration) rolloutsv1alpha1.CanaryStep {
	return rolloutsv1alpha1.CanaryStep{Pause: &metav1.Duration{Duration: d}}
}

func approval() rolloutsv1alpha1.CanaryStep {
	return rolloutsv1alpha1.CanaryStep{Approval: &rolloutsv1alpha1.Approval{}}
}

func weightPause(w int32, d time.Duration) rolloutsv1alpha1.CanaryStep {
	s := weight(w)
	s.Pause = &metav1.Duration{Duration: d}
	return s
}

func builtin(name string, b rolloutsv1alpha1.Builtin, maxValue string) rolloutsv1alpha1.Metric {
	t := rolloutsv1alpha1.Threshold(maxValue)
	return rolloutsv1alpha1.Metric{Name: name, Builtin: b, Max: &t}
}

func promQuery(name, query, maxValue string) rolloutsv1alpha1.Metric {
	t := rolloutsv1alpha1.Threshold(maxValue)
	return rolloutsv1alpha1.Metric{Name: name, Prometheus: &rolloutsv1alpha1.PrometheusQuery{Query: query}, Max: &t}
}

// web is a web metric (at least 0.95 at $.data.ok) with mutate applied.
func web(name string, mutate func(*rolloutsv1alpha1.WebMetric)) rolloutsv1alpha1.Metric {
	w := &rolloutsv1alpha1.WebMetric{URL: "http://metrics.shop/api/ok?rev={{.Revision}}", JSONPath: "$.data.ok"}
	mutate(w)
	t := rolloutsv1alpha1.Threshold("0.95")
	return rolloutsv1alpha1.Metric{Name: name, Web: w, Min: &t}
}

// promCounts is a Prometheus counts query of kind with the given queries
// ("" leaves one out).
func promCounts(kind, requests, errs, histogram string) *rolloutsv1alpha1.PrometheusQuery {
	return &rolloutsv1alpha1.PrometheusQuery{Kind: rolloutsv1alpha1.CountsKind(kind), Requests: requests, Errors: errs, Histogram: histogram}
}

func dur(d time.Duration) metav1.Duration { return metav1.Duration{Duration: d} }

func ptr[T any](v T) *T { return &v }

// issueExample is the Rollout of the issue: five canary steps with a pause
// and an approval, and builtin analysis.
const issueExample = `
apiVersion: rollouts.ramp.dev/v1alpha1
kind: Rollout
metadata:
  name: issue-example
spec:
  template:
    spec:
      containers:
      - image: ramp/sampleapp:v2
  strategy:
    canary:
      steps:
      - weight: 5
      - weight: 20
        pause: 2m
      - approval: {}
      - weight: 50
      - weight: 100
  analysis:
    interval: 10s
    window: 1m
    minRequests: 50
    failureLimit: 2
    inconclusiveLimit: 12
    metrics:
    - name: error-rate
      builtin: errorRate
      max: "1%"
    - name: p99
      builtin: latencyP99
      max: 500ms
  progressDeadline: 10m
`
