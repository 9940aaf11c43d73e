package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// AnalysisTemplateSpec is a reusable set of metrics with arguments.
//
// A metric's Prometheus query may use an argument as args.<name> in double
// curly braces (see docs/analysis.md): each look replaces it with the
// argument's value from the Rollout's analysis.args, or the template's
// default. An argument with no value is an Error look naming it, never a
// pass.
// +kubebuilder:validation:XValidation:rule="self.metrics.all(m, self.metrics.exists_one(n, n.name == m.name))",message="metric names must be unique",fieldPath=".metrics"
// +kubebuilder:validation:XValidation:rule="!has(self.args) || self.args.all(a, self.args.exists_one(b, b.name == a.name))",message="argument names must be unique",fieldPath=".args"
type AnalysisTemplateSpec struct {
	// Args the metrics use, with optional defaults.
	// +optional
	// +kubebuilder:validation:MaxItems=32
	// +listType=atomic
	Args []TemplateArg `json:"args,omitempty"`

	// Metrics to judge, as in a Rollout's analysis.metrics.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	// +listType=atomic
	Metrics []Metric `json:"metrics"`
}

// TemplateArg declares an argument of a template.
type TemplateArg struct {
	// +kubebuilder:validation:Pattern=`^[A-Za-z_][A-Za-z0-9_]*$`
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name"`
	// Value is the default, used when the Rollout gives none.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Value *string `json:"value,omitempty"`
	// +optional
	// +kubebuilder:validation:MaxLength=256
	Description string `json:"description,omitempty"`
}

// AnalysisTemplate is a namespaced set of analysis metrics that Rollouts
// in its namespace reference from analysis.templates.
// +kubebuilder:object:root=true
// +kubebuilder:resource:shortName=at,categories=ramp
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type AnalysisTemplate struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec AnalysisTemplateSpec `json:"spec"`
}

// AnalysisTemplateList is a list of AnalysisTemplates.
// +kubebuilder:object:root=true
type AnalysisTemplateList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []AnalysisTemplate `json:"items"`
}

// ClusterAnalysisTemplate is a cluster-wide set of analysis metrics that
// Rollouts in any namespace reference with clusterScope: true.
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster,shortName=cat,categories=ramp
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type ClusterAnalysisTemplate struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec AnalysisTemplateSpec `json:"spec"`
}

// ClusterAnalysisTemplateList is a list of ClusterAnalysisTemplates.
// +kubebuilder:object:root=true
type ClusterAnalysisTemplateList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ClusterAnalysisTemplate `json:"items"`
}
