// Package rolloutaction requests a Rollout action the way every client of
// Ramp does (the CLI, the dashboard; Slack's handler writes the same
// annotations): it sets rollouts.ramp.dev/action, a fresh
// rollouts.ramp.dev/action-id and rollouts.ramp.dev/action-by, and the
// controller acts once per id, recording the result in status.lastAction.
package rolloutaction

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rolloutsv1alpha1 "github.com/rampdev/ramp/apis/rollouts/v1alpha1"
)

// Names are the actions a client may request.
var Names = []string{
	rolloutsv1alpha1.ActionPromote, rolloutsv1alpha1.ActionAbort,
	rolloutsv1alpha1.ActionRetry, rolloutsv1alpha1.ActionApprove,
}

// NewID returns a random action id: 80 bits in lower-case base32.
func NewID() string { return strings.ToLower(rand.Text()[:16]) }

// validID is what NewID returns, and what a client-made id must look like.
var validID = regexp.MustCompile(`^[a-z2-7]{16,32}$`)

// ValidID reports whether id can be an action id made by a client.
func ValidID(id string) bool { return validID.MatchString(id) }

// Request merge-patches the action annotations onto the Rollout key; by is
// who asks ("" removes a previous requester). A NotFound error is returned
// as it is, for the caller to explain.
func Request(ctx context.Context, c client.Client, key client.ObjectKey, action, id, by string) error {
	annotations := map[string]any{
		rolloutsv1alpha1.AnnotationAction:   action,
		rolloutsv1alpha1.AnnotationActionID: id,
		// null removes a previous action's requester.
		rolloutsv1alpha1.AnnotationActionBy: nil,
	}
	if by != "" {
		annotations[rolloutsv1alpha1.AnnotationActionBy] = by
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": annotations}})
	if err != nil {
		return err
	}
	ro := &rolloutsv1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}
	if err := c.Patch(ctx, ro, client.RawPatch(types.MergePatchType, patch)); err != nil {
		if apierrors.IsNotFound(err) {
			return err
		}
		return fmt.Errorf("setting the %s annotations on rollout %s: %w", action, key, err)
	}
	return nil
}
