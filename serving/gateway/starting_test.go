package gateway

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/rampdev/ramp/serving/gateway/routing"
)

// A starting pod is routed to once its queue-proxy answers ready, and no
// longer once its slice stops listing it as starting.
func TestStartingProberRoutesOnceTheQueueProxyIsReady(t *testing.T) {
	var ready atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != readyPath || !ready.Load() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ready"))
	}))
	defer srv.Close()
	changed := make(chan struct{}, 100)
	p := newStartingProber(func() { changed <- struct{}{} })
	defer p.Stop()
	svc := routing.ServiceKey{Namespace: "ns", Name: "rev-1"}
	ep := routing.Endpoint{IP: "127.0.0.1", Port: 8012}
	s := startingEndpoint{svc: svc, ep: ep, admin: srv.Listener.Addr().String()}

	// Given a starting pod whose queue-proxy is not ready
	p.Track([]startingEndpoint{s})
	time.Sleep(50 * time.Millisecond)
	if got := p.Ready(); len(got) != 0 {
		t.Fatalf("Ready() = %v while the queue-proxy answers 503", got)
	}
	// When it becomes ready
	ready.Store(true)
	select {
	case <-changed:
	case <-time.After(2 * time.Second):
		t.Fatal("no change reported after the queue-proxy became ready")
	}
	// Then the pod is routed to
	if diff := cmp.Diff(map[routing.ServiceKey][]routing.Endpoint{svc: {ep}}, p.Ready()); diff != "" {
		t.Errorf("Ready() (-want +got):\n%s", diff)
	}
	// And no longer once its slice lists it as ready (or terminating)
	p.Track(nil)
	if got := p.Ready(); len(got) != 0 {
		t.Errorf("Ready() = %v after the pod stopped starting", got)
	}
}

func TestConvertEndpointsSplitsReadyStartingAndTerminating(t *testing.T) {
	slice := discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "rev-1-abc", Labels: map[string]string{discoveryv1.LabelServiceName: "rev-1"}},
		Ports: []discoveryv1.EndpointPort{
			{Name: ptr.To(queueProxyPortName), Port: ptr.To[int32](8012)},
			{Name: ptr.To(queueAdminPortName), Port: ptr.To[int32](8022)},
		},
		Endpoints: []discoveryv1.Endpoint{
			{Addresses: []string{"127.0.0.3"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}},
			{Addresses: []string{"127.0.0.4"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(false)}},
			{Addresses: []string{"127.0.0.5"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(false), Terminating: ptr.To(true)}},
		},
	}
	ready, starting := convertEndpoints([]discoveryv1.EndpointSlice{slice})
	svc := routing.ServiceKey{Namespace: "ns", Name: "rev-1"}
	if diff := cmp.Diff(map[routing.ServiceKey][]routing.Endpoint{svc: {{IP: "127.0.0.3", Port: 8012}}}, ready); diff != "" {
		t.Errorf("ready (-want +got):\n%s", diff)
	}
	want := []startingEndpoint{{svc: svc, ep: routing.Endpoint{IP: "127.0.0.4", Port: 8012}, admin: net.JoinHostPort("127.0.0.4", strconv.Itoa(8022))}}
	if diff := cmp.Diff(want, starting, cmp.AllowUnexported(startingEndpoint{})); diff != "" {
		t.Errorf("starting (-want +got):\n%s", diff)
	}
}
