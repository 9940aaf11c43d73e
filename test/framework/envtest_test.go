package framework

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// TestStartEnvtestServesTheAPIFromOurBinaries checks that integration tests
// get a working API server built by `make tools`, with the loopback endpoint
// change that the local node needs.
func TestStartEnvtestServesTheAPIFromOurBinaries(t *testing.T) {
	env := StartEnvtest(t, nil)
	ctx := context.Background()

	cs, err := kubernetes.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	v, err := cs.Discovery().ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	if v.GitVersion != "v1.36.3" || v.Major != "1" || v.Minor != "36" {
		t.Errorf("server version %s.%s (%s), want the pinned 1.36", v.Major, v.Minor, v.GitVersion)
	}

	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "envtest-check"}}
	if err := env.Client.Create(ctx, ns); err != nil {
		t.Fatalf("creating a namespace: %v", err)
	}

	// Pod IPs on the local node are loopback addresses; the API server must
	// accept them as endpoints.
	ep := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: ns.Name, Name: "loopback"},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"127.0.0.42"}}},
	}
	if err := env.Client.Create(ctx, ep); err != nil {
		t.Fatalf("loopback endpoint rejected: %v", err)
	}
}
