package webhook

import (
	"context"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	rolloutsv1alpha1 "github.com/rampdev/ramp/apis/rollouts/v1alpha1"
	"github.com/rampdev/ramp/controllers/rollout/resources"
)

// Paths of the template validators.
const (
	AnalysisTemplatePath        = "/validate/rollouts.ramp.dev/v1alpha1/analysistemplates"
	ClusterAnalysisTemplatePath = "/validate/rollouts.ramp.dev/v1alpha1/clusteranalysistemplates"
)

// TemplateValidator validates AnalysisTemplates and ClusterAnalysisTemplates:
// their metrics as a Rollout's, and the arguments their queries use.
type TemplateValidator[T interface {
	*rolloutsv1alpha1.AnalysisTemplate | *rolloutsv1alpha1.ClusterAnalysisTemplate
}] struct{}

func templateParts(obj any) (schema.GroupKind, string, *rolloutsv1alpha1.AnalysisTemplateSpec) {
	g := rolloutsv1alpha1.GroupVersion.Group
	switch t := obj.(type) {
	case *rolloutsv1alpha1.AnalysisTemplate:
		return schema.GroupKind{Group: g, Kind: "AnalysisTemplate"}, t.Name, &t.Spec
	case *rolloutsv1alpha1.ClusterAnalysisTemplate:
		return schema.GroupKind{Group: g, Kind: "ClusterAnalysisTemplate"}, t.Name, &t.Spec
	}
	return schema.GroupKind{}, "", nil
}

func validateTemplate(obj any) error {
	gk, name, spec := templateParts(obj)
	if errs := resources.ValidateTemplate(spec); len(errs) > 0 {
		return apierrors.NewInvalid(gk, name, errs)
	}
	return nil
}

// ValidateCreate implements admission.Validator.
func (TemplateValidator[T]) ValidateCreate(_ context.Context, t T) (admission.Warnings, error) {
	return nil, validateTemplate(t)
}

// ValidateUpdate implements admission.Validator. An edit affects the next
// analysis look of every Rollout that uses the template, not a finished
// one.
func (TemplateValidator[T]) ValidateUpdate(_ context.Context, _, t T) (admission.Warnings, error) {
	return nil, validateTemplate(t)
}

// ValidateDelete implements admission.Validator: deleting is allowed; a
// Rollout that still uses the template gets Error looks naming it.
func (TemplateValidator[T]) ValidateDelete(context.Context, T) (admission.Warnings, error) {
	return nil, nil
}
