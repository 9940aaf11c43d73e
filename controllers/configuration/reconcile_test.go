package configuration

import (
	"context"
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	servingv1 "github.com/rampdev/ramp/apis/serving/v1"
	"github.com/rampdev/ramp/controllers/configuration/resources"
	"github.com/rampdev/ramp/controllers/servingconfig"
)

var errInjected = errors.New("injected API failure")

func testScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(s)
	_ = servingv1.AddToScheme(s)
	return s
}

func TestReconcileSurfacesRevisionCreateFailure(t *testing.T) {
	cfg := &servingv1.Configuration{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "hello", UID: "cfg-uid", Generation: 1},
		Spec: servingv1.ConfigurationSpec{Template: servingv1.RevisionTemplateSpec{
			Spec: servingv1.RevisionSpec{Containers: []servingv1.Container{{Image: "ramp/sampleapp:v1"}}}}},
	}
	c := fake.NewClientBuilder().WithScheme(testScheme()).WithObjects(cfg).WithStatusSubresource(cfg).
		WithInterceptorFuncs(interceptor.Funcs{Create: func(context.Context, client.WithWatch, client.Object, ...client.CreateOption) error {
			return errInjected
		}}).Build()
	r := &Reconciler{Client: c, Config: &servingconfig.Store{Reader: c, Namespace: "ramp-system"}}
	_, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: types.NamespacedName{Namespace: "ns", Name: "hello"}})
	if !errors.Is(err, errInjected) || !strings.Contains(err.Error(), "creating revision hello-00001") {
		t.Fatalf("error %v, want the wrapped create failure naming the revision", err)
	}
}

// TestGarbageCollectionKeepsRoutedAndNewestRevisions creates 6 revisions of
// which one is routed, keeps 2 idle ones, and checks exactly the oldest idle
// ones go.
func TestGarbageCollectionKeepsRoutedAndNewestRevisions(t *testing.T) {
	cfg := &servingv1.Configuration{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "hello", UID: "cfg-uid", Generation: 6},
		Spec: servingv1.ConfigurationSpec{Template: servingv1.RevisionTemplateSpec{
			Spec: servingv1.RevisionSpec{Containers: []servingv1.Container{{Image: "ramp/sampleapp:v6"}}}}},
	}
	objs := []client.Object{cfg}
	for gen := int64(1); gen <= 6; gen++ {
		c := cfg.DeepCopy()
		c.Generation = gen
		objs = append(objs, resources.MakeRevision(c))
	}
	objs = append(objs, &servingv1.Route{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "hello"},
		Status:     servingv1.RouteStatus{Traffic: []servingv1.TrafficTarget{{RevisionName: "hello-00002"}}},
	})
	objs = append(objs, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ramp-system", Name: servingconfig.ConfigMapName},
		Data:       map[string]string{"gc.retain-revisions": "2"},
	})
	c := fake.NewClientBuilder().WithScheme(testScheme()).WithObjects(objs...).WithStatusSubresource(cfg).Build()
	r := &Reconciler{Client: c, Config: &servingconfig.Store{Reader: c, Namespace: "ramp-system"}}
	if _, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: types.NamespacedName{Namespace: "ns", Name: "hello"}}); err != nil {
		t.Fatal(err)
	}
	var revs servingv1.RevisionList
	if err := c.List(context.Background(), &revs); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range revs.Items {
		got = append(got, r.Name)
	}
	// hello-00006 is latest created (kept); hello-00002 is routed (kept);
	// idle: 00001, 00003, 00004, 00005 -> keep the newest 2 (00004, 00005).
	want := "hello-00002,hello-00004,hello-00005,hello-00006"
	if strings.Join(got, ",") != want {
		t.Fatalf("revisions left %v, want %s", got, want)
	}
}
