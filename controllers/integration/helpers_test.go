package integration

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	servingv1 "github.com/rampdev/ramp/apis/serving/v1"
	"github.com/rampdev/ramp/test/framework"
)

const (
	timeout         = 30 * time.Second
	systemNamespace = "ramp-system"
	queueImage      = "ramp/queue:test"
	grace           = 2 * time.Second
)

var (
	ctx = context.Background()
	// k8s talks to the API server directly (no cache), set by TestServing.
	k8s client.WithWatch
	// cached reads through the manager's cache: what the reconcilers see.
	cached client.Client
)

// eventually calls check every 200ms until it returns nil, failing the test
// with the last error after timeout.
func eventually(t testing.TB, timeout time.Duration, check func() error) {
	t.Helper()
	framework.Eventually(t, timeout, func(context.Context) error { return check() })
}

// consistently fails the test as soon as check returns an error during d.
func consistently(t testing.TB, d time.Duration, check func() error) {
	t.Helper()
	framework.Consistently(t, d, check)
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

var nonName = regexp.MustCompile(`[^a-z0-9]+`)

// newNamespace creates a namespace named after the subtest. envtest has no
// namespace controller, so it is left behind; every envtest is fresh.
func newNamespace(t testing.TB) string {
	t.Helper()
	n := t.Name()
	n = nonName.ReplaceAllString(strings.ToLower(n[strings.LastIndex(n, "/")+1:]), "-")
	name := strings.Trim("it-"+n, "-")
	if len(name) > 40 {
		name = strings.TrimRight(name[:40], "-")
	}
	must(t, k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}))
	return name
}

func get(ns, name string, obj client.Object) error {
	return k8s.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, obj)
}

func template(image string, env ...corev1.EnvVar) servingv1.RevisionTemplateSpec {
	return servingv1.RevisionTemplateSpec{Spec: servingv1.RevisionSpec{
		Containers: []servingv1.Container{{Image: image, Env: env}},
	}}
}

func makeService(ns, name, image string) *servingv1.Service {
	return &servingv1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       servingv1.ServiceSpec{ConfigurationSpec: servingv1.ConfigurationSpec{Template: template(image)}},
	}
}

func pin(rev string, pct int64, tag string) servingv1.TrafficTarget {
	return servingv1.TrafficTarget{RevisionName: rev, Percent: ptr.To(pct), Tag: tag}
}

// update re-reads obj and applies mutate to it until the update does not
// conflict.
func update[T client.Object](t testing.TB, obj T, mutate func(T)) {
	t.Helper()
	must(t, retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
			return err
		}
		mutate(obj)
		return k8s.Update(ctx, obj)
	}))
}

// markReady plays the Deployment controller that envtest lacks: it reports
// the Revision's Deployment as rolled out with one ready replica.
func markReady(t testing.TB, ns, rev string) {
	t.Helper()
	setDeploymentStatus(t, ns, rev, 1)
}

func setDeploymentStatus(t testing.TB, ns, rev string, ready int32) {
	t.Helper()
	d := &appsv1.Deployment{}
	eventually(t, timeout, func() error { return get(ns, rev+"-deployment", d) })
	must(t, retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := get(ns, rev+"-deployment", d); err != nil {
			return err
		}
		d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: ready,
			UpdatedReplicas: ready, ReadyReplicas: ready, AvailableReplicas: ready}
		return k8s.Status().Update(ctx, d)
	}))
}

// hasCondition checks a condition's status and reason for the object's
// current generation.
func hasCondition(st *servingv1.Status, generation int64, typ string, status metav1.ConditionStatus, reason string) error {
	if st.ObservedGeneration != generation {
		return fmt.Errorf("status is of generation %d, want %d", st.ObservedGeneration, generation)
	}
	c := st.GetCondition(typ)
	if c == nil {
		return fmt.Errorf("no %s condition in %+v", typ, st.Conditions)
	}
	if c.Status != status || c.Reason != reason {
		return fmt.Errorf("%s is %s/%s (%s), want %s/%s", typ, c.Status, c.Reason, c.Message, status, reason)
	}
	return nil
}

// controlledBy checks obj's controller reference: the one the garbage
// collector follows to delete obj with its owner.
func controlledBy(obj, owner client.Object, kind string) error {
	ref := metav1.GetControllerOf(obj)
	if ref == nil {
		return fmt.Errorf("%T %s has no controller reference: %+v", obj, obj.GetName(), obj.GetOwnerReferences())
	}
	want := metav1.OwnerReference{APIVersion: servingv1.GroupVersion.String(), Kind: kind, Name: owner.GetName(),
		UID: owner.GetUID(), Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true)}
	if diff := cmp.Diff(want, *ref); diff != "" {
		return fmt.Errorf("%T %s controller reference (-want +got):\n%s", obj, obj.GetName(), diff)
	}
	return nil
}

func routeTraffic(ns, name string, want []servingv1.TrafficTarget) (*servingv1.Route, error) {
	rt := &servingv1.Route{}
	if err := get(ns, name, rt); err != nil {
		return nil, err
	}
	if rt.Status.ObservedGeneration != rt.Generation {
		return nil, fmt.Errorf("route status is of generation %d, want %d", rt.Status.ObservedGeneration, rt.Generation)
	}
	if diff := cmp.Diff(want, rt.Status.Traffic); diff != "" {
		return nil, fmt.Errorf("route status.traffic (-want +got):\n%s", diff)
	}
	return rt, nil
}

// backends returns the backends of the routing table's main (untagged) rule.
func backends(rt *servingv1.Route) ([]servingv1.RoutingBackend, error) {
	tbl := rt.Status.RoutingTable
	if tbl == nil || len(tbl.Rules) == 0 {
		return nil, errors.New("route has no routing table")
	}
	return tbl.Rules[0].Backends, nil
}

func backend(rev string, pct int64) servingv1.RoutingBackend {
	return servingv1.RoutingBackend{RevisionName: rev, ServiceName: rev, Percent: pct}
}

func latestTarget(cfg, rev string, pct int64) servingv1.TrafficTarget {
	return servingv1.TrafficTarget{RevisionName: rev, ConfigurationName: cfg, LatestRevision: ptr.To(true), Percent: ptr.To(pct)}
}

func pinnedTarget(rev string, pct int64) servingv1.TrafficTarget {
	return servingv1.TrafficTarget{RevisionName: rev, LatestRevision: ptr.To(false), Percent: ptr.To(pct)}
}

// deployService creates svc, makes its first Revision ready and waits until
// the Service is Ready with all traffic on it.
func deployService(t testing.TB, svc *servingv1.Service) {
	t.Helper()
	must(t, k8s.Create(ctx, svc))
	first := svc.Name + "-00001"
	markReady(t, svc.Namespace, first)
	eventually(t, timeout, func() error {
		if _, err := routeTraffic(svc.Namespace, svc.Name, []servingv1.TrafficTarget{latestTarget(svc.Name, first, 100)}); err != nil {
			return err
		}
		got := &servingv1.Service{}
		if err := get(svc.Namespace, svc.Name, got); err != nil {
			return err
		}
		return hasCondition(&got.Status.Status, got.Generation, servingv1.ConditionReady, metav1.ConditionTrue, servingv1.ReasonReady)
	})
	must(t, get(svc.Namespace, svc.Name, svc))
}

// newRevision changes the Service's template (and traffic, if given) and
// makes the resulting Revision ready; it returns the Revision's name.
func newRevision(t testing.TB, svc *servingv1.Service, version string, traffic []servingv1.TrafficTarget) string {
	t.Helper()
	cfg := &servingv1.Configuration{}
	must(t, get(svc.Namespace, svc.Name, cfg))
	before := cfg.Generation
	update(t, svc, func(s *servingv1.Service) {
		s.Spec.Template.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "VERSION", Value: version}}
		if traffic != nil {
			s.Spec.Traffic = traffic
		}
	})
	var name string
	eventually(t, timeout, func() error {
		if err := get(svc.Namespace, svc.Name, cfg); err != nil {
			return err
		}
		if cfg.Generation == before || cfg.Status.ObservedGeneration != cfg.Generation {
			return errors.New("configuration has not seen its new template yet")
		}
		name = cfg.Status.LatestCreatedRevisionName
		return nil
	})
	markReady(t, svc.Namespace, name)
	eventually(t, timeout, func() error {
		if err := get(svc.Namespace, svc.Name, cfg); err != nil {
			return err
		}
		if cfg.Status.LatestReadyRevisionName != name {
			return fmt.Errorf("latest ready revision is %q, want %q", cfg.Status.LatestReadyRevisionName, name)
		}
		return nil
	})
	return name
}

func notFoundOrDeleting(obj client.Object) error {
	err := k8s.Get(ctx, client.ObjectKeyFromObject(obj), obj)
	if apierrors.IsNotFound(err) || (err == nil && obj.GetDeletionTimestamp() != nil) {
		return nil
	}
	if err != nil {
		return err
	}
	return fmt.Errorf("%T %s still exists and is not being deleted", obj, obj.GetName())
}

// reconcileErrors reads controller-runtime's count of failed reconciles of a
// controller from the in-process metrics registry.
func reconcileErrors(t testing.TB, controller string) float64 {
	t.Helper()
	families, err := metrics.Registry.Gather()
	must(t, err)
	for _, f := range families {
		if f.GetName() != "controller_runtime_reconcile_errors_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "controller" && l.GetValue() == controller {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}
