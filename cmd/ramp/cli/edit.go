package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	rolloutsv1alpha1 "github.com/rampdev/ramp/apis/rollouts/v1alpha1"
	servingv1 "github.com/rampdev/ramp/apis/serving/v1"
)

// createOptions are the flags of rollout create.
type createOptions struct {
	image     string
	port      int32
	env       []string
	steps     string
	pause     time.Duration
	blueGreen bool
	dryRun    bool
}

func newRolloutCreateCommand(k *kubeOptions) *cobra.Command {
	o := &createOptions{}
	cmd := &cobra.Command{
		Use:   "create NAME --image IMAGE",
		Short: "Create a Rollout of one container, for pipelines that do not use GitOps",
		Long: `Create a Rollout of one container with canary steps (--steps, each
optionally followed by --pause) or blue/green (--blue-green), and the
default analysis. Its first revision goes straight to 100%; change the
image later with ` + "`ramp rollout set image`" + `. --dry-run prints the Rollout
as YAML instead. The API server checks it as it checks any manifest, and
its errors name the field.`,
		Example: `  ramp rollout create web --image ghcr.io/acme/web:1.0 --port 8080 --steps 10,50 --pause 1m
  ramp rollout create web --image ghcr.io/acme/web:1.0 --blue-green --env MODE=prod
  ramp rollout create web --image ghcr.io/acme/web:1.0 --dry-run > web-rollout.yaml`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ro, err := o.rollout(args[0])
			if err != nil {
				return err
			}
			if o.dryRun {
				b, err := yaml.Marshal(ro)
				if err != nil {
					return err
				}
				_, err = cmd.OutOrStdout().Write(b)
				return err
			}
			kc, err := k.connect(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			ro.Namespace = kc.namespace
			if err := kc.client.Create(cmd.Context(), ro); err != nil {
				if apierrors.IsAlreadyExists(err) {
					return fmt.Errorf("rollout %s already exists in namespace %s: change its image with `%s rollout set image %s IMAGE`",
						ro.Name, kc.namespace, cmd.Root().DisplayName(), ro.Name)
				}
				return fmt.Errorf("creating rollout %s in namespace %s: %w", ro.Name, kc.namespace, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Rollout %s created in namespace %s; follow it with `%s rollout watch %s -n %s`\n",
				ro.Name, kc.namespace, cmd.Root().DisplayName(), ro.Name, kc.namespace)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.image, "image", "", "the container image (required)")
	f.Int32Var(&o.port, "port", 8080, "the port the container serves HTTP on")
	f.StringArrayVar(&o.env, "env", nil, "an environment variable NAME=VALUE (repeatable)")
	f.StringVar(&o.steps, "steps", "20,50", "canary weights in percent, comma-separated, rising")
	f.DurationVar(&o.pause, "pause", 0, "a pause after each canary step")
	f.BoolVar(&o.blueGreen, "blue-green", false, "blue/green (a preview tag, then all at once on approve) instead of canary steps")
	f.BoolVar(&o.dryRun, "dry-run", false, "print the Rollout as YAML; create nothing")
	return cmd
}

// rollout builds the Rollout the flags describe.
func (o *createOptions) rollout(name string) (*rolloutsv1alpha1.Rollout, error) {
	if o.image == "" {
		return nil, errors.New("--image is required")
	}
	if o.port < 1 || o.port > 65535 {
		return nil, fmt.Errorf("--port %d: must be 1 to 65535", o.port)
	}
	c := servingv1.Container{Image: o.image, Ports: []servingv1.ContainerPort{{ContainerPort: o.port}}}
	for _, e := range o.env {
		n, v, ok := strings.Cut(e, "=")
		if !ok || n == "" {
			return nil, fmt.Errorf("--env %q: must be NAME=VALUE", e)
		}
		c.Env = append(c.Env, corev1.EnvVar{Name: n, Value: v})
	}
	ro := &rolloutsv1alpha1.Rollout{
		TypeMeta:   metav1.TypeMeta{APIVersion: rolloutsv1alpha1.GroupVersion.String(), Kind: "Rollout"},
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       rolloutsv1alpha1.RolloutSpec{Template: servingv1.RevisionTemplateSpec{Spec: servingv1.RevisionSpec{Containers: []servingv1.Container{c}}}},
	}
	if o.blueGreen {
		ro.Spec.Strategy.BlueGreen = &rolloutsv1alpha1.BlueGreenStrategy{}
		return ro, nil
	}
	steps, err := o.canarySteps()
	if err != nil {
		return nil, err
	}
	ro.Spec.Strategy.Canary = &rolloutsv1alpha1.CanaryStrategy{Steps: steps}
	return ro, nil
}

func (o *createOptions) canarySteps() ([]rolloutsv1alpha1.CanaryStep, error) {
	var steps []rolloutsv1alpha1.CanaryStep
	last := int64(-1)
	for _, f := range strings.Split(o.steps, ",") {
		w, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(f), "%"), 10, 32)
		switch {
		case err != nil:
			return nil, fmt.Errorf("--steps %q: %q is not a whole percentage", o.steps, f)
		case w < 0 || w > 100:
			return nil, fmt.Errorf("--steps %q: %d is not between 0 and 100", o.steps, w)
		case w < last:
			return nil, fmt.Errorf("--steps %q: weights must not decrease (%d after %d)", o.steps, w, last)
		}
		last = w
		s := rolloutsv1alpha1.CanaryStep{Weight: ptr.To(int32(w))}
		if o.pause > 0 {
			s.Pause = &metav1.Duration{Duration: o.pause}
		}
		steps = append(steps, s)
	}
	return steps, nil
}

func newRolloutSetCommand(k *kubeOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "set",
		Short: "Change a Rollout's template",
	}
	var container string
	image := &cobra.Command{
		Use:   "image NAME IMAGE",
		Short: "Set the image of a Rollout's container: a new revision rolls out",
		Long: `Set the image of a Rollout's container (the only one, or -c's). The
template change makes a new revision, which the Rollout rolls out through
its steps and analysis. Nothing changes when the container already runs
IMAGE.`,
		Example: `  ramp rollout set image web ghcr.io/acme/web:1.1
  ramp rollout set image web ghcr.io/acme/web:1.1 -c web && ramp wait rollout web --for=Promoted`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			kc, err := k.connect(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			return setImage(cmd, kc, args[0], container, args[1])
		},
	}
	image.Flags().StringVarP(&container, "container", "c", "", "the container's name (needed when there are several)")
	cmd.AddCommand(image)
	return cmd
}

func setImage(cmd *cobra.Command, kc *kube, name, container, img string) error {
	ctx := cmd.Context()
	key := client.ObjectKey{Namespace: kc.namespace, Name: name}
	ro := &rolloutsv1alpha1.Rollout{}
	if err := kc.client.Get(ctx, key, ro); err != nil {
		return notFound(err, kc.namespace, name)
	}
	cs := ro.Spec.Template.Spec.Containers
	i := -1
	var names []string
	for j, c := range cs {
		names = append(names, orDash(c.Name))
		if c.Name == container || (container == "" && len(cs) == 1) {
			i = j
		}
	}
	switch {
	case i < 0 && container == "":
		return fmt.Errorf("rollout %s has %d containers (%s): name one with -c", name, len(cs), strings.Join(names, ", "))
	case i < 0:
		return fmt.Errorf("rollout %s has no container %q (it has %s)", name, container, strings.Join(names, ", "))
	case cs[i].Image == img:
		fmt.Fprintf(cmd.OutOrStdout(), "Rollout %s already runs %s: nothing to roll out\n", name, img)
		return nil
	}
	// A JSON patch that tests the old image: a concurrent change fails
	// instead of being overwritten.
	path := fmt.Sprintf("/spec/template/spec/containers/%d/image", i)
	patch, err := json.Marshal([]map[string]any{
		{"op": "test", "path": path, "value": cs[i].Image},
		{"op": "replace", "path": path, "value": img},
	})
	if err != nil {
		return err
	}
	if err := kc.client.Patch(ctx, ro, client.RawPatch(types.JSONPatchType, patch)); err != nil {
		return fmt.Errorf("setting the image of rollout %s: %w", name, err)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "Rollout %s: image %s (was %s); a new revision rolls out: `%s rollout watch %s -n %s`\n",
		name, img, cs[i].Image, cmd.Root().DisplayName(), name, kc.namespace)
	return nil
}
