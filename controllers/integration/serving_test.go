// Package integration runs every serving reconciler on one manager against
// an envtest API server (etcd and kube-apiserver only: no Deployment
// controller, no pods, no garbage collector; tests play those parts).
package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	servingv1 "github.com/rampdev/ramp/apis/serving/v1"
	"github.com/rampdev/ramp/controllers/manager"
	"github.com/rampdev/ramp/test/framework"
)

// TestServing starts one API server and one manager for all subtests; each
// subtest works in a namespace of its own. Subtests run one after another:
// "domain" changes the cluster-wide ramp-config.
func TestServing(t *testing.T) {
	root, err := framework.RepoRoot()
	must(t, err)
	env := framework.StartEnvtest(t, manager.Scheme(), filepath.Join(root, "charts", "ramp", "templates", "crds"))
	k8s, err = client.NewWithWatch(env.Config, client.Options{Scheme: env.Scheme})
	must(t, err)
	must(t, k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: systemNamespace}}))

	if os.Getenv("RAMP_TEST_LOG") != "" {
		ctrl.SetLogger(zap.New(zap.UseDevMode(true))) // RAMP_TEST_LOG=1: controller logs
	} else {
		ctrl.SetLogger(logr.Discard())
	}
	mgr, err := manager.New(env.Config, manager.Options{Namespace: systemNamespace, MetricsAddr: "0", HealthAddr: "0",
		QueueImage: queueImage, ProgressDeadline: 10 * time.Minute, ScaleToZeroGrace: grace, SkipNameValidation: true})
	must(t, err)
	cached = mgr.GetClient()
	mgrCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- mgr.Start(mgrCtx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("manager: %v", err)
		}
	})

	t.Run("create", testCreate)
	t.Run("create without reconcile errors", testCreateWithoutErrors)
	t.Run("update with 50/50 and tags", testUpdateSplitAndTags)
	t.Run("pinned revision not ready keeps traffic", testPinnedNotReady)
	t.Run("drift correction", testDriftCorrection)
	t.Run("missing revision", testMissingRevision)
	t.Run("name conflict", testNameConflict)
	t.Run("domain from ramp-config", testDomain)
	t.Run("scale to zero", testScaleToZero)
	t.Run("new revision not scaled to zero before routed", testNoScaleDownBeforeRouted)
	t.Run("delete", testDelete)
}

func testCreate(t *testing.T) {
	// Given a namespace.
	ns := newNamespace(t)
	// When a Service hello with image ramp/sampleapp:v1 and no traffic block is created.
	svc := makeService(ns, "hello", "ramp/sampleapp:v1")
	must(t, k8s.Create(ctx, svc))

	// Then the Service controls a Configuration and a Route of its name.
	cfg, rt := &servingv1.Configuration{}, &servingv1.Route{}
	eventually(t, timeout, func() error {
		if err := get(ns, "hello", cfg); err != nil {
			return err
		}
		if err := get(ns, "hello", rt); err != nil {
			return err
		}
		if err := controlledBy(cfg, svc, "Service"); err != nil {
			return err
		}
		return controlledBy(rt, svc, "Service")
	})
	// And the Configuration stamps Revision hello-00001 with its labels.
	rev := &servingv1.Revision{}
	eventually(t, timeout, func() error { return get(ns, "hello-00001", rev) })
	for k, v := range map[string]string{servingv1.LabelConfiguration: "hello", servingv1.LabelService: "hello",
		servingv1.LabelConfigurationGen: "1"} {
		if rev.Labels[k] != v {
			t.Errorf("revision label %s = %q, want %q", k, rev.Labels[k], v)
		}
	}
	// And the Revision runs as a Deployment with the user container and the queue-proxy.
	deploy := &appsv1.Deployment{}
	eventually(t, timeout, func() error { return get(ns, "hello-00001-deployment", deploy) })
	if got := *deploy.Spec.Replicas; got != 1 {
		t.Errorf("deployment replicas = %d, want 1", got)
	}
	containers := deploy.Spec.Template.Spec.Containers
	if len(containers) != 2 || containers[0].Name != "user-container" || containers[1].Name != "queue-proxy" {
		t.Fatalf("deployment containers = %+v, want user-container and queue-proxy", containers)
	}
	env := map[string]string{}
	for _, e := range containers[0].Env {
		env[e.Name] = e.Value
		if e.ValueFrom != nil && e.ValueFrom.FieldRef != nil {
			env[e.Name] = "fieldRef:" + e.ValueFrom.FieldRef.FieldPath
		}
	}
	wantEnv := map[string]string{"PORT": "8080", "K_SERVICE": "hello", "K_CONFIGURATION": "hello", "K_REVISION": "hello-00001",
		"POD_IP": "fieldRef:status.podIP"}
	if diff := cmp.Diff(wantEnv, env); diff != "" {
		t.Errorf("user-container env (-want +got):\n%s", diff)
	}
	if containers[0].ReadinessProbe != nil {
		t.Errorf("user-container has a readiness probe %+v; the queue-proxy should own it", containers[0].ReadinessProbe)
	}
	if containers[1].Image != queueImage {
		t.Errorf("queue-proxy image = %q, want %q", containers[1].Image, queueImage)
	}
	// And a Kubernetes Service selects the Revision's pods.
	ksvc := &corev1.Service{}
	eventually(t, timeout, func() error { return get(ns, "hello-00001", ksvc) })
	if diff := cmp.Diff(map[string]string{servingv1.LabelRevision: "hello-00001"}, ksvc.Spec.Selector); diff != "" {
		t.Errorf("service selector (-want +got):\n%s", diff)
	}
	// And while the Deployment is not ready, the Revision is not Ready yet.
	eventually(t, timeout, func() error {
		if err := get(ns, "hello-00001", rev); err != nil {
			return err
		}
		if err := hasCondition(&rev.Status.Status, rev.Generation, servingv1.ConditionReady, metav1.ConditionUnknown, servingv1.ReasonDeploying); err != nil {
			return err
		}
		if err := get(ns, "hello", svc); err != nil {
			return err
		}
		if svc.Status.LatestCreatedRevisionName != "hello-00001" {
			return fmt.Errorf("service latestCreatedRevisionName = %q", svc.Status.LatestCreatedRevisionName)
		}
		return nil
	})

	// When the Deployment becomes ready.
	markReady(t, ns, "hello-00001")

	// Then the Revision is Ready, the Configuration's latest ready, and the Route sends it everything.
	host := "hello." + ns + ".example.com"
	eventually(t, timeout, func() error {
		if err := get(ns, "hello-00001", rev); err != nil {
			return err
		}
		if err := hasCondition(&rev.Status.Status, rev.Generation, servingv1.ConditionReady, metav1.ConditionTrue, servingv1.ReasonReady); err != nil {
			return err
		}
		if err := get(ns, "hello", cfg); err != nil {
			return err
		}
		if cfg.Status.LatestReadyRevisionName != "hello-00001" {
			return fmt.Errorf("configuration latestReadyRevisionName = %q", cfg.Status.LatestReadyRevisionName)
		}
		rt, err := routeTraffic(ns, "hello", []servingv1.TrafficTarget{latestTarget("hello", "hello-00001", 100)})
		if err != nil {
			return err
		}
		if rt.Status.URL != "http://"+host {
			return fmt.Errorf("route url = %q, want http://%s", rt.Status.URL, host)
		}
		tbl := rt.Status.RoutingTable
		if len(tbl.Rules) != 1 || len(tbl.Rules[0].Hosts) == 0 || tbl.Rules[0].Hosts[0] != host || tbl.Hash == "" {
			return fmt.Errorf("routing table %+v: want one rule for %s and a hash", tbl, host)
		}
		if diff := cmp.Diff([]servingv1.RoutingBackend{backend("hello-00001", 100)}, tbl.Rules[0].Backends); diff != "" {
			return fmt.Errorf("backends (-want +got):\n%s", diff)
		}
		return nil
	})
	// And the Service is Ready at the Route's URL.
	eventually(t, timeout, func() error {
		if err := get(ns, "hello", svc); err != nil {
			return err
		}
		if svc.Status.URL != "http://"+host {
			return fmt.Errorf("service url = %q", svc.Status.URL)
		}
		return hasCondition(&svc.Status.Status, svc.Generation, servingv1.ConditionReady, metav1.ConditionTrue, servingv1.ReasonReady)
	})
}

// testCreateWithoutErrors: creating a Service's children is not a failure.
func testCreateWithoutErrors(t *testing.T) {
	// Given the service controller's count of failed reconciles.
	before := reconcileErrors(t, "service")
	// When Services are created and become Ready (several: whether the
	// controller's cache lags behind its own writes is a race).
	ns := newNamespace(t)
	for _, name := range []string{"hello", "hola", "salut"} {
		deployService(t, makeService(ns, name, "ramp/sampleapp:v1"))
	}
	// Then no reconcile of them failed.
	if n := reconcileErrors(t, "service") - before; n != 0 {
		t.Errorf("the service controller failed %v reconciles while creating 3 Services' Configurations and Routes; want 0", n)
	}
}

func testUpdateSplitAndTags(t *testing.T) {
	// Given the Service hello, Ready on hello-00001.
	ns := newNamespace(t)
	svc := makeService(ns, "hello", "ramp/sampleapp:v1")
	deployService(t, svc)

	// When its template changes and traffic is split 50/50 between hello-00001 and the latest revision.
	update(t, svc, func(s *servingv1.Service) {
		s.Spec.Template.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "VERSION", Value: "1.1.0"}}
		s.Spec.Traffic = []servingv1.TrafficTarget{pin("hello-00001", 50, ""),
			{LatestRevision: ptr.To(true), Percent: ptr.To(int64(50))}}
	})
	// Then hello-00002 appears.
	eventually(t, timeout, func() error { return get(ns, "hello-00002", &servingv1.Revision{}) })
	// And until it is ready, the latest ready revision is still hello-00001, so
	// all traffic stays there: latestRevision follows the latest *ready*
	// Revision (as in Knative), which makes the block fully assigned.
	eventually(t, timeout, func() error {
		rt, err := routeTraffic(ns, "hello", []servingv1.TrafficTarget{pinnedTarget("hello-00001", 50), latestTarget("hello", "hello-00001", 50)})
		if err != nil {
			return err
		}
		if err := hasCondition(&rt.Status.Status, rt.Generation, servingv1.RouteConditionAllTrafficAssigned, metav1.ConditionTrue, servingv1.ReasonReady); err != nil {
			return err
		}
		b, err := backends(rt)
		if err != nil {
			return err
		}
		if diff := cmp.Diff([]servingv1.RoutingBackend{backend("hello-00001", 100)}, b); diff != "" {
			return fmt.Errorf("backends (-want +got):\n%s", diff)
		}
		if err := get(ns, "hello", svc); err != nil {
			return err
		}
		// The Service says why it is not Ready: its Configuration waits for hello-00002.
		return hasCondition(&svc.Status.Status, svc.Generation, servingv1.ServiceConditionConfigurationsReady, metav1.ConditionUnknown, servingv1.ReasonDeploying)
	})

	// When hello-00002 becomes ready.
	markReady(t, ns, "hello-00002")
	// Then traffic is split 50/50.
	eventually(t, timeout, func() error {
		rt, err := routeTraffic(ns, "hello", []servingv1.TrafficTarget{pinnedTarget("hello-00001", 50), latestTarget("hello", "hello-00002", 50)})
		if err != nil {
			return err
		}
		b, err := backends(rt)
		if err != nil {
			return err
		}
		if diff := cmp.Diff([]servingv1.RoutingBackend{backend("hello-00001", 50), backend("hello-00002", 50)}, b); diff != "" {
			return fmt.Errorf("backends (-want +got):\n%s", diff)
		}
		return nil
	})

	// When traffic goes back to hello-00001 and both revisions get tags.
	update(t, svc, func(s *servingv1.Service) {
		s.Spec.Traffic = []servingv1.TrafficTarget{pin("hello-00001", 100, "current"), pin("hello-00002", 0, "version110")}
	})
	// Then each tag has a URL, hello-00002 gets no share of the main host, and each tag a rule.
	current, v110 := pinnedTarget("hello-00001", 100), pinnedTarget("hello-00002", 0)
	current.Tag, current.URL = "current", "http://current-hello."+ns+".example.com"
	v110.Tag, v110.URL = "version110", "http://version110-hello."+ns+".example.com"
	eventually(t, timeout, func() error {
		rt, err := routeTraffic(ns, "hello", []servingv1.TrafficTarget{current, v110})
		if err != nil {
			return err
		}
		tbl := rt.Status.RoutingTable
		if len(tbl.Rules) != 3 {
			return fmt.Errorf("routing table has %d rules, want main + 2 tags: %+v", len(tbl.Rules), tbl.Rules)
		}
		want := []servingv1.RoutingRule{
			{Hosts: tbl.Rules[0].Hosts, Backends: []servingv1.RoutingBackend{backend("hello-00001", 100)}},
			{Hosts: []string{"current-hello." + ns + ".example.com", "current-hello." + ns + ".svc.cluster.local"},
				Tag: "current", Backends: []servingv1.RoutingBackend{backend("hello-00001", 100)}},
			{Hosts: []string{"version110-hello." + ns + ".example.com", "version110-hello." + ns + ".svc.cluster.local"},
				Tag: "version110", Backends: []servingv1.RoutingBackend{backend("hello-00002", 100)}},
		}
		if diff := cmp.Diff(want, tbl.Rules); diff != "" {
			return fmt.Errorf("rules (-want +got):\n%s", diff)
		}
		if err := get(ns, "hello", svc); err != nil {
			return err
		}
		if diff := cmp.Diff(rt.Status.Traffic, svc.Status.Traffic); diff != "" {
			return fmt.Errorf("service status.traffic differs from the route's (-route +service):\n%s", diff)
		}
		return nil
	})
}

// testPinnedNotReady: a traffic block that names a Revision that is not ready
// does not move traffic at all until it is.
func testPinnedNotReady(t *testing.T) {
	// Given the Service hello, Ready on hello-00001.
	ns := newNamespace(t)
	svc := makeService(ns, "hello", "ramp/sampleapp:v1")
	deployService(t, svc)
	before := []servingv1.TrafficTarget{latestTarget("hello", "hello-00001", 100)}

	// When its template changes and traffic pins 50% on hello-00002, which is not ready.
	update(t, svc, func(s *servingv1.Service) {
		s.Spec.Template.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "VERSION", Value: "1.1.0"}}
		s.Spec.Traffic = []servingv1.TrafficTarget{pin("hello-00001", 50, ""), pin("hello-00002", 50, "")}
	})
	// Then the Route keeps its previous traffic and says traffic is not assigned yet.
	rt := &servingv1.Route{}
	eventually(t, timeout, func() error {
		if err := get(ns, "hello", rt); err != nil {
			return err
		}
		if err := hasCondition(&rt.Status.Status, rt.Generation, servingv1.RouteConditionAllTrafficAssigned, metav1.ConditionUnknown, servingv1.ReasonRevisionNotReady); err != nil {
			return err
		}
		return hasCondition(&rt.Status.Status, rt.Generation, servingv1.ConditionReady, metav1.ConditionUnknown, servingv1.ReasonRevisionNotReady)
	})
	if diff := cmp.Diff(before, rt.Status.Traffic); diff != "" {
		t.Errorf("route traffic moved before hello-00002 was ready (-want +got):\n%s", diff)
	}
	if b, err := backends(rt); err != nil || !cmp.Equal(b, []servingv1.RoutingBackend{backend("hello-00001", 100)}) {
		t.Errorf("routing table backends = %+v (%v), want hello-00001 at 100", b, err)
	}

	// When hello-00002 becomes ready, then the split takes effect.
	markReady(t, ns, "hello-00002")
	eventually(t, timeout, func() error {
		_, err := routeTraffic(ns, "hello", []servingv1.TrafficTarget{pinnedTarget("hello-00001", 50), pinnedTarget("hello-00002", 50)})
		return err
	})
}
