// Package configuration reconciles Configurations: each template change
// stamps out a new immutable Revision; status tracks the latest created and
// latest ready ones; old unrouted Revisions are garbage collected.
package configuration

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	servingv1 "github.com/rampdev/ramp/apis/serving/v1"
	"github.com/rampdev/ramp/controllers/configuration/resources"
	"github.com/rampdev/ramp/controllers/servingconfig"
)

// ErrNameConflict means template.metadata.name names a Revision with another
// template, or one that belongs to someone else.
var ErrNameConflict = errors.New("revision name conflict")

// Reconciler reconciles Configurations.
type Reconciler struct {
	Client client.Client
	Config *servingconfig.Store
}

// +kubebuilder:rbac:groups=serving.ramp.dev,resources=configurations,verbs=get;list;watch
// +kubebuilder:rbac:groups=serving.ramp.dev,resources=configurations/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=serving.ramp.dev,resources=revisions,verbs=get;list;watch;create;delete

// Reconcile makes sure the current template has its Revision and reports the
// latest created and ready Revisions, writing status once.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	cfg := &servingv1.Configuration{}
	if err := r.Client.Get(ctx, req.NamespacedName, cfg); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if cfg.DeletionTimestamp != nil {
		return ctrl.Result{}, nil
	}
	orig := cfg.DeepCopy()
	err := r.reconcile(ctx, cfg)
	if !equality.Semantic.DeepEqual(orig.Status, cfg.Status) {
		if perr := r.Client.Status().Patch(ctx, cfg, client.MergeFrom(orig)); perr != nil {
			return ctrl.Result{}, errors.Join(err, fmt.Errorf("updating status of configuration %s: %w", req.NamespacedName, perr))
		}
	}
	return ctrl.Result{}, err
}

func (r *Reconciler) reconcile(ctx context.Context, cfg *servingv1.Configuration) error {
	st := &cfg.Status
	latest, err := r.ensureRevision(ctx, cfg)
	if errors.Is(err, ErrNameConflict) {
		st.ObservedGeneration = cfg.Generation
		st.MarkFalse(servingv1.ConditionReady, servingv1.ReasonNameConflict, err.Error())
		return reconcile.TerminalError(err)
	}
	if err != nil {
		return err
	}
	revs, err := r.revisions(ctx, cfg)
	if err != nil {
		return err
	}
	st.ObservedGeneration = cfg.Generation
	st.LatestCreatedRevisionName = latest.Name
	// The newest Revision that is ready; it never moves back to an older one
	// while the newer one is merely failing.
	for i := len(revs) - 1; i >= 0; i-- {
		if revs[i].Status.IsReady(revs[i].Generation) {
			if generationOf(&revs[i]) >= generationOf(r.byName(revs, st.LatestReadyRevisionName)) {
				st.LatestReadyRevisionName = revs[i].Name
			}
			break
		}
	}
	ready := latest.Status.GetCondition(servingv1.ConditionReady)
	switch {
	case latest.Status.IsReady(latest.Generation):
		st.MarkTrue(servingv1.ConditionReady, servingv1.ReasonReady, "")
	case ready != nil && ready.Status == metav1.ConditionFalse:
		st.MarkFalse(servingv1.ConditionReady, servingv1.ReasonRevisionFailed,
			fmt.Sprintf("Revision %q failed with message: %s", latest.Name, ready.Message))
	default:
		st.MarkUnknown(servingv1.ConditionReady, servingv1.ReasonDeploying,
			fmt.Sprintf("Waiting for revision %q to become ready", latest.Name))
	}
	return r.collectGarbage(ctx, cfg, revs)
}

// ensureRevision returns the Revision of the current generation, creating it
// if needed.
func (r *Reconciler) ensureRevision(ctx context.Context, cfg *servingv1.Configuration) (*servingv1.Revision, error) {
	want := resources.MakeRevision(cfg)
	have := &servingv1.Revision{}
	err := r.Client.Get(ctx, client.ObjectKeyFromObject(want), have)
	if apierrors.IsNotFound(err) {
		if err := r.Client.Create(ctx, want); err != nil {
			return nil, fmt.Errorf("creating revision %s: %w", want.Name, err)
		}
		return want, nil
	}
	if err != nil {
		return nil, fmt.Errorf("getting revision %s: %w", want.Name, err)
	}
	if !metav1.IsControlledBy(have, cfg) {
		return nil, fmt.Errorf("%w: revision %q exists and does not belong to configuration %q", ErrNameConflict, have.Name, cfg.Name)
	}
	if !equality.Semantic.DeepDerivative(want.Spec, have.Spec) {
		return nil, fmt.Errorf("%w: revision %q already exists with a different template; name the new template differently or remove template.metadata.name",
			ErrNameConflict, have.Name)
	}
	return have, nil
}

// revisions lists the Configuration's Revisions, oldest first.
func (r *Reconciler) revisions(ctx context.Context, cfg *servingv1.Configuration) ([]servingv1.Revision, error) {
	var list servingv1.RevisionList
	if err := r.Client.List(ctx, &list, client.InNamespace(cfg.Namespace),
		client.MatchingLabels{servingv1.LabelConfiguration: cfg.Name}); err != nil {
		return nil, fmt.Errorf("listing revisions of %s: %w", cfg.Name, err)
	}
	revs := make([]servingv1.Revision, 0, len(list.Items))
	for _, rev := range list.Items {
		if metav1.IsControlledBy(&rev, cfg) {
			revs = append(revs, rev)
		}
	}
	sort.SliceStable(revs, func(i, j int) bool { return generationOf(&revs[i]) < generationOf(&revs[j]) })
	return revs, nil
}

func (r *Reconciler) byName(revs []servingv1.Revision, name string) *servingv1.Revision {
	for i := range revs {
		if revs[i].Name == name {
			return &revs[i]
		}
	}
	return nil
}

func generationOf(rev *servingv1.Revision) int64 {
	if rev == nil {
		return -1
	}
	g, _ := strconv.ParseInt(rev.Labels[servingv1.LabelConfigurationGen], 10, 64)
	return g
}

// collectGarbage deletes the oldest Revisions beyond the newest N that no
// route references; routed, latest created and latest ready ones are kept.
func (r *Reconciler) collectGarbage(ctx context.Context, cfg *servingv1.Configuration, revs []servingv1.Revision) error {
	keep := r.Config.Load(ctx).RetainRevisions
	if len(revs) <= keep {
		return nil // fewer than kept, routed or not: no need to read the routes
	}
	var routes servingv1.RouteList
	if err := r.Client.List(ctx, &routes, client.InNamespace(cfg.Namespace)); err != nil {
		return fmt.Errorf("listing routes: %w", err)
	}
	routed := map[string]bool{cfg.Status.LatestCreatedRevisionName: true, cfg.Status.LatestReadyRevisionName: true}
	for _, rt := range routes.Items {
		for _, t := range rt.Status.Traffic {
			routed[t.RevisionName] = true
		}
		for _, t := range rt.Spec.Traffic {
			routed[t.RevisionName] = true
		}
	}
	var idle []servingv1.Revision
	for _, rev := range revs {
		if !routed[rev.Name] {
			idle = append(idle, rev)
		}
	}
	for i := 0; i < len(idle)-keep; i++ {
		rev := idle[i]
		if err := r.Client.Delete(ctx, &rev, client.Preconditions{UID: &rev.UID}); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("deleting old revision %s: %w", rev.Name, err)
		}
		ctrl.LoggerFrom(ctx).V(1).Info("Deleted old revision", "revision", rev.Name, "retain", keep)
	}
	return nil
}

// SetupWithManager registers the reconciler.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("configuration").
		For(&servingv1.Configuration{}).
		Owns(&servingv1.Revision{}).
		Watches(&servingv1.Route{}, handler.EnqueueRequestsFromMapFunc(routeToConfigurations)).
		Complete(r)
}

func routeToConfigurations(_ context.Context, obj client.Object) []reconcile.Request {
	rt, ok := obj.(*servingv1.Route)
	if !ok {
		return nil
	}
	names := map[string]bool{rt.Name: true}
	for _, t := range rt.Status.Traffic {
		if t.ConfigurationName != "" {
			names[t.ConfigurationName] = true
		}
	}
	out := make([]reconcile.Request, 0, len(names))
	for n := range names {
		out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: rt.Namespace, Name: n}})
	}
	return out
}
