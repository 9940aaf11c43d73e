package cli

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rolloutsv1alpha1 "github.com/rampdev/ramp/apis/rollouts/v1alpha1"
)

// fakeController records, as the controller would, each new action on
// the Rollout in status.lastAction with result(action) until ctx ends.
func (s *suite) fakeController(ctx context.Context, t *testing.T, ro *rolloutsv1alpha1.Rollout, result func(action string) string) {
	t.Helper()
	ro = ro.DeepCopy()
	done := make(chan struct{})
	t.Cleanup(func() { <-done })
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			time.Sleep(20 * time.Millisecond)
			cur := &rolloutsv1alpha1.Rollout{}
			if err := s.k8s.Get(ctx, client.ObjectKeyFromObject(ro), cur); err != nil {
				continue
			}
			id := cur.Annotations[rolloutsv1alpha1.AnnotationActionID]
			if id == "" || (cur.Status.LastAction != nil && cur.Status.LastAction.ID == id) {
				continue
			}
			action, by := cur.Annotations[rolloutsv1alpha1.AnnotationAction], cur.Annotations[rolloutsv1alpha1.AnnotationActionBy]
			if err := s.updateStatus(cur, func(st *rolloutsv1alpha1.RolloutStatus) {
				st.LastAction = &rolloutsv1alpha1.ActionRecord{ID: id, Action: action, By: by, Time: metav1.Now(), Result: result(action)}
			}); err != nil && ctx.Err() == nil {
				t.Errorf("recording the action: %v", err)
			}
		}
	}()
}

func (s *suite) testActions(t *testing.T) {
	ns := "actions"
	s.namespace(t, ns)
	applied := func(action string) string { return action + "d (test controller)" }

	for _, action := range []string{"promote", "abort", "retry", "approve"} {
		t.Run(action+" waits for the controller's result", func(t *testing.T) {
			// Given a rollout and a controller that applies every action
			ro := s.create(t, makeRollout(ns, action).status(rolloutsv1alpha1.PhaseProgressing, step(0), 20))
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			s.fakeController(ctx, t, ro, applied)

			// When the action is asked for
			r := s.run(t, "rollout", action, action, "-n", ns)

			// Then the annotations name it, and the result is printed
			if r.err != nil {
				t.Fatalf("error: %v", r.err)
			}
			got := &rolloutsv1alpha1.Rollout{}
			if err := s.k8s.Get(ctx, client.ObjectKeyFromObject(ro), got); err != nil {
				t.Fatal(err)
			}
			a := got.Annotations
			if a[rolloutsv1alpha1.AnnotationAction] != action || a[rolloutsv1alpha1.AnnotationActionBy] != testUser || len(a[rolloutsv1alpha1.AnnotationActionID]) != 16 {
				t.Errorf("annotations %v, want action %s by %s with a 16-character id", a, action, testUser)
			}
			wantContains(t, "output", r.out,
				"Requested "+action+" of rollout "+action+" in namespace actions (id "+a[rolloutsv1alpha1.AnnotationActionID]+", by alice)\n",
				"Rollout "+action+": "+action+"d (test controller)\n")
		})
	}

	t.Run("each action gets a fresh id", func(t *testing.T) {
		ro := s.create(t, makeRollout(ns, "twice").status(rolloutsv1alpha1.PhasePaused, step(1), 50))
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		s.fakeController(ctx, t, ro, applied)
		ids := map[string]bool{}
		for range 2 {
			if r := s.run(t, "rollout", "approve", "twice", "-n", ns); r.err != nil {
				t.Fatal(r.err)
			}
			got := &rolloutsv1alpha1.Rollout{}
			if err := s.k8s.Get(ctx, client.ObjectKeyFromObject(ro), got); err != nil {
				t.Fatal(err)
			}
			ids[got.Status.LastAction.ID] = true
		}
		if len(ids) != 2 {
			t.Errorf("ids %v, want two different ones", ids)
		}
	})

	t.Run("an ignored action fails with the controller's reason", func(t *testing.T) {
		ro := s.create(t, makeRollout(ns, "done").status(rolloutsv1alpha1.PhaseHealthy, nil, 0))
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		s.fakeController(ctx, t, ro, func(string) string { return "ignored: nothing to promote, the rollout is Healthy" })
		r := s.run(t, "rollout", "promote", "done", "-n", ns)
		if !errors.Is(r.err, errActionNotApplied) || r.code != 1 ||
			!strings.HasSuffix(r.err.Error(), "promote to rollout done: ignored: nothing to promote, the rollout is Healthy") {
			t.Errorf("got exit code %d, error %v", r.code, r.err)
		}
	})

	t.Run("without a controller the wait times out with a hint", func(t *testing.T) {
		s.create(t, makeRollout(ns, "orphan").status(rolloutsv1alpha1.PhaseProgressing, step(0), 20))
		r := s.run(t, "rollout", "abort", "orphan", "-n", ns, "--wait", "1s")
		if !errors.Is(r.err, errActionTimeout) || !strings.Contains(r.err.Error(), "it may not be running") {
			t.Errorf("got %v", r.err)
		}
	})

	t.Run("--wait=0 only sets the annotations", func(t *testing.T) {
		ro := s.create(t, makeRollout(ns, "nowait").status(rolloutsv1alpha1.PhaseProgressing, step(0), 20))
		start := time.Now()
		r := s.run(t, "rollout", "retry", "nowait", "-n", ns, "--wait=0")
		if r.err != nil || time.Since(start) > 10*time.Second {
			t.Fatalf("error %v after %s", r.err, time.Since(start))
		}
		got := &rolloutsv1alpha1.Rollout{}
		if err := s.k8s.Get(context.Background(), client.ObjectKeyFromObject(ro), got); err != nil {
			t.Fatal(err)
		}
		if got.Annotations[rolloutsv1alpha1.AnnotationAction] != "retry" {
			t.Errorf("annotations %v", got.Annotations)
		}
		wantContains(t, "output", r.out, "Requested retry of rollout nowait")
	})

	t.Run("a missing rollout names the namespace", func(t *testing.T) {
		r := s.run(t, "rollout", "promote", "nope", "-n", ns)
		if !errors.Is(r.err, errRolloutNotFound) || !strings.Contains(r.err.Error(), `there is no Rollout "nope" in namespace "actions"`) {
			t.Errorf("got %v", r.err)
		}
	})
}

func TestActorFallsBackToUser(t *testing.T) {
	t.Setenv("USER", "carol")
	if got := (&kube{user: "alice"}).actor(); got != "alice" {
		t.Errorf("with a kubeconfig user: got %q", got)
	}
	if got := (&kube{}).actor(); got != "carol" {
		t.Errorf("without: got %q, want $USER", got)
	}
}
