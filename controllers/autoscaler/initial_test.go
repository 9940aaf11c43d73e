package autoscaler

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/event"

	servingv1 "github.com/rampdev/ramp/apis/serving/v1"
)

func autoscalerConfigMap(data map[string]string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "ramp-system", Name: ConfigMapName}, Data: data}
}

// TestInitialScale checks the initial scale the Revision reconciler gets:
// read from the ConfigMap even before the first tick, 0 only where the
// cluster allows it.
func TestInitialScale(t *testing.T) {
	rev := func(ann map[string]string) *servingv1.Revision {
		return &servingv1.Revision{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "r", Annotations: ann}}
	}
	zero := map[string]string{servingv1.AnnotationInitialScale: "0"}
	cases := map[string]struct {
		data map[string]string
		rev  *servingv1.Revision
		want int32
	}{
		"no configmap: 1":                    {rev: rev(nil), want: 1},
		"annotation 0, not allowed: 1":       {data: map[string]string{}, rev: rev(zero), want: 1},
		"annotation 0, allowed: 0":           {data: map[string]string{"allow-zero-initial-scale": "true"}, rev: rev(zero), want: 0},
		"cluster 0, allowed: 0":              {data: map[string]string{"allow-zero-initial-scale": "true", "initial-scale": "0"}, rev: rev(nil), want: 0},
		"cluster 0, annotation 2 wins":       {data: map[string]string{"allow-zero-initial-scale": "true", "initial-scale": "0"}, rev: rev(map[string]string{servingv1.AnnotationInitialScale: "2"}), want: 2},
		"bad annotation starts with one pod": {data: map[string]string{"allow-zero-initial-scale": "true", "initial-scale": "0"}, rev: rev(map[string]string{servingv1.AnnotationInitialScale: "x"}), want: 1},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t)
			if tc.data != nil {
				h = newHarness(t, autoscalerConfigMap(tc.data))
			}
			if got := h.a.InitialScale(context.Background(), tc.rev); got != tc.want {
				t.Errorf("InitialScale = %d, want %d", got, tc.want)
			}
		})
	}
}

// TestAllowZeroInitialScaleResyncs checks that turning
// allow-zero-initial-scale on enqueues every revision, whose readiness
// with no pod it changes, at the next tick, though none changes scale.
func TestAllowZeroInitialScaleResyncs(t *testing.T) {
	ctx := context.Background()
	cm := autoscalerConfigMap(map[string]string{})
	h := newHarness(t, cm, readyRevision("a", 0, 0), readyRevision("b", 0, 0))
	h.a.Tick(ctx, h.clock.Now())
	drain(h.a.Events())

	cm.Data = map[string]string{"allow-zero-initial-scale": "true"}
	if err := h.c.Update(ctx, cm); err != nil {
		t.Fatal(err)
	}
	h.a.Tick(ctx, h.clock.Now())
	got := map[types.NamespacedName]bool{}
	for _, e := range drain(h.a.Events()) {
		got[types.NamespacedName{Namespace: e.Object.GetNamespace(), Name: e.Object.GetName()}] = true
	}
	for _, name := range []string{"a", "b"} {
		if !got[types.NamespacedName{Namespace: "ns", Name: name}] {
			t.Errorf("revision %s not enqueued after allow-zero-initial-scale changed (got %v)", name, got)
		}
	}
	h.a.Tick(ctx, h.clock.Now())
	if n := len(drain(h.a.Events())); n != 0 {
		t.Errorf("%d revisions enqueued at the next tick; want none (the resync happens once)", n)
	}
}

func drain(ch <-chan event.GenericEvent) []event.GenericEvent {
	var out []event.GenericEvent
	for {
		select {
		case e := <-ch:
			out = append(out, e)
		default:
			return out
		}
	}
}
