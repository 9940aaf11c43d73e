package gateway

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
)

// An expired answer is used at once while a fresh one is read: a scale
// from zero does not wait for the API.
func TestServiceResolverRefreshesInTheBackground(t *testing.T) {
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: "ramp-system", Name: "as-1", Labels: map[string]string{discoveryv1.LabelServiceName: "ramp-autoscaler"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"127.0.0.9"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}},
	}
	var lists atomic.Int64
	unblock := make(chan struct{})
	block := atomic.Bool{}
	c := fake.NewClientBuilder().WithScheme(clientgoscheme.Scheme).WithObjects(slice).
		WithInterceptorFuncs(interceptor.Funcs{List: func(ctx context.Context, cl client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
			lists.Add(1)
			if block.Load() {
				<-unblock
			}
			return cl.List(ctx, list, opts...)
		}}).Build()
	r := &ServiceResolver{Reader: c, Service: types.NamespacedName{Namespace: "ramp-system", Name: "ramp-autoscaler"}, Port: 8099, TTL: 10 * time.Millisecond}
	want := []string{"http://127.0.0.9:8099"}

	// Given a first answer, read from the API
	got, err := r.Resolve(context.Background())
	if err != nil || !cmp.Equal(got, want) || lists.Load() != 1 {
		t.Fatalf("Resolve = %v, %v after %d lists; want %v after 1", got, err, lists.Load(), want)
	}
	// When it has expired and the API is slow
	time.Sleep(20 * time.Millisecond)
	block.Store(true)
	start := time.Now()
	got, err = r.Resolve(context.Background())
	// Then the old answer comes at once, and one refresh is under way
	if err != nil || !cmp.Equal(got, want) {
		t.Fatalf("Resolve of an expired answer = %v, %v; want %v", got, err, want)
	}
	if d := time.Since(start); d > 50*time.Millisecond {
		t.Errorf("Resolve of an expired answer took %s: it waited for the API", d)
	}
	for range 5 {
		_, _ = r.Resolve(context.Background())
	}
	close(unblock)
	deadline := time.Now().Add(5 * time.Second)
	for lists.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := lists.Load(); n != 2 {
		t.Errorf("%d lists after expiry, want 1 refresh (2 in all)", n)
	}
	// And a failed signal drops the answer: the next Resolve reads the API
	block.Store(false)
	r.forget()
	before := lists.Load()
	if _, err := r.Resolve(context.Background()); err != nil || lists.Load() != before+1 {
		t.Errorf("Resolve after forget: %v, %d lists; want one more", err, lists.Load()-before)
	}
}
