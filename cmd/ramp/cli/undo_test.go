package cli

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rolloutsv1alpha1 "github.com/rampdev/ramp/apis/rollouts/v1alpha1"
	servingv1 "github.com/rampdev/ramp/apis/serving/v1"
)

// revisions creates web-00001.. with images v1.. (as the Configuration
// controller would, labels and template annotations included).
func (s *suite) revisions(t *testing.T, ns, name string, images ...string) {
	t.Helper()
	for i, img := range images {
		rev := &servingv1.Revision{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("%s-%05d", name, i+1),
			Labels:      map[string]string{servingv1.LabelConfiguration: name, servingv1.LabelConfigurationGen: fmt.Sprint(i + 1), "team": "shop"},
			Annotations: map[string]string{"autoscaling.ramp.dev/min-scale": "1"}},
			Spec: servingv1.RevisionSpec{Containers: []servingv1.Container{{Image: img}}}}
		if err := s.k8s.Create(context.Background(), rev); err != nil {
			t.Fatal(err)
		}
	}
}

func (s *suite) testUndo(t *testing.T) {
	ns := "undo"
	s.namespace(t, ns)
	template := func(t *testing.T, name string) servingv1.RevisionTemplateSpec {
		t.Helper()
		ro := &rolloutsv1alpha1.Rollout{}
		if err := s.k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, ro); err != nil {
			t.Fatal(err)
		}
		return ro.Spec.Template
	}
	healthyOn := func(name, stable, image string) *rolloutsv1alpha1.Rollout {
		b := makeRollout(ns, name).status(rolloutsv1alpha1.PhaseHealthy, nil, 0)
		b.ro.Spec.Template.Spec.Containers[0].Image = image
		ro := s.create(t, b)
		s.setStatus(t, ro, func(st *rolloutsv1alpha1.RolloutStatus) { st.StableRevision = stable })
		return ro
	}

	t.Run("back to the previous revision", func(t *testing.T) {
		s.revisions(t, ns, "web", "app:v1", "app:v2", "app:v3")
		healthyOn("web", "web-00003", "app:v3")
		r := s.run(t, "rollout", "undo", "web", "-n", ns)
		if r.err != nil || !strings.Contains(r.out, "Rollout web: template set to web-00002's") {
			t.Fatalf("error %v\n%s", r.err, r.out)
		}
		tpl := template(t, "web")
		if tpl.Spec.Containers[0].Image != "app:v2" || tpl.Metadata.Labels["team"] != "shop" || tpl.Metadata.Labels[servingv1.LabelConfiguration] != "" ||
			tpl.Metadata.Annotations["autoscaling.ramp.dev/min-scale"] != "1" {
			t.Errorf("template %+v", tpl)
		}
	})

	t.Run("to a revision by number", func(t *testing.T) {
		s.revisions(t, ns, "api", "api:v1", "api:v2", "api:v3")
		healthyOn("api", "api-00003", "api:v3")
		if r := s.run(t, "rollout", "undo", "api", "--to-revision", "1", "-n", ns); r.err != nil {
			t.Fatal(r.err)
		}
		if img := template(t, "api").Spec.Containers[0].Image; img != "api:v1" {
			t.Errorf("image %s, want api:v1", img)
		}
		if r := s.run(t, "rollout", "undo", "api", "--to-revision", "9", "-n", ns); r.err == nil ||
			!strings.Contains(r.err.Error(), "rollout api has no revision api-00009 (it has api-00001, api-00002, api-00003)") {
			t.Errorf("an unknown revision: %v", r.err)
		}
	})

	t.Run("nothing to go back to", func(t *testing.T) {
		s.revisions(t, ns, "one", "one:v1")
		healthyOn("one", "one-00001", "one:v1")
		if r := s.run(t, "rollout", "undo", "one", "-n", ns); r.err == nil || !strings.Contains(r.err.Error(), "no earlier revision to roll back to: rollout one has one-00001") {
			t.Errorf("undo with one revision: %v", r.err)
		}
		if r := s.run(t, "rollout", "undo", "one", "--to-revision", "one-00001", "-n", ns); r.err != nil || !strings.Contains(r.out, "nothing to roll back") {
			t.Errorf("undo to the current revision: %v\n%s", r.err, r.out)
		}
	})

	t.Run("--skip-analysis promotes once the rollout starts", func(t *testing.T) {
		s.revisions(t, ns, "fast", "fast:v1", "fast:v2")
		ro := healthyOn("fast", "fast-00002", "fast:v2")
		out, done := s.start(t, newRootCommand("ramp"), "rollout", "undo", "fast", "--skip-analysis", "-n", ns)
		waitFor(t, out, "template set to fast-00001's")
		time.Sleep(200 * time.Millisecond)
		cur := &rolloutsv1alpha1.Rollout{}
		if err := s.k8s.Get(context.Background(), client.ObjectKeyFromObject(ro), cur); err != nil {
			t.Fatal(err)
		}
		if cur.Annotations[rolloutsv1alpha1.AnnotationAction] != "" {
			t.Fatal("promote requested before the controller started the rollout")
		}
		// The controller starts the rollout of the new template.
		s.setStatus(t, ro, func(st *rolloutsv1alpha1.RolloutStatus) {
			st.ObservedGeneration, st.Phase, st.CanaryRevision = cur.Generation, rolloutsv1alpha1.PhaseProgressing, "fast-00003"
		})
		r := wait(t, done)
		if r.err != nil || !strings.Contains(r.out, "Requested promote of rollout fast") {
			t.Fatalf("error %v\n%s", r.err, r.out)
		}
		if err := s.k8s.Get(context.Background(), client.ObjectKeyFromObject(ro), cur); err != nil {
			t.Fatal(err)
		}
		if cur.Annotations[rolloutsv1alpha1.AnnotationAction] != rolloutsv1alpha1.ActionPromote {
			t.Errorf("annotations %v", cur.Annotations)
		}
	})
}
