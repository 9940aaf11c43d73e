package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Action is one request from a user to change a Rollout.
type Action struct {
	Namespace string
	Rollout   string
	// Verb is one of VerbApprove, VerbAbort, VerbPromote and VerbRetry.
	Verb string
	// ID is the same for repeats of one request (a second click on the same
	// button, a retried delivery), so applying an action is idempotent.
	ID string
	// User is the Slack user ID of whoever asked.
	User string
	// Run is the run of the Rollout a button was made for; the action is
	// refused if the Rollout has moved on to another run. Nil for slash
	// commands, which act on the Rollout as it is.
	Run *Run
}

// Run identifies one run of a Rollout: its metadata.generation and the
// canary revision in its status when a notification was sent. A spec change
// (a new template starts a new canary) makes a new generation, and the end
// of a rollout clears the canary, so a button of an earlier run no longer
// matches.
type Run struct {
	Generation int64
	// CanaryRevision is empty when the canary revision did not exist yet;
	// then only the generation is compared.
	CanaryRevision string
}

// Actor applies actions to Rollouts and reports their status. Both methods
// return a message for people.
type Actor interface {
	Act(ctx context.Context, a Action) (string, error)
	Status(ctx context.Context, namespace, name string) (string, error)
}

// ErrNotFound is wrapped when the target Rollout does not exist.
var ErrNotFound = errors.New("not found")

// ErrAlreadyDone is wrapped when the Rollout already carries the action's
// ID: a repeat (a double click, a retried delivery, possibly to another
// replica) that changes nothing.
var ErrAlreadyDone = errors.New("already done")

// ErrStale is wrapped when a button was made for another run of the
// Rollout than the current one; nothing is changed.
var ErrStale = errors.New("this button is out of date")

// The annotations through which RolloutActor hands an action to the Rollout
// controller. The controller applies an action once per action ID.
const (
	AnnotationAction   = "rollouts.ramp.dev/action"
	AnnotationActionID = "rollouts.ramp.dev/action-id"
	AnnotationActionBy = "rollouts.ramp.dev/action-by"
	// AnnotationActionRun is <action-id>/<generation>/<canary-revision>: the
	// run a button's action was made for. The Rollout controller ignores the
	// action when the Rollout is no longer on that run, which catches a
	// change between RolloutActor's check and its patch. It binds to its
	// action ID, so an action set later without it (by the CLI or kubectl)
	// is not checked against a leftover one.
	AnnotationActionRun = "rollouts.ramp.dev/action-run"
)

// RolloutGVK is the Rollout kind. RolloutActor reads and patches Rollouts as
// unstructured objects, so this package does not depend on the API types.
var RolloutGVK = schema.GroupVersionKind{Group: "rollouts.ramp.dev", Version: "v1alpha1", Kind: "Rollout"}

// RolloutActor applies actions by annotating Rollouts; the Rollout controller
// does the rest.
type RolloutActor struct {
	Client client.Client
}

var _ Actor = (*RolloutActor)(nil)

// Act implements Actor. It merge-patches the action annotations onto the
// Rollout, unless the Rollout already carries the action's ID
// (ErrAlreadyDone), or the action's button was made for another run of the
// Rollout (ErrStale).
func (r *RolloutActor) Act(ctx context.Context, a Action) (string, error) {
	if !IsVerb(a.Verb) {
		return "", fmt.Errorf("unknown action %q for rollout %s/%s", a.Verb, a.Namespace, a.Rollout)
	}
	u, err := r.get(ctx, a.Namespace, a.Rollout)
	if err != nil {
		return "", err
	}
	if u.GetAnnotations()[AnnotationActionID] == a.ID {
		return "", fmt.Errorf("rollout %s/%s already carries action %s: %w", a.Namespace, a.Rollout, a.ID, ErrAlreadyDone)
	}
	annotations := map[string]any{
		AnnotationAction:   a.Verb,
		AnnotationActionID: a.ID,
		AnnotationActionBy: "slack:" + a.User,
		// null removes an earlier action's run.
		AnnotationActionRun: nil,
	}
	if a.Run != nil {
		if why := staleReason(u, *a.Run); why != "" {
			return "", fmt.Errorf("%w: %s. Now: %s", ErrStale, why, describe(u))
		}
		annotations[AnnotationActionRun] = RunAnnotation(a.ID, *a.Run)
	}
	patch, err := json.Marshal(map[string]any{
		"metadata": map[string]any{"annotations": annotations},
	})
	if err != nil {
		return "", fmt.Errorf("encoding the %s patch for rollout %s/%s: %w", a.Verb, a.Namespace, a.Rollout, err)
	}
	if err := r.Client.Patch(ctx, u, client.RawPatch(types.MergePatchType, patch)); err != nil {
		if apierrors.IsNotFound(err) {
			return "", fmt.Errorf("rollout %s/%s %w", a.Namespace, a.Rollout, ErrNotFound)
		}
		return "", fmt.Errorf("patching rollout %s/%s: %w", a.Namespace, a.Rollout, err)
	}
	return fmt.Sprintf("%s requested for rollout %s/%s", capitalise(a.Verb), a.Namespace, a.Rollout), nil
}

// RunAnnotation is the value of AnnotationActionRun for the action id made
// for run.
func RunAnnotation(id string, run Run) string {
	return id + "/" + strconv.FormatInt(run.Generation, 10) + "/" + run.CanaryRevision
}

// staleReason says how the Rollout u has left run, or returns "" while it
// is still on it.
func staleReason(u *unstructured.Unstructured, run Run) string {
	generation := u.GetGeneration()
	canary, _, _ := unstructured.NestedString(u.Object, "status", "canaryRevision")
	switch {
	case run.Generation != generation:
		return fmt.Sprintf("it was made for generation %d of rollout %s/%s%s, which is now at generation %d%s",
			run.Generation, u.GetNamespace(), u.GetName(), canaryNote(run.CanaryRevision), generation, canaryNote(canary))
	case run.CanaryRevision != "" && run.CanaryRevision != canary:
		now := "has no canary any more"
		if canary != "" {
			now = "is rolling out " + canary
		}
		return fmt.Sprintf("it was made for the rollout of %s, and rollout %s/%s %s", run.CanaryRevision, u.GetNamespace(), u.GetName(), now)
	}
	return ""
}

func canaryNote(canary string) string {
	if canary == "" {
		return ""
	}
	return " (canary " + canary + ")"
}

// Status implements Actor. It reads the phase, the step (out of
// spec.strategy.canary.steps, or the one step of blue/green), the canary
// weight, the revisions, the message and the last action from the status.
func (r *RolloutActor) Status(ctx context.Context, namespace, name string) (string, error) {
	u, err := r.get(ctx, namespace, name)
	if err != nil {
		return "", err
	}
	return describe(u), nil
}

// describe says what the Rollout u is doing, for people.
func describe(u *unstructured.Unstructured) string {
	namespace, name := u.GetNamespace(), u.GetName()
	status := func(field string) string {
		v, _, _ := unstructured.NestedString(u.Object, "status", field)
		return v
	}
	phase := status("phase")
	if phase == "" {
		phase = "unknown"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Rollout %s/%s: phase %s", namespace, name, phase)
	if step, ok := nestedInt(u.Object, "status", "currentStepIndex"); ok {
		switch steps := stepCount(u); {
		case steps == 0:
			fmt.Fprintf(&b, ", step %d", step+1)
		case step >= steps:
			b.WriteString(", promoting")
		default:
			fmt.Fprintf(&b, ", step %d of %d", step+1, steps)
		}
	}
	if weight, ok := nestedInt(u.Object, "status", "canaryWeight"); ok {
		fmt.Fprintf(&b, ", canary weight %d%%", weight)
	}
	if canary := status("canaryRevision"); canary != "" {
		fmt.Fprintf(&b, ", canary %s", canary)
	}
	if stable := status("stableRevision"); stable != "" {
		fmt.Fprintf(&b, ", stable %s", stable)
	}
	if msg := status("message"); msg != "" {
		fmt.Fprintf(&b, ". %s", msg)
	}
	lastAction := func(field string) string {
		v, _, _ := unstructured.NestedString(u.Object, "status", "lastAction", field)
		return v
	}
	if action := lastAction("action"); action != "" {
		fmt.Fprintf(&b, "\nLast action: %s", action)
		if by := lastAction("by"); by != "" {
			fmt.Fprintf(&b, " by %s", by)
		}
		if result := lastAction("result"); result != "" {
			fmt.Fprintf(&b, ": %s", result)
		}
	}
	return b.String()
}

// stepCount is the number of steps of the Rollout's strategy, 0 if unknown.
func stepCount(u *unstructured.Unstructured) int64 {
	if steps, found, _ := unstructured.NestedSlice(u.Object, "spec", "strategy", "canary", "steps"); found {
		return int64(len(steps))
	}
	if _, found, _ := unstructured.NestedMap(u.Object, "spec", "strategy", "blueGreen"); found {
		return 1
	}
	return 0
}

func (r *RolloutActor) get(ctx context.Context, namespace, name string) (*unstructured.Unstructured, error) {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(RolloutGVK)
	if err := r.Client.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, u); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("rollout %s/%s %w", namespace, name, ErrNotFound)
		}
		return nil, fmt.Errorf("getting rollout %s/%s: %w", namespace, name, err)
	}
	return u, nil
}

// nestedInt reads an integer field that JSON decoding may have made an int64
// or a float64.
func nestedInt(obj map[string]any, fields ...string) (int64, bool) {
	v, found, err := unstructured.NestedFieldNoCopy(obj, fields...)
	if !found || err != nil {
		return 0, false
	}
	switch n := v.(type) {
	case int64:
		return n, true
	case int:
		return int64(n), true
	case float64:
		return int64(n), true
	case json.Number:
		i, err := strconv.ParseInt(string(n), 10, 64)
		return i, err == nil
	default:
		return 0, false
	}
}
