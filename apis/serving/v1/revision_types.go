package v1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// RevisionStatus is the observed state of a Revision.
type RevisionStatus struct {
	Status `json:",inline"`
	// ServiceName is the Kubernetes Service whose EndpointSlices list the
	// Revision's ready pods.
	// +optional
	ServiceName string `json:"serviceName,omitempty"`
	// DesiredReplicas is what the scaler asks for.
	// +optional
	DesiredReplicas *int32 `json:"desiredReplicas,omitempty"`
	// ActualReplicas is how many pods are ready.
	// +optional
	ActualReplicas *int32 `json:"actualReplicas,omitempty"`
	// ContainerStatuses reports each container's image.
	// +optional
	// +listType=atomic
	ContainerStatuses []ContainerStatus `json:"containerStatuses,omitempty"`
}

// ContainerStatus is a container of a Revision.
type ContainerStatus struct {
	Name  string `json:"name"`
	Image string `json:"image"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:categories=ramp;serving,shortName=rev
// +kubebuilder:printcolumn:name="Config Name",type=string,JSONPath=`.metadata.labels['serving\.ramp\.dev/configuration']`
// +kubebuilder:printcolumn:name="Generation",type=string,JSONPath=`.metadata.labels['serving\.ramp\.dev/configurationGeneration']`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Actual Replicas",type=integer,JSONPath=`.status.actualReplicas`
// +kubebuilder:printcolumn:name="Desired Replicas",type=integer,JSONPath=`.status.desiredReplicas`

// Revision is an immutable snapshot of a Configuration's template.
type Revision struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="a Revision's spec is immutable: change the Configuration or Service template to make a new Revision"
	Spec   RevisionSpec   `json:"spec,omitempty"`
	Status RevisionStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// RevisionList is a list of Revisions.
type RevisionList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Revision `json:"items"`
}
