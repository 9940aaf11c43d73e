package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	servingv1 "github.com/rampdev/ramp/apis/serving/v1"
	"github.com/rampdev/ramp/serving/gateway"
	"github.com/rampdev/ramp/test/framework"
)

var gwClient = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

// viaGateway sends GET path to the in-process gateway's external listener
// with the given Host and headers, and returns the status and the version the
// sample app reports.
func viaGateway(ctx context.Context, host, path string, header map[string]string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet,
		"http://"+cluster.GatewayIP()+":"+strconv.Itoa(gateway.ExternalPort)+path, nil)
	if err != nil {
		return 0, "", err
	}
	req.Host = host
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := gwClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, resp.Header.Get("X-Sampleapp-Version"), nil
}

// waitProgrammed waits until the gateway serves the route's current table.
func waitProgrammed(t *testing.T, ns, name string) {
	t.Helper()
	framework.Eventually(t, 60*time.Second, func(ctx context.Context) error {
		rt := &servingv1.Route{}
		if err := cluster.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, rt); err != nil {
			return err
		}
		if rt.Status.RoutingTable == nil || rt.Status.ObservedGeneration != rt.Generation {
			return fmt.Errorf("route not reconciled yet")
		}
		h, err := cluster.GatewayHash(ctx, ns, name)
		if err != nil {
			return err
		}
		if h != rt.Status.RoutingTable.Hash {
			return fmt.Errorf("gateway has %q, route wants %q", h, rt.Status.RoutingTable.Hash)
		}
		return nil
	})
}

// setTraffic replaces the Service's traffic block and waits until the
// gateway serves it.
func setTraffic(t *testing.T, ns string, traffic servingv1.TrafficList) {
	t.Helper()
	framework.Eventually(t, 30*time.Second, func(ctx context.Context) error {
		svc, err := getService(ctx, ns)
		if err != nil {
			return err
		}
		svc.Spec.Traffic = traffic
		return cluster.Client.Update(ctx, svc)
	})
	waitServiceReady(t, ns, func(*servingv1.Service) error { return nil })
	waitProgrammed(t, ns, "notifications")
}

// twoVersions deploys notifications 1.0.0 then 1.1.0 (100% latest) and
// waits for both revisions.
func twoVersions(t *testing.T) string {
	t.Helper()
	ns := cluster.Namespace(t)
	ctx := context.Background()
	if err := cluster.Client.Create(ctx, notifications(ns, "1.0.0")); err != nil {
		t.Fatal(err)
	}
	svc := waitServiceReady(t, ns, func(s *servingv1.Service) error { return nil })
	updateObject(t, svc, func() {
		svc.Spec.Template.Spec.Containers[0].Image = "ramp/sampleapp:1.1.0"
		svc.Spec.Template.Spec.Containers[0].Env[1].Value = "1.1.0"
	})
	waitServiceReady(t, ns, func(s *servingv1.Service) error {
		if s.Status.LatestReadyRevisionName != "notifications-00002" {
			return fmt.Errorf("latest ready %q", s.Status.LatestReadyRevisionName)
		}
		return nil
	})
	return ns
}

func TestGatewaySplitsExactlyAndRoutesByTag(t *testing.T) {
	ns := twoVersions(t)
	ctx := context.Background()
	host := "notifications." + ns + ".example.com"

	// When traffic is split 10/90
	setTraffic(t, ns, servingv1.TrafficList{
		{RevisionName: "notifications-00001", Percent: ptr.To(int64(10))},
		{RevisionName: "notifications-00002", Percent: ptr.To(int64(90))},
	})

	// Then 1,000 requests land 100±1 and 900±1
	counts := map[string]int{}
	for range 1000 {
		code, v, err := viaGateway(ctx, host, "/", nil)
		if err != nil || code != 200 {
			t.Fatalf("request failed: %d %v", code, err)
		}
		counts[v]++
	}
	if d := counts["1.0.0"] - 100; d < -1 || d > 1 {
		t.Errorf("1.0.0 got %d of 1000, want 100±1 (%v)", counts["1.0.0"], counts)
	}
	if d := counts["1.1.0"] - 900; d < -1 || d > 1 {
		t.Errorf("1.1.0 got %d of 1000, want 900±1 (%v)", counts["1.1.0"], counts)
	}

	// When blue keeps 100% and green gets 0% with its own tag
	setTraffic(t, ns, servingv1.TrafficList{
		{Tag: "blue", RevisionName: "notifications-00001", Percent: ptr.To(int64(100))},
		{Tag: "green", RevisionName: "notifications-00002", Percent: ptr.To(int64(0))},
	})

	// Then the main host never reaches the 0% target, while the tag URL and
	// the tag header reach only it
	cases := map[string]struct {
		host   string
		header map[string]string
		want   string
	}{
		"main host":              {host: host, want: "1.0.0"},
		"green tag host":         {host: "green-" + host, want: "1.1.0"},
		"blue tag host":          {host: "blue-" + host, want: "1.0.0"},
		"tag header":             {host: host, header: map[string]string{gateway.TagHeader: "green"}, want: "1.1.0"},
		"Knative tag header":     {host: host, header: map[string]string{gateway.KnativeTagHeader: "green"}, want: "1.1.0"},
		"unknown tag is ignored": {host: host, header: map[string]string{gateway.TagHeader: "purple"}, want: "1.0.0"},
	}
	for name, tc := range cases {
		for range 50 {
			code, v, err := viaGateway(ctx, tc.host, "/", tc.header)
			if err != nil || code != 200 || v != tc.want {
				t.Fatalf("%s: got %d %q (%v), want 200 %s", name, code, v, err, tc.want)
			}
		}
	}

	// And an unknown host is a 404
	if code, _, err := viaGateway(ctx, "nope."+ns+".example.com", "/", nil); err != nil || code != 404 {
		t.Fatalf("unknown host: %d %v, want 404", code, err)
	}
}

func TestGatewayWeightChangesUnderLoadDropNothing(t *testing.T) {
	ns := twoVersions(t)
	host := "notifications." + ns + ".example.com"
	setTraffic(t, ns, servingv1.TrafficList{
		{RevisionName: "notifications-00001", Percent: ptr.To(int64(50))},
		{RevisionName: "notifications-00002", Percent: ptr.To(int64(50))},
	})

	// Given bounded load: 4 workers, at most 200,000 requests or 90 s
	l := startLoad(host, 90*time.Second)
	// When the weights change 20 times while it runs
	var beforeLast int64
	for i := range 20 {
		if i == 19 {
			beforeLast = l.sent.Load()
		}
		a := int64(10 + (i%2)*80)
		setTraffic(t, ns, servingv1.TrafficList{
			{RevisionName: "notifications-00001", Percent: ptr.To(a)},
			{RevisionName: "notifications-00002", Percent: ptr.To(100 - a)},
		})
	}
	// Then not a single request failed, and the load really ran throughout
	l.check(t, "20 weight changes", beforeLast)

}

func TestGracefulPodDeletionUnderLoadDropsNothing(t *testing.T) {
	ns := cluster.Namespace(t)
	ctx := context.Background()

	// Given a revision with two pods serving through the gateway (min-scale
	// 2: the autoscaler would make do with one for this load)
	svc := notifications(ns, "1.0.0")
	svc.Spec.Template.Metadata.Annotations = map[string]string{servingv1.AnnotationInitialScale: "2",
		"autoscaling.ramp.dev/min-scale": "2"}
	if err := cluster.Client.Create(ctx, svc); err != nil {
		t.Fatal(err)
	}
	waitServiceReady(t, ns, func(*servingv1.Service) error { return nil })
	waitProgrammed(t, ns, "notifications")
	host := "notifications." + ns + ".example.com"
	framework.Eventually(t, 60*time.Second, func(ctx context.Context) error {
		pods, err := cluster.Pods(ctx, ns, map[string]string{servingv1.LabelRevision: "notifications-00001"})
		if err != nil {
			return err
		}
		ready := 0
		for i := range pods {
			if framework.PodReady(&pods[i]) {
				ready++
			}
		}
		if ready != 2 {
			return fmt.Errorf("%d ready pods, want 2", ready)
		}
		return nil
	})

	// And bounded load: 4 workers, at most 200,000 requests or 60 s
	l := startLoad(host, 60*time.Second)
	// When the pods are deleted one after the other (the Deployment replaces them)
	var beforeLast int64
	for range 2 {
		beforeLast = l.sent.Load()
		time.Sleep(time.Second)
		pods, err := cluster.Pods(ctx, ns, map[string]string{servingv1.LabelRevision: "notifications-00001"})
		if err != nil || len(pods) == 0 {
			t.Fatalf("pods: %v", err)
		}
		victim := pods[0]
		if err := cluster.Client.Delete(ctx, &victim); err != nil {
			t.Fatal(err)
		}
		framework.Eventually(t, 60*time.Second, func(ctx context.Context) error {
			pods, err := cluster.Pods(ctx, ns, map[string]string{servingv1.LabelRevision: "notifications-00001"})
			if err != nil {
				return err
			}
			ready := 0
			for i := range pods {
				if pods[i].Name == victim.Name {
					return fmt.Errorf("%s still exists", victim.Name)
				}
				if framework.PodReady(&pods[i]) {
					ready++
				}
			}
			if ready < 2 {
				return fmt.Errorf("%d ready pods", ready)
			}
			return nil
		})
	}
	// Then no request failed, and the load ran throughout
	l.check(t, "2 graceful pod deletions", beforeLast)
}

// load is bounded traffic through the gateway: 4 workers, at most 200,000
// requests or the time limit, loopback only.
type load struct {
	sent, failed atomic.Int64
	first        atomic.Value
	cancel       context.CancelFunc
	wg           sync.WaitGroup
}

func startLoad(host string, limit time.Duration) *load {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	l := &load{cancel: cancel}
	for range 4 {
		l.wg.Go(func() {
			for ctx.Err() == nil && l.sent.Add(1) <= 200000 {
				code, _, err := viaGateway(ctx, host, "/", nil)
				if ctx.Err() != nil {
					return
				}
				if err != nil || code/100 != 2 {
					l.failed.Add(1)
					l.first.CompareAndSwap(nil, fmt.Sprintf("%d %v", code, err))
				}
			}
		})
	}
	return l
}

// check stops the load and fails the test if any request failed, or if the
// load had stopped before the last disruption (sent was beforeLast when it
// began).
func (l *load) check(t *testing.T, what string, beforeLast int64) {
	t.Helper()
	duringLast := l.sent.Load() - beforeLast
	l.cancel()
	l.wg.Wait()
	t.Logf("sent %d requests across %s (%d during the last one)", l.sent.Load(), what, duringLast)
	if duringLast < 10 {
		t.Fatalf("only %d requests ran during the last disruption: the load stopped early", duringLast)
	}
	if n := l.failed.Load(); n > 0 {
		t.Fatalf("%d requests failed during %s; first: %v", n, what, l.first.Load())
	}
}
