// Package resources builds a Service's Configuration and Route.
package resources

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	servingv1 "github.com/rampdev/ramp/apis/serving/v1"
)

func childMeta(svc *servingv1.Service) metav1.ObjectMeta {
	labels := map[string]string{servingv1.LabelService: svc.Name}
	if v, ok := svc.Labels[servingv1.LabelVisibility]; ok {
		labels[servingv1.LabelVisibility] = v
	}
	return metav1.ObjectMeta{
		Name:            svc.Name,
		Namespace:       svc.Namespace,
		Labels:          labels,
		OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(svc, servingv1.GroupVersion.WithKind("Service"))},
	}
}

// MakeConfiguration builds the Service's Configuration: its template.
func MakeConfiguration(svc *servingv1.Service) *servingv1.Configuration {
	return &servingv1.Configuration{
		ObjectMeta: childMeta(svc),
		Spec:       *svc.Spec.ConfigurationSpec.DeepCopy(),
	}
}

// MakeRoute builds the Service's Route: its traffic block, and the
// sticky-session annotation if the Service has it.
func MakeRoute(svc *servingv1.Service) *servingv1.Route {
	rt := &servingv1.Route{
		ObjectMeta: childMeta(svc),
		Spec:       *svc.Spec.RouteSpec.DeepCopy(),
	}
	if v, ok := svc.Annotations[servingv1.AnnotationStickyMaxAge]; ok {
		rt.Annotations = map[string]string{servingv1.AnnotationStickyMaxAge: v}
	}
	return rt
}
