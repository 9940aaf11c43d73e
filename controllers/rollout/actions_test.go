package rollout

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	"github.com/google/go-cmp/cmp"
	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slacktest"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"

	rolloutsv1alpha1 "github.com/rampdev/ramp/apis/rollouts/v1alpha1"
	"github.com/rampdev/ramp/controllers/notify"
)

// TestPendingActionRun checks an action against the run its Slack button
// was made for: generation 3 with canary r2 here.
func TestPendingActionRun(t *testing.T) {
	ro := func(run string, canary string) *rolloutsv1alpha1.Rollout {
		r := &rolloutsv1alpha1.Rollout{}
		r.Generation = 3
		r.Status.CanaryRevision = canary
		r.Annotations = map[string]string{
			rolloutsv1alpha1.AnnotationAction: "approve", rolloutsv1alpha1.AnnotationActionID: "approve-0123", rolloutsv1alpha1.AnnotationActionBy: "slack:U1",
		}
		if run != "-" {
			r.Annotations[AnnotationActionRun] = run
		}
		return r
	}
	cases := map[string]struct {
		ro        *rolloutsv1alpha1.Rollout
		wantStale string
	}{
		"no run: the CLI or kubectl":     {ro: ro("-", "r2")},
		"the current run":                {ro: ro("approve-0123/3/r2", "r2")},
		"made before the canary existed": {ro: ro("approve-0123/3/", "r2")},
		"an earlier generation": {ro: ro("approve-0123/2/r1", "r2"),
			wantStale: "the action was made for generation 2 of the rollout, which is now at generation 3"},
		"an earlier generation, before its canary existed": {ro: ro("approve-0123/2/", "r2"),
			wantStale: "the action was made for generation 2 of the rollout, which is now at generation 3"},
		"another canary": {ro: ro("approve-0123/3/r1", "r2"),
			wantStale: "the action was made for the rollout of r1, which is now rolling out r2"},
		"a rollout that has finished": {ro: ro("approve-0123/3/r2", ""),
			wantStale: "the action was made for the rollout of r2, which is now over"},
		// The CLI sets a new action and id but leaves the run of the
		// Slack action before.
		"the run of an earlier action": {ro: ro("abort-9/2/r1", "r2")},
		"a generation that is not a number": {ro: ro("approve-0123/three/r2", "r2"),
			wantStale: `annotation rollouts.ramp.dev/action-run is "approve-0123/three/r2": its generation "three" is not a positive number, so the action cannot be checked against this run of the rollout`},
		"no slashes": {ro: ro("approve-0123", "r2")},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			want := &Action{ID: "approve-0123", Name: "approve", By: "slack:U1", Stale: tc.wantStale}
			if diff := cmp.Diff(want, PendingAction(tc.ro)); diff != "" {
				t.Errorf("PendingAction (-want +got):\n%s", diff)
			}
		})
	}

	// An action ID with slashes still finds its run.
	r := ro("x/y/2/r2", "r2")
	r.Annotations[rolloutsv1alpha1.AnnotationActionID] = "x/y"
	if a := PendingAction(r); a == nil || !strings.Contains(a.Stale, "generation 2") {
		t.Errorf("PendingAction = %+v, want stale for generation 2", a)
	}
}

// TestSlackRunAnnotation: what the Slack actor writes is what the
// controller reads.
func TestSlackRunAnnotation(t *testing.T) {
	if AnnotationActionRun != notify.AnnotationActionRun {
		t.Fatalf("the controller reads %s, the Slack actor writes %s", AnnotationActionRun, notify.AnnotationActionRun)
	}
	ro := &rolloutsv1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Generation: 4, Annotations: map[string]string{
		rolloutsv1alpha1.AnnotationAction: "abort", rolloutsv1alpha1.AnnotationActionID: "abort-1",
	}}}
	ro.Status.CanaryRevision = "web-00003"
	for run, wantStale := range map[notify.Run]bool{
		{Generation: 4, CanaryRevision: "web-00003"}: false,
		{Generation: 4}: false,
		{Generation: 3, CanaryRevision: "web-00002"}: true,
		{Generation: 4, CanaryRevision: "web-00002"}: true,
	} {
		ro.Annotations[AnnotationActionRun] = notify.RunAnnotation("abort-1", run)
		if a := PendingAction(ro); a == nil || (a.Stale != "") != wantStale {
			t.Errorf("run %+v: PendingAction = %+v, want stale %v", run, a, wantStale)
		}
	}
}

// TestRunIgnoresStaleAction: at the approval gate, an approve made for
// another run is recorded as ignored and changes nothing else; the same
// approve for this run passes the gate.
func TestRunIgnoresStaleAction(t *testing.T) {
	spec := canarySpec()
	given := status(waiting("r1", "r2", -10*time.Minute), step(2, 20, -5*time.Minute), ready(-5*time.Minute), nextMeasurement(5*time.Second))
	obs := Observed{TemplateHash: "h2", Revision: revision("r2", true), Route: routeFor(spec, given)}
	const why = "the action was made for generation 2 of the rollout, which is now at generation 3"

	stale := Run(Input{Spec: spec, Status: given, Observed: obs, Now: t0, Action: &Action{ID: "a1", Name: "approve", By: "slack:U1", Stale: why}})
	want := given.DeepCopy()
	lastAction("a1", "approve", "ignored: "+why, 0)(want)
	want.LastAction.By = "slack:U1"
	if diff := cmp.Diff(*want, stale.Status); diff != "" {
		t.Errorf("status after a stale approve (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"ActionIgnored"}, reasons(stale.Events)); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	if !strings.Contains(stale.Events[0].Message, why) {
		t.Errorf("event %q does not say why", stale.Events[0].Message)
	}

	current := Run(Input{Spec: spec, Status: given, Observed: obs, Now: t0, Action: &Action{ID: "a1", Name: "approve"}})
	if got := current.Status.CurrentStepIndex; got == nil || *got != 3 {
		t.Errorf("an approve of this run left the rollout at step %v, want 3", got)
	}
}

// TestNotifyEventCarriesTheGeneration: the buttons of a notification name
// the generation it was sent for.
func TestNotifyEventCarriesTheGeneration(t *testing.T) {
	was := &rolloutsv1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web", Generation: 7}}
	was.Status.Phase = rolloutsv1alpha1.PhaseHealthy
	now := was.DeepCopy()
	now.Status.Phase, now.Status.CanaryRevision = rolloutsv1alpha1.PhaseProgressing, "web-00008"
	e, ok := notifyEvent(was, now, t0)
	if !ok || e.Generation != 7 || e.CanaryRevision != "web-00008" {
		t.Errorf("notifyEvent = %+v, %v; want generation 7, canary web-00008", e, ok)
	}
}

// TestSlackFailureIsLoggedNotFatal: when Slack refuses the notification
// (here a revoked token), the reconciler logs it and goes on.
func TestSlackFailureIsLoggedNotFatal(t *testing.T) {
	s := slacktest.NewTestServer(func(c slacktest.Customize) {
		c.Handle("/chat.postMessage", func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write([]byte(`{"ok":false,"error":"invalid_auth"}`))
		})
	})
	s.Start()
	t.Cleanup(s.Stop)
	r := &Reconciler{
		Notifier: notify.NewSlack(notify.Config{Token: "xoxb-revoked", DefaultChannel: "#deploys"}, slack.OptionAPIURL(s.GetAPIURL())),
		Clock:    clocktesting.NewFakePassiveClock(t0),
	}
	var lines []string
	ctx := ctrl.LoggerInto(context.Background(), funcr.New(func(prefix, args string) { lines = append(lines, args) }, funcr.Options{}))
	was := &rolloutsv1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web", Generation: 2}}
	was.Status.Phase = rolloutsv1alpha1.PhaseProgressing
	now := was.DeepCopy()
	now.Status.Phase = rolloutsv1alpha1.PhaseRolledBack

	done := make(chan struct{})
	go func() {
		defer close(done)
		r.notify(ctx, was, now)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("notify did not return: a Slack failure would hold up the reconcile")
	}

	if len(lines) != 1 || !strings.Contains(lines[0], `"msg"="Notification failed"`) || !strings.Contains(lines[0], "invalid_auth") ||
		!strings.Contains(lines[0], `"phase"="RolledBack"`) {
		t.Errorf("logged %q, want one Notification failed line with the phase and Slack's error", lines)
	}
}
