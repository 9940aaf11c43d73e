package main

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	servingv1 "github.com/rampdev/ramp/apis/serving/v1"
)

// memReader stands in for the manager's cached client: it serves fixed
// Revisions and EndpointSlices and, like the informer cache, hands out deep
// copies, so the autoscaler pays the same copying cost on every List as in
// the controller. ConfigMap ramp-autoscaler does not exist (the defaults).
type memReader struct {
	revisions []servingv1.Revision
	slices    []discoveryv1.EndpointSlice
}

var _ client.Reader = (*memReader)(nil)

func (m *memReader) Get(_ context.Context, key client.ObjectKey, obj client.Object, _ ...client.GetOption) error {
	switch o := obj.(type) {
	case *corev1.ConfigMap:
		return apierrors.NewNotFound(schema.GroupResource{Resource: "configmaps"}, key.Name)
	case *servingv1.Revision:
		for i := range m.revisions {
			if r := &m.revisions[i]; r.Namespace == key.Namespace && r.Name == key.Name {
				r.DeepCopyInto(o)
				return nil
			}
		}
		return apierrors.NewNotFound(schema.GroupResource{Group: servingv1.GroupVersion.Group, Resource: "revisions"}, key.Name)
	}
	return fmt.Errorf("memReader: no %T", obj)
}

func (m *memReader) List(_ context.Context, list client.ObjectList, opts ...client.ListOption) error {
	lo := &client.ListOptions{}
	lo.ApplyOptions(opts)
	match := func(l map[string]string) bool {
		return lo.LabelSelector == nil || lo.LabelSelector.Matches(labels.Set(l))
	}
	switch l := list.(type) {
	case *servingv1.RevisionList:
		l.Items = l.Items[:0]
		for i := range m.revisions {
			if match(m.revisions[i].Labels) {
				l.Items = append(l.Items, *m.revisions[i].DeepCopy())
			}
		}
		return nil
	case *discoveryv1.EndpointSliceList:
		l.Items = l.Items[:0]
		for i := range m.slices {
			if match(m.slices[i].Labels) {
				l.Items = append(l.Items, *m.slices[i].DeepCopy())
			}
		}
		return nil
	}
	return fmt.Errorf("memReader: no %T", list)
}
