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
	if a == nil {
		p.field("Analysis", "none (steps pass once the gateway applies their traffic)")
		return
	}
	const def = "(controller default)"
	interval, window, minReq := def, def, def
	if a.Interval != nil {
		interval = a.Interval.Duration.String()
	}
	if a.Window != nil {
		window = a.Window.Duration.String()
	}
	if a.MinRequests != nil {
		minReq = strconv.FormatInt(*a.MinRequests, 10)
	}
	limits := func(n int32) string {
		if n <= 0 {
			return def
		}
		return strconv.Itoa(int(n))
	}
	p.field("Analysis", fmt.Sprintf("interval %s, window %s, min requests %s; failures %d of %s, inconclusive %d of %s",
		interval, window, minReq, st.ConsecutiveFailures, limits(a.FailureLimit), st.ConsecutiveInconclusive, limits(a.InconclusiveLimit)))
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
