package revision

import (
	"context"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	servingv1 "github.com/rampdev/ramp/apis/serving/v1"
	"github.com/rampdev/ramp/controllers/internal/index"
)

// SetupWithManager registers the reconciler: Revisions, their Deployments,
// Services and pods, and the Routes that decide whether they are routed.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	if err := index.Register(context.Background(), mgr.GetFieldIndexer()); err != nil {
		return err
	}
	b := ctrl.NewControllerManagedBy(mgr).
		Named("revision").
		For(&servingv1.Revision{}).
		Owns(&appsv1.Deployment{}).
		Owns(&corev1.Service{}).
		Watches(&corev1.Pod{}, handler.EnqueueRequestsFromMapFunc(podToRevision)).
		Watches(&servingv1.Route{}, handler.EnqueueRequestsFromMapFunc(r.routeToRevisions))
	if r.ScaleEvents != nil {
		b = b.WatchesRawSource(source.Channel(r.ScaleEvents, &handler.EnqueueRequestForObject{}))
	}
	return b.Complete(r)
}

func podToRevision(_ context.Context, obj client.Object) []reconcile.Request {
	name := obj.GetLabels()[servingv1.LabelRevision]
	if name == "" {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: obj.GetNamespace(), Name: name}}}
}

// routeToRevisions enqueues the Revisions a Route routes to now, and every
// Revision of the configurations it follows (one it stopped routing to is
// among them). It lists those configurations' Revisions only, by label,
// not the namespace's.
func (r *Reconciler) routeToRevisions(ctx context.Context, obj client.Object) []reconcile.Request {
	rt, ok := obj.(*servingv1.Route)
	if !ok {
		return nil
	}
	names := map[string]bool{}
	configs := map[string]bool{rt.Name: true}
	for _, t := range rt.Status.Traffic {
		if t.RevisionName != "" {
			names[t.RevisionName] = true
		}
		if t.ConfigurationName != "" {
			configs[t.ConfigurationName] = true
		}
	}
	for cfg := range configs {
		var revs servingv1.RevisionList
		if err := r.Client.List(ctx, &revs, client.InNamespace(rt.Namespace), client.MatchingLabels{servingv1.LabelConfiguration: cfg}); err != nil {
			ctrl.LoggerFrom(ctx).Error(err, "Listing revisions for a route change failed", "route", rt.Name)
			return nil
		}
		for _, rev := range revs.Items {
			names[rev.Name] = true
		}
	}
	out := make([]reconcile.Request, 0, len(names))
	for name := range names {
		out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: rt.Namespace, Name: name}})
	}
	return out
}
