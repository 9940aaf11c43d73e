package e2e

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	servingv1 "github.com/rampdev/ramp/apis/serving/v1"
	autoscaling "github.com/rampdev/ramp/controllers/autoscaler"
	"github.com/rampdev/ramp/test/framework"
)

// setAutoscalerConfig writes ConfigMap ramp-autoscaler for one test and
// removes it afterwards (back to the defaults).
func setAutoscalerConfig(t *testing.T, data map[string]string) {
	t.Helper()
	ctx := context.Background()
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "ramp-system", Name: autoscaling.ConfigMapName}, Data: data}
	if err := cluster.Client.Create(ctx, cm); err != nil {
		t.Fatalf("creating %s: %v", autoscaling.ConfigMapName, err)
	}
	t.Cleanup(func() { _ = cluster.Client.Delete(context.Background(), cm) })
}

// deploymentReplicas is the replica count the revision's Deployment asks
// for.
func deploymentReplicas(ctx context.Context, ns, rev string) (int32, error) {
	d := &appsv1.Deployment{}
	if err := cluster.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: rev + "-deployment"}, d); err != nil {
		return 0, err
	}
	return ptr.Deref(d.Spec.Replicas, 1), nil
}

// burst sends n concurrent requests through the gateway and returns how
// many did not answer 200, with the first failure.
func burst(host string, n int) (int64, string) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var failed atomic.Int64
	var first atomic.Value
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			code, _, err := viaGateway(ctx, host, "/", nil)
			if err != nil || code != 200 {
				failed.Add(1)
				first.CompareAndSwap(nil, fmt.Sprintf("%d %v", code, err))
			}
		})
	}
	wg.Wait()
	f, _ := first.Load().(string)
	return failed.Load(), f
}

func TestAutoscalerFollowsLoadDownToZeroAndActivatesFromZero(t *testing.T) {
	ns := cluster.Namespace(t)
	ctx := context.Background()
	// Given an autoscaler that scales to zero after 6 s of stable window
	// plus 2 s of grace without traffic
	setAutoscalerConfig(t, map[string]string{"stable-window": "6s", "scale-to-zero-grace-period": "2s"})
	// And a service whose pods serve one request at a time, 50 ms each
	svc := notifications(ns, "v1")
	svc.Spec.Template.Spec.ContainerConcurrency = ptr.To[int64](1)
	svc.Spec.Template.Metadata.Annotations = map[string]string{"autoscaling.ramp.dev/max-scale": "4"}
	svc.Spec.Template.Spec.Containers[0].Env = append(svc.Spec.Template.Spec.Containers[0].Env,
		corev1.EnvVar{Name: "LATENCY", Value: "50ms"})
	if err := cluster.Client.Create(ctx, svc); err != nil {
		t.Fatal(err)
	}
	waitServiceReady(t, ns, func(*servingv1.Service) error { return nil })
	waitProgrammed(t, ns, "notifications")
	host := "notifications." + ns + ".example.com"
	const rev = "notifications-00001"

	// When 4 clients keep sending requests for 12 s
	l := startLoad(host, 12*time.Second)
	peak := int32(0)
	framework.Eventually(t, 15*time.Second, func(ctx context.Context) error {
		n, err := deploymentReplicas(ctx, ns, rev)
		if err != nil {
			return err
		}
		peak = max(peak, n)
		if peak < 3 {
			return fmt.Errorf("replicas %d (peak %d), want ≥ 3 for 4 concurrent at 0.7 per pod", n, peak)
		}
		return nil
	})
	// Then replicas rise (bounded by max-scale 4), and no request failed
	l.wg.Wait()
	l.check(t, "scaling up", 0)
	if peak > 4 {
		t.Errorf("replicas reached %d, above max-scale 4", peak)
	}

	// When the load stops, Then the revision goes back to zero pods
	framework.Eventually(t, 60*time.Second, func(ctx context.Context) error {
		n, err := deploymentReplicas(ctx, ns, rev)
		if err != nil {
			return err
		}
		pods, err := cluster.Pods(ctx, ns, map[string]string{servingv1.LabelRevision: rev})
		if err != nil {
			return err
		}
		if n != 0 || len(pods) != 0 {
			return fmt.Errorf("replicas %d, %d pods left; want 0 and none", n, len(pods))
		}
		return nil
	})

	// When 100 requests arrive at once at the revision at zero
	// (containerConcurrency 1)
	start := time.Now()
	failed, first := burst(host, 100)
	// Then every one of them is answered 200 through activation
	if failed > 0 {
		t.Fatalf("%d of 100 requests failed during scale from zero; first: %s", failed, first)
	}
	t.Logf("100 concurrent requests from zero answered in %v", time.Since(start).Round(time.Millisecond))

	// And the scale-from-zero is visible on the revision
	var r servingv1.Revision
	if err := cluster.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: rev}, &r); err != nil {
		t.Fatal(err)
	}
	if ptr.Deref(r.Status.DesiredReplicas, 0) < 1 {
		t.Errorf("revision desires %d replicas right after activation", ptr.Deref(r.Status.DesiredReplicas, 0))
	}
}
