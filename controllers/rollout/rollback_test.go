package rollout_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/rampdev/ramp/analysis"
	rolloutsv1alpha1 "github.com/rampdev/ramp/apis/rollouts/v1alpha1"
)

// regressionLook is a look of the sequential judge that finds evidence of
// regression: the Rollout rolls back at once.
const regressionLook = "error-rate: evidence of regression: canary 4.10% vs stable 0.20% (+3.90 points, beyond the tolerance +0.10 points)"

func regressionReport() analysis.Report {
	return analysis.Report{Phase: analysis.Fail, Message: regressionLook, Results: []analysis.Result{
		{Metric: "error-rate", Phase: analysis.Fail, Message: regressionLook, Sequential: true},
	}}
}

func phaseIs(p rolloutsv1alpha1.Phase) func(st *rolloutsv1alpha1.RolloutStatus) error {
	return func(st *rolloutsv1alpha1.RolloutStatus) error {
		if st.Phase != p {
			return fmt.Errorf("phase %s (%s), want %s", st.Phase, st.Message, p)
		}
		return nil
	}
}

// canaryAtFirstStep makes ro Healthy on v1, then rolls out v2 to its first
// step (20%) with looks that find no verdict, and waits until the Route
// serves that split. It returns the stable and canary revisions.
func canaryAtFirstStep(t *testing.T, h *harness, ro *rolloutsv1alpha1.Rollout) (string, string) {
	t.Helper()
	stable := deployHealthy(t, ro)
	h.analyzer.judge(ro.Namespace, "web-00002", analysis.Report{Phase: analysis.Inconclusive, Message: "error-rate: 3 canary requests: no verdict yet"})
	canary := newRevision(t, ro, "v2")
	if canary != "web-00002" {
		t.Fatalf("canary revision %s, want web-00002", canary)
	}
	waitFor(t, ro, func(st *rolloutsv1alpha1.RolloutStatus) error {
		if err := atStep(0, 20, rolloutsv1alpha1.ReasonMeasuring)(st); err != nil {
			return err
		}
		if len(st.Measurements) == 0 {
			return errors.New("no look yet")
		}
		return nil
	})
	eventually(t, timeout, func() error { return routeTraffic(ro, pin(stable, 80, "stable"), pin(canary, 20, "canary")) })
	return stable, canary
}

// settledWatch follows a Rollout with a watch. Each time it sees the
// Rollout RolledBack or Aborted it reads the Route and the Service
// (uncached, so at least as new as what the controller saw) and records
// the sighting, and a violation if they did not send everything to the
// stable revision then.
type settledWatch struct {
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once

	mu         sync.Mutex
	phases     []string // each phase change seen, in order
	sightings  int
	violations []string
}

func watchSettled(t *testing.T, h *harness, ro *rolloutsv1alpha1.Rollout, stable string) *settledWatch {
	t.Helper()
	wc, err := client.NewWithWatch(h.cfg, client.Options{Scheme: h.scheme})
	must(t, err)
	wctx, cancel := context.WithCancel(ctx)
	w := &settledWatch{cancel: cancel, done: make(chan struct{})}
	list := &rolloutsv1alpha1.RolloutList{}
	watcher, err := wc.Watch(wctx, list, client.InNamespace(ro.Namespace))
	must(t, err) // open before returning: no change after this call is missed
	go func() {
		defer close(w.done)
		for {
			select {
			case <-wctx.Done():
				watcher.Stop()
				return
			case ev, ok := <-watcher.ResultChan():
				if !ok {
					// The server ended the watch: open another.
					if watcher, err = wc.Watch(wctx, list, client.InNamespace(ro.Namespace)); err != nil {
						if wctx.Err() == nil {
							w.violation("watch: %v", err)
						}
						return
					}
					continue
				}
				if r, ok := ev.Object.(*rolloutsv1alpha1.Rollout); ok && r.Name == ro.Name {
					w.see(r, stable)
				}
			}
		}
	}()
	t.Cleanup(w.stop)
	return w
}

func (w *settledWatch) see(ro *rolloutsv1alpha1.Rollout, stable string) {
	phase := ro.Status.Phase
	var problems []string
	settled := phase == rolloutsv1alpha1.PhaseRolledBack || phase == rolloutsv1alpha1.PhaseAborted
	if settled {
		if got := routeState(ctx, ro.Namespace, ro.Name); got != servesStable(stable) {
			problems = append(problems, fmt.Sprintf("seen %s (resourceVersion %s) while the Route was %q, want %q",
				phase, ro.ResourceVersion, got, servesStable(stable)))
		}
		if err := serviceTraffic(ro, pin(stable, 100, "stable")); err != nil {
			problems = append(problems, fmt.Sprintf("seen %s while %v", phase, err))
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if n := len(w.phases); n == 0 || w.phases[n-1] != string(phase) {
		w.phases = append(w.phases, string(phase))
	}
	if settled {
		w.sightings++
	}
	w.violations = append(w.violations, problems...)
}

func (w *settledWatch) violation(format string, args ...any) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.violations = append(w.violations, fmt.Sprintf(format, args...))
}

// stop ends the watch and waits for it.
func (w *settledWatch) stop() {
	w.once.Do(func() {
		w.cancel()
		<-w.done
	})
}

// check stops the watch and fails the test on a violation, or if the
// watch did not see the Rollout go through transitional, then final.
func (w *settledWatch) check(t *testing.T, transitional, final rolloutsv1alpha1.Phase) {
	t.Helper()
	w.stop()
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, v := range w.violations {
		t.Error(v)
	}
	if w.sightings == 0 {
		t.Errorf("the watch never saw the Rollout %s", final)
	}
	i := slices.Index(w.phases, string(transitional))
	if i < 0 || !slices.Contains(w.phases[i:], string(final)) {
		t.Errorf("phases seen %v, want %s then %s", w.phases, transitional, final)
	}
}

// noSettledNews fails when the Rollout has a RolledBack or Aborted event
// or notification, or a notification of a transitional phase.
func noSettledNews(h *harness, ns string) error {
	reasons := h.events.reasons(ns, "web")
	for _, r := range []string{rolloutsv1alpha1.ReasonRolledBack, rolloutsv1alpha1.ReasonAborted} {
		if n := count(reasons, r); n != 0 {
			return fmt.Errorf("%d %s events while the gateway still splits the traffic: %v", n, r, reasons)
		}
	}
	for _, p := range []rolloutsv1alpha1.Phase{rolloutsv1alpha1.PhaseRolledBack, rolloutsv1alpha1.PhaseAborted,
		rolloutsv1alpha1.PhaseRollingBack, rolloutsv1alpha1.PhaseAborting} {
		if n := h.notes.find(ns, "web", string(p)); len(n) != 0 {
			return fmt.Errorf("%s notified while the gateway still splits the traffic: %+v", p, n)
		}
	}
	return nil
}

// oneSettledNotification waits for the notification of phase and checks
// it is the only one, was posted once its status was saved and once the
// Route served the stable alone.
func oneSettledNotification(t *testing.T, h *harness, ns string, phase rolloutsv1alpha1.Phase, stable string) note {
	t.Helper()
	eventually(t, timeout, func() error {
		if len(h.notes.find(ns, "web", string(phase))) == 0 {
			return fmt.Errorf("no %s notification yet", phase)
		}
		return nil
	})
	// A second one would follow the first at once, if at all.
	consistently(t, time.Second, func() error {
		if n := h.notes.find(ns, "web", string(phase)); len(n) != 1 {
			return fmt.Errorf("%d %s notifications, want 1: %+v", len(n), phase, n)
		}
		return nil
	})
	n := h.notes.find(ns, "web", string(phase))[0]
	if !n.saved {
		t.Errorf("the %s notification went out before its status was saved", phase)
	}
	if n.route != servesStable(stable) {
		t.Errorf("the %s notification went out while the Route was %q, want %q", phase, n.route, servesStable(stable))
	}
	return n
}

// transitionCondition checks the Progressing condition of a Rollout whose
// traffic is on its way back to stable.
func transitionCondition(st *rolloutsv1alpha1.RolloutStatus, reason, stable string) error {
	c := st.GetCondition(rolloutsv1alpha1.ConditionProgressing)
	want := st.Message + "; waiting for the gateway to send all the traffic to " + stable
	if c == nil || c.Status != metav1.ConditionTrue || c.Reason != reason || !strings.HasPrefix(c.Message, want) {
		return fmt.Errorf("Progressing = %+v, want True/%s %q", c, reason, want)
	}
	if r := st.GetCondition(rolloutsv1alpha1.ConditionReady); r == nil || r.Status != metav1.ConditionFalse || r.Reason != reason {
		return fmt.Errorf("Ready = %+v, want False/%s", r, reason)
	}
	return nil
}

func testRollbackWaitsForTheGateway(t *testing.T, h *harness) {
	// Given a canary at its first step, the gateway serving 80/20.
	ns := newNamespace(t)
	ro := MakeRollout(ns, "web", "v1").Steps("20", "50", "100").Analysis().Obj()
	stable, canary := canaryAtFirstStep(t, h, ro)
	// And a watch on the Rollout that checks the Route whenever it sees it RolledBack.
	w := watchSettled(t, h, ro, stable)
	// And a gateway slow to apply the next routing table: it keeps
	// serving the split until released.
	h.gateway.hold(ns, "web")
	t.Cleanup(func() { h.gateway.release(ns, "web") })

	// When a look finds evidence of regression.
	h.analyzer.judge(ns, canary, regressionReport())

	// Then the Rollout records the rollback as RollingBack, with the time it began.
	rolling := waitFor(t, ro, phaseIs(rolloutsv1alpha1.PhaseRollingBack)).Status
	wantIntent := "Rolling back to " + stable + ": at step 1/3 (weight 20%): " + regressionLook
	if rolling.Message != wantIntent || rolling.CanaryWeight != 0 || rolling.TransitionStartedAt == nil {
		t.Errorf("RollingBack with message %q, weight %d, since %v; want %q, weight 0, a start time",
			rolling.Message, rolling.CanaryWeight, rolling.TransitionStartedAt, wantIntent)
	}
	must(t, transitionCondition(&rolling, rolloutsv1alpha1.ReasonRollingBack, stable))
	// And it asks the Service for the stable alone, which the Route
	// resolves but the gateway does not serve yet.
	eventually(t, timeout, func() error { return serviceTraffic(ro, pin(stable, 100, "stable")) })
	eventually(t, timeout, func() error {
		if n := h.gateway.refusals(ns, "web"); n == 0 {
			return errors.New("the gateway has not been asked for the stable's routing table yet")
		}
		if got := routeState(ctx, ns, "web"); got != "not Ready "+stable+"=100(stable)" {
			return fmt.Errorf("route %q, want the stable alone, not Ready", got)
		}
		return nil
	})
	// And the Progressing condition says what the gateway is doing.
	waitFor(t, ro, func(st *rolloutsv1alpha1.RolloutStatus) error {
		if err := transitionCondition(st, rolloutsv1alpha1.ReasonRollingBack, stable); err != nil {
			return err
		}
		if c := st.GetCondition(rolloutsv1alpha1.ConditionProgressing); !strings.Contains(c.Message, "The gateway still serves routing table") {
			return fmt.Errorf("Progressing %q does not relay the Route's message", c.Message)
		}
		return nil
	})
	// And as long as the gateway splits the traffic, the Rollout stays
	// RollingBack, with no RolledBack event and no notification.
	consistently(t, 2*time.Second, func() error {
		got, err := getRollout(ro)
		if err != nil {
			return err
		}
		if err := phaseIs(rolloutsv1alpha1.PhaseRollingBack)(&got.Status); err != nil {
			return err
		}
		return noSettledNews(h, ns)
	})

	// When the gateway applies the stable's routing table.
	h.gateway.release(ns, "web")

	// Then the Rollout is RolledBack.
	got := waitFor(t, ro, phaseIs(rolloutsv1alpha1.PhaseRolledBack)).Status
	wantMsg := "Rolled back to " + stable + ": at step 1/3 (weight 20%): " + regressionLook
	if got.Message != wantMsg || got.TransitionStartedAt != nil {
		t.Errorf("RolledBack with message %q since %v, want %q and no transition", got.Message, got.TransitionStartedAt, wantMsg)
	}
	if c := got.GetCondition(rolloutsv1alpha1.ConditionProgressing); c == nil || c.Status != metav1.ConditionFalse || c.Reason != rolloutsv1alpha1.ReasonRolledBack {
		t.Errorf("Progressing = %+v, want False/RolledBack", c)
	}
	// And one notification says so, with the evidence, posted once the
	// Route served the stable alone.
	n := oneSettledNotification(t, h, ns, rolloutsv1alpha1.PhaseRolledBack, stable)
	if n.Message != wantMsg || !slices.Equal(n.Evidence, []string{regressionLook}) || !slices.Equal(n.Actions, []string{"retry"}) {
		t.Errorf("RolledBack notification %+v, want %q with the evidence and a retry button", n.Event, wantMsg)
	}
	// And the watch never saw RolledBack before the Route served the stable alone.
	w.check(t, rolloutsv1alpha1.PhaseRollingBack, rolloutsv1alpha1.PhaseRolledBack)
	// And the RolledBack event, one, was emitted once the Route served the stable alone.
	if diff := cmp.Diff([]string{"RolledBack: " + servesStable(stable)}, h.events.settledRoutes(ns, "web")); diff != "" {
		t.Errorf("RolledBack events and the Route when each was emitted (-want +got):\n%s", diff)
	}
	if n := count(h.events.reasons(ns, "web"), rolloutsv1alpha1.ReasonRollingBack); n != 1 {
		t.Errorf("%d RollingBack events, want 1", n)
	}
}

func testAbortWaitsForTheGateway(t *testing.T, h *harness) {
	// Given a canary waiting for approval at 20%, without analysis.
	ns := newNamespace(t)
	ro := MakeRollout(ns, "web", "v1").Steps("20", "approval", "100").AnalysisDisabled().Obj()
	stable := deployHealthy(t, ro)
	canary := newRevision(t, ro, "v2")
	waitFor(t, ro, atStep(1, 20, rolloutsv1alpha1.ReasonWaitingForApproval))
	eventually(t, timeout, func() error { return routeTraffic(ro, pin(stable, 80, "stable"), pin(canary, 20, "canary")) })
	// And a watch on the Rollout, and a gateway that holds the split.
	w := watchSettled(t, h, ro, stable)
	h.gateway.hold(ns, "web")
	t.Cleanup(func() { h.gateway.release(ns, "web") })

	// When alice aborts.
	act(t, ro, "abort", "abort-1", "alice")

	// Then the Rollout is Aborting, its traffic on the way back.
	aborting := waitFor(t, ro, phaseIs(rolloutsv1alpha1.PhaseAborting)).Status
	wantIntent := "Aborting at step 2/3 (approval): all traffic back to " + stable
	if aborting.Message != wantIntent || aborting.TransitionStartedAt == nil {
		t.Errorf("Aborting with message %q since %v, want %q and a start time", aborting.Message, aborting.TransitionStartedAt, wantIntent)
	}
	must(t, transitionCondition(&aborting, rolloutsv1alpha1.ReasonAborting, stable))
	eventually(t, timeout, func() error { return serviceTraffic(ro, pin(stable, 100, "stable")) })

	// When bob approves the step meanwhile.
	act(t, ro, "approve", "approve-1", "bob")

	// Then the approval is ignored, and the Rollout stays Aborting while the gateway splits the traffic.
	waitFor(t, ro, func(st *rolloutsv1alpha1.RolloutStatus) error {
		if a := st.LastAction; a == nil || a.ID != "approve-1" || a.Result != "ignored: nothing waits for an approval" {
			return fmt.Errorf("last action %+v, want approve-1 ignored", a)
		}
		return phaseIs(rolloutsv1alpha1.PhaseAborting)(st)
	})
	consistently(t, 2*time.Second, func() error {
		got, err := getRollout(ro)
		if err != nil {
			return err
		}
		if err := phaseIs(rolloutsv1alpha1.PhaseAborting)(&got.Status); err != nil {
			return err
		}
		return noSettledNews(h, ns)
	})

	// When the gateway applies the stable's routing table.
	h.gateway.release(ns, "web")

	// Then the Rollout is Aborted, notified once, after the Route served the stable alone.
	got := waitFor(t, ro, phaseIs(rolloutsv1alpha1.PhaseAborted)).Status
	wantMsg := "Aborted at step 2/3 (approval): all traffic back to " + stable
	if got.Message != wantMsg || got.TransitionStartedAt != nil {
		t.Errorf("Aborted with message %q since %v, want %q and no transition", got.Message, got.TransitionStartedAt, wantMsg)
	}
	if n := oneSettledNotification(t, h, ns, rolloutsv1alpha1.PhaseAborted, stable); n.Message != wantMsg {
		t.Errorf("Aborted notification %q, want %q", n.Message, wantMsg)
	}
	w.check(t, rolloutsv1alpha1.PhaseAborting, rolloutsv1alpha1.PhaseAborted)
	if diff := cmp.Diff([]string{"Aborted: " + servesStable(stable)}, h.events.settledRoutes(ns, "web")); diff != "" {
		t.Errorf("Aborted events and the Route when each was emitted (-want +got):\n%s", diff)
	}
	reasons := h.events.reasons(ns, "web")
	if count(reasons, rolloutsv1alpha1.ReasonAborting) != 1 || count(reasons, "ActionIgnored") != 1 {
		t.Errorf("events %v, want one Aborting and one ActionIgnored", reasons)
	}
}

func testRestartWhileRollingBack(t *testing.T, h *harness) {
	// Given a canary at its first step, the gateway serving 80/20.
	ns := newNamespace(t)
	ro := MakeRollout(ns, "web", "v1").Steps("20", "50", "100").Analysis().Obj()
	stable, canary := canaryAtFirstStep(t, h, ro)
	// And a controller that dies right after saving its next status: from
	// now on its Service writes fail.
	h.serviceWrites.block(ns, true)
	t.Cleanup(func() { h.serviceWrites.block(ns, false) })

	// When a look finds evidence of regression.
	h.analyzer.judge(ns, canary, regressionReport())

	// Then the RollingBack status is saved, and the Service write after it fails.
	waitFor(t, ro, phaseIs(rolloutsv1alpha1.PhaseRollingBack))
	eventually(t, timeout, func() error {
		if h.serviceWrites.refusals(ns) == 0 {
			return errors.New("no Service write refused yet")
		}
		return nil
	})
	// And the traffic stays split: the status says RollingBack, nothing says RolledBack.
	consistently(t, time.Second, func() error {
		got, err := getRollout(ro)
		if err != nil {
			return err
		}
		if err := phaseIs(rolloutsv1alpha1.PhaseRollingBack)(&got.Status); err != nil {
			return err
		}
		if err := serviceTraffic(ro, pin(stable, 80, "stable"), pin(canary, 20, "canary")); err != nil {
			return err
		}
		return noSettledNews(h, ns)
	})

	// When that controller stops and a new one starts.
	h.stop(t)
	h.serviceWrites.block(ns, false)
	w := watchSettled(t, h, ro, stable)
	h.start(t)

	// Then the new one writes the Service from the status and settles once the Route serves it.
	got := waitFor(t, ro, phaseIs(rolloutsv1alpha1.PhaseRolledBack)).Status
	wantMsg := "Rolled back to " + stable + ": at step 1/3 (weight 20%): " + regressionLook
	if got.Message != wantMsg || got.TransitionStartedAt != nil {
		t.Errorf("RolledBack with message %q since %v, want %q and no transition", got.Message, got.TransitionStartedAt, wantMsg)
	}
	must(t, serviceTraffic(ro, pin(stable, 100, "stable")))
	// And it is notified exactly once, after the Route served the stable alone.
	oneSettledNotification(t, h, ns, rolloutsv1alpha1.PhaseRolledBack, stable)
	w.check(t, rolloutsv1alpha1.PhaseRollingBack, rolloutsv1alpha1.PhaseRolledBack)
	// And each of RollingBack and RolledBack was an event once, across both controllers.
	reasons := h.events.reasons(ns, "web")
	if count(reasons, rolloutsv1alpha1.ReasonRollingBack) != 1 || count(reasons, rolloutsv1alpha1.ReasonRolledBack) != 1 {
		t.Errorf("events %v, want one RollingBack and one RolledBack", reasons)
	}
	if diff := cmp.Diff([]string{"RolledBack: " + servesStable(stable)}, h.events.settledRoutes(ns, "web")); diff != "" {
		t.Errorf("RolledBack events and the Route when each was emitted (-want +got):\n%s", diff)
	}
}
