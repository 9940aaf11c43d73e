package rollout_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	rolloutsv1alpha1 "github.com/rampdev/ramp/apis/rollouts/v1alpha1"
)

// testTemplates: a Rollout's analysis comes from a ClusterAnalysisTemplate
// and an AnalysisTemplate with arguments (a value and a Secret key); each
// look records the templates' generations; a missing template or a name
// clash is an Error look naming it, never a pass.
func testTemplates(t *testing.T, h *harness) {
	ns := newNamespace(t)
	max1 := rolloutsv1alpha1.Threshold("1%")
	cluster := &rolloutsv1alpha1.ClusterAnalysisTemplate{ObjectMeta: metav1.ObjectMeta{Name: ns + "-errors"},
		Spec: rolloutsv1alpha1.AnalysisTemplateSpec{Metrics: []rolloutsv1alpha1.Metric{{Name: "shared-errors", Builtin: "errorRate", Max: &max1}}}}
	must(t, k8s.Create(ctx, cluster))
	t.Cleanup(func() { _ = k8s.Delete(ctx, cluster) })
	five := rolloutsv1alpha1.Threshold("5")
	local := &rolloutsv1alpha1.AnalysisTemplate{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "queue-depth"},
		Spec: rolloutsv1alpha1.AnalysisTemplateSpec{
			Args: []rolloutsv1alpha1.TemplateArg{{Name: "service"}, {Name: "team"}, {Name: "window", Value: ptr.To("5m")}},
			Metrics: []rolloutsv1alpha1.Metric{{Name: "queue-depth", Max: &five, Prometheus: &rolloutsv1alpha1.PrometheusQuery{
				Query: `max(max_over_time(queue_depth{service="{{args.service}}",team="{{ args.team }}",rev="{{.Revision}}"}[{{args.window}}]))`}},
				{Name: "latency", Prometheus: &rolloutsv1alpha1.PrometheusQuery{Kind: "latencyP90",
					Histogram: `sum by (le) (increase({{args.service}}_seconds_bucket{rev="{{.Revision}}"}[{{.Window}}]))`}}},
		}}
	must(t, k8s.Create(ctx, local))
	must(t, k8s.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "owner"}, StringData: map[string]string{"team": "payments"}}))

	ro := MakeRollout(ns, "web", "v1").Steps("50", "100").Analysis().Obj()
	ro.Spec.Analysis.Metrics = nil
	ro.Spec.Analysis.Templates = []rolloutsv1alpha1.AnalysisTemplateRef{{Name: cluster.Name, ClusterScope: true}, {Name: "queue-depth"}}
	ro.Spec.Analysis.Args = []rolloutsv1alpha1.AnalysisArg{
		{Name: "service", Value: ptr.To("web")},
		{Name: "team", ValueFrom: &rolloutsv1alpha1.ArgSource{SecretKeyRef: &rolloutsv1alpha1.KeyRef{Name: "owner", Key: "team"}}},
	}
	deployHealthy(t, ro)

	// When a new revision rolls out, its looks judge the templates' metrics
	// (and not the defaults), with the arguments filled in.
	rev := newRevision(t, ro, "v2")
	got := waitFor(t, ro, func(st *rolloutsv1alpha1.RolloutStatus) error {
		if len(st.Measurements) == 0 {
			return fmt.Errorf("no measurement yet (phase %s: %s)", st.Phase, st.Message)
		}
		return nil
	})
	spec, ok := h.analyzer.lastSpec(ns, rev)
	if !ok {
		t.Fatalf("the analyzer was never asked: %+v", got.Status.Measurements)
	}
	var names []string
	for _, m := range spec.Metrics {
		names = append(names, m.Name)
	}
	if !slices.Equal(names, []string{"shared-errors", "queue-depth", "latency"}) {
		t.Fatalf("metrics %v, want the templates' shared-errors, queue-depth and latency only", names)
	}
	if m := spec.Metrics[2]; m.Builtin != "latencyP90" || m.Provider != "prometheus" ||
		m.Counts.Histogram != `sum by (le) (increase(web_seconds_bucket{rev="{{.Revision}}"}[{{.Window}}]))` {
		t.Errorf("counts metric %+v: want latencyP90 from prometheus, its histogram query filled in", m)
	}
	if q := spec.Metrics[1].Query; q != `max(max_over_time(queue_depth{service="web",team="payments",rev="{{.Revision}}"}[5m]))` {
		t.Errorf("query %s: want the arguments filled in and the template variables kept", q)
	}
	m := got.Status.Measurements[0]
	want := []string{"ClusterAnalysisTemplate/" + cluster.Name + "@1", "AnalysisTemplate/queue-depth@1"}
	if !slices.Equal(m.Templates, want) {
		t.Errorf("measurement templates %v, want %v", m.Templates, want)
	}
	waitFor(t, ro, healthyWith(rev))

	// When a referenced template is missing, the look is an Error naming it.
	update(t, ro, func(r *rolloutsv1alpha1.Rollout) {
		r.Spec.Analysis.Templates = append(r.Spec.Analysis.Templates, rolloutsv1alpha1.AnalysisTemplateRef{Name: "nope"})
	})
	newRevision(t, ro, "v3")
	errLook := waitFor(t, ro, func(st *rolloutsv1alpha1.RolloutStatus) error {
		for _, m := range st.Measurements {
			if m.Phase == "Error" && strings.Contains(m.Message, "spec.analysis.templates[2]: AnalysisTemplate nope not found in namespace "+ns) {
				return nil
			}
		}
		return fmt.Errorf("no Error look naming the missing template: %+v", st.Measurements)
	})
	if errLook.Status.Phase == rolloutsv1alpha1.PhaseHealthy {
		t.Error("promoted without its template")
	}

	// When a template defines a metric the Rollout defines too, the look is
	// an Error naming both.
	update(t, ro, func(r *rolloutsv1alpha1.Rollout) {
		r.Spec.Analysis.Templates = r.Spec.Analysis.Templates[:2]
		r.Spec.Analysis.Metrics = []rolloutsv1alpha1.Metric{{Name: "queue-depth", Builtin: "errorRate", Max: &max1}}
	})
	waitFor(t, ro, func(st *rolloutsv1alpha1.RolloutStatus) error {
		for _, m := range st.Measurements {
			if m.Phase == "Error" && strings.Contains(m.Message, `metric "queue-depth" is also defined by spec.analysis.metrics[0]`) {
				return nil
			}
		}
		return fmt.Errorf("no Error look naming the clash: %+v", st.Measurements)
	})
}
