package cli

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/yaml"

	rolloutsv1alpha1 "github.com/rampdev/ramp/apis/rollouts/v1alpha1"
	servingv1 "github.com/rampdev/ramp/apis/serving/v1"
)

// newRolloutCommand groups the Rollout commands; k holds the connection
// flags they share.
func newRolloutCommand(k *kubeOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "rollout",
		Aliases: []string{"rollouts", "ro"},
		Short:   "Inspect Rollouts, follow their progress and act on them",
		Long: `Inspect Rollouts, follow their progress and act on them.

Actions (promote, abort, retry, approve) set the annotations
` + rolloutsv1alpha1.AnnotationAction + `, ` + rolloutsv1alpha1.AnnotationActionID + ` and
` + rolloutsv1alpha1.AnnotationActionBy + `; the controller applies each action id once and
records the result in status.lastAction.`,
		Example: `  ramp rollout list -A
  ramp rollout get web
  ramp rollout watch web
  ramp rollout approve web -n shop`,
	}
	k.addFlags(cmd.PersistentFlags())
	cmd.AddCommand(
		newRolloutListCommand(k),
		newRolloutGetCommand(k),
		newRolloutStatusCommand(k),
		newRolloutWatchCommand(k),
		newRolloutCreateCommand(k),
		newRolloutSetCommand(k),
		newRolloutUndoCommand(k),
	)
	for _, a := range actions {
		cmd.AddCommand(newRolloutActionCommand(k, a))
	}
	return cmd
}

func newRolloutListCommand(k *kubeOptions) *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List Rollouts with their phase, step, canary weight and revisions",
		Example: `  # Rollouts in the current namespace
  ramp rollout list

  # In every namespace
  ramp rollout list -A`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			kc, err := k.connect(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			var opts []client.ListOption
			if !all {
				opts = append(opts, client.InNamespace(kc.namespace))
			}
			var list rolloutsv1alpha1.RolloutList
			if err := kc.client.List(cmd.Context(), &list, opts...); err != nil {
				return fmt.Errorf("listing rollouts: %w", err)
			}
			if len(list.Items) == 0 {
				if all {
					fmt.Fprintln(cmd.ErrOrStderr(), "No rollouts found.")
				} else {
					fmt.Fprintf(cmd.ErrOrStderr(), "No rollouts found in namespace %s.\n", kc.namespace)
				}
				return nil
			}
			return printList(cmd, list.Items, all, time.Now())
		},
	}
	cmd.Flags().BoolVarP(&all, "all-namespaces", "A", false, "list the Rollouts of every namespace")
	return cmd
}

func printList(cmd *cobra.Command, items []rolloutsv1alpha1.Rollout, all bool, now time.Time) error {
	tw := newTable(cmd.OutOrStdout())
	if all {
		fmt.Fprint(tw, "NAMESPACE\t")
	}
	fmt.Fprintln(tw, "NAME\tPHASE\tSTEP\tCANARY WEIGHT\tSTABLE\tCANARY\tAGE")
	for i := range items {
		ro := &items[i]
		if all {
			fmt.Fprintf(tw, "%s\t", ro.Namespace)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d%%\t%s\t%s\t%s\n", ro.Name, orDash(string(ro.Status.Phase)), stepColumn(ro),
			ro.Status.CanaryWeight, orDash(ro.Status.StableRevision), orDash(ro.Status.CanaryRevision), age(ro.CreationTimestamp, now))
	}
	return tw.Flush()
}

func newRolloutGetCommand(k *kubeOptions) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "get NAME",
		Short: "Show a Rollout: phase, steps, traffic, revisions, analysis, conditions and last action",
		Example: `  # Human-readable detail
  ramp rollout get web

  # The whole object
  ramp rollout get web -o yaml`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "" && output != "yaml" && output != "json" {
				return fmt.Errorf("unknown output format %q: want yaml or json", output)
			}
			kc, err := k.connect(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			ro, err := kc.getRollout(cmd, args[0])
			if err != nil {
				return err
			}
			if output != "" {
				return printObject(cmd, kc.client, ro, output)
			}
			revisions := map[string]*servingv1.Revision{}
			for _, name := range []string{ro.Status.StableRevision, ro.Status.CanaryRevision} {
				if name == "" {
					continue
				}
				rev := &servingv1.Revision{}
				// The Revisions add their Ready state; without them
				// (deleted, or not readable) the names are enough.
				if err := kc.client.Get(cmd.Context(), client.ObjectKey{Namespace: ro.Namespace, Name: name}, rev); err == nil {
					revisions[name] = rev
				}
			}
			return describe(cmd.OutOrStdout(), ro, revisions, time.Now())
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "print the object as yaml or json")
	return cmd
}

func (k *kube) getRollout(cmd *cobra.Command, name string) (*rolloutsv1alpha1.Rollout, error) {
	ro := &rolloutsv1alpha1.Rollout{}
	if err := k.client.Get(cmd.Context(), client.ObjectKey{Namespace: k.namespace, Name: name}, ro); err != nil {
		return nil, notFound(err, k.namespace, name)
	}
	return ro, nil
}

// printObject prints ro with its apiVersion and kind, without managed
// fields (as kubectl does).
func printObject(cmd *cobra.Command, c client.Client, ro *rolloutsv1alpha1.Rollout, format string) error {
	gvk, err := apiutil.GVKForObject(ro, c.Scheme())
	if err != nil {
		return err
	}
	ro = ro.DeepCopy()
	ro.SetGroupVersionKind(gvk)
	ro.ManagedFields = nil
	var b []byte
	if format == "json" {
		b, err = json.MarshalIndent(ro, "", "    ")
		b = append(b, '\n')
	} else {
		b, err = yaml.Marshal(ro)
	}
	if err != nil {
		return err
	}
	_, err = cmd.OutOrStdout().Write(b)
	return err
}

func newRolloutStatusCommand(k *kubeOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "status NAME",
		Short: "Print a Rollout's phase, step and weight in one line; the exit code tells the phase",
		Long: `Print a Rollout's phase, step and canary weight in one line, for scripts.

Exit codes: 0 Healthy, 1 RolledBack or Aborted, 2 Paused, 3 Progressing (or RollingBack/Aborting: the traffic is still on its way back)
(also while the controller has not yet seen the latest spec).`,
		Example: `  ramp rollout status web
  # web Progressing step=2/4 weight=20% canary=web-00002 stable=web-00001

  # Wait in a script until the rollout ends
  while ramp rollout status web; [ $? -eq 3 ]; do sleep 5; done`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			kc, err := k.connect(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			ro, err := kc.getRollout(cmd, args[0])
			if err != nil {
				return err
			}
			st := ro.Status
			stale := ""
			if !observed(ro) {
				stale = fmt.Sprintf(" (generation %d not observed yet)", ro.Generation)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s %s step=%s weight=%d%% canary=%s stable=%s%s\n", ro.Name, orDash(string(st.Phase)),
				stepColumn(ro), st.CanaryWeight, orDash(st.CanaryRevision), orDash(st.StableRevision), stale)
			if code := phaseExitCode(ro); code != exitHealthy {
				return &ExitError{Code: code}
			}
			return nil
		},
	}
}

// phaseExitCode maps the phase to the exit codes of `rollout status`.
func phaseExitCode(ro *rolloutsv1alpha1.Rollout) int {
	if !observed(ro) {
		return exitProgressing
	}
	switch ro.Status.Phase {
	case rolloutsv1alpha1.PhaseHealthy:
		return exitHealthy
	case rolloutsv1alpha1.PhaseRolledBack, rolloutsv1alpha1.PhaseAborted:
		return exitFailed
	case rolloutsv1alpha1.PhasePaused:
		return exitPaused
	}
	return exitProgressing
}
