package rollout

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/rampdev/ramp/analysis"
	rolloutsv1alpha1 "github.com/rampdev/ramp/apis/rollouts/v1alpha1"
)

// cond is a condition's status, reason and message.
type cond struct {
	Status          metav1.ConditionStatus
	Reason, Message string
}

func TestSetConditions(t *testing.T) {
	base := func(ms ...stMutator) *rolloutsv1alpha1.RolloutStatus {
		return status(append([]stMutator{waiting("r1", "r2", -time.Minute)}, ms...)...)
	}
	const gathering = "At step 4/5 (weight 50%) of r2: gathering evidence of non-regression "
	cases := map[string]struct {
		spec         *rolloutsv1alpha1.RolloutSpec
		st           *rolloutsv1alpha1.RolloutStatus
		obs          Observed
		wantReady    cond
		wantProgress cond
		wantAnalysis cond
	}{
		"healthy with analysis disabled": {
			spec:         canarySpec(analysisDisabled),
			st:           status(healthy("r1")),
			wantReady:    cond{metav1.ConditionTrue, "Healthy", "Revision r1 has all the traffic"},
			wantProgress: cond{metav1.ConditionFalse, "Completed", "Revision r1 has all the traffic"},
			wantAnalysis: cond{metav1.ConditionTrue, "NotConfigured", "Analysis disabled: steps pass once the gateway applies their traffic"},
		},
		"analysis disabled: a weight step waits for nothing but the gateway": {
			spec:         canarySpec(analysisDisabled),
			st:           base(step(3, 50, 0), ready(0)),
			wantReady:    cond{metav1.ConditionUnknown, "Measuring", "At step 4/5 (weight 50%) of r2"},
			wantProgress: cond{metav1.ConditionTrue, "Measuring", "At step 4/5 (weight 50%) of r2"},
			wantAnalysis: cond{metav1.ConditionTrue, "NotConfigured", "Analysis disabled: steps pass once the gateway applies their traffic"},
		},
		"waiting for the revision": {
			st:           base(),
			obs:          Observed{Revision: RevisionState{Name: "r2", Message: "Waiting for the deployment"}},
			wantReady:    cond{metav1.ConditionUnknown, "WaitingForRevision", "Waiting for revision r2 to become ready: Waiting for the deployment"},
			wantProgress: cond{metav1.ConditionTrue, "WaitingForRevision", "Waiting for revision r2 to become ready: Waiting for the deployment"},
			wantAnalysis: cond{metav1.ConditionUnknown, "NoMeasurement", "No measurement yet"},
		},
		"first revision past the deadline": {
			st:           status(waiting("", "r1", -11*time.Minute)),
			obs:          Observed{Revision: RevisionState{Name: "r1", Message: "Unable to fetch image"}},
			wantReady:    cond{metav1.ConditionFalse, "ProgressDeadlineExceeded", "Waiting for revision r1 to become ready: Unable to fetch image (progress deadline 10m0s exceeded; there is no stable revision to roll back to)"},
			wantProgress: cond{metav1.ConditionFalse, "ProgressDeadlineExceeded", "Waiting for revision r1 to become ready: Unable to fetch image (progress deadline 10m0s exceeded; there is no stable revision to roll back to)"},
			wantAnalysis: cond{metav1.ConditionUnknown, "NoMeasurement", "No measurement yet"},
		},
		"waiting for the gateway": {
			st:           base(step(0, 5, 0)),
			obs:          Observed{Route: RouteState{Message: "Routing table abc is not on every gateway replica"}},
			wantReady:    cond{metav1.ConditionUnknown, "WaitingForTraffic", "Started step 1/5 (weight 5%) of r2: waiting for the gateway to apply 5%: Routing table abc is not on every gateway replica"},
			wantProgress: cond{metav1.ConditionTrue, "WaitingForTraffic", "Started step 1/5 (weight 5%) of r2: waiting for the gateway to apply 5%: Routing table abc is not on every gateway replica"},
			wantAnalysis: cond{metav1.ConditionUnknown, "NoMeasurement", "No measurement yet"},
		},
		"measuring after a pass, before the minimum step time": {
			st:           base(step(3, 50, -20*time.Second), ready(-12*time.Second), measurements(measured(0, analysis.Pass, 3, "all 1 metrics passed"))),
			wantReady:    cond{metav1.ConditionUnknown, "Measuring", gathering + "(12s of at least 30s, at most 10m0s, then rollback): all 1 metrics passed"},
			wantProgress: cond{metav1.ConditionTrue, "Measuring", gathering + "(12s of at least 30s, at most 10m0s, then rollback): all 1 metrics passed"},
			wantAnalysis: cond{metav1.ConditionTrue, "Passed", "all 1 metrics passed"},
		},
		"measuring, no measurement yet, the Rollout's step times": {
			spec:         canarySpec(stepTimes(0, 3*time.Minute, "pause")),
			st:           base(step(3, 50, 0), ready(0)),
			wantReady:    cond{metav1.ConditionUnknown, "Measuring", gathering + "(0s of at least 0s, at most 3m0s, then pause)"},
			wantProgress: cond{metav1.ConditionTrue, "Measuring", gathering + "(0s of at least 0s, at most 3m0s, then pause)"},
			wantAnalysis: cond{metav1.ConditionUnknown, "NoMeasurement", "No measurement yet"},
		},
		"measuring without evidence yet": {
			st:           base(step(3, 50, -5*time.Minute), ready(-4*time.Minute), measurements(measured(0, analysis.Inconclusive, 3, "error-rate: no verdict yet"))),
			wantReady:    cond{metav1.ConditionUnknown, "Measuring", gathering + "(4m0s of at least 30s, at most 10m0s, then rollback): error-rate: no verdict yet"},
			wantProgress: cond{metav1.ConditionTrue, "Measuring", gathering + "(4m0s of at least 30s, at most 10m0s, then rollback): error-rate: no verdict yet"},
			wantAnalysis: cond{metav1.ConditionUnknown, "Inconclusive", "Inconclusive: error-rate: no verdict yet"},
		},
		"paused step after a failure": {
			st:           base(step(1, 20, 0), ready(0), pauseUntil(2*time.Minute), measurements(measured(0, analysis.Fail, 1, failMsg))),
			wantReady:    cond{metav1.ConditionUnknown, "StepPaused", "At step 2/5 (weight 20%, then pause 2m0s) of r2: paused until 2026-03-01T12:02:00Z"},
			wantProgress: cond{metav1.ConditionTrue, "StepPaused", "At step 2/5 (weight 20%, then pause 2m0s) of r2: paused until 2026-03-01T12:02:00Z"},
			wantAnalysis: cond{metav1.ConditionFalse, "Failed", failMsg},
		},
		"waiting for approval": {
			st:           base(step(2, 20, 0), ready(0), measurements(measured(0, analysis.Error, 2, "down"))),
			wantReady:    cond{metav1.ConditionUnknown, "WaitingForApproval", "At step 3/5 (approval) of r2: waiting for an approve action (annotation rollouts.ramp.dev/action: approve)"},
			wantProgress: cond{metav1.ConditionTrue, "WaitingForApproval", "At step 3/5 (approval) of r2: waiting for an approve action (annotation rollouts.ramp.dev/action: approve)"},
			wantAnalysis: cond{metav1.ConditionUnknown, "Inconclusive", "Error: down"},
		},
		"promoting": {
			st:           base(step(5, 100, 0)),
			wantReady:    cond{metav1.ConditionUnknown, "Promoting", "Promoting r2 to 100%: waiting for the gateway"},
			wantProgress: cond{metav1.ConditionTrue, "Promoting", "Promoting r2 to 100%: waiting for the gateway"},
			wantAnalysis: cond{metav1.ConditionUnknown, "NoMeasurement", "No measurement yet"},
		},
		"blue/green preview": {
			spec:         canarySpec(blueGreen(5 * time.Minute)),
			st:           base(step(0, 0, 0), ready(0)),
			wantReady:    cond{metav1.ConditionUnknown, "WaitingForPromotion", "Previewing r2 at tag preview: promoting automatically from 2026-03-01T12:05:00Z if the analysis passes"},
			wantProgress: cond{metav1.ConditionTrue, "WaitingForPromotion", "Previewing r2 at tag preview: promoting automatically from 2026-03-01T12:05:00Z if the analysis passes"},
			wantAnalysis: cond{metav1.ConditionUnknown, "NoMeasurement", "No measurement yet"},
		},
		"paused": {
			st:           base(step(3, 50, 0), ready(0), phase(rolloutsv1alpha1.PhasePaused, "Paused at step 4/5")),
			wantReady:    cond{metav1.ConditionUnknown, "Paused", "Paused at step 4/5"},
			wantProgress: cond{metav1.ConditionFalse, "Paused", "Paused at step 4/5"},
			wantAnalysis: cond{metav1.ConditionUnknown, "NoMeasurement", "No measurement yet"},
		},
		"rolled back": {
			st:           base(step(3, 0, 0), phase(rolloutsv1alpha1.PhaseRolledBack, "Rolled back to r1: "+failMsg), measurements(measured(0, analysis.Fail, 3, failMsg))),
			wantReady:    cond{metav1.ConditionFalse, "RolledBack", "Rolled back to r1: " + failMsg},
			wantProgress: cond{metav1.ConditionFalse, "RolledBack", "Rolled back to r1: " + failMsg},
			wantAnalysis: cond{metav1.ConditionFalse, "Failed", failMsg},
		},
		"rolling back: waiting for the gateway": {
			st:           base(step(3, 0, 0), rollingBack("Rolling back to r1: "+failMsg), measurements(measured(0, analysis.Fail, 3, failMsg))),
			wantReady:    cond{metav1.ConditionFalse, "RollingBack", "Rolling back to r1: " + failMsg},
			wantProgress: cond{metav1.ConditionTrue, "RollingBack", "Rolling back to r1: " + failMsg + "; waiting for the gateway to send all the traffic to r1"},
			wantAnalysis: cond{metav1.ConditionFalse, "Failed", failMsg},
		},
		"rolling back: the Route says why it is not Ready": {
			st:           base(step(3, 0, 0), rollingBack("Rolling back to r1: "+failMsg)),
			obs:          Observed{Route: RouteState{Message: "Routing table abc is not on every gateway replica"}},
			wantReady:    cond{metav1.ConditionFalse, "RollingBack", "Rolling back to r1: " + failMsg},
			wantProgress: cond{metav1.ConditionTrue, "RollingBack", "Rolling back to r1: " + failMsg + "; waiting for the gateway to send all the traffic to r1: Routing table abc is not on every gateway replica"},
			wantAnalysis: cond{metav1.ConditionUnknown, "NoMeasurement", "No measurement yet"},
		},
		"rolling back: a Ready Route's message is not repeated": {
			st:           base(step(3, 0, 0), rollingBack("Rolling back to r1: "+failMsg)),
			obs:          Observed{Route: RouteState{Ready: true, Message: "stale"}},
			wantReady:    cond{metav1.ConditionFalse, "RollingBack", "Rolling back to r1: " + failMsg},
			wantProgress: cond{metav1.ConditionTrue, "RollingBack", "Rolling back to r1: " + failMsg + "; waiting for the gateway to send all the traffic to r1"},
			wantAnalysis: cond{metav1.ConditionUnknown, "NoMeasurement", "No measurement yet"},
		},
		"aborting: waiting for the gateway": {
			st:           base(step(3, 0, 0), aborting("Aborting at step 4/5 (weight 50%): all traffic back to r1")),
			wantReady:    cond{metav1.ConditionFalse, "Aborting", "Aborting at step 4/5 (weight 50%): all traffic back to r1"},
			wantProgress: cond{metav1.ConditionTrue, "Aborting", "Aborting at step 4/5 (weight 50%): all traffic back to r1; waiting for the gateway to send all the traffic to r1"},
			wantAnalysis: cond{metav1.ConditionUnknown, "NoMeasurement", "No measurement yet"},
		},
		"aborted": {
			st:           base(step(3, 0, 0), phase(rolloutsv1alpha1.PhaseAborted, "Aborted at step 4/5")),
			wantReady:    cond{metav1.ConditionFalse, "Aborted", "Aborted at step 4/5"},
			wantProgress: cond{metav1.ConditionFalse, "Aborted", "Aborted at step 4/5"},
			wantAnalysis: cond{metav1.ConditionUnknown, "NoMeasurement", "No measurement yet"},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			spec := tc.spec
			if spec == nil {
				spec = canarySpec()
			}
			SetConditions(spec, tc.st, tc.obs, t0)
			get := func(typ string) cond {
				c := tc.st.GetCondition(typ)
				if c == nil {
					return cond{}
				}
				return cond{c.Status, c.Reason, c.Message}
			}
			for typ, want := range map[string]cond{"Ready": tc.wantReady, "Progressing": tc.wantProgress, "Analysis": tc.wantAnalysis} {
				if diff := cmp.Diff(want, get(typ)); diff != "" {
					t.Errorf("%s (-want +got):\n%s", typ, diff)
				}
			}
		})
	}
}

func TestActionCondition(t *testing.T) {
	cases := map[string]struct {
		last *rolloutsv1alpha1.ActionRecord
		want *cond
	}{
		"no action": {},
		"applied": {last: &rolloutsv1alpha1.ActionRecord{ID: "a1", Action: "approve", Result: "approved step 3/5 (approval)"},
			want: &cond{metav1.ConditionTrue, "Applied", `approve (id "a1"): approved step 3/5 (approval)`}},
		"ignored": {last: &rolloutsv1alpha1.ActionRecord{ID: "a2", Action: "abort", Result: "ignored: nothing to abort, the rollout is Healthy"},
			want: &cond{metav1.ConditionFalse, "Ignored", `abort (id "a2"): ignored: nothing to abort, the rollout is Healthy`}},
		"rejected": {last: &rolloutsv1alpha1.ActionRecord{ID: "a3", Action: "deploy", Result: `rejected: unknown action "deploy"`},
			want: &cond{metav1.ConditionFalse, "Rejected", `deploy (id "a3"): rejected: unknown action "deploy"`}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			st := status(healthy("r1"))
			st.LastAction = tc.last
			SetConditions(canarySpec(), st, Observed{}, t0)
			var got *cond
			if c := st.GetCondition(rolloutsv1alpha1.ConditionAction); c != nil {
				got = &cond{c.Status, c.Reason, c.Message}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Action condition (-want +got):\n%s", diff)
			}
			if r := st.GetCondition(rolloutsv1alpha1.ConditionReady); r == nil || r.Status != metav1.ConditionTrue {
				t.Errorf("Ready = %+v, want True whatever the action", r)
			}
		})
	}
}
