package autoscaler

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/events"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	servingv1 "github.com/rampdev/ramp/apis/serving/v1"
	"github.com/rampdev/ramp/serving/autoscaler"
	"github.com/rampdev/ramp/serving/queue/stats"
)

var t0 = time.Date(2026, 11, 22, 3, 0, 0, 0, time.UTC)

// unreachableIP is a loopback address nothing listens on: scrapes of it
// fail at once, and the pod still counts as ready (from its endpoints).
const unreachableIP = "127.254.254.1"

func readyRevision(name string, cc int64, desired int32) *servingv1.Revision {
	r := &servingv1.Revision{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name}}
	r.Spec.ContainerConcurrency = ptr.To(cc)
	r.Status.DesiredReplicas = ptr.To(desired)
	r.Status.MarkTrue(servingv1.RevisionConditionResourcesAvailable, "Available", "")
	return r
}

func slice(rev string, pods ...string) *discoveryv1.EndpointSlice {
	s := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: rev + "-x", Labels: map[string]string{
			servingv1.LabelRevision: rev, discoveryv1.LabelServiceName: rev}},
		AddressType: discoveryv1.AddressTypeIPv4,
	}
	for _, p := range pods {
		s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{Addresses: []string{unreachableIP},
			Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)},
			TargetRef:  &corev1.ObjectReference{Kind: "Pod", Name: p}})
	}
	return s
}

type harness struct {
	a      *Autoscaler
	clock  *clocktesting.FakeClock
	events *events.FakeRecorder
	c      client.Client
}

func newHarness(t *testing.T, objs ...client.Object) *harness {
	t.Helper()
	s := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(s)
	_ = servingv1.AddToScheme(s)
	c := fake.NewClientBuilder().WithScheme(s).WithObjects(objs...).Build()
	clk := clocktesting.NewFakeClock(t0)
	ev := events.NewFakeRecorder(10)
	rec, err := NewRecorder(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	a := New(c, clk, ev, rec, logr.Discard(), Options{Namespace: "ramp-system"})
	return &harness{a: a, clock: clk, events: ev, c: c}
}

// tick advances the clock by d and runs one tick.
func (h *harness) tick(t *testing.T, d time.Duration) {
	t.Helper()
	h.clock.Step(d)
	h.a.Tick(context.Background(), h.clock.Now())
}

// load reports, for pod of rev, concurrency requests in flight over the
// last second (cumulative counters, as a queue-proxy does).
type podReport struct{ s stats.Stats }

func (p *podReport) advance(now time.Time, concurrency float64, requests uint64) *stats.Stats {
	if p.s.StartTime == 0 {
		p.s.StartTime = t0.Add(-time.Hour).UnixNano()
	}
	p.s.Timestamp = now.UnixNano()
	p.s.ConcurrencyIntegral += concurrency
	p.s.InFlight = int64(concurrency)
	p.s.RequestCount += requests
	cp := p.s
	return &cp
}

func TestIdleRevisionScalesToZeroAfterWindowAndGrace(t *testing.T) {
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "ramp-system", Name: ConfigMapName, ResourceVersion: "1"},
		Data: map[string]string{"stable-window": "6s", "scale-to-zero-grace-period": "4s"}}
	h := newHarness(t, cm, readyRevision("r1", 1, 1), slice("r1", "p1"))
	h.tick(t, time.Second)
	if d, ok := h.a.Desired("ns", "r1"); !ok || d != 1 {
		t.Fatalf("Desired = %d, %v right after start; want 1 (held)", d, ok)
	}
	// Given no traffic for the 6 s window plus the 4 s grace
	for range 8 {
		h.tick(t, time.Second)
	}
	if d, _ := h.a.Desired("ns", "r1"); d != 1 {
		t.Fatalf("Desired = %d after 9 s idle; want 1 until 10 s", d)
	}
	h.tick(t, 2*time.Second)
	// Then it goes to zero, and the Revision reconciler is told
	if d, _ := h.a.Desired("ns", "r1"); d != 0 {
		t.Fatalf("Desired = %d after 11 s idle; want 0", d)
	}
	if n := len(h.a.Events()); n < 2 {
		t.Errorf("%d revision events; want the first decision and the scale to zero", n)
	}
}

func TestLoadScalesUpAndActivationLiftsZeroAtOnce(t *testing.T) {
	h := newHarness(t, readyRevision("r1", 1, 0), slice("r1", "p1"))
	key := autoscaler.RevisionKey{Namespace: "ns", Name: "r1"}
	// Given a revision at zero
	if err := h.a.Activate(context.Background(), "ns", "r1"); err != nil {
		t.Fatal(err)
	}
	// Then activation asks for one pod without waiting for a tick
	if d, _ := h.a.Desired("ns", "r1"); d != 1 {
		t.Fatalf("Desired = %d after activation; want 1", d)
	}
	// When 5 requests are in flight all the time (containerConcurrency 1,
	// target 0.7 per pod)
	var p podReport
	for range 3 {
		h.clock.Step(time.Second)
		h.a.agg.Record(h.clock.Now(), key, "p1", p.advance(h.clock.Now(), 5, 50))
		h.a.Tick(context.Background(), h.clock.Now())
	}
	// Then it panics up to ceil(5/0.7) = 8
	if d, _ := h.a.Desired("ns", "r1"); d != 8 {
		t.Fatalf("Desired = %d under 5 concurrent; want 8 (%s)", d, h.a.Statuses()[0].Reason)
	}
	if !h.a.Statuses()[0].Panicking {
		t.Errorf("not panicking under a 7× overload")
	}
	if err := h.a.Activate(context.Background(), "ns", "nope"); err == nil {
		t.Errorf("Activate of an unknown revision succeeded")
	}
}

func TestBadConfigMapIsRejectedAndTheLastGoodStays(t *testing.T) {
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "ramp-system", Name: ConfigMapName},
		Data: map[string]string{"stable-window": "10s"}}
	h := newHarness(t, cm)
	h.tick(t, time.Second)
	if w := h.a.Config().Defaults.StableWindow; w != 10*time.Second {
		t.Fatalf("stable window %v, want 10s", w)
	}
	cm.Data = map[string]string{"stable-window": "ten seconds"}
	if err := h.c.Update(context.Background(), cm); err != nil {
		t.Fatal(err)
	}
	h.tick(t, time.Second)
	if w := h.a.Config().Defaults.StableWindow; w != 10*time.Second {
		t.Errorf("stable window %v after a bad update, want the last good 10s", w)
	}
	select {
	case e := <-h.events.Events:
		if !strings.Contains(e, "InvalidConfig") || !strings.Contains(e, `stable-window "ten seconds"`) {
			t.Errorf("event %q does not name the reason and the key", e)
		}
	default:
		t.Errorf("no Event for the bad ConfigMap")
	}
}

func TestHTTPAPI(t *testing.T) {
	h := newHarness(t, readyRevision("r1", 1, 0))
	h.tick(t, time.Second) // a first decision, for the revisions listing
	srv := httptest.NewServer(h.a.Handler())
	defer srv.Close()
	cases := map[string]struct {
		method, path string
		wantCode     int
		wantBody     string
	}{
		"activate":                 {"POST", "/activate/ns/r1", 202, ""},
		"activate unknown":         {"POST", "/activate/ns/nope", 404, "unknown revision"},
		"activate needs POST":      {"GET", "/activate/ns/r1", 405, ""},
		"revisions":                {"GET", "/api/v1/revisions", 200, `"revision": "r1"`},
		"telemetry":                {"GET", "/api/v1/telemetry/ns/r1?window=30s", 200, `"windowSeconds": 30`},
		"telemetry bad window":     {"GET", "/api/v1/telemetry/ns/r1?window=forever", 400, "window must be a duration"},
		"telemetry window too big": {"GET", "/api/v1/telemetry/ns/r1?window=2h", 400, "window must be a duration"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, srv.URL+tc.path, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var b strings.Builder
			_, _ = io.Copy(&b, resp.Body)
			if resp.StatusCode != tc.wantCode || !strings.Contains(b.String(), tc.wantBody) {
				t.Errorf("%s %s = %d %q; want %d containing %q", tc.method, tc.path, resp.StatusCode, b.String(), tc.wantCode, tc.wantBody)
			}
		})
	}
}
