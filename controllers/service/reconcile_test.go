package service

import (
	"context"
	"errors"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	servingv1 "github.com/rampdev/ramp/apis/serving/v1"
)

var errInjected = errors.New("injected API failure")

func TestReconcileSurfacesAPIFailures(t *testing.T) {
	s := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(s)
	_ = servingv1.AddToScheme(s)
	svc := &servingv1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "hello", UID: "svc-uid", Generation: 1},
		Spec: servingv1.ServiceSpec{ConfigurationSpec: servingv1.ConfigurationSpec{Template: servingv1.RevisionTemplateSpec{
			Spec: servingv1.RevisionSpec{Containers: []servingv1.Container{{Image: "ramp/sampleapp:v1"}}}}}},
	}
	failCreate := func(match func(client.Object) bool) interceptor.Funcs {
		return interceptor.Funcs{Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			if match(obj) {
				return errInjected
			}
			return c.Create(ctx, obj, opts...)
		}}
	}
	isConfiguration := func(o client.Object) bool { _, ok := o.(*servingv1.Configuration); return ok }
	isRoute := func(o client.Object) bool { _, ok := o.(*servingv1.Route); return ok }
	cases := map[string]struct {
		funcs      interceptor.Funcs
		existing   []client.Object
		wantErr    string
		terminal   bool
		wantReason string
	}{
		"configuration create fails": {funcs: failCreate(isConfiguration), wantErr: "creating *v1.Configuration hello: injected API failure"},
		"route create fails":         {funcs: failCreate(isRoute), wantErr: "creating *v1.Route hello: injected API failure"},
		"a route owned by someone else": {
			existing: []client.Object{&servingv1.Route{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "hello"}}},
			wantErr:  "resource is not owned by the service", terminal: true, wantReason: servingv1.ReasonNotOwned,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			c := fake.NewClientBuilder().WithScheme(s).WithObjects(append([]client.Object{svc.DeepCopy()}, tc.existing...)...).
				WithStatusSubresource(&servingv1.Service{}).WithInterceptorFuncs(tc.funcs).Build()
			_, err := (&Reconciler{Client: c}).Reconcile(context.Background(), ctrl.Request{NamespacedName: types.NamespacedName{Namespace: "ns", Name: "hello"}})
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			}
			if got := errors.Is(err, reconcile.TerminalError(nil)); got != tc.terminal {
				t.Fatalf("terminal = %v, want %v", got, tc.terminal)
			}
			if tc.wantReason != "" {
				got := &servingv1.Service{}
				_ = c.Get(context.Background(), types.NamespacedName{Namespace: "ns", Name: "hello"}, got)
				if cond := got.Status.GetCondition(servingv1.ConditionReady); cond == nil || cond.Reason != tc.wantReason {
					t.Fatalf("Ready = %+v, want reason %s", cond, tc.wantReason)
				}
			}
		})
	}
}
