package rollout_test

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"

	"github.com/rampdev/ramp/analysis"
	rolloutsv1alpha1 "github.com/rampdev/ramp/apis/rollouts/v1alpha1"
	servingv1 "github.com/rampdev/ramp/apis/serving/v1"
	"github.com/rampdev/ramp/controllers/rollout/resources"
)

const failMsg = "error-rate: canary 5.20% > max 1.00% (stable 0.10%)"

// RolloutBuilder builds test Rollouts.
type RolloutBuilder struct{ ro *rolloutsv1alpha1.Rollout }

// MakeRollout starts a Rollout running the sample app at version.
func MakeRollout(ns, name, version string) *RolloutBuilder {
	return &RolloutBuilder{ro: &rolloutsv1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: rolloutsv1alpha1.RolloutSpec{
			Template: servingv1.RevisionTemplateSpec{Spec: servingv1.RevisionSpec{Containers: []servingv1.Container{{
				Image: "ramp/sampleapp:test", Env: []corev1.EnvVar{{Name: "VERSION", Value: version}},
			}}}},
		},
	}}
}

// Steps sets canary steps: a number is a weight, "pause=<d>" pauses the
// previous weight step, "approval" is an approval step.
func (b *RolloutBuilder) Steps(steps ...string) *RolloutBuilder {
	c := &rolloutsv1alpha1.CanaryStrategy{}
	for _, s := range steps {
		switch {
		case s == "approval":
			c.Steps = append(c.Steps, rolloutsv1alpha1.CanaryStep{Approval: &rolloutsv1alpha1.Approval{}})
		case strings.HasPrefix(s, "pause="):
			d, _ := time.ParseDuration(strings.TrimPrefix(s, "pause="))
			c.Steps[len(c.Steps)-1].Pause = &metav1.Duration{Duration: d}
		default:
			var w int32
			_, _ = fmt.Sscan(s, &w)
			c.Steps = append(c.Steps, rolloutsv1alpha1.CanaryStep{Weight: ptr.To(w)})
		}
	}
	b.ro.Spec.Strategy.Canary = c
	return b
}

// Analysis measures error-rate every second, with no minimum step time:
// a weight step passes at its first passing look.
func (b *RolloutBuilder) Analysis() *RolloutBuilder {
	max1 := rolloutsv1alpha1.Threshold("1%")
	b.ro.Spec.Analysis = &rolloutsv1alpha1.Analysis{
		Interval: &metav1.Duration{Duration: time.Second}, Window: &metav1.Duration{Duration: time.Second},
		MinStepTime: &metav1.Duration{Duration: 0},
		Metrics:     []rolloutsv1alpha1.Metric{{Name: "error-rate", Builtin: "errorRate", Max: &max1}},
	}
	return b
}

// AnalysisDisabled turns analysis off: steps pass once the gateway
// applies their traffic.
func (b *RolloutBuilder) AnalysisDisabled() *RolloutBuilder {
	b.ro.Spec.Analysis = &rolloutsv1alpha1.Analysis{Disabled: true}
	return b
}

// BlueGreen previews new revisions at tag, promoting them after
// autoPromote (never automatically when 0).
func (b *RolloutBuilder) BlueGreen(tag string, autoPromote time.Duration) *RolloutBuilder {
	bg := &rolloutsv1alpha1.BlueGreenStrategy{PreviewTag: tag}
	if autoPromote > 0 {
		bg.AutoPromoteAfter = &metav1.Duration{Duration: autoPromote}
	}
	b.ro.Spec.Strategy = rolloutsv1alpha1.Strategy{BlueGreen: bg}
	return b
}

func (b *RolloutBuilder) Obj() *rolloutsv1alpha1.Rollout { return b.ro }

// newNamespace creates a namespace named after the subtest.
func newNamespace(t testing.TB) string {
	t.Helper()
	n := t.Name()
	n = regexp.MustCompile(`[^a-z0-9]+`).ReplaceAllString(strings.ToLower(n[strings.LastIndex(n, "/")+1:]), "-")
	name := strings.Trim("ro-"+n, "-")
	if len(name) > 40 {
		name = strings.TrimRight(name[:40], "-")
	}
	must(t, k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}))
	return name
}

func getRollout(ro *rolloutsv1alpha1.Rollout) (*rolloutsv1alpha1.Rollout, error) {
	got := &rolloutsv1alpha1.Rollout{}
	err := k8s.Get(ctx, types.NamespacedName{Namespace: ro.Namespace, Name: ro.Name}, got)
	return got, err
}

// waitFor waits until the Rollout's status, for its current generation,
// passes check; it returns that Rollout.
func waitFor(t testing.TB, ro *rolloutsv1alpha1.Rollout, check func(st *rolloutsv1alpha1.RolloutStatus) error) *rolloutsv1alpha1.Rollout {
	t.Helper()
	var got *rolloutsv1alpha1.Rollout
	eventually(t, timeout, func() error {
		var err error
		if got, err = getRollout(ro); err != nil {
			return err
		}
		if got.Status.ObservedGeneration != got.Generation {
			return fmt.Errorf("status is of generation %d, want %d", got.Status.ObservedGeneration, got.Generation)
		}
		return check(&got.Status)
	})
	return got
}

func healthyWith(stable string) func(st *rolloutsv1alpha1.RolloutStatus) error {
	return func(st *rolloutsv1alpha1.RolloutStatus) error {
		if st.Phase != rolloutsv1alpha1.PhaseHealthy || st.StableRevision != stable || !st.IsReady(st.ObservedGeneration) {
			return fmt.Errorf("phase %s stable %q (%s), want Healthy with %s and Ready", st.Phase, st.StableRevision, st.Message, stable)
		}
		return nil
	}
}

func atStep(i, weight int32, reason string) func(st *rolloutsv1alpha1.RolloutStatus) error {
	return func(st *rolloutsv1alpha1.RolloutStatus) error {
		c := st.GetCondition(rolloutsv1alpha1.ConditionProgressing)
		if st.Phase != rolloutsv1alpha1.PhaseProgressing || st.CurrentStepIndex == nil || *st.CurrentStepIndex != i ||
			st.CanaryWeight != weight || c == nil || c.Reason != reason {
			return fmt.Errorf("phase %s step %v weight %d (%+v), want Progressing at step %d, weight %d, %s", st.Phase,
				ptr.Deref(st.CurrentStepIndex, -1), st.CanaryWeight, c, i, weight, reason)
		}
		return nil
	}
}

// deployHealthy creates ro, makes its first revision ready and waits until
// it is Healthy; it returns the stable revision.
func deployHealthy(t testing.TB, ro *rolloutsv1alpha1.Rollout) string {
	t.Helper()
	must(t, k8s.Create(ctx, ro))
	first := waitFor(t, ro, func(st *rolloutsv1alpha1.RolloutStatus) error {
		if st.CanaryRevision == "" {
			return errors.New("no canary revision yet")
		}
		return nil
	}).Status.CanaryRevision
	markReady(t, ro.Namespace, first)
	waitFor(t, ro, healthyWith(first))
	return first
}

// newRevision changes the template's VERSION and makes the new revision
// ready; it returns its name.
func newRevision(t testing.TB, ro *rolloutsv1alpha1.Rollout, version string) string {
	t.Helper()
	before, err := getRollout(ro)
	must(t, err)
	update(t, ro, func(r *rolloutsv1alpha1.Rollout) { r.Spec.Template.Spec.Containers[0].Env[0].Value = version })
	rev := waitFor(t, ro, func(st *rolloutsv1alpha1.RolloutStatus) error {
		if st.CanaryRevision == "" || st.CanaryRevision == before.Status.CanaryRevision || st.CanaryRevision == st.StableRevision {
			return fmt.Errorf("canary revision %q, want the revision of %s", st.CanaryRevision, version)
		}
		return nil
	}).Status.CanaryRevision
	markReady(t, ro.Namespace, rev)
	return rev
}

func update(t testing.TB, ro *rolloutsv1alpha1.Rollout, mutate func(*rolloutsv1alpha1.Rollout)) {
	t.Helper()
	must(t, retry.RetryOnConflict(retry.DefaultRetry, func() error {
		got, err := getRollout(ro)
		if err != nil {
			return err
		}
		mutate(got)
		return k8s.Update(ctx, got)
	}))
}

// act sets the action annotations.
func act(t testing.TB, ro *rolloutsv1alpha1.Rollout, action, id, by string) {
	t.Helper()
	update(t, ro, func(r *rolloutsv1alpha1.Rollout) {
		if r.Annotations == nil {
			r.Annotations = map[string]string{}
		}
		r.Annotations[rolloutsv1alpha1.AnnotationAction] = action
		r.Annotations[rolloutsv1alpha1.AnnotationActionID] = id
		r.Annotations[rolloutsv1alpha1.AnnotationActionBy] = by
	})
}

func pin(rev string, pct int64, tag string) servingv1.TrafficTarget {
	return servingv1.TrafficTarget{RevisionName: rev, Percent: ptr.To(pct), Tag: tag}
}

// serviceTraffic checks the Service's traffic block.
func serviceTraffic(ro *rolloutsv1alpha1.Rollout, want ...servingv1.TrafficTarget) error {
	svc := &servingv1.Service{}
	if err := k8s.Get(ctx, types.NamespacedName{Namespace: ro.Namespace, Name: ro.Name}, svc); err != nil {
		return err
	}
	if diff := cmp.Diff(want, []servingv1.TrafficTarget(svc.Spec.Traffic)); diff != "" {
		return fmt.Errorf("service traffic (-want +got):\n%s", diff)
	}
	return nil
}

// routeTraffic checks the Route's resolved traffic (what the gateway gets).
func routeTraffic(ro *rolloutsv1alpha1.Rollout, want ...servingv1.TrafficTarget) error {
	rt := &servingv1.Route{}
	if err := k8s.Get(ctx, types.NamespacedName{Namespace: ro.Namespace, Name: ro.Name}, rt); err != nil {
		return err
	}
	got := make([]servingv1.TrafficTarget, len(rt.Status.Traffic))
	for i, tt := range rt.Status.Traffic {
		got[i] = pin(tt.RevisionName, tt.PercentOf(), tt.Tag)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		return fmt.Errorf("route status.traffic (-want +got):\n%s", diff)
	}
	return nil
}

// count counts reason in reasons.
func count(reasons []string, reason string) int {
	n := 0
	for _, r := range reasons {
		if r == reason {
			n++
		}
	}
	return n
}

func testFirstRollout(t *testing.T, h *harness) {
	// Given a namespace.
	ns := newNamespace(t)
	// When a Rollout web is created and its first revision becomes ready.
	ro := MakeRollout(ns, "web", "v1").Steps("50", "100").Analysis().Obj()
	first := deployHealthy(t, ro)

	// Then it is Healthy with all the traffic on that revision, pinned and tagged stable.
	must(t, serviceTraffic(ro, pin(first, 100, "stable")))
	eventually(t, timeout, func() error { return routeTraffic(ro, pin(first, 100, "stable")) })
	// And the Rollout controls the Service.
	svc := &servingv1.Service{}
	must(t, k8s.Get(ctx, types.NamespacedName{Namespace: ns, Name: "web"}, svc))
	got, err := getRollout(ro)
	must(t, err)
	if !metav1.IsControlledBy(svc, got) {
		t.Errorf("service owner references %+v, want the Rollout as controller", svc.OwnerReferences)
	}
	// And no step ran: the first rollout goes straight to 100%.
	if diff := cmp.Diff([]string{"RolloutStarted", "Promoting", "Healthy"}, h.events.reasons(ns, "web")); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

func testGoodCanary(t *testing.T, h *harness) {
	// Given a Healthy Rollout with steps 20, 50 (pause 1s) and 100, and analysis every second.
	ns := newNamespace(t)
	ro := MakeRollout(ns, "web", "v1").Steps("20", "50", "pause=1s", "100").Analysis().Obj()
	stable := deployHealthy(t, ro)

	// When the template changes and the new revision is ready, with passing analysis.
	canary := newRevision(t, ro, "v2")

	// Then the canary steps through to Healthy and becomes the stable.
	got := waitFor(t, ro, healthyWith(canary))
	must(t, serviceTraffic(ro, pin(canary, 100, "stable")))
	eventually(t, timeout, func() error { return routeTraffic(ro, pin(canary, 100, "stable")) })
	// And every weight step below 100% passed a measurement, in order (at
	// 100% the stable serves nothing to compare with).
	var steps []int32
	for _, m := range got.Status.Measurements {
		w := ro.Spec.Strategy.Canary.Steps[*m.Step].Weight
		if m.Phase == string(analysis.Pass) && w != nil && *w < 100 && !slices.Contains(steps, *m.Step) {
			steps = append(steps, *m.Step)
		}
	}
	if diff := cmp.Diff([]int32{0, 1}, steps); diff != "" {
		t.Errorf("steps with a passing measurement (-want +got):\n%s", diff)
	}
	want := []string{"RolloutStarted", "StepStarted", "StepStarted", "StepPassed", "StepStarted", "Promoting", "Healthy"}
	if diff := cmp.Diff(want, h.events.reasons(ns, "web")[3:]); diff != "" {
		t.Errorf("events of the canary (-want +got):\n%s", diff)
	}
	if stable == canary {
		t.Errorf("stable and canary are both %s", stable)
	}
}

func testFailingCanary(t *testing.T, h *harness) {
	// Given a Healthy Rollout with analysis every second and failureLimit 2.
	ns := newNamespace(t)
	ro := MakeRollout(ns, "web", "v1").Steps("20", "50", "100").Analysis().Obj()
	stable := deployHealthy(t, ro)
	// And analysis that fails the next revision.
	h.analyzer.judge(ns, "web-00002", analysis.Report{Phase: analysis.Fail, Message: failMsg})

	// When the template changes and the new revision becomes ready.
	canary := newRevision(t, ro, "v2")
	if canary != "web-00002" {
		t.Fatalf("canary revision %s, want web-00002", canary)
	}

	// Then the Rollout rolls back, naming the failing metric and its values.
	got := waitFor(t, ro, func(st *rolloutsv1alpha1.RolloutStatus) error {
		if st.Phase != rolloutsv1alpha1.PhaseRolledBack {
			return fmt.Errorf("phase %s (%s), want RolledBack", st.Phase, st.Message)
		}
		return nil
	})
	wantMsg := "Rolled back to " + stable + ": at step 1/3 (weight 20%): 2 consecutive failed measurements: " + failMsg
	if got.Status.Message != wantMsg {
		t.Errorf("message %q, want %q", got.Status.Message, wantMsg)
	}
	if c := got.Status.GetCondition(rolloutsv1alpha1.ConditionReady); c == nil || c.Status != metav1.ConditionFalse || c.Reason != "RolledBack" {
		t.Errorf("Ready = %+v, want False/RolledBack", c)
	}
	// And all the traffic is back on the stable revision (the Service is
	// written after the status).
	eventually(t, timeout, func() error { return serviceTraffic(ro, pin(stable, 100, "stable")) })
	eventually(t, timeout, func() error { return routeTraffic(ro, pin(stable, 100, "stable")) })
	if n := count(h.events.reasons(ns, "web"), "MeasurementFailed"); n != 2 {
		t.Errorf("%d MeasurementFailed events, want 2", n)
	}
}

func testRegression(t *testing.T, h *harness) {
	// Given a Healthy Rollout with analysis every second and failureLimit 2.
	ns := newNamespace(t)
	ro := MakeRollout(ns, "web", "v1").Steps("20", "50", "100").Analysis().Obj()
	stable := deployHealthy(t, ro)
	// And a sequential judge that finds evidence of regression in the next revision.
	const regression = "error-rate: evidence of regression: canary 4.10% vs stable 0.20% (+3.90 points, beyond the tolerance +0.10 points)"
	h.analyzer.judge(ns, "web-00002", analysis.Report{Phase: analysis.Fail, Message: regression, Results: []analysis.Result{
		{Metric: "error-rate", Phase: analysis.Fail, Message: regression, Sequential: true},
	}})

	// When the template changes and the new revision becomes ready.
	canary := newRevision(t, ro, "v2")
	if canary != "web-00002" {
		t.Fatalf("canary revision %s, want web-00002", canary)
	}

	// Then the Rollout rolls back at the first failed look, without
	// waiting for the failure limit.
	got := waitFor(t, ro, func(st *rolloutsv1alpha1.RolloutStatus) error {
		if st.Phase != rolloutsv1alpha1.PhaseRolledBack {
			return fmt.Errorf("phase %s (%s), want RolledBack", st.Phase, st.Message)
		}
		return nil
	})
	if want := "Rolled back to " + stable + ": at step 1/3 (weight 20%): " + regression; got.Status.Message != want {
		t.Errorf("message %q, want %q", got.Status.Message, want)
	}
	if n := len(got.Status.Measurements); n != 1 || got.Status.Measurements[0].Metrics[0].Phase != string(analysis.Fail) {
		t.Errorf("measurements %+v, want the one failed look", got.Status.Measurements)
	}
	// And all the traffic is back on the stable revision.
	eventually(t, timeout, func() error { return serviceTraffic(ro, pin(stable, 100, "stable")) })
	eventually(t, timeout, func() error { return routeTraffic(ro, pin(stable, 100, "stable")) })
	if n := count(h.events.reasons(ns, "web"), "MeasurementFailed"); n != 1 {
		t.Errorf("%d MeasurementFailed events, want 1", n)
	}
}

func testDefaultAnalysis(t *testing.T, h *harness) {
	// Given a Healthy Rollout with steps 20 and 100 and no analysis block.
	ns := newNamespace(t)
	ro := MakeRollout(ns, "web", "v1").Steps("20", "100").Obj()
	stable := deployHealthy(t, ro)
	// And a canary on which no look finds enough traffic for a verdict.
	const noVerdict = "error-rate: 3 canary requests: no verdict yet; latency: no verdict yet"
	h.analyzer.judge(ns, "web-00002", analysis.Report{Phase: analysis.Inconclusive, Message: noVerdict})

	// When a new revision is ready.
	canary := newRevision(t, ro, "v2")
	if canary != "web-00002" {
		t.Fatalf("canary revision %s, want web-00002", canary)
	}

	// Then its first step is looked at, with the default analysis (one
	// look every 5s)...
	looked := waitFor(t, ro, func(st *rolloutsv1alpha1.RolloutStatus) error {
		if err := atStep(0, 20, rolloutsv1alpha1.ReasonMeasuring)(st); err != nil {
			return err
		}
		if len(st.Measurements) == 0 {
			return errors.New("no measurement yet")
		}
		return nil
	})
	// ... on the default metrics, canary against stable, judged
	// sequentially on the traffic since the step's was applied.
	spec, ok := h.analyzer.lastSpec(ns, canary)
	if !ok {
		t.Fatalf("%s was not measured", canary)
	}
	var metrics []string
	for _, m := range spec.Metrics {
		metrics = append(metrics, m.Name+"="+m.Builtin)
	}
	if diff := cmp.Diff([]string{"error-rate=errorRate", "latency=latencyP90"}, metrics); diff != "" {
		t.Errorf("metrics measured (-want +got):\n%s", diff)
	}
	if spec.Stable.Revision != stable || looked.Status.StepReadyAt == nil || !spec.Sequential.From.Equal(looked.Status.StepReadyAt.Time) {
		t.Errorf("measured against %q from %s, want %s from the step's traffic start %v", spec.Stable.Revision, spec.Sequential.From, stable, looked.Status.StepReadyAt)
	}
	// And the step does not pass: no evidence of non-regression is not a pass.
	if c := looked.Status.GetCondition(rolloutsv1alpha1.ConditionProgressing); c == nil || !strings.Contains(c.Message, "gathering evidence of non-regression") {
		t.Errorf("Progressing = %+v, want gathering evidence of non-regression", c)
	}
	if c := looked.Status.GetCondition(rolloutsv1alpha1.ConditionAnalysis); c == nil || c.Reason != rolloutsv1alpha1.ReasonInconclusive {
		t.Errorf("Analysis = %+v, want Inconclusive", c)
	}

	// When the controller runs with a maximum step time of 3s (and looks
	// every second).
	h.restart(t, resources.Defaults{Interval: time.Second, MinStepTime: time.Second, MaxStepTime: 3 * time.Second})
	t.Cleanup(func() { h.restart(t, resources.Defaults{}) })

	// Then the canary is rolled back for want of evidence.
	got := waitFor(t, ro, func(st *rolloutsv1alpha1.RolloutStatus) error {
		if st.Phase != rolloutsv1alpha1.PhaseRolledBack {
			return fmt.Errorf("phase %s (%s), want RolledBack", st.Phase, st.Message)
		}
		return nil
	})
	want := "Rolled back to " + stable + ": at step 1/2 (weight 20%): no evidence of non-regression within the maximum step time 3s: " + noVerdict
	if got.Status.Message != want {
		t.Errorf("message %q, want %q", got.Status.Message, want)
	}
	eventually(t, timeout, func() error { return serviceTraffic(ro, pin(stable, 100, "stable")) })
	eventually(t, timeout, func() error { return routeTraffic(ro, pin(stable, 100, "stable")) })
	// And it was never promoted: every look was at its first step, and no
	// step passed.
	for _, m := range got.Status.Measurements {
		if m.Phase != string(analysis.Inconclusive) || ptr.Deref(m.Step, -1) != 0 {
			t.Errorf("measurement %+v, want Inconclusive at step 0", m)
		}
	}
	reasons := h.events.reasons(ns, "web")
	if n := count(reasons, "StepStarted"); n != 1 {
		t.Errorf("%d StepStarted events, want 1: %v", n, reasons)
	}
	if n := count(reasons, "StepPassed") + count(reasons, "Promoting"); n != 1 { // the first rollout's promotion
		t.Errorf("events %v, want no step passed and no promotion of %s", reasons, canary)
	}
	if n := count(reasons, "MeasurementFailed"); n != 0 {
		t.Errorf("%d MeasurementFailed events, want none: no look failed", n)
	}
}

func testApproval(t *testing.T, h *harness) {
	// Given a Healthy Rollout with steps 10, approval, 100 and analysis disabled.
	ns := newNamespace(t)
	ro := MakeRollout(ns, "web", "v1").Steps("10", "approval", "100").AnalysisDisabled().Obj()
	stable := deployHealthy(t, ro)

	// When a new revision is ready.
	canary := newRevision(t, ro, "v2")

	// Then it stops at the approval step with 10% of the traffic, the
	// weight step having passed without analysis.
	atApproval := waitFor(t, ro, atStep(1, 10, rolloutsv1alpha1.ReasonWaitingForApproval))
	if c := atApproval.Status.GetCondition(rolloutsv1alpha1.ConditionAnalysis); c == nil || c.Reason != rolloutsv1alpha1.ReasonAnalysisNotConfigured ||
		c.Message != "Analysis disabled: steps pass once the gateway applies their traffic" {
		t.Errorf("Analysis condition = %+v, want NotConfigured: analysis disabled", c)
	}
	if n := h.analyzer.measurements(ns, canary); n != 0 {
		t.Errorf("%d measurements of %s, want none with analysis disabled", n, canary)
	}
	eventually(t, timeout, func() error { return routeTraffic(ro, pin(stable, 90, "stable"), pin(canary, 10, "canary")) })
	consistently(t, 2*time.Second, func() error {
		got, err := getRollout(ro)
		if err != nil {
			return err
		}
		return atStep(1, 10, rolloutsv1alpha1.ReasonWaitingForApproval)(&got.Status)
	})

	// And a notification asked for approval, with Approve and Abort
	// buttons, once that state was saved.
	eventually(t, timeout, func() error {
		for _, n := range h.notes.find(ns, "web", "Progressing") {
			if n.Step == 1 && slices.Equal(n.Actions, []string{"approve", "abort"}) {
				if !n.saved {
					return fmt.Errorf("the approval notification went out before its status was saved")
				}
				return nil
			}
		}
		return fmt.Errorf("no approval notification yet")
	})

	// When alice approves.
	act(t, ro, "approve", "approve-1", "alice")

	// Then the canary goes on to Healthy, and the action is recorded.
	got := waitFor(t, ro, healthyWith(canary))
	last := got.Status.LastAction
	if last == nil || last.ID != "approve-1" || last.Action != "approve" || last.By != "alice" || last.Result != "approved step 2/3 (approval)" {
		t.Errorf("lastAction = %+v, want approve-1 approve by alice: approved step 2/3 (approval)", last)
	}
	// And the Healthy phase was notified after it was saved.
	eventually(t, timeout, func() error {
		for _, n := range h.notes.find(ns, "web", "Healthy") {
			if n.saved && n.StableRevision == canary {
				return nil
			}
		}
		return fmt.Errorf("no Healthy notification after the status was saved: %+v", h.notes.find(ns, "web", "Healthy"))
	})
	// And the annotations stay, so a GitOps tool sees no drift.
	if got.Annotations[rolloutsv1alpha1.AnnotationActionID] != "approve-1" {
		t.Errorf("annotations = %v, want the action annotations kept", got.Annotations)
	}

	// When the same manifest is applied again (another change, same action id).
	update(t, ro, func(r *rolloutsv1alpha1.Rollout) { r.Labels = map[string]string{"team": "a"} })

	// Then the action is not replayed.
	consistently(t, time.Second, func() error {
		again, err := getRollout(ro)
		if err != nil {
			return err
		}
		if !again.Status.LastAction.Time.Equal(&last.Time) {
			return fmt.Errorf("lastAction changed: %+v", again.Status.LastAction)
		}
		return nil
	})
	if n := count(h.events.reasons(ns, "web"), "ActionApplied"); n != 1 {
		t.Errorf("%d ActionApplied events, want 1", n)
	}
}

func testNewTemplateMidRollout(t *testing.T, h *harness) {
	// Given a Rollout without analysis waiting for approval at 10% for its canary.
	ns := newNamespace(t)
	ro := MakeRollout(ns, "web", "v1").Steps("10", "approval", "100").AnalysisDisabled().Obj()
	stable := deployHealthy(t, ro)
	newRevision(t, ro, "v2")
	waitFor(t, ro, atStep(1, 10, rolloutsv1alpha1.ReasonWaitingForApproval))

	// When the template changes again.
	update(t, ro, func(r *rolloutsv1alpha1.Rollout) { r.Spec.Template.Spec.Containers[0].Env[0].Value = "v3" })

	// Then all the traffic goes back to the stable while the new revision is not ready.
	third := waitFor(t, ro, func(st *rolloutsv1alpha1.RolloutStatus) error {
		if st.CanaryRevision != "web-00003" || st.CurrentStepIndex != nil {
			return fmt.Errorf("canary %q step %v, want web-00003 waiting to start", st.CanaryRevision, ptr.Deref(st.CurrentStepIndex, -1))
		}
		return nil
	}).Status.CanaryRevision
	eventually(t, timeout, func() error { return serviceTraffic(ro, pin(stable, 100, "stable")) })

	// When it becomes ready.
	markReady(t, ns, third)

	// Then it starts over from the first step.
	waitFor(t, ro, atStep(1, 10, rolloutsv1alpha1.ReasonWaitingForApproval))
	eventually(t, timeout, func() error { return routeTraffic(ro, pin(stable, 90, "stable"), pin(third, 10, "canary")) })
	act(t, ro, "promote", "promote-1", "")
	waitFor(t, ro, healthyWith(third))
	if n := count(h.events.reasons(ns, "web"), "Superseded"); n != 1 {
		t.Errorf("%d Superseded events, want 1", n)
	}
}

func testRestart(t *testing.T, h *harness) {
	// Given a Rollout at its first approval step, with analysis every second.
	ns := newNamespace(t)
	ro := MakeRollout(ns, "web", "v1").Steps("10", "approval", "30", "approval", "100").Analysis().Obj()
	deployHealthy(t, ro)
	canary := newRevision(t, ro, "v2")
	before := waitFor(t, ro, atStep(1, 10, rolloutsv1alpha1.ReasonWaitingForApproval))
	measured := h.analyzer.measurements(ns, canary)

	// When the controller restarts.
	h.stop(t)
	h.start(t)

	// Then it resumes the same step: no step is repeated or skipped, and analysis goes on.
	holds := func(i, weight int32, startedAt *metav1.Time) func() error {
		return func() error {
			got, err := getRollout(ro)
			if err != nil {
				return err
			}
			if err := atStep(i, weight, rolloutsv1alpha1.ReasonWaitingForApproval)(&got.Status); err != nil {
				return err
			}
			if !got.Status.StepStartedAt.Equal(startedAt) {
				return fmt.Errorf("step restarted at %s, was started at %s", got.Status.StepStartedAt, startedAt)
			}
			return nil
		}
	}
	consistently(t, 3*time.Second, holds(1, 10, before.Status.StepStartedAt))
	if n := h.analyzer.measurements(ns, canary); n <= measured {
		t.Errorf("measurements of %s: %d before the restart, %d after, want more", canary, measured, n)
	}

	// When the step is approved, and the controller restarts at the next approval.
	act(t, ro, "approve", "approve-1", "")
	second := waitFor(t, ro, atStep(3, 30, rolloutsv1alpha1.ReasonWaitingForApproval))
	h.stop(t)
	h.start(t)

	// Then the approval is not applied twice.
	consistently(t, 3*time.Second, holds(3, 30, second.Status.StepStartedAt))

	// And promoting finishes the rollout, each step having started once.
	act(t, ro, "promote", "promote-1", "")
	waitFor(t, ro, healthyWith(canary))
	if n := count(h.events.reasons(ns, "web"), "StepStarted"); n != 4 {
		t.Errorf("%d StepStarted events, want 4 (steps 0 to 3): %v", n, h.events.reasons(ns, "web"))
	}
}

func testBlueGreen(t *testing.T, h *harness) {
	// Given a Healthy blue/green Rollout that promotes a passing preview after 5s.
	ns := newNamespace(t)
	ro := MakeRollout(ns, "web", "v1").BlueGreen("preview", 5*time.Second).Analysis().Obj()
	stable := deployHealthy(t, ro)

	// When a new revision is ready.
	canary := newRevision(t, ro, "v2")

	// Then it is previewed at 0% with the preview tag, the stable keeping all the traffic.
	waitFor(t, ro, atStep(0, 0, rolloutsv1alpha1.ReasonWaitingForPromotion))
	must(t, routeTraffic(ro, pin(stable, 100, "stable"), pin(canary, 0, "preview")))
	// And once it has passed analysis for 5s, it gets all the traffic at once.
	got := waitFor(t, ro, healthyWith(canary))
	eventually(t, timeout, func() error { return routeTraffic(ro, pin(canary, 100, "stable")) })
	if n := len(got.Status.Measurements); n < 2 {
		t.Errorf("%d measurements of the preview, want at least 2 in 5s at 1s intervals", n)
	}
	if n := count(h.events.reasons(ns, "web"), "AutoPromoted"); n != 1 {
		t.Errorf("%d AutoPromoted events, want 1", n)
	}
}
