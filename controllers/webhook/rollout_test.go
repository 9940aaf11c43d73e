package webhook

import (
	"context"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"

	rolloutsv1alpha1 "github.com/rampdev/ramp/apis/rollouts/v1alpha1"
)

func TestRolloutValidator(t *testing.T) {
	ctx := context.Background()
	v := RolloutValidator{Clock: clocktesting.NewFakeClock(time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC))}
	ro := func(schedule string) *rolloutsv1alpha1.Rollout {
		r := &rolloutsv1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"}}
		if schedule != "" {
			r.Spec.PromotionWindows = []rolloutsv1alpha1.PromotionWindow{{Schedule: schedule, Duration: metav1.Duration{Duration: time.Hour}}}
		}
		return r
	}
	if _, err := v.ValidateCreate(ctx, ro("0 9 * * 1-5")); err != nil {
		t.Errorf("a good window refused: %v", err)
	}
	_, err := v.ValidateCreate(ctx, ro("61 * * * *"))
	var status apierrors.APIStatus
	if !apierrors.IsInvalid(err) {
		t.Fatalf("err = %v, want Invalid", err)
	}
	status = err.(apierrors.APIStatus)
	if d := status.Status().Details; d == nil || d.Kind != "Rollout" || len(d.Causes) != 1 || d.Causes[0].Field != "spec.promotionWindows[0].schedule" {
		t.Errorf("details %+v, want one cause on spec.promotionWindows[0].schedule of a Rollout", d)
	}
	// An update that leaves a bad spec alone (an action's annotation on a
	// Rollout stored before the webhook) is allowed; one that changes the
	// spec must make it valid.
	old := ro("61 * * * *")
	annotated := old.DeepCopy()
	annotated.Annotations = map[string]string{rolloutsv1alpha1.AnnotationAction: "abort"}
	if _, err := v.ValidateUpdate(ctx, old, annotated); err != nil {
		t.Errorf("metadata-only update refused: %v", err)
	}
	changed := ro("0 9 30 2 *")
	if _, err := v.ValidateUpdate(ctx, old, changed); !apierrors.IsInvalid(err) {
		t.Errorf("spec update to a window that never opens: err = %v, want Invalid", err)
	}
	if _, err := v.ValidateUpdate(ctx, old, ro("@daily")); err != nil {
		t.Errorf("fixing the spec refused: %v", err)
	}
	if _, err := v.ValidateDelete(ctx, old); err != nil {
		t.Errorf("delete refused: %v", err)
	}
}

func TestTemplateValidator(t *testing.T) {
	ctx := context.Background()
	five := rolloutsv1alpha1.Threshold("5")
	over := rolloutsv1alpha1.Threshold("150%")
	tmpl := func(query string, args ...string) *rolloutsv1alpha1.ClusterAnalysisTemplate {
		t := &rolloutsv1alpha1.ClusterAnalysisTemplate{ObjectMeta: metav1.ObjectMeta{Name: "queues"}}
		for _, a := range args {
			t.Spec.Args = append(t.Spec.Args, rolloutsv1alpha1.TemplateArg{Name: a})
		}
		t.Spec.Metrics = []rolloutsv1alpha1.Metric{{Name: "depth", Max: &five, Prometheus: &rolloutsv1alpha1.PrometheusQuery{Query: query}}}
		return t
	}
	v := TemplateValidator[*rolloutsv1alpha1.ClusterAnalysisTemplate]{}
	if _, err := v.ValidateCreate(ctx, tmpl(`depth{svc="{{args.service}}",rev="{{.Revision}}"}`, "service")); err != nil {
		t.Errorf("a good template refused: %v", err)
	}
	cases := map[string]struct {
		t    *rolloutsv1alpha1.ClusterAnalysisTemplate
		want string
	}{
		"an undeclared argument": {tmpl(`depth{svc="{{args.service}}"}`),
			`spec.metrics[0].prometheus.query: Invalid value: "depth{svc=\"{{args.service}}\"}": uses argument service, which spec.args does not declare`},
		"a query that does not render": {tmpl(`depth{rev="{{.Pod}}"}`), `spec.metrics[0].prometheus.query: Invalid value`},
		"an error rate of 150%": {func() *rolloutsv1alpha1.ClusterAnalysisTemplate {
			t := tmpl(`x`)
			t.Spec.Metrics = append(t.Spec.Metrics, rolloutsv1alpha1.Metric{Name: "errors", Builtin: "errorRate", Max: &over})
			return t
		}(), `spec.metrics[1].max: Invalid value: "150%"`},
	}
	for name, tc := range cases {
		_, err := v.ValidateUpdate(ctx, tc.t, tc.t)
		if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), `ClusterAnalysisTemplate.rollouts.ramp.dev "queues" is invalid`) {
			t.Errorf("%s: err = %v, want Invalid naming %q", name, err, tc.want)
		}
	}
}
