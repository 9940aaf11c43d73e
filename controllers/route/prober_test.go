package route

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"

	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/rampdev/ramp/serving/apiauth"
	"github.com/rampdev/ramp/serving/gateway"
)

// fakeReplica serves /hashes on ip:AdminPort to requests with
// Authorization "Bearer controller-token".
type fakeReplica struct {
	mu     sync.Mutex
	hashes map[string]string
}

const controllerToken = apiauth.StaticToken("controller-token")

func startReplica(t *testing.T, ip string, hashes map[string]string) *fakeReplica {
	t.Helper()
	r := &fakeReplica{hashes: hashes}
	l, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(gateway.AdminPort)))
	if err != nil {
		t.Skipf("cannot bind %s:%d: %v", ip, gateway.AdminPort, err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Header.Get("Authorization") != "Bearer "+string(controllerToken) {
			http.Error(w, "Unauthorized: no bearer token", http.StatusUnauthorized)
			return
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		_ = json.NewEncoder(w).Encode(r.hashes)
	})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return r
}

func TestHTTPProberWaitsForEveryReplica(t *testing.T) {
	ips := []string{"127.93.0.1", "127.93.0.2"}
	old := startReplica(t, ips[0], map[string]string{"ns/hello": "old"})
	startReplica(t, ips[1], map[string]string{"ns/hello": "new"})
	s := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(s)
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: "ramp-system", Name: "gw-1", Labels: map[string]string{discoveryv1.LabelServiceName: "ramp-gateway"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{
			{Addresses: []string{ips[0]}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}},
			{Addresses: []string{ips[1]}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}},
			{Addresses: []string{"127.93.0.3"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(false)}},
		},
	}
	route := types.NamespacedName{Namespace: "ns", Name: "hello"}
	ctx := context.Background()

	// No replica at all: never programmed.
	empty := &HTTPProber{Client: fake.NewClientBuilder().WithScheme(s).Build(), Service: types.NamespacedName{Namespace: "ramp-system", Name: "ramp-gateway"}}
	if ok, why, err := empty.Programmed(ctx, route, "new"); ok || err != nil || !strings.Contains(why, "no ready gateway replica") {
		t.Fatalf("no replicas: %v %q %v", ok, why, err)
	}

	p := &HTTPProber{Client: fake.NewClientBuilder().WithScheme(s).WithObjects(slice).Build(),
		Service: types.NamespacedName{Namespace: "ramp-system", Name: "ramp-gateway"}, TTL: -1, Token: controllerToken}
	// One ready replica still has the old table (the not-ready one is ignored).
	if ok, why, err := p.Programmed(ctx, route, "new"); ok || err != nil || why != "1 of 2 gateway replicas have applied routing table new" {
		t.Fatalf("half programmed: %v %q %v", ok, why, err)
	}
	// Once it catches up, the route is programmed.
	old.mu.Lock()
	old.hashes["ns/hello"] = "new"
	old.mu.Unlock()
	if ok, why, err := p.Programmed(ctx, route, "new"); !ok || err != nil {
		t.Fatalf("fully programmed: %v %q %v", ok, why, err)
	}
}

// A replica that refuses the controller's token has applied nothing, and
// the reason shows in the explanation.
func TestHTTPProberSaysWhyAReplicaAnswersNothing(t *testing.T) {
	ip := "127.93.0.11"
	startReplica(t, ip, map[string]string{"ns/hello": "h"})
	s := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(s)
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: "ramp-system", Name: "gw-1", Labels: map[string]string{discoveryv1.LabelServiceName: "ramp-gateway"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{ip}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}},
	}
	route := types.NamespacedName{Namespace: "ns", Name: "hello"}
	for name, tc := range map[string]struct {
		token   apiauth.TokenSource
		wantOK  bool
		wantWhy string
	}{
		"no token":           {nil, false, "0 of 1 gateway replicas have applied routing table h (GET http://127.93.0.11:8090/hashes: 401 Unauthorized: Unauthorized: no bearer token)"},
		"a wrong token":      {apiauth.StaticToken("other"), false, "401 Unauthorized"},
		"an unreadable file": {apiauth.NewTokenFile("/nonexistent/token"), false, "the controller's token for the gateway: token file"},
		"the right token":    {controllerToken, true, ""},
	} {
		t.Run(name, func(t *testing.T) {
			p := &HTTPProber{Client: fake.NewClientBuilder().WithScheme(s).WithObjects(slice).Build(),
				Service: types.NamespacedName{Namespace: "ramp-system", Name: "ramp-gateway"}, TTL: -1, Token: tc.token}
			ok, why, err := p.Programmed(context.Background(), route, "h")
			if err != nil || ok != tc.wantOK || !strings.Contains(why, tc.wantWhy) {
				t.Errorf("got %v %q %v, want %v and %q", ok, why, err, tc.wantOK, tc.wantWhy)
			}
		})
	}
}
