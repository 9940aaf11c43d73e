package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rolloutsv1alpha1 "github.com/rampdev/ramp/apis/rollouts/v1alpha1"
	"github.com/rampdev/ramp/cmd/internal/rolloutaction"
)

// Errors of the action commands.
var (
	// errActionNotApplied: the controller handled the action but ignored
	// or rejected it; the error carries its recorded result.
	errActionNotApplied = errors.New("the controller did not apply the action")
	// errActionTimeout: no result in status.lastAction within --wait.
	errActionTimeout = errors.New("timed out waiting for the controller")
)

// actionSpec describes one action command.
type actionSpec struct {
	name, short, example string
}

var actions = []actionSpec{
	{
		name:  rolloutsv1alpha1.ActionPromote,
		short: "Skip the remaining steps: send all the traffic to the canary now",
		example: `  ramp rollout promote web
  # Do not wait for the controller's answer
  ramp rollout promote web --wait=0`,
	},
	{
		name:    rolloutsv1alpha1.ActionAbort,
		short:   "Stop the rollout: send all the traffic back to the stable revision",
		example: `  ramp rollout abort web -n shop`,
	},
	{
		name:    rolloutsv1alpha1.ActionRetry,
		short:   "Start an Aborted, RolledBack or Paused rollout over from the first step",
		example: `  ramp rollout retry web`,
	},
	{
		name:  rolloutsv1alpha1.ActionApprove,
		short: "Pass an approval step, promote a blue/green preview, or resume a Paused rollout",
		example: `  ramp rollout approve web
  # Wait up to 2 minutes for the controller
  ramp rollout approve web --wait 2m`,
	},
}

func newRolloutActionCommand(k *kubeOptions, a actionSpec) *cobra.Command {
	var wait time.Duration
	cmd := &cobra.Command{
		Use:   a.name + " NAME",
		Short: a.short,
		Long: a.short + `.

The command sets the annotations ` + rolloutsv1alpha1.AnnotationAction + `=` + a.name + `,
` + rolloutsv1alpha1.AnnotationActionID + ` (a fresh id) and ` + rolloutsv1alpha1.AnnotationActionBy + ` (the
kubeconfig user, else $USER), then waits until the controller records the
action in status.lastAction and prints its result. It fails when the
controller ignored or rejected the action, saying why.`,
		Example: a.example,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			kc, err := k.connect(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			return runAction(cmd, kc, a.name, args[0], wait)
		},
	}
	cmd.Flags().DurationVar(&wait, "wait", 30*time.Second, "how long to wait for the controller's result; 0 does not wait")
	return cmd
}

func runAction(cmd *cobra.Command, kc *kube, action, name string, wait time.Duration) error {
	out := cmd.OutOrStdout()
	key := client.ObjectKey{Namespace: kc.namespace, Name: name}
	id := newActionID()
	by := kc.actor()
	if err := requestAction(cmd.Context(), kc.client, key, action, id, by); err != nil {
		return err
	}
	who := ""
	if by != "" {
		who = ", by " + by
	}
	fmt.Fprintf(out, "Requested %s of rollout %s in namespace %s (id %s%s)\n", action, name, kc.namespace, id, who)
	if wait <= 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), wait)
	defer cancel()
	var rec *rolloutsv1alpha1.ActionRecord
	err := follow(ctx, kc.client, key, cmd.ErrOrStderr(), func(ro *rolloutsv1alpha1.Rollout) (bool, error) {
		if a := ro.Status.LastAction; a != nil && a.ID == id {
			rec = a.DeepCopy()
			return true, nil
		}
		return false, nil
	})
	switch {
	case errors.Is(err, context.DeadlineExceeded) && cmd.Context().Err() == nil:
		return fmt.Errorf("%w after %s: the controller has not handled %s (id %s) of rollout %s in namespace %s; it may not be running (check its pods, e.g. kubectl -n ramp-system get pods); the annotations stay, so it will act on them when it runs",
			errActionTimeout, wait, action, id, name, kc.namespace)
	case err != nil:
		return err
	}
	if strings.HasPrefix(rec.Result, "ignored") || strings.HasPrefix(rec.Result, "rejected") {
		return fmt.Errorf("%w %s to rollout %s: %s", errActionNotApplied, action, name, rec.Result)
	}
	fmt.Fprintf(out, "Rollout %s: %s\n", name, rec.Result)
	return nil
}

// requestAction requests action of the Rollout key (rolloutaction.Request),
// explaining a Rollout that does not exist.
func requestAction(ctx context.Context, c client.Client, key client.ObjectKey, action, id, by string) error {
	err := rolloutaction.Request(ctx, c, key, action, id, by)
	if apierrors.IsNotFound(err) {
		return notFound(err, key.Namespace, key.Name)
	}
	return err
}

// newActionID returns a random id: 80 bits in lower-case base32.
func newActionID() string { return rolloutaction.NewID() }
