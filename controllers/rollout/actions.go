package rollout

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	rolloutsv1alpha1 "github.com/rampdev/ramp/apis/rollouts/v1alpha1"
	"github.com/rampdev/ramp/controllers/rollout/resources"
)

// AnnotationActionRun is set by the Slack actor with a button's action:
// <action-id>/<generation>/<canary-revision>, the run of the Rollout the
// button was made for (notify.AnnotationActionRun). It counts only while
// its action ID is the one in rollouts.ramp.dev/action-id, so an action set
// later without it (by the CLI or kubectl) is not held to it.
const AnnotationActionRun = "rollouts.ramp.dev/action-run"

// PendingAction reads the action annotations. It returns nil when there
// is no action, or when its id is that of the last action handled: an
// action runs once per id, and the annotations stay (a GitOps tool sees no
// drift, a re-applied manifest replays nothing). An action made for another
// run of the Rollout comes back with Stale set, to be recorded as ignored.
func PendingAction(ro *rolloutsv1alpha1.Rollout) *Action {
	name := ro.Annotations[rolloutsv1alpha1.AnnotationAction]
	id := ro.Annotations[rolloutsv1alpha1.AnnotationActionID]
	if name == "" && id == "" {
		return nil
	}
	if last := ro.Status.LastAction; last != nil && last.ID == id {
		return nil
	}
	return &Action{ID: id, Name: name, By: ro.Annotations[rolloutsv1alpha1.AnnotationActionBy], Stale: staleAction(ro, id)}
}

// staleAction checks the action id against its run annotation: it says how
// the Rollout has left the run the action was made for, or returns "" when
// it has not, or when the action names no run. The Slack actor checks the
// same before it writes the annotations; this catches a spec change or a
// finished rollout in between.
func staleAction(ro *rolloutsv1alpha1.Rollout, id string) string {
	v, ok := ro.Annotations[AnnotationActionRun]
	if !ok || id == "" {
		return ""
	}
	// The action ID may contain slashes; the generation and the canary
	// revision do not.
	rest, canary, found := cutLast(v, "/")
	runID, generation, found2 := cutLast(rest, "/")
	if !found || !found2 || runID != id {
		return ""
	}
	g, err := strconv.ParseInt(generation, 10, 64)
	if err != nil || g < 1 {
		return fmt.Sprintf("annotation %s is %q: its generation %q is not a positive number, so the action cannot be checked against this run of the rollout",
			AnnotationActionRun, v, generation)
	}
	switch {
	case g != ro.Generation:
		return fmt.Sprintf("the action was made for generation %d of the rollout, which is now at generation %d", g, ro.Generation)
	case canary != "" && canary != ro.Status.CanaryRevision:
		return fmt.Sprintf("the action was made for the rollout of %s, which is now %s", canary, canaryNow(ro.Status.CanaryRevision))
	}
	return ""
}

func canaryNow(canary string) string {
	if canary == "" {
		return "over"
	}
	return "rolling out " + canary
}

// cutLast is strings.Cut at the last sep.
func cutLast(s, sep string) (before, after string, found bool) {
	i := strings.LastIndex(s, sep)
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+len(sep):], true
}

type outcome int

const (
	applied outcome = iota
	ignored
	rejected
)

// action applies a, records it in status.lastAction and as an event.
func (p *planner) action(a Action) {
	result, o := p.apply(a)
	p.st.LastAction = &rolloutsv1alpha1.ActionRecord{ID: a.ID, Action: a.Name, By: a.By, Time: metav1.NewTime(p.now), Result: result}
	who := ""
	if a.By != "" {
		who = " by " + a.By
	}
	switch o {
	case applied:
		p.event(corev1.EventTypeNormal, "ActionApplied", "Action %s (id %s)%s: %s", a.Name, a.ID, who, result)
	case ignored:
		p.event(corev1.EventTypeWarning, "ActionIgnored", "Action %s (id %s)%s: %s", a.Name, a.ID, who, result)
	default:
		p.event(corev1.EventTypeWarning, "ActionRejected", "Action %q (id %s)%s: %s", a.Name, a.ID, who, result)
	}
}

func (p *planner) apply(a Action) (string, outcome) {
	st := p.st
	if a.ID == "" {
		return fmt.Sprintf("rejected: annotation %s is missing; each action needs a unique id", rolloutsv1alpha1.AnnotationActionID), rejected
	}
	if a.Stale != "" {
		return "ignored: " + a.Stale, ignored
	}
	active := st.Phase == rolloutsv1alpha1.PhaseProgressing || st.Phase == rolloutsv1alpha1.PhasePaused
	n := p.spec.NumSteps()
	switch a.Name {
	case rolloutsv1alpha1.ActionPromote:
		switch {
		case !active:
			return fmt.Sprintf("ignored: nothing to promote, the rollout is %s", st.Phase), ignored
		case st.CurrentStepIndex == nil:
			return fmt.Sprintf("ignored: the canary revision %s is not ready yet", orNone(st.CanaryRevision)), ignored
		case *st.CurrentStepIndex >= n:
			return "ignored: already promoting", ignored
		}
		if why, closed := p.windowClosed(); closed {
			return why, ignored
		}
		st.Phase, st.Message = rolloutsv1alpha1.PhaseProgressing, ""
		p.enterStep(n)
		return fmt.Sprintf("promoting %s to 100%% now", st.CanaryRevision), applied

	case rolloutsv1alpha1.ActionAbort:
		switch {
		case !active:
			return fmt.Sprintf("ignored: nothing to abort, the rollout is %s", st.Phase), ignored
		case st.StableRevision == "":
			return "ignored: there is no stable revision to go back to", ignored
		}
		where := "before its first step"
		if st.CurrentStepIndex != nil {
			where = "at " + p.stepName(*st.CurrentStepIndex)
		}
		msg := fmt.Sprintf("%s%s: all traffic back to %s", abortingPrefix, where, st.StableRevision)
		p.stop(rolloutsv1alpha1.PhaseAborting, rolloutsv1alpha1.ReasonAborting, msg)
		return "aborted: all traffic back to " + st.StableRevision, applied

	case rolloutsv1alpha1.ActionRetry:
		switch st.Phase {
		case rolloutsv1alpha1.PhaseAborted, rolloutsv1alpha1.PhaseRolledBack, rolloutsv1alpha1.PhasePaused:
		default:
			return fmt.Sprintf("ignored: retry applies to an Aborted, RolledBack or Paused rollout, this one is %s", st.Phase), ignored
		}
		p.start()
		return fmt.Sprintf("starting the rollout of %s over from the first step", orNone(st.CanaryRevision)), applied

	case rolloutsv1alpha1.ActionApprove:
		if st.Phase == rolloutsv1alpha1.PhasePaused {
			st.Phase, st.Message = rolloutsv1alpha1.PhaseProgressing, ""
			st.ConsecutiveFailures, st.ConsecutiveInconclusive = 0, 0
			if st.StepReadyAt != nil && p.spec.HasAnalysis() {
				// The step gathers evidence afresh: its maximum time counts
				// from the resume.
				st.StepReadyAt = p.at(0)
				st.NextMeasurementAt = p.at(resources.Interval(p.spec.Analysis))
			}
			return "resumed", applied
		}
		if st.Phase == rolloutsv1alpha1.PhaseProgressing && st.CurrentStepIndex != nil && *st.CurrentStepIndex < n {
			i := *st.CurrentStepIndex
			if !p.spec.IsCanary() {
				if why, closed := p.windowClosed(); closed {
					return why, ignored
				}
				p.enterStep(n)
				return fmt.Sprintf("approved the preview: promoting %s to 100%%", st.CanaryRevision), applied
			}
			if s := p.step(i); s.Approval != nil {
				name := p.stepName(i)
				p.promoteTo(i + 1)
				if st.PauseUntil != nil {
					return fmt.Sprintf("approved %s; the next step starts when the promotion window opens at %s", name, st.PauseUntil.UTC().Format(time.RFC3339)), applied
				}
				return "approved " + name, applied
			}
		}
		return "ignored: nothing waits for an approval", ignored
	}
	return fmt.Sprintf("rejected: unknown action %q (want %s, %s, %s or %s)", a.Name,
		rolloutsv1alpha1.ActionPromote, rolloutsv1alpha1.ActionAbort, rolloutsv1alpha1.ActionRetry, rolloutsv1alpha1.ActionApprove), rejected
}

func orNone(s string) string {
	if s == "" {
		return "(not created yet)"
	}
	return s
}

// windowClosed says why an action that would start a step now is refused:
// a promotion window that is closed never lets a step start, whoever asks.
func (p *planner) windowClosed() (string, bool) {
	w := promotionWindows(p.spec.PromotionWindows, p.now)
	switch {
	case w.Err != nil:
		return "ignored: " + w.Err.Error(), true
	case !w.Open:
		return fmt.Sprintf("ignored: the promotion windows are closed until %s; promote again once one is open", w.Next.UTC().Format(time.RFC3339)), true
	}
	return "", false
}
