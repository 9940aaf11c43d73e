// Package resources builds a Configuration's Revisions.
package resources

import (
	"fmt"
	"strconv"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	servingv1 "github.com/rampdev/ramp/apis/serving/v1"
)

// RevisionName is the name of the Revision for the Configuration's current
// generation: the template's name if set, else <configuration>-<00001>.
func RevisionName(cfg *servingv1.Configuration) string {
	if n := cfg.Spec.Template.Metadata.Name; n != "" {
		return n
	}
	return fmt.Sprintf("%s-%05d", cfg.Name, cfg.Generation)
}

// MakeRevision stamps out the Revision for the Configuration's current
// template.
func MakeRevision(cfg *servingv1.Configuration) *servingv1.Revision {
	t := cfg.Spec.Template
	labels := map[string]string{}
	for k, v := range t.Metadata.Labels {
		labels[k] = v
	}
	labels[servingv1.LabelConfiguration] = cfg.Name
	labels[servingv1.LabelConfigurationGen] = strconv.FormatInt(cfg.Generation, 10)
	if svc := cfg.Labels[servingv1.LabelService]; svc != "" {
		labels[servingv1.LabelService] = svc
	}
	var annotations map[string]string
	if len(t.Metadata.Annotations) > 0 {
		annotations = make(map[string]string, len(t.Metadata.Annotations))
		for k, v := range t.Metadata.Annotations {
			annotations[k] = v
		}
	}
	return &servingv1.Revision{
		ObjectMeta: metav1.ObjectMeta{
			Name:            RevisionName(cfg),
			Namespace:       cfg.Namespace,
			Labels:          labels,
			Annotations:     annotations,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(cfg, servingv1.GroupVersion.WithKind("Configuration"))},
		},
		Spec: *t.Spec.DeepCopy(),
	}
}
