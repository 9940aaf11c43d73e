package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rolloutsv1alpha1 "github.com/rampdev/ramp/apis/rollouts/v1alpha1"
)

// pollInterval is how often follow reads the Rollout when the API server
// refuses to watch it.
const pollInterval = 2 * time.Second

// errRolloutDeleted is returned when a followed Rollout is deleted.
var errRolloutDeleted = errors.New("the rollout was deleted")

// visitFunc sees the Rollout; it returns true when it has seen enough.
type visitFunc func(*rolloutsv1alpha1.Rollout) (bool, error)

// follow calls visit with the Rollout now and after each change, until
// visit is done or fails, or ctx ends. It watches the Rollout; if the
// watch cannot be opened, it says so on notes and polls every
// pollInterval instead.
func follow(ctx context.Context, c client.WithWatch, key client.ObjectKey, notes io.Writer, visit visitFunc) error {
	polling := false
	for {
		ro := &rolloutsv1alpha1.Rollout{}
		if err := c.Get(ctx, key, ro); err != nil {
			return notFound(err, key.Namespace, key.Name)
		}
		if done, err := visit(ro); done || err != nil {
			return err
		}
		if !polling {
			w, err := c.Watch(ctx, &rolloutsv1alpha1.RolloutList{}, &client.ListOptions{
				Namespace:     key.Namespace,
				FieldSelector: fields.OneTermEqualSelector("metadata.name", key.Name),
				Raw:           &metav1.ListOptions{ResourceVersion: ro.ResourceVersion},
			})
			if err == nil {
				// When the watch ends (server timeout, expired resource
				// version), read the Rollout again and watch anew.
				if done, err := drain(ctx, w, visit); done || err != nil {
					return err
				}
				continue
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			polling = true
			fmt.Fprintf(notes, "Cannot watch rollout %s (%v); polling every %s\n", key, err, pollInterval)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pollInterval):
		}
	}
}

// drain feeds the watch's Rollouts to visit until visit is done or fails,
// the watch ends, or ctx ends.
func drain(ctx context.Context, w watch.Interface, visit visitFunc) (bool, error) {
	defer w.Stop()
	for {
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case ev, ok := <-w.ResultChan():
			if !ok {
				return false, nil
			}
			switch ev.Type {
			case watch.Deleted:
				return false, errRolloutDeleted
			case watch.Error:
				return false, nil
			}
			ro, ok := ev.Object.(*rolloutsv1alpha1.Rollout)
			if !ok {
				continue
			}
			if done, err := visit(ro); done || err != nil {
				return done, err
			}
		}
	}
}

func newRolloutWatchCommand(k *kubeOptions) *cobra.Command {
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "watch NAME",
		Short: "Follow a Rollout until it is Healthy, RolledBack, Aborted or Paused",
		Long: `Follow a Rollout: print a timestamped line on every change of phase, step,
weight or canary revision, and each new analysis measurement.

Exit codes: 0 when the Rollout is Healthy, 1 when it is RolledBack or
Aborted (or on timeout), 2 when it is Paused (approve or retry it).`,
		Example: `  # Follow a rollout after changing its template
  kubectl apply -f web-rollout.yaml && ramp rollout watch web

  # Give up after 10 minutes
  ramp rollout watch web --timeout 10m`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			kc, err := k.connect(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			wr := &watcher{out: cmd.OutOrStdout(), hint: actionHint(cmd, k, args[0])}
			key := client.ObjectKey{Namespace: kc.namespace, Name: args[0]}
			err = follow(ctx, kc.client, key, cmd.ErrOrStderr(), wr.visit)
			switch {
			case errors.Is(err, context.DeadlineExceeded) && cmd.Context().Err() == nil && wr.last != nil:
				return &ExitError{Code: exitFailed, Err: fmt.Errorf("timed out after %s: rollout %s is still %s at %s",
					timeout, args[0], orDash(string(wr.last.Status.Phase)), stepName(wr.last))}
			case errors.Is(err, errRolloutDeleted):
				return fmt.Errorf("%w: %s in namespace %s", err, args[0], kc.namespace)
			}
			return err
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", 30*time.Minute, "how long to follow the rollout")
	return cmd
}

// watcher prints a Rollout's progress.
type watcher struct {
	out  io.Writer
	hint func(action string) string
	// last is the Rollout last seen; measured is the time of the newest
	// measurement printed.
	last     *rolloutsv1alpha1.Rollout
	measured time.Time
}

func (w *watcher) visit(ro *rolloutsv1alpha1.Rollout) (bool, error) {
	w.print(ro)
	st := &ro.Status
	if !observed(ro) {
		return false, nil
	}
	switch st.Phase {
	case rolloutsv1alpha1.PhaseHealthy:
		msg := ""
		if st.Message != "" {
			msg = ": " + st.Message
		}
		fmt.Fprintf(w.out, "Rollout %s is Healthy%s\n", ro.Name, msg)
		return true, nil
	case rolloutsv1alpha1.PhaseRolledBack, rolloutsv1alpha1.PhaseAborted:
		return true, &ExitError{Code: exitFailed, Err: fmt.Errorf("rollout %s is %s: %s", ro.Name, st.Phase, orDash(st.Message))}
	case rolloutsv1alpha1.PhasePaused:
		return true, &ExitError{Code: exitPaused, Err: fmt.Errorf("rollout %s is Paused: %s; resume it with `%s` or start over with `%s`",
			ro.Name, orDash(st.Message), w.hint(rolloutsv1alpha1.ActionApprove), w.hint(rolloutsv1alpha1.ActionRetry))}
	}
	return false, nil
}

// print writes a line when the Rollout's progress changed, and one per
// new measurement.
func (w *watcher) print(ro *rolloutsv1alpha1.Rollout) {
	st, prev := &ro.Status, w.last
	w.last = ro
	if prev == nil || progressChanged(prev, ro) {
		phase := orDash(string(st.Phase))
		if t := st.TransitionStartedAt; st.Phase.Transitional() && t != nil {
			phase += fmt.Sprintf(" (%s)", time.Since(t.Time).Round(time.Second))
		}
		line := fmt.Sprintf("%s  %-11s  %s", stamp(time.Now()), phase, progressText(ro))
		if !observed(ro) {
			line += fmt.Sprintf(" (generation %d not observed yet)", ro.Generation)
		}
		if st.Message != "" {
			line += ": " + st.Message
		}
		fmt.Fprintln(w.out, line)
	}
	ms := st.Measurements
	if prev == nil && len(ms) > 1 {
		ms = ms[len(ms)-1:] // only the newest one on the first line
	}
	for _, m := range ms {
		if m.Time.After(w.measured) {
			fmt.Fprintf(w.out, "%s  %s\n", stamp(m.Time.Time), measurementLine(m))
			w.measured = m.Time.Time
		}
	}
}

// progressText is the step, while a rollout runs, and the traffic.
func progressText(ro *rolloutsv1alpha1.Rollout) string {
	st := &ro.Status
	traffic := fmt.Sprintf("canary %s at %d%%", st.CanaryRevision, st.CanaryWeight)
	if st.CanaryRevision == "" {
		traffic = fmt.Sprintf("stable %s at 100%%", orDash(st.StableRevision))
	}
	if st.Phase == rolloutsv1alpha1.PhaseProgressing || st.Phase == rolloutsv1alpha1.PhasePaused {
		return stepName(ro) + "; " + traffic
	}
	return traffic
}

// progressChanged reports a change worth a line: phase, step, weight,
// canary revision, message or observed generation.
func progressChanged(a, b *rolloutsv1alpha1.Rollout) bool {
	sa, sb := &a.Status, &b.Status
	return sa.Phase != sb.Phase || stepName(a) != stepName(b) || sa.CanaryWeight != sb.CanaryWeight ||
		sa.CanaryRevision != sb.CanaryRevision || sa.Message != sb.Message || observed(a) != observed(b)
}

func stamp(t time.Time) string { return t.Local().Format(time.TimeOnly) }

// actionHint returns the command line of an action on the Rollout, with
// the connection flags the user gave.
func actionHint(cmd *cobra.Command, k *kubeOptions, name string) func(string) string {
	return func(action string) string {
		s := fmt.Sprintf("%s rollout %s %s", cmd.Root().DisplayName(), action, name)
		if k.namespace != "" {
			s += " -n " + k.namespace
		}
		if k.context != "" {
			s += " --context " + k.context
		}
		return s
	}
}
