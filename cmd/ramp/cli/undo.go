package cli

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rolloutsv1alpha1 "github.com/rampdev/ramp/apis/rollouts/v1alpha1"
	servingv1 "github.com/rampdev/ramp/apis/serving/v1"
)

// errNoEarlierRevision: undo found nothing to go back to.
var errNoEarlierRevision = errors.New("no earlier revision to roll back to")

func newRolloutUndoCommand(k *kubeOptions) *cobra.Command {
	var (
		toRevision   string
		skipAnalysis bool
		wait         time.Duration
	)
	cmd := &cobra.Command{
		Use:   "undo NAME",
		Short: "Roll back to an earlier revision through the rollout's steps and analysis",
		Long: `Set the Rollout's template to an earlier Revision's (the one before the
revision that serves the current template, or --to-revision's): the
Rollout then rolls it out like any new template, through its steps and
analysis, as a new revision. With --skip-analysis, once the controller has
started that rollout, it is promoted at once (a promote action).`,
		Example: `  ramp rollout undo web
  ramp rollout undo web --to-revision 3
  ramp rollout undo web --to-revision web-00003 --skip-analysis`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			kc, err := k.connect(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			return undo(cmd, kc, args[0], toRevision, skipAnalysis, wait)
		},
	}
	f := cmd.Flags()
	f.StringVar(&toRevision, "to-revision", "", "the revision to go back to: its number (3) or name (web-00003); default the one before the current")
	f.BoolVar(&skipAnalysis, "skip-analysis", false, "promote the rolled-back revision at once instead of stepping it through the analysis")
	f.DurationVar(&wait, "wait", 30*time.Second, "with --skip-analysis, how long to wait for the controller to start the rollout")
	return cmd
}

// revisionName is --to-revision's revision: "3" is <name>-00003.
func revisionName(rollout, to string) string {
	if n, err := strconv.Atoi(to); err == nil && n > 0 {
		return fmt.Sprintf("%s-%05d", rollout, n)
	}
	return to
}

func undo(cmd *cobra.Command, kc *kube, name, to string, skipAnalysis bool, wait time.Duration) error {
	ctx := cmd.Context()
	key := client.ObjectKey{Namespace: kc.namespace, Name: name}
	ro := &rolloutsv1alpha1.Rollout{}
	if err := kc.client.Get(ctx, key, ro); err != nil {
		return notFound(err, kc.namespace, name)
	}
	var revs servingv1.RevisionList
	if err := kc.client.List(ctx, &revs, client.InNamespace(kc.namespace), client.MatchingLabels{servingv1.LabelConfiguration: name}); err != nil {
		return fmt.Errorf("listing the revisions of rollout %s: %w", name, err)
	}
	gen := func(r *servingv1.Revision) int64 {
		g, _ := strconv.ParseInt(r.Labels[servingv1.LabelConfigurationGen], 10, 64)
		return g
	}
	items := revs.Items
	sort.Slice(items, func(i, j int) bool {
		return gen(&items[i]) < gen(&items[j]) || (gen(&items[i]) == gen(&items[j]) && items[i].Name < items[j].Name)
	})
	var names []string
	for i := range items {
		names = append(names, items[i].Name)
	}
	var target *servingv1.Revision
	if to != "" {
		want := revisionName(name, to)
		for i := range items {
			if items[i].Name == want {
				target = &items[i]
			}
		}
		if target == nil {
			return fmt.Errorf("rollout %s has no revision %s (it has %s)", name, want, orDash(strings.Join(names, ", ")))
		}
	}
	// The revision of the current template: the canary while one rolls
	// out, else the stable (else the one made from the same template).
	cur := -1
	for i := range items {
		if n := items[i].Name; n == ro.Status.CanaryRevision || (ro.Status.CanaryRevision == "" && n == ro.Status.StableRevision) {
			cur = i
		}
	}
	if cur < 0 {
		for i := range items {
			if sameTemplate(&items[i], &ro.Spec.Template) {
				cur = i
			}
		}
	}
	if target == nil {
		// The newest revision before the current one, with another
		// template.
		for i := cur - 1; i >= 0; i-- {
			if cur >= 0 && !equalTemplates(templateOf(&items[i]), templateOf(&items[cur])) {
				target = &items[i]
				break
			}
		}
		if target == nil {
			return fmt.Errorf("%w: rollout %s has %s", errNoEarlierRevision, name, orDash(strings.Join(names, ", ")))
		}
	}
	if cur >= 0 && equalTemplates(templateOf(target), templateOf(&items[cur])) {
		fmt.Fprintf(cmd.OutOrStdout(), "Rollout %s already runs %s's template (as %s): nothing to roll back\n", name, target.Name, items[cur].Name)
		return nil
	}
	ro.Spec.Template = templateOf(target)
	if err := kc.client.Update(ctx, ro); err != nil {
		if apierrors.IsConflict(err) {
			return fmt.Errorf("rollout %s changed while rolling it back; run the command again: %w", name, err)
		}
		return fmt.Errorf("rolling rollout %s back to %s: %w", name, target.Name, err)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "Rollout %s: template set to %s's (generation %d); it rolls out as a new revision\n", name, target.Name, ro.Generation)
	if !skipAnalysis {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	generation := ro.Generation
	err := follow(ctx, kc.client, key, cmd.ErrOrStderr(), func(ro *rolloutsv1alpha1.Rollout) (bool, error) {
		return ro.Status.ObservedGeneration >= generation && ro.Status.CanaryRevision != "", nil
	})
	if errors.Is(err, context.DeadlineExceeded) && cmd.Context().Err() == nil {
		return fmt.Errorf("the controller did not start the rollout within %s: promote it yourself with `%s rollout promote %s -n %s`",
			wait, cmd.Root().DisplayName(), name, kc.namespace)
	}
	if err != nil {
		return err
	}
	id := newActionID()
	if err := requestAction(cmd.Context(), kc.client, key, rolloutsv1alpha1.ActionPromote, id, kc.actor()); err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "Requested promote of rollout %s (id %s): the analysis is skipped\n", name, id)
	return nil
}

// sameTemplate reports whether a Revision was made from tpl.
func sameTemplate(rev *servingv1.Revision, tpl *servingv1.RevisionTemplateSpec) bool {
	t := *tpl.DeepCopy()
	t.Metadata.Name = ""
	return equalTemplates(templateOf(rev), t)
}

func equalTemplates(a, b servingv1.RevisionTemplateSpec) bool {
	return equality.Semantic.DeepEqual(a.Spec, b.Spec) && equality.Semantic.DeepEqual(a.Metadata.Annotations, b.Metadata.Annotations) &&
		equality.Semantic.DeepEqual(a.Metadata.Labels, b.Metadata.Labels)
}

// templateOf is the template a Revision was made from: its spec, its
// annotations and its labels but those the controllers add; no name (the
// new revision is named by the controller).
func templateOf(rev *servingv1.Revision) servingv1.RevisionTemplateSpec {
	t := servingv1.RevisionTemplateSpec{Spec: *rev.Spec.DeepCopy()}
	for k, v := range rev.Labels {
		if strings.HasPrefix(k, "serving.ramp.dev/") {
			continue
		}
		if t.Metadata.Labels == nil {
			t.Metadata.Labels = map[string]string{}
		}
		t.Metadata.Labels[k] = v
	}
	for k, v := range rev.Annotations {
		if t.Metadata.Annotations == nil {
			t.Metadata.Annotations = map[string]string{}
		}
		t.Metadata.Annotations[k] = v
	}
	return t
}
