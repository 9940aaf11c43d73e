package dashboard

import (
	"fmt"
	"sort"
	"strings"
	"time"

	rolloutsv1alpha1 "github.com/rampdev/ramp/apis/rollouts/v1alpha1"
)

// Summary is one Rollout in the list.
type Summary struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Phase     string `json:"phase"`
	Message   string `json:"message,omitempty"`
	Strategy  string `json:"strategy"`
	// Step is "3/8" (1-based) while a canary rolls out, else "".
	Step   string `json:"step,omitempty"`
	Weight int32  `json:"weight"`
	Canary string `json:"canary,omitempty"`
	Stable string `json:"stable,omitempty"`
	// Verdict is the last analysis look: its phase and one line.
	Verdict *Verdict `json:"verdict,omitempty"`
	// Created is Unix milliseconds; Age is for humans.
	Created int64  `json:"created"`
	Age     string `json:"age"`
}

// Verdict summarises an analysis look.
type Verdict struct {
	Phase   string `json:"phase"`
	Time    int64  `json:"time"`
	Summary string `json:"summary"`
}

// List is the list page's data.
type List struct {
	Scope    string    `json:"scope"`
	Error    string    `json:"error,omitempty"`
	Synced   bool      `json:"synced"`
	Rollouts []Summary `json:"rollouts"`
}

// Step is one stage of the timeline.
type Step struct {
	Label string `json:"label"`
	Kind  string `json:"kind"` // weight, pause, approval, preview, promote
	// State is done, current, failed, skipped or todo.
	State string `json:"state"`
}

// Window is a promotion window, and whether it is open now.
type Window struct {
	Schedule string `json:"schedule"`
	Duration string `json:"duration"`
	TimeZone string `json:"timeZone"`
}

// Look is one analysis measurement.
type Look struct {
	Time    int64        `json:"time"`
	Phase   string       `json:"phase"`
	Step    string       `json:"step,omitempty"`
	Message string       `json:"message,omitempty"`
	Metrics []LookMetric `json:"metrics"`
}

// LookMetric is one metric's verdict at a look, with its evidence.
type LookMetric struct {
	Name     string `json:"name"`
	Phase    string `json:"phase"`
	Canary   string `json:"canary,omitempty"`
	Stable   string `json:"stable,omitempty"`
	Evidence string `json:"evidence,omitempty"`
	DryRun   bool   `json:"dryRun,omitempty"`
}

// Action is a button of the Rollout page.
type Action struct {
	Name    string `json:"name"`
	Label   string `json:"label"`
	Enabled bool   `json:"enabled"`
	// Reason says why the action is disabled.
	Reason string `json:"reason,omitempty"`
	// Confirm is the confirmation's question.
	Confirm string `json:"confirm"`
}

// EventRow is a Kubernetes Event of the Rollout.
type EventRow struct {
	Time    int64  `json:"time"`
	Type    string `json:"type"`
	Reason  string `json:"reason"`
	Message string `json:"message"`
	Count   int32  `json:"count"`
}

// RevisionRow is a Revision of the Rollout and its pods.
type RevisionRow struct {
	Name    string   `json:"name"`
	Role    string   `json:"role,omitempty"` // canary, stable
	Ready   string   `json:"ready"`
	Percent *int64   `json:"percent,omitempty"`
	Created int64    `json:"created"`
	Pods    []PodRow `json:"pods"`
}

// PodRow is a pod of a Revision.
type PodRow struct {
	Name     string `json:"name"`
	Phase    string `json:"phase"`
	Ready    bool   `json:"ready"`
	Restarts int32  `json:"restarts"`
}

// Detail is the Rollout page's data.
type Detail struct {
	Summary
	Steps      []Step              `json:"steps"`
	Windows    []Window            `json:"windows,omitempty"`
	Points     []Point             `json:"points"`
	Weights    []WeightPoint       `json:"weights"`
	Looks      []Look              `json:"looks"`
	Events     []EventRow          `json:"events"`
	Revisions  []RevisionRow       `json:"revisions"`
	Actions    []Action            `json:"actions"`
	LastAction *ActionResult       `json:"lastAction,omitempty"`
	Charts     map[string]ChartSVG `json:"charts"`
	Notes      []string            `json:"notes,omitempty"`
}

// ActionResult is status.lastAction.
type ActionResult struct {
	ID     string `json:"id"`
	Action string `json:"action"`
	By     string `json:"by,omitempty"`
	Time   int64  `json:"time"`
	Result string `json:"result"`
}

func strategyOf(ro *rolloutsv1alpha1.Rollout) string {
	if ro.Spec.Strategy.BlueGreen != nil {
		return "blueGreen"
	}
	return "canary"
}

func summarize(e *entry, now time.Time) Summary {
	ro := e.ro
	st := ro.Status
	s := Summary{
		Namespace: ro.Namespace, Name: ro.Name, Phase: string(st.Phase), Message: st.Message, Strategy: strategyOf(ro),
		Weight: st.CanaryWeight, Canary: st.CanaryRevision, Stable: st.StableRevision,
		Created: ro.CreationTimestamp.UnixMilli(), Age: age(now.Sub(ro.CreationTimestamp.Time)),
	}
	if s.Phase == "" {
		s.Phase = "Pending"
	}
	if i := st.CurrentStepIndex; i != nil && st.CanaryRevision != "" && !settled(st.Phase) {
		n := stepCount(ro)
		s.Step = fmt.Sprintf("%d/%d", min(int(*i)+1, n), n)
	}
	if n := len(e.looks); n > 0 {
		s.Verdict = verdictOf(e.looks[n-1])
	} else if n := len(st.Measurements); n > 0 {
		s.Verdict = verdictOf(st.Measurements[n-1])
	}
	return s
}

func settled(p rolloutsv1alpha1.Phase) bool {
	return p == rolloutsv1alpha1.PhaseHealthy || p == rolloutsv1alpha1.PhaseRolledBack || p == rolloutsv1alpha1.PhaseAborted
}

func verdictOf(m rolloutsv1alpha1.Measurement) *Verdict {
	v := &Verdict{Phase: m.Phase, Time: m.Time.UnixMilli(), Summary: m.Message}
	if v.Summary == "" {
		var parts []string
		for _, r := range m.Metrics {
			parts = append(parts, r.Name+" "+r.Phase)
		}
		v.Summary = strings.Join(parts, ", ")
	}
	return v
}

// stepCount is the number of steps the timeline shows, the final
// promotion included.
func stepCount(ro *rolloutsv1alpha1.Rollout) int {
	if ro.Spec.Strategy.Canary != nil {
		return len(ro.Spec.Strategy.Canary.Steps) + 1
	}
	return 2
}

// timeline is the strategy's steps with their state.
func timeline(ro *rolloutsv1alpha1.Rollout) []Step {
	var steps []Step
	if c := ro.Spec.Strategy.Canary; c != nil {
		for _, s := range c.Steps {
			steps = append(steps, canaryStep(s))
		}
	} else if bg := ro.Spec.Strategy.BlueGreen; bg != nil {
		tag := bg.PreviewTag
		if tag == "" {
			tag = "preview"
		}
		label := "preview on tag " + tag
		if bg.AutoPromoteAfter != nil {
			label += ", promoted after " + bg.AutoPromoteAfter.Duration.String() + " if the analysis passes"
		} else {
			label += ", until approved"
		}
		steps = append(steps, Step{Label: label, Kind: "preview"})
	}
	steps = append(steps, Step{Label: "100%: promote", Kind: "promote"})
	st := ro.Status
	cur := -1
	if st.CurrentStepIndex != nil {
		cur = int(*st.CurrentStepIndex)
	}
	for i := range steps {
		switch {
		case st.Phase == rolloutsv1alpha1.PhaseHealthy || st.CanaryRevision == "":
			steps[i].State = "done"
		case i < cur:
			steps[i].State = "done"
		case i == cur && (st.Phase == rolloutsv1alpha1.PhaseRolledBack || st.Phase == rolloutsv1alpha1.PhaseRollingBack ||
			st.Phase == rolloutsv1alpha1.PhaseAborted || st.Phase == rolloutsv1alpha1.PhaseAborting):
			steps[i].State = "failed"
		case i == cur:
			steps[i].State = "current"
		case cur >= 0 && (settled(st.Phase) || st.Phase.Transitional()):
			steps[i].State = "skipped"
		default:
			steps[i].State = "todo"
		}
	}
	return steps
}

func canaryStep(s rolloutsv1alpha1.CanaryStep) Step {
	switch {
	case s.Weight != nil && s.Pause != nil:
		return Step{Label: fmt.Sprintf("%d%%, then pause %s", *s.Weight, s.Pause.Duration), Kind: "weight"}
	case s.Weight != nil && s.Approval != nil:
		return Step{Label: fmt.Sprintf("%d%%, then approval", *s.Weight), Kind: "weight"}
	case s.Weight != nil:
		return Step{Label: fmt.Sprintf("%d%%", *s.Weight), Kind: "weight"}
	case s.Pause != nil:
		return Step{Label: "pause " + s.Pause.Duration.String(), Kind: "pause"}
	case s.Approval != nil:
		return Step{Label: "approval", Kind: "approval"}
	}
	return Step{Label: "step", Kind: "weight"}
}

func looksOf(ms []rolloutsv1alpha1.Measurement) []Look {
	looks := make([]Look, 0, len(ms))
	for _, m := range ms {
		l := Look{Time: m.Time.UnixMilli(), Phase: m.Phase, Message: m.Message, Metrics: []LookMetric{}}
		if m.Step != nil {
			l.Step = fmt.Sprintf("%d", *m.Step+1)
		}
		for _, r := range m.Metrics {
			l.Metrics = append(l.Metrics, LookMetric{Name: r.Name, Phase: r.Phase, Canary: r.Canary, Stable: r.Stable,
				Evidence: r.Message, DryRun: r.DryRun})
		}
		looks = append(looks, l)
	}
	return looks
}

// actionsFor are the four buttons: enabled when the user may patch the
// Rollout and the phase has something for the action to do.
func actionsFor(ro *rolloutsv1alpha1.Rollout, allowed bool, denied string) []Action {
	p := ro.Status.Phase
	rolling := ro.Status.CanaryRevision != "" && (p == rolloutsv1alpha1.PhaseProgressing || p == rolloutsv1alpha1.PhasePaused)
	name := ro.Namespace + "/" + ro.Name
	acts := []Action{
		{Name: rolloutsv1alpha1.ActionPromote, Label: "Promote", Enabled: rolling,
			Confirm: "Promote " + name + "? The canary " + ro.Status.CanaryRevision + " gets all the traffic now, skipping the remaining steps and their analysis."},
		{Name: rolloutsv1alpha1.ActionApprove, Label: "Approve", Enabled: rolling,
			Confirm: "Approve " + name + "? This passes an approval step, promotes a blue/green preview or resumes a Paused rollout."},
		{Name: rolloutsv1alpha1.ActionAbort, Label: "Abort", Enabled: rolling,
			Confirm: "Abort " + name + "? All the traffic goes back to the stable revision " + ro.Status.StableRevision + "."},
		{Name: rolloutsv1alpha1.ActionRetry, Label: "Retry", Enabled: p == rolloutsv1alpha1.PhaseAborted || p == rolloutsv1alpha1.PhaseRolledBack || p == rolloutsv1alpha1.PhasePaused,
			Confirm: "Retry " + name + "? The rollout starts over from its first step."},
	}
	for i := range acts {
		switch {
		case !allowed:
			acts[i].Enabled, acts[i].Reason = false, denied
		case !acts[i].Enabled && acts[i].Name == rolloutsv1alpha1.ActionRetry:
			acts[i].Reason = "only an Aborted, RolledBack or Paused rollout can be retried; this one is " + string(p)
		case !acts[i].Enabled:
			acts[i].Reason = "no rollout in progress: the rollout is " + string(p)
		}
	}
	return acts
}

func lastActionOf(ro *rolloutsv1alpha1.Rollout) *ActionResult {
	a := ro.Status.LastAction
	if a == nil {
		return nil
	}
	return &ActionResult{ID: a.ID, Action: a.Action, By: a.By, Time: a.Time.UnixMilli(), Result: a.Result}
}

func windowsOf(ro *rolloutsv1alpha1.Rollout) []Window {
	var ws []Window
	for _, w := range ro.Spec.PromotionWindows {
		tz := w.TimeZone
		if tz == "" {
			tz = "UTC"
		}
		ws = append(ws, Window{Schedule: w.Schedule, Duration: w.Duration.Duration.String(), TimeZone: tz})
	}
	return ws
}

// age is kubectl's short age: 45s, 12m, 5h, 3d.
func age(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d < 2*time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < 2*time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

// sortEvents orders events newest first.
func sortEvents(evs []EventRow) {
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].Time > evs[j].Time })
}

// sortRevisions orders revisions newest first.
func sortRevisions(rs []RevisionRow) {
	sort.SliceStable(rs, func(i, j int) bool {
		if rs[i].Created != rs[j].Created {
			return rs[i].Created > rs[j].Created
		}
		return rs[i].Name > rs[j].Name
	})
}
