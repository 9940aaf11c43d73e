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

// TestWebMetricAdmission: admission refuses a web metric the controller
// could not measure, naming the field, in Rollouts and in templates.
func TestWebMetricAdmission(t *testing.T) {
	ctx := context.Background()
	ok := rolloutsv1alpha1.Threshold("0.95")
	metric := func(url, jsonPath string) []rolloutsv1alpha1.Metric {
		return []rolloutsv1alpha1.Metric{{Name: "checkout-ok", Min: &ok, Web: &rolloutsv1alpha1.WebMetric{URL: url, JSONPath: jsonPath}}}
	}
	rv := RolloutValidator{Clock: clocktesting.NewFakeClock(time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC))}
	ro := func(url, jsonPath string) *rolloutsv1alpha1.Rollout {
		return &rolloutsv1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web"},
			Spec: rolloutsv1alpha1.RolloutSpec{Analysis: &rolloutsv1alpha1.Analysis{Metrics: metric(url, jsonPath)}}}
	}
	if _, err := rv.ValidateCreate(ctx, ro("http://metrics.shop/ok?rev={{.Revision}}", "$.data.ok")); err != nil {
		t.Errorf("a good web metric refused: %v", err)
	}
	_, err := rv.ValidateCreate(ctx, ro("http://metrics.shop/ok", "$.data[?(@.ok)]"))
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "spec.analysis.metrics[0].web.jsonPath") {
		t.Errorf("err = %v, want Invalid naming spec.analysis.metrics[0].web.jsonPath", err)
	}

	tv := TemplateValidator[*rolloutsv1alpha1.AnalysisTemplate]{}
	tmpl := func(url string, args ...string) *rolloutsv1alpha1.AnalysisTemplate {
		t := &rolloutsv1alpha1.AnalysisTemplate{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "checkout"},
			Spec: rolloutsv1alpha1.AnalysisTemplateSpec{Metrics: metric(url, "$.data.ok")}}
		for _, a := range args {
			t.Spec.Args = append(t.Spec.Args, rolloutsv1alpha1.TemplateArg{Name: a})
		}
		return t
	}
	if _, err := tv.ValidateCreate(ctx, tmpl("http://{{args.host}}/ok?rev={{.Revision}}", "host")); err != nil {
		t.Errorf("a good web template refused: %v", err)
	}
	for url, want := range map[string]string{
		"http://{{args.host}}/ok":          "spec.metrics[0].web.url: Invalid value: uses argument host, which spec.args does not declare",
		"{{args.base}}/ok":                 `spec.metrics[0].web.url: Invalid value: "arg/ok": url arg/ok: want an http:// or https:// URL`,
		"http://metrics.shop/{{.Window}}/": "spec.metrics[0].web.url: Invalid value",
	} {
		_, err := tv.ValidateCreate(ctx, tmpl(url))
		if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), want) {
			t.Errorf("url %s: err = %v, want Invalid naming %q", url, err, want)
		}
	}
}
