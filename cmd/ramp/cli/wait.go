package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rolloutsv1alpha1 "github.com/rampdev/ramp/apis/rollouts/v1alpha1"
)

// Exit codes of ramp wait.
const (
	waitFailed  = 1 // the Rollout ended otherwise: rolled back, aborted, or promoted when waiting for a rollback
	waitTimeout = 2
)

// Conditions ramp wait waits for.
const (
	forHealthy    = "Healthy"
	forPromoted   = "Promoted"
	forRolledBack = "RolledBack"
)

func newWaitCommand() *cobra.Command {
	k := &kubeOptions{}
	var (
		timeout time.Duration
		cond    string
	)
	cmd := &cobra.Command{
		Use:   "wait rollout NAME --for=Healthy|Promoted|RolledBack",
		Short: "Wait until a Rollout is Healthy, Promoted or RolledBack: a gate for CI pipelines",
		Long: `Wait until the Rollout reaches the wanted state for its current generation
(after a kubectl apply, the old generation's state does not count), printing
a timestamped line on every change of phase, step, weight or measurement.

  --for=Healthy     the Rollout is Healthy: the stable revision has all the
                    traffic and serves the current template
  --for=Promoted    the same, and the canary that was rolling out while
                    waiting is the one that got promoted (a Rollout already
                    Healthy at its current generation counts as promoted)
  --for=RolledBack  the canary was rolled back (analysis or deadline)

Exit codes: 0 when the Rollout reaches the state; 1 when it ends otherwise
(RolledBack or Aborted while waiting for Healthy or Promoted; Healthy or
Aborted while waiting for RolledBack); 2 on timeout. A Paused Rollout is
waited on (someone may approve it); its line says how to resume it.`,
		Example: `  # In a pipeline, after applying a new template
  kubectl apply -f web-rollout.yaml
  ramp wait rollout web --for=Promoted --timeout 15m

  # Expect the rollback of a deliberately bad canary
  ramp wait rollout web -n staging --for=RolledBack --timeout 10m`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 2 || (args[0] != "rollout" && args[0] != "rollouts" && args[0] != "ro") {
				return errors.New(`usage: wait rollout NAME --for=Healthy|Promoted|RolledBack`)
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			switch cond {
			case forHealthy, forPromoted, forRolledBack:
			case "":
				return errors.New("--for is required: Healthy, Promoted or RolledBack")
			default:
				return fmt.Errorf("--for=%s: must be Healthy, Promoted or RolledBack", cond)
			}
			if timeout <= 0 {
				return fmt.Errorf("--timeout %s: must be positive", timeout)
			}
			kc, err := k.connect(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			name := args[1]
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			w := &waiter{cond: cond, watcher: watcher{out: cmd.OutOrStdout(), hint: actionHint(cmd, k, name)}}
			err = follow(ctx, kc.client, client.ObjectKey{Namespace: kc.namespace, Name: name}, cmd.ErrOrStderr(), w.visit)
			switch {
			case errors.Is(err, context.DeadlineExceeded) && cmd.Context().Err() == nil:
				state := "not seen"
				if ro := w.last; ro != nil {
					state = orDash(string(ro.Status.Phase)) + " at " + stepName(ro)
				}
				return &ExitError{Code: waitTimeout, Err: fmt.Errorf("timed out after %s waiting for rollout %s to be %s: it is %s", timeout, name, cond, state)}
			case errors.Is(err, errRolloutDeleted):
				return &ExitError{Code: waitFailed, Err: fmt.Errorf("%w: %s in namespace %s", err, name, kc.namespace)}
			}
			return err
		},
	}
	k.addFlags(cmd.Flags())
	cmd.Flags().StringVar(&cond, "for", "", "the state to wait for: Healthy, Promoted or RolledBack")
	cmd.Flags().DurationVar(&timeout, "timeout", 10*time.Minute, "how long to wait")
	return cmd
}

// waiter prints progress like rollout watch and decides the wait.
type waiter struct {
	watcher
	cond string
	// canary is the canary revision last seen rolling out.
	canary string
}

func (w *waiter) visit(ro *rolloutsv1alpha1.Rollout) (bool, error) {
	wasPaused := w.last != nil && w.last.Status.Phase == rolloutsv1alpha1.PhasePaused
	w.print(ro)
	st := &ro.Status
	if st.Phase == rolloutsv1alpha1.PhasePaused && !wasPaused {
		fmt.Fprintf(w.out, "Rollout %s is Paused, still waiting: resume it with `%s` or start over with `%s`\n",
			ro.Name, w.hint(rolloutsv1alpha1.ActionApprove), w.hint(rolloutsv1alpha1.ActionRetry))
	}
	if st.CanaryRevision != "" && observed(ro) {
		w.canary = st.CanaryRevision
	}
	if !observed(ro) {
		return false, nil
	}
	fail := func(format string, a ...any) (bool, error) {
		return true, &ExitError{Code: waitFailed, Err: fmt.Errorf(format, a...)}
	}
	switch st.Phase {
	case rolloutsv1alpha1.PhaseHealthy:
		switch {
		case w.cond == forRolledBack:
			return fail("rollout %s is Healthy (%s has all the traffic), not RolledBack", ro.Name, orDash(st.StableRevision))
		case w.cond == forPromoted && w.canary != "" && st.StableRevision != w.canary:
			return fail("rollout %s is Healthy on %s, but the canary %s was not promoted", ro.Name, orDash(st.StableRevision), w.canary)
		}
		fmt.Fprintf(w.out, "Rollout %s is %s: %s has all the traffic\n", ro.Name, w.cond, orDash(st.StableRevision))
		return true, nil
	case rolloutsv1alpha1.PhaseRolledBack:
		if w.cond == forRolledBack {
			fmt.Fprintf(w.out, "Rollout %s is RolledBack: %s\n", ro.Name, orDash(st.Message))
			return true, nil
		}
		return fail("rollout %s is RolledBack: %s", ro.Name, orDash(st.Message))
	case rolloutsv1alpha1.PhaseAborted:
		return fail("rollout %s is Aborted: %s", ro.Name, orDash(st.Message))
	}
	return false, nil
}
