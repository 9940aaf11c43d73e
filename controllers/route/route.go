// Package route reconciles Routes: it resolves the traffic block to Ready
// Revisions, assigns URLs, and compiles the routing table the gateway
// programs.
package route

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	servingv1 "github.com/rampdev/ramp/apis/serving/v1"
	"github.com/rampdev/ramp/controllers/internal/index"
	"github.com/rampdev/ramp/controllers/route/resources"
	"github.com/rampdev/ramp/controllers/servingconfig"
)

// Reconciler reconciles Routes.
type Reconciler struct {
	Client client.Client
	Config *servingconfig.Store
	// Gateway, when set, makes IngressReady wait until every gateway replica
	// has applied the route's routing table. Without it the table being
	// published is enough (no gateway is deployed).
	Gateway GatewayProber
}

// probeInterval is how often a route waiting for the gateway looks again.
const probeInterval = time.Second

// +kubebuilder:rbac:groups=serving.ramp.dev,resources=routes,verbs=get;list;watch
// +kubebuilder:rbac:groups=serving.ramp.dev,resources=routes/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=serving.ramp.dev,resources=configurations;revisions,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get;list;watch
// +kubebuilder:rbac:groups=discovery.k8s.io,resources=endpointslices,verbs=get;list;watch

// Reconcile resolves one Route and writes its status once.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	rt := &servingv1.Route{}
	if err := r.Client.Get(ctx, req.NamespacedName, rt); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if rt.DeletionTimestamp != nil {
		return ctrl.Result{}, nil
	}
	orig := rt.DeepCopy()
	result, err := r.reconcile(ctx, rt)
	if !equality.Semantic.DeepEqual(orig.Status, rt.Status) {
		if perr := r.Client.Status().Patch(ctx, rt, client.MergeFrom(orig)); perr != nil {
			return ctrl.Result{}, errors.Join(err, fmt.Errorf("updating status of route %s: %w", req.NamespacedName, perr))
		}
	}
	return result, err
}

func (r *Reconciler) reconcile(ctx context.Context, rt *servingv1.Route) (ctrl.Result, error) {
	domain := r.Config.Load(ctx).Domain
	l, err := r.lookup(ctx, rt)
	if err != nil {
		return ctrl.Result{}, err
	}
	st := &rt.Status
	st.ObservedGeneration = rt.Generation
	st.URL = "http://" + resources.Host(rt, domain)
	st.Address = &servingv1.Addressable{URL: "http://" + resources.InternalHost(rt)}

	sticky, stickyErr := resources.StickyMaxAge(rt)
	resolved, err := resources.Resolve(rt, domain, l)
	var te *resources.TrafficError
	switch {
	case stickyErr != nil:
		st.MarkFalse(servingv1.RouteConditionAllTrafficAssigned, servingv1.ReasonInvalidAnnotation, stickyErr.Error())
	case errors.As(err, &te) && te.Permanent:
		st.MarkFalse(servingv1.RouteConditionAllTrafficAssigned, te.Reason, te.Message)
	case errors.As(err, &te):
		st.MarkUnknown(servingv1.RouteConditionAllTrafficAssigned, te.Reason, te.Message)
	case err != nil:
		return ctrl.Result{}, err
	default:
		// Only a fully resolved block moves traffic; until then the previous
		// assignment (and routing table) stays.
		st.Traffic = resolved
		st.RoutingTable = resources.MakeRoutingTable(rt, resolved, domain, sticky)
		st.MarkTrue(servingv1.RouteConditionAllTrafficAssigned, servingv1.ReasonReady, "")
	}
	result, err := r.markIngress(ctx, rt)
	st.Summarize()
	return result, err
}

// markIngress sets IngressReady: True once the routing table is programmed
// (on every gateway replica, when a gateway is configured).
func (r *Reconciler) markIngress(ctx context.Context, rt *servingv1.Route) (ctrl.Result, error) {
	st := &rt.Status
	switch {
	case st.RoutingTable == nil:
		st.MarkUnknown(servingv1.RouteConditionIngressReady, servingv1.ReasonUnknown, "No routing table yet: traffic is not assigned")
	case r.Gateway == nil:
		st.MarkTrue(servingv1.RouteConditionIngressReady, servingv1.ReasonProgrammed,
			fmt.Sprintf("Routing table %s published (no gateway configured)", st.RoutingTable.Hash))
	default:
		ok, why, err := r.Gateway.Programmed(ctx, types.NamespacedName{Namespace: rt.Namespace, Name: rt.Name}, st.RoutingTable.Hash)
		if err != nil {
			return ctrl.Result{}, err
		}
		if !ok {
			st.MarkUnknown(servingv1.RouteConditionIngressReady, servingv1.ReasonOutOfDate, why)
			return ctrl.Result{RequeueAfter: probeInterval}, nil
		}
		st.MarkTrue(servingv1.RouteConditionIngressReady, servingv1.ReasonProgrammed,
			fmt.Sprintf("Routing table %s is programmed on every gateway replica", st.RoutingTable.Hash))
	}
	return ctrl.Result{}, nil
}

// lookup holds the Revisions and Configurations a Route's traffic names.
type lookup struct {
	revisions map[string]bool // name -> ready
	latest    map[string]string
}

func (l *lookup) Revision(name string) (bool, bool) {
	ready, ok := l.revisions[name]
	return ok, ready
}

func (l *lookup) LatestReady(cfg string) (string, bool) {
	rev, ok := l.latest[cfg]
	return rev, ok
}

// lookup reads the Revisions and Configurations the Route's traffic
// names, each by name from the cache: a Route costs the same however many
// others share its namespace.
func (r *Reconciler) lookup(ctx context.Context, rt *servingv1.Route) (*lookup, error) {
	l := &lookup{revisions: map[string]bool{}, latest: map[string]string{}}
	for _, t := range resources.EffectiveTraffic(rt) {
		key := types.NamespacedName{Namespace: rt.Namespace, Name: t.RevisionName}
		if t.IsLatest() {
			key.Name = t.ConfigurationName
			if key.Name == "" {
				key.Name = rt.Name
			}
			if _, done := l.latest[key.Name]; done {
				continue
			}
			cfg := &servingv1.Configuration{}
			switch err := r.Client.Get(ctx, key, cfg); {
			case apierrors.IsNotFound(err):
			case err != nil:
				return nil, fmt.Errorf("getting configuration %s: %w", key.Name, err)
			default:
				l.latest[key.Name] = cfg.Status.LatestReadyRevisionName
			}
			continue
		}
		if _, done := l.revisions[key.Name]; done || key.Name == "" {
			continue
		}
		rev := &servingv1.Revision{}
		switch err := r.Client.Get(ctx, key, rev); {
		case apierrors.IsNotFound(err):
		case err != nil:
			return nil, fmt.Errorf("getting revision %s: %w", key.Name, err)
		default:
			l.revisions[key.Name] = rev.Status.IsReady(rev.Generation)
		}
	}
	return l, nil
}

// SetupWithManager registers the reconciler; configNamespace is where
// ramp-config lives.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager, configNamespace string) error {
	if err := index.Register(context.Background(), mgr.GetFieldIndexer()); err != nil {
		return err
	}
	isConfig := predicate.NewPredicateFuncs(func(o client.Object) bool {
		return o.GetNamespace() == configNamespace && o.GetName() == servingconfig.ConfigMapName
	})
	return ctrl.NewControllerManagedBy(mgr).
		Named("route").
		For(&servingv1.Route{}).
		Watches(&servingv1.Configuration{}, handler.EnqueueRequestsFromMapFunc(r.configurationRoutes)).
		Watches(&servingv1.Revision{}, handler.EnqueueRequestsFromMapFunc(r.revisionRoutes)).
		Watches(&corev1.ConfigMap{}, handler.EnqueueRequestsFromMapFunc(r.allRoutes), builder.WithPredicates(isConfig)).
		Complete(r)
}

// configurationRoutes enqueues the Routes whose traffic follows a
// Configuration (from the RouteTargets index).
func (r *Reconciler) configurationRoutes(ctx context.Context, obj client.Object) []reconcile.Request {
	return r.indexedRoutes(ctx, obj.GetNamespace(), index.Configuration(obj.GetName()))
}

// revisionRoutes enqueues the Routes whose traffic names a Revision or
// follows its Configuration.
func (r *Reconciler) revisionRoutes(ctx context.Context, obj client.Object) []reconcile.Request {
	keys := []string{index.Revision(obj.GetName())}
	if cfg := obj.GetLabels()[servingv1.LabelConfiguration]; cfg != "" {
		keys = append(keys, index.Configuration(cfg))
	}
	return r.indexedRoutes(ctx, obj.GetNamespace(), keys...)
}

func (r *Reconciler) indexedRoutes(ctx context.Context, ns string, keys ...string) []reconcile.Request {
	seen := map[string]bool{}
	var out []reconcile.Request
	for _, k := range keys {
		routes, err := index.Routes(ctx, r.Client, ns, k)
		if err != nil {
			ctrl.LoggerFrom(ctx).Error(err, "Listing routes failed")
			return nil
		}
		for _, rt := range routes {
			if !seen[rt.Name] {
				seen[rt.Name] = true
				out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: ns, Name: rt.Name}})
			}
		}
	}
	return out
}

func (r *Reconciler) allRoutes(ctx context.Context, _ client.Object) []reconcile.Request {
	return r.listRoutes(ctx)
}

func (r *Reconciler) listRoutes(ctx context.Context, opts ...client.ListOption) []reconcile.Request {
	var routes servingv1.RouteList
	if err := r.Client.List(ctx, &routes, opts...); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Listing routes failed")
		return nil
	}
	out := make([]reconcile.Request, 0, len(routes.Items))
	for _, rt := range routes.Items {
		out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: rt.Namespace, Name: rt.Name}})
	}
	return out
}
