package e2e

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	servingv1 "github.com/rampdev/ramp/apis/serving/v1"
	"github.com/rampdev/ramp/serving/gateway"
	"github.com/rampdev/ramp/serving/gateway/routing"
	"github.com/rampdev/ramp/test/framework"
)

// reply is what a test needs of a gateway response; the body is drained.
type reply struct {
	StatusCode int
	Header     http.Header
	cookies    []*http.Cookie
}

// Cookies returns the cookies the response sets.
func (r reply) Cookies() []*http.Cookie { return r.cookies }

// rawGateway sends a GET to one of the gateway's listeners.
func rawGateway(t *testing.T, port int, host string, mutate func(*http.Request)) reply {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet,
		"http://"+cluster.GatewayIP()+":"+strconv.Itoa(port)+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	if mutate != nil {
		mutate(req)
	}
	resp, err := gwClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	return reply{StatusCode: resp.StatusCode, Header: resp.Header, cookies: resp.Cookies()}
}

func TestClusterLocalRoutesAreNotReachableFromOutside(t *testing.T) {
	ns := cluster.Namespace(t)
	ctx := context.Background()

	// Given a cluster-local Service
	svc := notifications(ns, "1.0.0")
	svc.Labels = map[string]string{servingv1.LabelVisibility: servingv1.VisibilityLabelClusterLocal}
	if err := cluster.Client.Create(ctx, svc); err != nil {
		t.Fatal(err)
	}
	svc = waitServiceReady(t, ns, func(*servingv1.Service) error { return nil })
	waitProgrammed(t, ns, "notifications")

	// Then its URL is the in-cluster one
	internal := "notifications." + ns + ".svc.cluster.local"
	if svc.Status.URL != "http://"+internal {
		t.Fatalf("url %q, want http://%s", svc.Status.URL, internal)
	}
	// And the internal listener serves it, while the external one does not
	// admit it exists
	if r := rawGateway(t, gateway.InternalPort, internal, nil); r.StatusCode != http.StatusOK {
		t.Fatalf("internal listener: %d, want 200", r.StatusCode)
	}
	for _, host := range []string{internal, "notifications." + ns + ".example.com"} {
		if r := rawGateway(t, gateway.ExternalPort, host, nil); r.StatusCode != http.StatusNotFound {
			t.Fatalf("external listener, host %s: %d, want 404", host, r.StatusCode)
		}
	}
}

func TestStickySessionsKeepAClientOnOneRevision(t *testing.T) {
	ns := twoVersions(t)

	// Given a 50/50 split with sticky sessions (the Service's own
	// controllers write it too: read and update again on a conflict)
	framework.Eventually(t, 30*time.Second, func(ctx context.Context) error {
		svc, err := getService(ctx, ns)
		if err != nil {
			return err
		}
		svc.Annotations = map[string]string{servingv1.AnnotationStickyMaxAge: "1h"}
		return cluster.Client.Update(ctx, svc)
	})
	setTraffic(t, ns, servingv1.TrafficList{
		{RevisionName: "notifications-00001", Percent: ptr.To(int64(50))},
		{RevisionName: "notifications-00002", Percent: ptr.To(int64(50))},
	})
	host := "notifications." + ns + ".example.com"

	// When two browsers load a page and 20 assets each
	seen := map[string]bool{}
	for client := range 2 {
		first := rawGateway(t, gateway.ExternalPort, host, nil)
		var cookie *http.Cookie
		for _, c := range first.Cookies() {
			if c.Name == routing.CookieName {
				cookie = c
			}
		}
		if cookie == nil || cookie.MaxAge != 3600 {
			t.Fatalf("client %d: sticky cookie %+v, want %s with max-age 3600", client, cookie, routing.CookieName)
		}
		version := first.Header.Get("X-Sampleapp-Version")
		seen[version] = true

		// Then every asset comes from the version the page came from
		for range 20 {
			r := rawGateway(t, gateway.ExternalPort, host, func(req *http.Request) { req.AddCookie(cookie) })
			if v := r.Header.Get("X-Sampleapp-Version"); v != version {
				t.Fatalf("client %d got %s after starting on %s", client, v, version)
			}
		}
	}
	// And without a cookie the split still alternates between versions
	if len(seen) != 2 {
		t.Fatalf("two fresh clients both landed on %v; the 50/50 split should alternate", seen)
	}
}

func TestOversizedHeadersGet431(t *testing.T) {
	r := rawGateway(t, gateway.ExternalPort, "anything.example.com", func(req *http.Request) {
		req.Header.Set("X-Big", strings.Repeat("a", 64<<10))
	})
	if r.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("64 KiB header: %d, want 431", r.StatusCode)
	}
}

// updateObject reads obj again, applies mutate and updates it, again on a
// conflict: the controllers write the same objects (status, scale), so a
// read-modify-write without a retry fails at random under load.
func updateObject(t *testing.T, obj client.Object, mutate func()) {
	t.Helper()
	key := client.ObjectKeyFromObject(obj)
	framework.Eventually(t, 30*time.Second, func(ctx context.Context) error {
		if err := cluster.Client.Get(ctx, key, obj); err != nil {
			return err
		}
		mutate()
		return cluster.Client.Update(ctx, obj)
	})
}
