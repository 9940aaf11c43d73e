package integration

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	servingv1 "github.com/rampdev/ramp/apis/serving/v1"
)

func testDriftCorrection(t *testing.T) {
	// Given the Service hello, Ready on hello-00001.
	ns := newNamespace(t)
	deployService(t, makeService(ns, "hello", "ramp/sampleapp:v1"))
	rev := &servingv1.Revision{}
	must(t, get(ns, "hello-00001", rev))

	// When someone scales the Revision's Deployment to 5 and removes the queue-proxy.
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "hello-00001-deployment"}}
	update(t, d, func(d *appsv1.Deployment) {
		d.Spec.Replicas = ptr.To(int32(5))
		d.Spec.Template.Spec.Containers = d.Spec.Template.Spec.Containers[:1]
	})
	// Then the reconciler restores one replica and the queue-proxy.
	eventually(t, timeout, func() error {
		if err := get(ns, d.Name, d); err != nil {
			return err
		}
		var names []string
		for _, c := range d.Spec.Template.Spec.Containers {
			names = append(names, c.Name+"="+c.Image)
		}
		want := []string{"user-container=ramp/sampleapp:v1", "queue-proxy=" + queueImage}
		if *d.Spec.Replicas != 1 || !cmp.Equal(want, names) {
			return fmt.Errorf("deployment has %d replicas and containers %v, want 1 and %v", *d.Spec.Replicas, names, want)
		}
		return nil
	})

	// When someone adds a container of their own and an env var by hand.
	update(t, d, func(d *appsv1.Deployment) {
		d.Spec.Template.Spec.Containers = append(d.Spec.Template.Spec.Containers, corev1.Container{Name: "extra", Image: "evil:1"})
		c := &d.Spec.Template.Spec.Containers[0]
		c.Env = append(c.Env, corev1.EnvVar{Name: "INJECTED", Value: "1"})
	})
	// Then both are removed again.
	eventually(t, timeout, func() error {
		if err := get(ns, d.Name, d); err != nil {
			return err
		}
		if n := len(d.Spec.Template.Spec.Containers); n != 2 {
			return fmt.Errorf("deployment has %d containers, want 2", n)
		}
		for _, e := range d.Spec.Template.Spec.Containers[0].Env {
			if e.Name == "INJECTED" {
				return fmt.Errorf("hand-added env var INJECTED is still there")
			}
		}
		return nil
	})

	// When someone deletes the Revision's Kubernetes Service.
	ksvc := &corev1.Service{}
	must(t, get(ns, "hello-00001", ksvc))
	deleted := ksvc.UID
	must(t, k8s.Delete(ctx, ksvc))
	// Then it is recreated, controlled by the Revision.
	eventually(t, timeout, func() error {
		if err := get(ns, "hello-00001", ksvc); err != nil {
			return err
		}
		if ksvc.UID == deleted {
			return fmt.Errorf("service %s not deleted yet", ksvc.Name)
		}
		return controlledBy(ksvc, rev, "Revision")
	})

	// When someone points its selector elsewhere, then it is put back.
	update(t, ksvc, func(s *corev1.Service) { s.Spec.Selector = map[string]string{"app": "someone-else"} })
	eventually(t, timeout, func() error {
		if err := get(ns, "hello-00001", ksvc); err != nil {
			return err
		}
		if diff := cmp.Diff(map[string]string{servingv1.LabelRevision: "hello-00001"}, ksvc.Spec.Selector); diff != "" {
			return fmt.Errorf("selector (-want +got):\n%s", diff)
		}
		return nil
	})
}

func testMissingRevision(t *testing.T) {
	// Given a namespace without Revisions.
	ns := newNamespace(t)
	// When a Route sends all traffic to Revision nope-00001, which does not exist.
	rt := &servingv1.Route{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "pinned"},
		Spec: servingv1.RouteSpec{Traffic: []servingv1.TrafficTarget{pin("nope-00001", 100, "")}}}
	must(t, k8s.Create(ctx, rt))
	// Then traffic is not assigned, permanently, with a message naming the Revision.
	eventually(t, timeout, func() error {
		if err := get(ns, "pinned", rt); err != nil {
			return err
		}
		st := &rt.Status.Status
		if err := hasCondition(st, rt.Generation, servingv1.RouteConditionAllTrafficAssigned, metav1.ConditionFalse, servingv1.ReasonRevisionMissing); err != nil {
			return err
		}
		if msg := st.GetCondition(servingv1.RouteConditionAllTrafficAssigned).Message; !strings.Contains(msg, `"nope-00001"`) {
			return fmt.Errorf("AllTrafficAssigned message %q does not name the revision", msg)
		}
		return hasCondition(st, rt.Generation, servingv1.ConditionReady, metav1.ConditionFalse, servingv1.ReasonRevisionMissing)
	})
	// And nothing is routed, though the URL is known.
	if rt.Status.Traffic != nil || rt.Status.RoutingTable != nil {
		t.Errorf("route traffic %+v and routing table %+v, want none", rt.Status.Traffic, rt.Status.RoutingTable)
	}
	if want := "http://pinned." + ns + ".example.com"; rt.Status.URL != want {
		t.Errorf("route url = %q, want %q", rt.Status.URL, want)
	}
}

func testNameConflict(t *testing.T) {
	// Given a Configuration c whose template names its Revision c-fixed.
	ns := newNamespace(t)
	cfg := &servingv1.Configuration{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "c"},
		Spec: servingv1.ConfigurationSpec{Template: template("ramp/sampleapp:v1")}}
	cfg.Spec.Template.Metadata.Name = "c-fixed"
	must(t, k8s.Create(ctx, cfg))
	rev := &servingv1.Revision{}
	eventually(t, timeout, func() error {
		if err := get(ns, "c-fixed", rev); err != nil {
			return err
		}
		return controlledBy(rev, cfg, "Configuration")
	})

	// When the image changes but the template keeps the name.
	update(t, cfg, func(c *servingv1.Configuration) { c.Spec.Template.Spec.Containers[0].Image = "ramp/sampleapp:v2" })
	// Then the Configuration fails with RevisionNameConflict.
	eventually(t, timeout, func() error {
		if err := get(ns, "c", cfg); err != nil {
			return err
		}
		if err := hasCondition(&cfg.Status.Status, cfg.Generation, servingv1.ConditionReady, metav1.ConditionFalse, servingv1.ReasonNameConflict); err != nil {
			return err
		}
		if msg := cfg.Status.GetCondition(servingv1.ConditionReady).Message; !strings.Contains(msg, `"c-fixed"`) {
			return fmt.Errorf("message %q does not name the revision", msg)
		}
		return nil
	})
	// And the existing Revision is left as it was.
	var revs servingv1.RevisionList
	must(t, k8s.List(ctx, &revs, client.InNamespace(ns)))
	if len(revs.Items) != 1 || revs.Items[0].Name != "c-fixed" || revs.Items[0].Spec.Containers[0].Image != "ramp/sampleapp:v1" {
		t.Errorf("revisions = %+v, want only c-fixed with ramp/sampleapp:v1", revs.Items)
	}
}

func testDomain(t *testing.T) {
	// Given a Route web (its Configuration does not exist; its URL is still known).
	ns := newNamespace(t)
	urlIs := func(name, want string) func() error {
		return func() error {
			rt := &servingv1.Route{}
			if err := get(ns, name, rt); err != nil {
				return err
			}
			if rt.Status.URL != want {
				return fmt.Errorf("route %s url = %q, want %q", name, rt.Status.URL, want)
			}
			return nil
		}
	}
	must(t, k8s.Create(ctx, &servingv1.Route{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"}}))
	eventually(t, timeout, urlIs("web", "http://web."+ns+".example.com"))

	// When ramp-config sets the domain ramp.test.
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: systemNamespace, Name: "ramp-config"},
		Data: map[string]string{"domain": "ramp.test"}}
	must(t, k8s.Create(ctx, cm))
	t.Cleanup(func() { _ = k8s.Delete(ctx, cm) })
	// Then the Route's URL uses it.
	eventually(t, timeout, urlIs("web", "http://web."+ns+".ramp.test"))

	// When the domain is changed to something that is not a domain.
	update(t, cm, func(c *corev1.ConfigMap) { c.Data["domain"] = "Not A Domain" })
	eventually(t, timeout, func() error { // the controller has seen it
		seen := &corev1.ConfigMap{}
		if err := cached.Get(ctx, client.ObjectKeyFromObject(cm), seen); err != nil {
			return err
		}
		if seen.Data["domain"] != "Not A Domain" {
			return fmt.Errorf("controller cache has domain %q", seen.Data["domain"])
		}
		return nil
	})
	// Then it is rejected: existing and new Routes keep the last good domain.
	must(t, k8s.Create(ctx, &servingv1.Route{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web2"}}))
	eventually(t, timeout, urlIs("web2", "http://web2."+ns+".ramp.test"))
	consistently(t, time.Second, urlIs("web", "http://web."+ns+".ramp.test"))

	// When ramp-config is deleted, then the default domain is back.
	must(t, k8s.Delete(ctx, cm))
	eventually(t, timeout, urlIs("web", "http://web."+ns+".example.com"))
}

func testScaleToZero(t *testing.T) {
	// Given the Service hello with ready Revisions hello-00001 (all traffic) and hello-00002.
	ns := newNamespace(t)
	svc := makeService(ns, "hello", "ramp/sampleapp:v1")
	deployService(t, svc)
	rev2 := newRevision(t, svc, "1.1.0", []servingv1.TrafficTarget{pin("hello-00001", 100, "")})
	if rev2 != "hello-00002" {
		t.Fatalf("new revision is %q, want hello-00002", rev2)
	}
	eventually(t, timeout, func() error {
		_, err := routeTraffic(ns, "hello", []servingv1.TrafficTarget{pinnedTarget("hello-00001", 100)})
		return err
	})

	// When all traffic is pinned on hello-00002.
	update(t, svc, func(s *servingv1.Service) { s.Spec.Traffic = []servingv1.TrafficTarget{pin(rev2, 100, "")} })
	eventually(t, timeout, func() error {
		_, err := routeTraffic(ns, "hello", []servingv1.TrafficTarget{pinnedTarget(rev2, 100)})
		return err
	})
	replicasOf := func(rev string, want int32) func() error {
		return func() error {
			d := &appsv1.Deployment{}
			if err := get(ns, rev+"-deployment", d); err != nil {
				return err
			}
			if *d.Spec.Replicas != want {
				r := &servingv1.Revision{}
				_ = get(ns, rev, r)
				return fmt.Errorf("deployment of %s has %d replicas, want %d (revision Active: %+v)", rev, *d.Spec.Replicas, want,
					r.Status.GetCondition(servingv1.RevisionConditionActive))
			}
			return nil
		}
	}
	// Then hello-00001 keeps its pod during the grace period...
	consistently(t, grace/4, replicasOf("hello-00001", 1))
	// ...and is then scaled to zero, while hello-00002 keeps its pod.
	eventually(t, timeout, replicasOf("hello-00001", 0))
	must(t, replicasOf(rev2, 1)())
	// And hello-00001 stays Ready, inactive.
	isReadyInactive := func(actual int32) func() error {
		return func() error {
			rev := &servingv1.Revision{}
			if err := get(ns, "hello-00001", rev); err != nil {
				return err
			}
			if err := hasCondition(&rev.Status.Status, rev.Generation, servingv1.ConditionReady, metav1.ConditionTrue, servingv1.ReasonReady); err != nil {
				return err
			}
			if err := hasCondition(&rev.Status.Status, rev.Generation, servingv1.RevisionConditionActive, metav1.ConditionFalse, servingv1.ReasonNoTraffic); err != nil {
				return err
			}
			if d, a := ptr.Deref(rev.Status.DesiredReplicas, -1), ptr.Deref(rev.Status.ActualReplicas, -1); d != 0 || a != actual {
				return fmt.Errorf("revision desired/actual replicas = %d/%d, want 0/%d", d, a, actual)
			}
			return nil
		}
	}
	eventually(t, timeout, isReadyInactive(1))

	// When the Deployment controller has removed the pod.
	setDeploymentStatus(t, ns, "hello-00001", 0)
	// Then hello-00001 is still Ready (scaled to zero is not broken) and stays at zero.
	eventually(t, timeout, isReadyInactive(0))
	consistently(t, time.Second, func() error {
		if err := isReadyInactive(0)(); err != nil {
			return err
		}
		return replicasOf("hello-00001", 0)()
	})
}

// testNoScaleDownBeforeRouted: a new Revision that took longer than the grace
// period to become ready must not lose its pod before its Route picks it up.
func testNoScaleDownBeforeRouted(t *testing.T) {
	// Given a Service whose first Revision is not ready for longer than the grace period.
	ns := newNamespace(t)
	must(t, k8s.Create(ctx, makeService(ns, "hello", "ramp/sampleapp:v1")))
	eventually(t, timeout, func() error { return get(ns, "hello-00001-deployment", &appsv1.Deployment{}) })
	time.Sleep(grace + time.Second)
	w, err := k8s.Watch(ctx, &appsv1.DeploymentList{}, client.InNamespace(ns))
	must(t, err)
	defer w.Stop()

	// When its Deployment becomes ready and the Route sends it traffic.
	markReady(t, ns, "hello-00001")
	eventually(t, timeout, func() error {
		_, err := routeTraffic(ns, "hello", []servingv1.TrafficTarget{latestTarget("hello", "hello-00001", 100)})
		return err
	})

	// Then its Deployment was never scaled to zero on the way.
	var seen []string
	for drained := false; !drained; {
		select {
		case ev := <-w.ResultChan():
			if d, ok := ev.Object.(*appsv1.Deployment); ok && d.Spec.Replicas != nil {
				seen = append(seen, fmt.Sprintf("%s replicas=%d (resourceVersion %s)", ev.Type, *d.Spec.Replicas, d.ResourceVersion))
				if *d.Spec.Replicas == 0 {
					t.Errorf("Deployment hello-00001-deployment was scaled to 0 after becoming ready, before its Route routed it")
				}
			}
		case <-time.After(time.Second):
			drained = true
		}
	}
	t.Logf("deployment changes: %s", strings.Join(seen, "; "))
}

func testDelete(t *testing.T) {
	// Given the Service hello, Ready on hello-00001, and all its children.
	ns := newNamespace(t)
	svc := makeService(ns, "hello", "ramp/sampleapp:v1")
	deployService(t, svc)
	cfg, rt, rev := &servingv1.Configuration{}, &servingv1.Route{}, &servingv1.Revision{}
	deploy, ksvc := &appsv1.Deployment{}, &corev1.Service{}
	must(t, get(ns, "hello", cfg))
	must(t, get(ns, "hello", rt))
	must(t, get(ns, "hello-00001", rev))
	must(t, get(ns, "hello-00001-deployment", deploy))
	must(t, get(ns, "hello-00001", ksvc))

	// Then every child has a controller reference to its parent, which is
	// what the garbage collector (absent from envtest) cascades deletion by.
	for _, c := range []struct {
		child, owner client.Object
		kind         string
	}{{cfg, svc, "Service"}, {rt, svc, "Service"}, {rev, cfg, "Configuration"}, {deploy, rev, "Revision"}, {ksvc, rev, "Revision"}} {
		if err := controlledBy(c.child, c.owner, c.kind); err != nil {
			t.Error(err)
		}
	}

	// When the Service is deleted.
	deleted := svc.DeepCopy()
	must(t, k8s.Delete(ctx, svc))
	// Then it is gone, and the controllers neither recreate it nor re-own its children.
	eventually(t, timeout, func() error { return notFoundOrDeleting(svc) })
	consistently(t, time.Second, func() error {
		if err := notFoundOrDeleting(svc); err != nil {
			return err
		}
		if err := get(ns, "hello", cfg); err != nil {
			return err
		}
		return controlledBy(cfg, deleted, "Service")
	})
}
