package webhook

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/yaml"

	rolloutsv1alpha1 "github.com/rampdev/ramp/apis/rollouts/v1alpha1"
)

// docsCountsTemplate is docs/analysis.md's ClusterAnalysisTemplate of
// Prometheus counts metrics.
func docsCountsTemplate(t *testing.T) *rolloutsv1alpha1.ClusterAnalysisTemplate {
	t.Helper()
	b, err := os.ReadFile("../../docs/analysis.md")
	if err != nil {
		t.Fatal(err)
	}
	_, block, ok := strings.Cut(string(b), "<!-- counts-example -->\n```yaml\n")
	if !ok {
		t.Fatal("docs/analysis.md has no counts example")
	}
	block, _, _ = strings.Cut(block, "```")
	tmpl := &rolloutsv1alpha1.ClusterAnalysisTemplate{}
	if err := yaml.UnmarshalStrict([]byte(block), tmpl); err != nil {
		t.Fatalf("the docs' counts example: %v", err)
	}
	return tmpl
}

// causes are the fields and messages of an Invalid error.
func causes(t *testing.T, err error) map[string]string {
	t.Helper()
	if !apierrors.IsInvalid(err) {
		t.Fatalf("err = %v, want Invalid", err)
	}
	out := map[string]string{}
	for _, c := range err.(apierrors.APIStatus).Status().Details.Causes {
		out[c.Field] = c.Message
	}
	return out
}

// PromQL that does not parse is refused at admission, in templates and in
// Rollouts, with the field and Prometheus's parser message.
func TestCountsQueriesAtAdmission(t *testing.T) {
	ctx := context.Background()
	tv := TemplateValidator[*rolloutsv1alpha1.ClusterAnalysisTemplate]{}
	docs := docsCountsTemplate(t)
	if _, err := tv.ValidateCreate(ctx, docs); err != nil {
		t.Fatalf("the docs' template refused: %v", err)
	}

	broken := docs.DeepCopy()
	broken.Spec.Metrics[1].Prometheus.Histogram = `sum by (le) (increase(x_bucket[{{.Window}}])`
	got := causes(t, func() error { _, err := tv.ValidateUpdate(ctx, docs, broken); return err }())
	msg, ok := got["spec.metrics[1].prometheus.histogram"]
	if !ok || !strings.Contains(msg, "not PromQL: 1:") || !strings.Contains(msg, "unclosed left parenthesis") {
		t.Errorf("causes %v, want spec.metrics[1].prometheus.histogram with the parser's message", got)
	}

	rv := RolloutValidator{Clock: clocktesting.NewFakeClock(time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC))}
	ro := &rolloutsv1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web"}}
	ro.Spec.Analysis = &rolloutsv1alpha1.Analysis{Metrics: []rolloutsv1alpha1.Metric{docs.Spec.Metrics[0]}}
	if _, err := rv.ValidateCreate(ctx, ro); err != nil {
		t.Fatalf("a Rollout with the docs' error rate refused: %v", err)
	}
	ro.Spec.Analysis.Metrics[0].Prometheus.Errors = `sum(increase(ramp_queue_requests_total{class="5xx"}))`
	got = causes(t, func() error { _, err := rv.ValidateCreate(ctx, ro); return err }())
	if msg := got["spec.analysis.metrics[0].prometheus.errors"]; !strings.Contains(msg, `expected type range vector in call to function "increase"`) {
		t.Errorf("causes %v, want spec.analysis.metrics[0].prometheus.errors saying increase needs a range", got)
	}
}
