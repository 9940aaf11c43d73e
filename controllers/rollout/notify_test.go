package rollout

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/rampdev/ramp/analysis"
	rolloutsv1alpha1 "github.com/rampdev/ramp/apis/rollouts/v1alpha1"
)

func TestNotifyEvent(t *testing.T) {
	now := time.Date(2026, 11, 22, 4, 0, 0, 0, time.UTC)
	spec := rolloutsv1alpha1.RolloutSpec{Strategy: rolloutsv1alpha1.Strategy{Canary: &rolloutsv1alpha1.CanaryStrategy{
		Steps: []rolloutsv1alpha1.CanaryStep{{Weight: ptr.To[int32](20)}, {Approval: &rolloutsv1alpha1.Approval{}}, {Weight: ptr.To[int32](100)}},
	}}}
	ro := func(phase rolloutsv1alpha1.Phase, step *int32) *rolloutsv1alpha1.Rollout {
		return &rolloutsv1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web"}, Spec: spec,
			Status: rolloutsv1alpha1.RolloutStatus{Phase: phase, CurrentStepIndex: step}}
	}
	cases := map[string]struct {
		from, to    *rolloutsv1alpha1.Rollout
		wantSent    bool
		wantActions []string
	}{
		"same phase and step: nothing": {from: ro("Progressing", ptr.To[int32](0)), to: ro("Progressing", ptr.To[int32](0))},
		"next weight step: nothing":    {from: ro("Progressing", ptr.To[int32](1)), to: ro("Progressing", ptr.To[int32](2))},
		"reaching the approval gate": {from: ro("Progressing", ptr.To[int32](0)), to: ro("Progressing", ptr.To[int32](1)),
			wantSent: true, wantActions: []string{"approve", "abort"}},
		"rolled back": {from: ro("Progressing", ptr.To[int32](0)), to: ro("RolledBack", nil),
			wantSent: true, wantActions: []string{"retry"}},
		"paused": {from: ro("Progressing", ptr.To[int32](0)), to: ro("Paused", ptr.To[int32](0)),
			wantSent: true, wantActions: []string{"approve", "retry", "abort"}},
		"healthy": {from: ro("Progressing", ptr.To[int32](2)), to: ro("Healthy", nil), wantSent: true},
		"a new canary starts": {from: ro("Healthy", nil), to: ro("Progressing", ptr.To[int32](0)),
			wantSent: true, wantActions: []string{"promote", "abort"}},
		// A rollback or an abort is notified once the traffic has moved.
		"rolling back: not yet":          {from: ro("Progressing", ptr.To[int32](0)), to: ro("RollingBack", ptr.To[int32](0))},
		"aborting: not yet":              {from: ro("Progressing", ptr.To[int32](1)), to: ro("Aborting", ptr.To[int32](1))},
		"paused, then aborting: not yet": {from: ro("Paused", ptr.To[int32](0)), to: ro("Aborting", ptr.To[int32](0))},
		"still rolling back: nothing":    {from: ro("RollingBack", ptr.To[int32](0)), to: ro("RollingBack", ptr.To[int32](0))},
		"the traffic moved: rolled back": {from: ro("RollingBack", ptr.To[int32](0)), to: ro("RolledBack", ptr.To[int32](0)),
			wantSent: true, wantActions: []string{"retry"}},
		"the traffic moved: aborted": {from: ro("Aborting", ptr.To[int32](1)), to: ro("Aborted", ptr.To[int32](1)),
			wantSent: true, wantActions: []string{"retry"}},
		"a new template while rolling back": {from: ro("RollingBack", ptr.To[int32](0)), to: ro("Progressing", nil),
			wantSent: true, wantActions: []string{"promote", "abort"}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			e, sent := notifyEvent(tc.from, tc.to, now)
			if sent != tc.wantSent {
				t.Fatalf("sent = %v, want %v", sent, tc.wantSent)
			}
			if !sent {
				return
			}
			if d := cmp.Diff(tc.wantActions, e.Actions); d != "" {
				t.Errorf("actions (-want +got):\n%s", d)
			}
			wantPrevious := tc.from.Status.Phase
			if wantPrevious.Transitional() {
				wantPrevious = "" // never announced
			}
			if e.Phase != string(tc.to.Status.Phase) || e.PreviousPhase != string(wantPrevious) || e.Steps != 3 {
				t.Errorf("event %+v", e)
			}
		})
	}
}

// TestNotifyRollbackOnceTheTrafficMoved plans a rollback round by round,
// as the controller does, and asks notifyEvent after each round: nothing
// while the status says RollingBack, then one RolledBack notification, in
// the round where the Route serves the stable alone, with the evidence of
// the failed look; nothing after.
func TestNotifyRollbackOnceTheTrafficMoved(t *testing.T) {
	spec := canarySpec()
	ro := &rolloutsv1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web"}, Spec: *spec,
		Status: *status(waiting("r1", "r2", -time.Hour), step(3, 50, -time.Minute), ready(-time.Minute), nextMeasurement(0))}
	split := routeFor(spec, &ro.Status)
	rounds := []struct {
		route  func(st *rolloutsv1alpha1.RolloutStatus) RouteState
		report *analysis.Report
	}{
		{route: func(*rolloutsv1alpha1.RolloutStatus) RouteState { return split }, report: sequentialReport(analysis.Fail, regressionMsg)},
		{route: func(*rolloutsv1alpha1.RolloutStatus) RouteState { return split }},
		{route: func(st *rolloutsv1alpha1.RolloutStatus) RouteState {
			r := routeFor(spec, st)
			r.Ready = false
			return r
		}},
		{route: func(st *rolloutsv1alpha1.RolloutStatus) RouteState { return routeFor(spec, st) }},
		{route: func(st *rolloutsv1alpha1.RolloutStatus) RouteState { return routeFor(spec, st) }},
	}
	var sent []string // "round: phase"
	for i, r := range rounds {
		now := t0.Add(time.Duration(i) * time.Second)
		obs := Observed{TemplateHash: "h2", Revision: revision("r2", true), Route: r.route(&ro.Status)}
		plan := Run(Input{Spec: spec, Status: &ro.Status, Observed: obs, Report: r.report, Now: now})
		next := ro.DeepCopy()
		next.Status = plan.Status
		SetConditions(spec, &next.Status, obs, now)
		if e, ok := notifyEvent(ro, next, now); ok {
			sent = append(sent, fmt.Sprintf("%d: %s", i, e.Phase))
			want := "Rolled back to r1: at step 4/5 (weight 50%): " + regressionMsg
			if e.Message != want || e.PreviousPhase != "" || e.StableRevision != "r1" || e.CanaryWeight != 0 {
				t.Errorf("round %d: notification %+v, want %q without the unannounced RollingBack as its previous phase, weight 0", i, e, want)
			}
			if diff := cmp.Diff([]string{regressionMsg}, e.Evidence); diff != "" {
				t.Errorf("round %d: evidence lines (-want +got):\n%s", i, diff)
			}
			if diff := cmp.Diff([]string{"retry"}, e.Actions); diff != "" {
				t.Errorf("round %d: actions (-want +got):\n%s", i, diff)
			}
		}
		ro = next
	}
	if diff := cmp.Diff([]string{"3: RolledBack"}, sent); diff != "" {
		t.Errorf("notifications by round (-want +got):\n%s", diff)
	}
}

// The Slack evidence says which metrics are dry runs and which templates
// judged the look.
func TestNotifyEvidenceNamesDryRunsAndTemplates(t *testing.T) {
	ro := &rolloutsv1alpha1.Rollout{Spec: *canarySpec()}
	ro.Status = *status(waiting("r1", "r2", -time.Minute), step(1, 20, -time.Minute))
	next := ro.DeepCopy()
	next.Status.Phase = rolloutsv1alpha1.PhasePaused
	next.Status.Message = "Paused"
	next.Status.Measurements = []rolloutsv1alpha1.Measurement{{Time: metav1.NewTime(t0), Phase: "Pass", Metrics: []rolloutsv1alpha1.MetricResult{
		{Name: "error-rate", Phase: "Pass", Message: "error-rate: within"},
		{Name: "queue-depth", Phase: "Fail", Message: "queue-depth: 9 > max 5", DryRun: true},
	}, Templates: []string{"ClusterAnalysisTemplate/queues@3"}}}
	e, ok := notifyEvent(ro, next, t0)
	if !ok {
		t.Fatal("no notification for Paused")
	}
	want := []string{"error-rate: within", "(dry run, does not decide) queue-depth: 9 > max 5", "judged with ClusterAnalysisTemplate/queues@3"}
	if diff := cmp.Diff(want, e.Evidence); diff != "" {
		t.Errorf("evidence (-want +got):\n%s", diff)
	}
}
