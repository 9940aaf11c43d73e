package cli

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	rolloutsv1alpha1 "github.com/rampdev/ramp/apis/rollouts/v1alpha1"
	servingv1 "github.com/rampdev/ramp/apis/serving/v1"
)

// describe writes a Rollout for humans. revisions holds the stable and
// canary Revisions that could be read, by name.
func describe(w io.Writer, ro *rolloutsv1alpha1.Rollout, revisions map[string]*servingv1.Revision, now time.Time) error {
	st := &ro.Status
	p := &printer{w: w}
	p.field("Name", ro.Name)
	p.field("Namespace", ro.Namespace)
	phase := orDash(string(st.Phase))
	if t := st.TransitionStartedAt; st.Phase.Transitional() && t != nil {
		phase += fmt.Sprintf(" (for %s: the traffic is on its way back to %s)", now.Sub(t.Time).Round(time.Second), st.StableRevision)
	}
	if !observed(ro) {
		phase += fmt.Sprintf(" (the controller has not seen generation %d yet)", ro.Generation)
	}
	p.field("Phase", phase)
	if st.Message != "" {
		p.field("Message", st.Message)
	}
	if st.Phase == rolloutsv1alpha1.PhaseProgressing || st.Phase == rolloutsv1alpha1.PhasePaused {
		p.field("Step", stepName(ro))
	}

	strategy := fmt.Sprintf("canary, %d steps", ro.Spec.NumSteps())
	if !ro.Spec.IsCanary() {
		strategy = "blue/green"
	}
	p.field("Strategy", strategy+fmt.Sprintf("; progress deadline %s", ro.Spec.Deadline()))
	for _, l := range stepLines(ro) {
		p.line("  " + l)
	}

	p.field("Traffic", fmt.Sprintf("stable %d%%, canary %d%%", 100-st.CanaryWeight, st.CanaryWeight))
	p.field("Revisions", "")
	p.line("  Stable:  " + revisionText(st.StableRevision, revisions))
	p.line("  Canary:  " + revisionText(st.CanaryRevision, revisions))

	describeAnalysis(p, ro, now)
	describeConditions(p, st.Conditions, now)

	if a := st.LastAction; a != nil {
		by := ""
		if a.By != "" {
			by = " by " + a.By
		}
		p.field("Last action", fmt.Sprintf("%s (id %s)%s, %s ago", a.Action, a.ID, by, age(a.Time, now)))
		p.line("  Result:  " + orDash(a.Result))
	} else {
		p.field("Last action", "none")
	}
	return p.err
}

func revisionText(name string, revisions map[string]*servingv1.Revision) string {
	if name == "" {
		return "-"
	}
	rev, ok := revisions[name]
	if !ok {
		return name
	}
	ready := "Ready state unknown"
	if c := rev.Status.GetCondition(servingv1.ConditionReady); c != nil {
		ready = "Ready " + string(c.Status)
		if c.Status != metav1.ConditionTrue && c.Reason != "" {
			ready += ": " + c.Reason
		}
	}
	text := fmt.Sprintf("%s (%s", name, ready)
	if r := rev.Status.ActualReplicas; r != nil {
		text += fmt.Sprintf(", %d pods", *r)
	}
	return text + ")"
}

func describeAnalysis(p *printer, ro *rolloutsv1alpha1.Rollout, now time.Time) {
	a, st := ro.Spec.Analysis, &ro.Status
	if a != nil && a.Disabled {
		p.field("Analysis", "disabled (steps pass once the gateway applies their traffic)")
		return
	}
	const def = "(controller default)"
	str := func(v *string) string {
		if v == nil {
			return def
		}
		return *v
	}
	dur := func(d *metav1.Duration) string {
		if d == nil {
			return def
		}
		return d.Duration.String()
	}
	if a == nil {
		p.field("Analysis", "defaults: error-rate and latency (p90), canary against stable, with the controller's settings")
	} else {
		onTimeout := a.OnTimeout
		if onTimeout == "" {
			onTimeout = def
		}
		p.field("Analysis", fmt.Sprintf("interval %s; alpha %s, beta %s; step at least %s, at most %s, then %s; errors %d of %s",
			dur(a.Interval), str(a.Alpha), str(a.Beta), dur(a.MinStepTime), dur(a.MaxStepTime), onTimeout,
			st.ConsecutiveInconclusive, limit(a.InconclusiveLimit)))
		if a.DryRun {
			p.line("  Dry run: every metric is measured and shown; none decides a step")
		}
		if len(a.Templates) > 0 {
			refs := make([]string, len(a.Templates))
			for i, t := range a.Templates {
				refs[i] = "AnalysisTemplate/" + t.Name
				if t.ClusterScope {
					refs[i] = "ClusterAnalysisTemplate/" + t.Name
				}
			}
			p.line("  Templates: " + strings.Join(refs, ", "))
		}
	}
	if t := st.NextMeasurementAt; t != nil {
		in := "now"
		if d := t.Sub(now); d > 0 {
			in = "in " + d.Round(time.Second).String()
		}
		p.line("  Next measurement " + in)
	}
	if len(st.Measurements) == 0 {
		p.line("  No measurements yet")
		return
	}
	p.line("  Measurements (canary vs stable), oldest first:")
	names := metricNames(ro)
	tw := newTable(p)
	header := []string{"    TIME", "STEP", "PHASE"}
	for _, n := range names {
		header = append(header, strings.ToUpper(n))
	}
	fmt.Fprintln(tw, strings.Join(append(header, "MESSAGE"), "\t"))
	for _, m := range st.Measurements {
		step := "-"
		if m.Step != nil {
			step = fmt.Sprint(*m.Step + 1)
		}
		row := []string{"    " + m.Time.Local().Format(time.TimeOnly), step, m.Phase}
		for _, n := range names {
			cell := "-"
			for _, r := range m.Metrics {
				if r.Name == n {
					cell = metricCell(r)
				}
			}
			row = append(row, cell)
		}
		fmt.Fprintln(tw, strings.Join(append(row, m.Message), "\t"))
	}
	if err := tw.Flush(); err != nil && p.err == nil {
		p.err = err
	}
	last := st.Measurements[len(st.Measurements)-1]
	p.line("  Evidence of the last measurement:")
	if len(last.Templates) > 0 {
		p.line("    judged with " + strings.Join(last.Templates, ", "))
	}
	for _, r := range last.Metrics {
		dry := ""
		if r.DryRun {
			dry = " (dry run, does not decide)"
		}
		p.line(fmt.Sprintf("    %s %s%s: %s", r.Name, r.Phase, dry, strings.TrimPrefix(r.Message, r.Name+": ")))
		if e := r.Evidence; e != nil && e.MoreRequests > 0 {
			more := fmt.Sprintf("      needs about %d more canary requests", e.MoreRequests)
			if e.MoreTime != "" {
				more += " (~" + e.MoreTime + " at the current traffic)"
			}
			p.line(more)
		}
	}
}

// limit formats a count limit, or says the controller's default applies.
func limit(n int32) string {
	if n <= 0 {
		return "(controller default)"
	}
	return strconv.Itoa(int(n))
}

func describeConditions(p *printer, conds []metav1.Condition, now time.Time) {
	if len(conds) == 0 {
		p.field("Conditions", "none")
		return
	}
	p.field("Conditions", "")
	tw := newTable(p)
	fmt.Fprintln(tw, "  TYPE\tSTATUS\tREASON\tAGE\tMESSAGE")
	for _, c := range conds {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", c.Type, c.Status, c.Reason, age(c.LastTransitionTime, now), c.Message)
	}
	if err := tw.Flush(); err != nil && p.err == nil {
		p.err = err
	}
}

// printer writes "Label:  value" lines and keeps the first error.
type printer struct {
	w   io.Writer
	err error
}

func (p *printer) Write(b []byte) (int, error) {
	if p.err != nil {
		return 0, p.err
	}
	n, err := p.w.Write(b)
	p.err = err
	return n, err
}

func (p *printer) field(label, value string) {
	p.line(strings.TrimRight(fmt.Sprintf("%-13s %s", label+":", value), " "))
}

func (p *printer) line(s string) { fmt.Fprintln(p, s) }
