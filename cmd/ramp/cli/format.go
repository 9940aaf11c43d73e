package cli

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"

	rolloutsv1alpha1 "github.com/rampdev/ramp/apis/rollouts/v1alpha1"
)

// ExitError ends a command with a specific exit code. Err, when set, is
// printed as the error; a nil Err means the command has said everything.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit status %d", e.Code)
	}
	return e.Err.Error()
}

func (e *ExitError) Unwrap() error { return e.Err }

// Exit codes of `rollout status` and `rollout watch`.
const (
	exitHealthy     = 0
	exitFailed      = 1
	exitPaused      = 2
	exitProgressing = 3
)

// errRolloutNotFound is returned when the named Rollout does not exist.
var errRolloutNotFound = errors.New("rollout not found")

// notFound turns a NotFound error into one that names the namespace.
func notFound(err error, ns, name string) error {
	if apierrors.IsNotFound(err) {
		return fmt.Errorf("%w: there is no Rollout %q in namespace %q", errRolloutNotFound, name, ns)
	}
	return fmt.Errorf("reading rollout %s/%s: %w", ns, name, err)
}

func newTable(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 0, 3, ' ', 0) }

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func age(t metav1.Time, now time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return duration.HumanDuration(now.Sub(t.Time))
}

// observed reports whether the status describes the current spec: right
// after a template change, a Healthy phase is the previous rollout's.
func observed(ro *rolloutsv1alpha1.Rollout) bool {
	return ro.Status.ObservedGeneration >= ro.Generation
}

// stepColumn is the current step as "2/5": "-" before the first step or
// when no rollout is running, "promoting" past the last step.
func stepColumn(ro *rolloutsv1alpha1.Rollout) string {
	i := ro.Status.CurrentStepIndex
	if i == nil {
		return "-"
	}
	n := ro.Spec.NumSteps()
	if *i >= n {
		return "promoting"
	}
	return fmt.Sprintf("%d/%d", *i+1, n)
}

// stepName is the current step in words, as the controller's events say
// it: "step 2/5 (weight 20%)".
func stepName(ro *rolloutsv1alpha1.Rollout) string {
	i := ro.Status.CurrentStepIndex
	switch {
	case i == nil && ro.Status.Phase == rolloutsv1alpha1.PhaseProgressing:
		return "waiting for the canary revision"
	case i == nil:
		return "no step"
	case *i >= ro.Spec.NumSteps():
		return "promotion to 100%"
	case !ro.Spec.IsCanary():
		return "preview"
	}
	return fmt.Sprintf("step %s (%s)", stepColumn(ro), stepText(ro.Spec.Strategy.Canary.Steps[*i]))
}

// stepText describes a canary step: "weight 20%, then pause 1m0s".
func stepText(s rolloutsv1alpha1.CanaryStep) string {
	switch {
	case s.Weight != nil && s.Pause != nil:
		return fmt.Sprintf("weight %d%%, then pause %s", *s.Weight, s.Pause.Duration)
	case s.Weight != nil:
		return fmt.Sprintf("weight %d%%", *s.Weight)
	case s.Pause != nil:
		return "pause " + s.Pause.Duration.String()
	}
	return "approval"
}

// stepLines lists the strategy's steps, then the promotion, with a marker
// at the current one.
func stepLines(ro *rolloutsv1alpha1.Rollout) []string {
	var steps []string
	if ro.Spec.IsCanary() {
		for _, s := range ro.Spec.Strategy.Canary.Steps {
			steps = append(steps, stepText(s))
		}
	} else {
		preview := fmt.Sprintf("preview at tag %q, then ", ro.Spec.PreviewTag())
		if bg := ro.Spec.Strategy.BlueGreen; bg != nil && bg.AutoPromoteAfter != nil {
			preview += "auto-promote after " + bg.AutoPromoteAfter.Duration.String()
		} else {
			preview += "wait for approve"
		}
		steps = append(steps, preview)
	}
	steps = append(steps, "promotion to 100%")
	cur := int32(-1)
	if i := ro.Status.CurrentStepIndex; i != nil && ro.Status.Phase != rolloutsv1alpha1.PhaseHealthy {
		cur = *i
	}
	lines := make([]string, len(steps))
	for i, s := range steps {
		marker := "  "
		if int32(i) == cur {
			marker = "> "
		}
		num := fmt.Sprintf("%d. ", i+1)
		if i == len(steps)-1 {
			num = "   "
		}
		lines[i] = marker + num + s
	}
	return lines
}

// metricCell is one metric of a measurement: "1.2% vs 0.3%", with the
// metric's phase when it did not pass.
func metricCell(m rolloutsv1alpha1.MetricResult) string {
	s := orDash(m.Canary) + " vs " + orDash(m.Stable)
	if m.Phase != "" && m.Phase != "Pass" {
		s += " (" + m.Phase + ")"
	}
	return s
}

// metricNames are the names of the metrics in the spec, then any others
// the measurements mention, in order.
func metricNames(ro *rolloutsv1alpha1.Rollout) []string {
	var names []string
	seen := map[string]bool{}
	add := func(n string) {
		if !seen[n] {
			seen[n] = true
			names = append(names, n)
		}
	}
	if a := ro.Spec.Analysis; a != nil {
		for _, m := range a.Metrics {
			add(m.Name)
		}
	}
	for _, m := range ro.Status.Measurements {
		for _, r := range m.Metrics {
			add(r.Name)
		}
	}
	return names
}

// measurementLine is a measurement in one line, for watch.
func measurementLine(m rolloutsv1alpha1.Measurement) string {
	parts := make([]string, 0, len(m.Metrics))
	for _, r := range m.Metrics {
		parts = append(parts, r.Name+" "+metricCell(r))
	}
	s := "measurement " + m.Phase
	if len(parts) > 0 {
		s += ": " + strings.Join(parts, ", ")
	}
	if m.Message != "" {
		s += " (" + m.Message + ")"
	}
	return s
}
