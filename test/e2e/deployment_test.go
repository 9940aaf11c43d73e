package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appsv1 "k8s.io/api/apps/v1"

	"github.com/rampdev/ramp/test/framework"
)

// readyEndpoints returns the sorted ready addresses of a Service's slices.
func readyEndpoints(ctx context.Context, ns, svc string) ([]string, error) {
	var slices discoveryv1.EndpointSliceList
	if err := cluster.Client.List(ctx, &slices, client.InNamespace(ns),
		client.MatchingLabels{discoveryv1.LabelServiceName: svc}); err != nil {
		return nil, err
	}
	var out []string
	for _, s := range slices.Items {
		for _, ep := range s.Endpoints {
			if ep.Conditions.Ready != nil && *ep.Conditions.Ready {
				out = append(out, ep.Addresses...)
			}
		}
	}
	sort.Strings(out)
	return out, nil
}

func TestDeploymentRunsPodsAsProcessesOnTheirOwnLoopbackIPs(t *testing.T) {
	ns := cluster.Namespace(t)
	ctx := context.Background()
	signals := filepath.Join(t.TempDir(), "signals")

	// Given a Service and a Deployment of 3 sample-app replicas
	b := framework.MakePod(ns, "hello").Env("VERSION", "1.0.0").Env("SIGNAL_FILE", signals)
	for _, obj := range []client.Object{b.Service(), b.Deployment(3)} {
		if err := cluster.Client.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}

	// Then 3 pods become Ready, each on its own loopback IP
	var ips []string
	framework.Eventually(t, 60*time.Second, func(ctx context.Context) error {
		pods, err := cluster.Pods(ctx, ns, map[string]string{"app": "hello"})
		if err != nil {
			return err
		}
		ips = nil
		for i := range pods {
			if !framework.PodReady(&pods[i]) {
				return fmt.Errorf("pod %s not ready: %+v", pods[i].Name, pods[i].Status.ContainerStatuses)
			}
			ips = append(ips, pods[i].Status.PodIP)
		}
		if len(pods) != 3 {
			return fmt.Errorf("%d pods, want 3", len(pods))
		}
		return nil
	})
	sort.Strings(ips)
	if uniq := slices.Compact(slices.Clone(ips)); len(uniq) != 3 {
		t.Fatalf("pod IPs are not distinct: %v", ips)
	}
	for _, ip := range ips {
		if !strings.HasPrefix(ip, "127.") {
			t.Fatalf("pod IP %s is not a loopback address", ip)
		}
	}

	// And kube-controller-manager lists exactly those IPs in the EndpointSlices
	framework.Eventually(t, 30*time.Second, func(ctx context.Context) error {
		got, err := readyEndpoints(ctx, ns, "hello")
		if err != nil {
			return err
		}
		if !slices.Equal(got, ips) {
			return fmt.Errorf("ready endpoints %v, want %v", got, ips)
		}
		return nil
	})

	// And each pod answers HTTP on its own IP, knowing its identity
	pods, _ := cluster.Pods(ctx, ns, map[string]string{"app": "hello"})
	for _, p := range pods {
		code, body, err := framework.Get(ctx, "http://"+p.Status.PodIP+":8080/service/info")
		if err != nil || code != 200 {
			t.Fatalf("GET %s: %d %v", p.Status.PodIP, code, err)
		}
		for _, want := range []string{`"podName":"` + p.Name + `"`, `"podIp":"` + p.Status.PodIP + `"`,
			`"podNamespace":"` + ns + `"`, `"version":"1.0.0"`, `"podNodeName":"` + cluster.NodeName() + `"`} {
			if !strings.Contains(body, want) {
				t.Errorf("pod %s: /service/info = %s, want it to contain %s", p.Name, body, want)
			}
		}
	}
	if pids, _ := cluster.Processes("sampleapp"); len(pids) < 3 {
		t.Fatalf("found %d sampleapp processes, want at least 3", len(pids))
	}

	// When the Deployment is scaled to 1
	var d appsv1.Deployment
	if err := cluster.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: "hello"}, &d); err != nil {
		t.Fatal(err)
	}
	updateObject(t, &d, func() { d.Spec.Replicas = ptr.To(int32(1)) })

	// Then 2 pods go away, and each of them saw SIGTERM (a graceful stop)
	framework.Eventually(t, 60*time.Second, func(ctx context.Context) error {
		pods, err := cluster.Pods(ctx, ns, map[string]string{"app": "hello"})
		if err != nil {
			return err
		}
		if len(pods) != 1 {
			return fmt.Errorf("%d pods, want 1", len(pods))
		}
		return nil
	})
	b2, _ := os.ReadFile(signals)
	if n := strings.Count(string(b2), "SIGTERM "); n != 2 {
		t.Fatalf("signal file records %d SIGTERMs, want 2:\n%s", n, b2)
	}

	// When the Deployment is deleted
	if err := cluster.Client.Delete(ctx, &d, client.PropagationPolicy("Foreground")); err != nil {
		t.Fatal(err)
	}

	// Then no pod and no process of it is left
	framework.Eventually(t, 60*time.Second, func(ctx context.Context) error {
		err := cluster.Client.Get(ctx, client.ObjectKeyFromObject(&d), &appsv1.Deployment{})
		if !apierrors.IsNotFound(err) {
			return fmt.Errorf("deployment still exists (%w)", err)
		}
		pods, err := cluster.Pods(ctx, ns, map[string]string{"app": "hello"})
		if err != nil || len(pods) != 0 {
			return fmt.Errorf("%d pods left (%w)", len(pods), err)
		}
		for _, ip := range ips {
			if code, _, err := framework.Get(ctx, "http://"+ip+":8080/"); err == nil {
				return fmt.Errorf("%s still answers (%d)", ip, code)
			}
		}
		return nil
	})
	for _, ip := range ips {
		if pids := processesOn(t, ip); len(pids) > 0 {
			t.Fatalf("processes %v still serve %s", pids, ip)
		}
	}
}

// processesOn lists sampleapp processes whose POD_IP is ip.
func processesOn(t *testing.T, ip string) []int {
	t.Helper()
	pids, err := cluster.Processes("sampleapp")
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	for _, pid := range pids {
		env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
		if err == nil && strings.Contains(string(env), "\x00POD_IP="+ip+"\x00") {
			out = append(out, pid)
		}
	}
	return out
}
