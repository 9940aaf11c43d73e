package v1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ServiceSpec combines a Configuration's template and a Route's traffic.
type ServiceSpec struct {
	ConfigurationSpec `json:",inline"`
	RouteSpec         `json:",inline"`
}

// ServiceStatus is the observed state of a Service.
type ServiceStatus struct {
	Status `json:",inline"`
	// +optional
	URL string `json:"url,omitempty"`
	// +optional
	Address *Addressable `json:"address,omitempty"`
	// +optional
	LatestCreatedRevisionName string `json:"latestCreatedRevisionName,omitempty"`
	// +optional
	LatestReadyRevisionName string `json:"latestReadyRevisionName,omitempty"`
	// Traffic is the resolved traffic block of the Route.
	// +optional
	Traffic []TrafficTarget `json:"traffic,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:categories=ramp;serving,shortName=rsvc
// +kubebuilder:printcolumn:name="URL",type=string,JSONPath=`.status.url`
// +kubebuilder:printcolumn:name="LatestCreated",type=string,JSONPath=`.status.latestCreatedRevisionName`
// +kubebuilder:printcolumn:name="LatestReady",type=string,JSONPath=`.status.latestReadyRevisionName`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:validation:XValidation:rule="!has(self.spec.traffic) || self.spec.traffic.all(t, !has(t.tag) || size(t.tag) + size(self.metadata.name) < 63)",message="each tag host label <tag>-<name> must be at most 63 characters",fieldPath=".spec.traffic"
// +kubebuilder:validation:XValidation:rule="!has(self.spec.headerRoutes) || self.spec.headerRoutes.all(h, has(self.spec.traffic) && self.spec.traffic.exists(t, has(t.tag) && t.tag == h.tag))",message="each header route must name the tag of a traffic target",fieldPath=".spec.headerRoutes"
// +kubebuilder:validation:XValidation:rule="!has(self.spec.template.metadata) || !has(self.spec.template.metadata.name) || self.spec.template.metadata.name.startsWith(self.metadata.name + '-')",message="template.metadata.name must start with the service's name and a dash",fieldPath=".spec.template.metadata.name"

// Service manages a Configuration and a Route of the same name: the whole
// lifecycle of a serverless workload.
type Service struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   ServiceSpec   `json:"spec,omitempty"`
	Status ServiceStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// ServiceList is a list of Services.
type ServiceList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Service `json:"items"`
}
