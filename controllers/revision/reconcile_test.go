package revision

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	servingv1 "github.com/rampdev/ramp/apis/serving/v1"
	"github.com/rampdev/ramp/controllers/internal/index"
)

var errInjected = errors.New("injected API failure")

func apiTestScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(s)
	_ = servingv1.AddToScheme(s)
	return s
}

func apiTestRevision() *servingv1.Revision {
	return &servingv1.Revision{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "hello-00001", UID: "rev-uid", Generation: 1,
			Labels: map[string]string{servingv1.LabelConfiguration: "hello", servingv1.LabelService: "hello"}},
		Spec: servingv1.RevisionSpec{Containers: []servingv1.Container{{Image: "ramp/sampleapp:v1"}}},
	}
}

func TestReconcileSurfacesAPIFailures(t *testing.T) {
	cases := map[string]struct {
		funcs      interceptor.Funcs
		existing   []client.Object
		wantErr    string
		terminal   bool
		wantReason string // ResourcesAvailable reason in the stored status, "" = not checked
	}{
		"deployment create fails": {
			funcs: interceptor.Funcs{Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
				if _, ok := obj.(*appsv1.Deployment); ok {
					return errInjected
				}
				return c.Create(ctx, obj, opts...)
			}},
			wantErr: "creating deployment hello-00001-deployment: injected API failure",
		},
		"listing routes fails": {
			funcs: interceptor.Funcs{List: func(ctx context.Context, c client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
				if _, ok := list.(*servingv1.RouteList); ok {
					return errInjected
				}
				return c.List(ctx, list, opts...)
			}},
			wantErr: "listing routes of revision/hello-00001: injected API failure",
		},
		"status patch fails": {
			funcs: interceptor.Funcs{SubResourcePatch: func(context.Context, client.Client, string, client.Object, client.Patch, ...client.SubResourcePatchOption) error {
				return errInjected
			}},
			wantErr: "updating status of revision ns/hello-00001: injected API failure",
		},
		"a deployment owned by someone else is a permanent, visible error": {
			existing: []client.Object{&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "hello-00001-deployment"}}},
			wantErr:  "resource is not owned by the revision: deployment ns/hello-00001-deployment",
			terminal: true, wantReason: servingv1.ReasonNotOwned,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			c := fake.NewClientBuilder().WithScheme(apiTestScheme()).
				WithObjects(append([]client.Object{apiTestRevision()}, tc.existing...)...).
				WithStatusSubresource(&servingv1.Revision{}).
				WithIndex(&servingv1.Route{}, index.RouteTargets, index.RouteTargetsOf).
				WithInterceptorFuncs(tc.funcs).Build()
			r := &Reconciler{Client: c, Clock: clocktesting.NewFakePassiveClock(time.Unix(1000, 0)),
				Opts: Options{QueueImage: "ramp/queue:t", ProgressDeadline: time.Minute, ScaleToZeroGrace: time.Second}}
			_, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: types.NamespacedName{Namespace: "ns", Name: "hello-00001"}})
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			}
			if got := errors.Is(err, reconcile.TerminalError(nil)); got != tc.terminal {
				t.Fatalf("terminal = %v, want %v (%v)", got, tc.terminal, err)
			}
			if tc.wantReason != "" {
				rev := &servingv1.Revision{}
				if err := c.Get(context.Background(), types.NamespacedName{Namespace: "ns", Name: "hello-00001"}, rev); err != nil {
					t.Fatal(err)
				}
				cond := rev.Status.GetCondition(servingv1.RevisionConditionResourcesAvailable)
				if cond == nil || cond.Reason != tc.wantReason || cond.Status != metav1.ConditionFalse {
					t.Fatalf("ResourcesAvailable = %+v, want False/%s", cond, tc.wantReason)
				}
			}
		})
	}
}
