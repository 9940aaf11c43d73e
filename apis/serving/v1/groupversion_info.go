// Package v1 holds the serving.ramp.dev/v1 API: Service, Configuration,
// Revision and Route. Field names follow Knative Serving v1, so a Knative
// manifest works once its apiVersion is changed.
//
// +kubebuilder:object:generate=true
// +groupName=serving.ramp.dev
package v1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is the API's group and version.
	GroupVersion = schema.GroupVersion{Group: "serving.ramp.dev", Version: "v1"}

	// SchemeBuilder registers the types with a scheme.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds the types of this group-version to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion,
		&Service{}, &ServiceList{},
		&Configuration{}, &ConfigurationList{},
		&Revision{}, &RevisionList{},
		&Route{}, &RouteList{},
	)
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
