package rollout_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	rolloutsv1alpha1 "github.com/rampdev/ramp/apis/rollouts/v1alpha1"
	"github.com/rampdev/ramp/controllers/notify"
	"github.com/rampdev/ramp/controllers/rollout"
)

// actFor sets the action annotations as the Slack actor does for a button
// made for run.
func actFor(t *testing.T, ro *rolloutsv1alpha1.Rollout, action, id string, run notify.Run) {
	t.Helper()
	update(t, ro, func(r *rolloutsv1alpha1.Rollout) {
		if r.Annotations == nil {
			r.Annotations = map[string]string{}
		}
		r.Annotations[rolloutsv1alpha1.AnnotationAction] = action
		r.Annotations[rolloutsv1alpha1.AnnotationActionID] = id
		r.Annotations[rolloutsv1alpha1.AnnotationActionBy] = "slack:U1"
		r.Annotations[rollout.AnnotationActionRun] = notify.RunAnnotation(id, run)
	})
}

func testStaleAction(t *testing.T, h *harness) {
	// Given a Rollout waiting for approval of its second canary.
	ns := newNamespace(t)
	ro := MakeRollout(ns, "web", "v1").Steps("10", "approval", "100").AnalysisDisabled().Obj()
	deployHealthy(t, ro)
	first := newRevision(t, ro, "v2")
	gate := waitFor(t, ro, atStep(1, 10, rolloutsv1alpha1.ReasonWaitingForApproval))
	earlier := notify.Run{Generation: gate.Generation, CanaryRevision: first}

	// When its template changes again, and the approval of the earlier
	// canary reaches the Rollout (the Slack actor read it just before).
	update(t, ro, func(r *rolloutsv1alpha1.Rollout) { r.Spec.Template.Spec.Containers[0].Env[0].Value = "v3" })
	second := waitFor(t, ro, func(st *rolloutsv1alpha1.RolloutStatus) error {
		if st.CanaryRevision == first || st.CanaryRevision == "" {
			return fmt.Errorf("canary %q, want the revision of v3", st.CanaryRevision)
		}
		return nil
	}).Status.CanaryRevision
	markReady(t, ns, second)
	now := waitFor(t, ro, atStep(1, 10, rolloutsv1alpha1.ReasonWaitingForApproval))
	actFor(t, ro, "approve", "approve-earlier", earlier)

	// Then the controller ignores it: the new canary still waits.
	got := waitFor(t, ro, func(st *rolloutsv1alpha1.RolloutStatus) error {
		if st.LastAction == nil || st.LastAction.ID != "approve-earlier" {
			return fmt.Errorf("lastAction %+v, want approve-earlier handled", st.LastAction)
		}
		return nil
	})
	want := "ignored: the action was made for generation " + strconv.FormatInt(earlier.Generation, 10) +
		" of the rollout, which is now at generation " + strconv.FormatInt(now.Generation, 10)
	if got.Status.LastAction.Result != want {
		t.Errorf("lastAction.result = %q, want %q", got.Status.LastAction.Result, want)
	}
	if err := atStep(1, 10, rolloutsv1alpha1.ReasonWaitingForApproval)(&got.Status); err != nil {
		t.Errorf("after the stale approve: %v", err)
	}
	if n := count(h.events.reasons(ns, "web"), "ActionIgnored"); n != 1 {
		t.Errorf("%d ActionIgnored events, want 1", n)
	}

	// When the button of the current message is clicked.
	actFor(t, ro, "approve", "approve-now", notify.Run{Generation: now.Generation, CanaryRevision: second})

	// Then the new canary goes on to Healthy.
	done := waitFor(t, ro, healthyWith(second))
	if r := done.Status.LastAction; r == nil || r.ID != "approve-now" || !strings.HasPrefix(r.Result, "approved") {
		t.Errorf("lastAction = %+v, want approve-now approved", r)
	}
}
