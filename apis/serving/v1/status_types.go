package v1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Status is shared by every serving type.
type Status struct {
	// ObservedGeneration is the generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Conditions: Ready summarises the others.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}
