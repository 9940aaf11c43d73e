// Package webhook serves Ramp's validating admission webhook: it refuses a
// Rollout whose spec the CRD's CEL rules accept but the controller could
// not act on (see resources.ValidateSpec), with field-pathed errors, and
// manages the webhook's serving certificate.
package webhook

import (
	"context"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	rolloutsv1alpha1 "github.com/rampdev/ramp/apis/rollouts/v1alpha1"
	"github.com/rampdev/ramp/controllers/rollout/resources"
)

// RolloutPath is where the Rollout validator is served; the chart's
// ValidatingWebhookConfiguration names it.
const RolloutPath = "/validate/rollouts.ramp.dev/v1alpha1/rollouts"

// RolloutValidator validates Rollouts at admission with the checks the
// controller applies before it acts on one.
type RolloutValidator struct {
	Clock clock.PassiveClock
}

var _ admission.Validator[*rolloutsv1alpha1.Rollout] = RolloutValidator{}

var rolloutKind = schema.GroupKind{Group: rolloutsv1alpha1.GroupVersion.Group, Kind: "Rollout"}

// ValidateCreate implements admission.Validator.
func (v RolloutValidator) ValidateCreate(_ context.Context, ro *rolloutsv1alpha1.Rollout) (admission.Warnings, error) {
	return nil, v.validate(ro)
}

// ValidateUpdate implements admission.Validator. An update that leaves the
// spec as it was is allowed, so that actions (annotations), labels and
// deletion finalizers still work on a Rollout stored before the webhook
// existed; the controller reports such a spec in its status.
func (v RolloutValidator) ValidateUpdate(_ context.Context, old, ro *rolloutsv1alpha1.Rollout) (admission.Warnings, error) {
	if equality.Semantic.DeepEqual(old.Spec, ro.Spec) {
		return nil, nil
	}
	return nil, v.validate(ro)
}

// ValidateDelete implements admission.Validator: deleting is always allowed.
func (RolloutValidator) ValidateDelete(context.Context, *rolloutsv1alpha1.Rollout) (admission.Warnings, error) {
	return nil, nil
}

func (v RolloutValidator) validate(ro *rolloutsv1alpha1.Rollout) error {
	if errs := resources.ValidateSpec(&ro.Spec, v.Clock.Now()); len(errs) > 0 {
		return apierrors.NewInvalid(rolloutKind, ro.Name, errs)
	}
	return nil
}
