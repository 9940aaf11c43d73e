package rollout_test

import (
	"fmt"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"

	rolloutsv1alpha1 "github.com/rampdev/ramp/apis/rollouts/v1alpha1"
)

// testSharedTemplate: one ClusterAnalysisTemplate judges Rollouts of two
// namespaces, and an edit during a rollout affects the next look only:
// looks taken before it keep the generation they were judged with.
func testSharedTemplate(t *testing.T, h *harness) {
	base := newNamespace(t)
	max1 := rolloutsv1alpha1.Threshold("1%")
	shared := &rolloutsv1alpha1.ClusterAnalysisTemplate{ObjectMeta: metav1.ObjectMeta{Name: base},
		Spec: rolloutsv1alpha1.AnalysisTemplateSpec{Metrics: []rolloutsv1alpha1.Metric{{Name: "shared-errors", Builtin: "errorRate", Max: &max1}}}}
	must(t, k8s.Create(ctx, shared))
	t.Cleanup(func() { _ = k8s.Delete(ctx, shared) })
	uses := func(ro *rolloutsv1alpha1.Rollout) *rolloutsv1alpha1.Rollout {
		ro.Spec.Analysis.Metrics = nil
		ro.Spec.Analysis.Templates = []rolloutsv1alpha1.AnalysisTemplateRef{{Name: shared.Name, ClusterScope: true}}
		return ro
	}
	id := func(gen int64) string { return fmt.Sprintf("ClusterAnalysisTemplate/%s@%d", shared.Name, gen) }

	// Given Rollouts in two namespaces that use the template, each pausing
	// after its first step so that it is looked at for a while.
	var ros []*rolloutsv1alpha1.Rollout
	for _, suffix := range []string{"one", "two"} {
		ns := base + "-" + suffix
		must(t, k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))
		ro := uses(MakeRollout(ns, "web", "v1").Steps("20", "pause=30s", "100").Analysis().Obj())
		deployHealthy(t, ro)
		newRevision(t, ro, "v2")
		ros = append(ros, ro)
	}
	// Then both are judged with generation 1.
	for _, ro := range ros {
		waitFor(t, ro, func(st *rolloutsv1alpha1.RolloutStatus) error {
			for _, m := range st.Measurements {
				if slices.Equal(m.Templates, []string{id(1)}) {
					return nil
				}
			}
			return fmt.Errorf("no look judged with %s yet: %+v", id(1), st.Measurements)
		})
	}

	// When the template is edited mid-rollout,
	must(t, retry.RetryOnConflict(retry.DefaultRetry, func() error {
		got := &rolloutsv1alpha1.ClusterAnalysisTemplate{}
		if err := k8s.Get(ctx, types.NamespacedName{Name: shared.Name}, got); err != nil {
			return err
		}
		two := rolloutsv1alpha1.Threshold("2%")
		got.Spec.Metrics[0].Max = &two
		return k8s.Update(ctx, got)
	}))
	// then the next looks of both use generation 2, and the earlier looks
	// still say they were judged with generation 1.
	for _, ro := range ros {
		waitFor(t, ro, func(st *rolloutsv1alpha1.RolloutStatus) error {
			var before, after bool
			for _, m := range st.Measurements {
				before = before || slices.Equal(m.Templates, []string{id(1)})
				after = after || slices.Equal(m.Templates, []string{id(2)})
			}
			if !before || !after {
				return fmt.Errorf("looks with %s: %v, with %s: %v; want both: %+v", id(1), before, id(2), after, st.Measurements)
			}
			return nil
		})
		spec, ok := h.analyzer.lastSpec(ro.Namespace, mustCanary(t, ro))
		if !ok || len(spec.Metrics) != 1 || spec.Metrics[0].Max == nil || *spec.Metrics[0].Max != 0.02 {
			t.Errorf("%s: the last look's metrics %+v, want the edited max 2%%", ro.Namespace, spec.Metrics)
		}
	}
}

func mustCanary(t *testing.T, ro *rolloutsv1alpha1.Rollout) string {
	t.Helper()
	got, err := getRollout(ro)
	must(t, err)
	return got.Status.CanaryRevision
}
