// Package service reconciles Services: each owns a Configuration and a Route
// of its name and reports their state as its own.
package service

import (
	"context"
	"errors"
	"fmt"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	servingv1 "github.com/rampdev/ramp/apis/serving/v1"
	"github.com/rampdev/ramp/controllers/service/resources"
)

// ErrNotOwned means a Configuration or Route of the Service's name belongs to
// something else.
var ErrNotOwned = errors.New("resource is not owned by the service")

// Reconciler reconciles Services.
type Reconciler struct {
	Client client.Client
}

// +kubebuilder:rbac:groups=serving.ramp.dev,resources=services,verbs=get;list;watch
// +kubebuilder:rbac:groups=serving.ramp.dev,resources=services/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=serving.ramp.dev,resources=configurations;routes,verbs=get;list;watch;create;update;patch;delete

// Reconcile brings the Service's children in line and writes status once.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	svc := &servingv1.Service{}
	if err := r.Client.Get(ctx, req.NamespacedName, svc); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if svc.DeletionTimestamp != nil {
		return ctrl.Result{}, nil
	}
	orig := svc.DeepCopy()
	err := r.reconcile(ctx, svc)
	if !equality.Semantic.DeepEqual(orig.Status, svc.Status) {
		if perr := r.Client.Status().Patch(ctx, svc, client.MergeFrom(orig)); perr != nil {
			return ctrl.Result{}, errors.Join(err, fmt.Errorf("updating status of service %s: %w", req.NamespacedName, perr))
		}
	}
	return ctrl.Result{}, err
}

func (r *Reconciler) reconcile(ctx context.Context, svc *servingv1.Service) error {
	st := &svc.Status
	cfg, err := r.reconcileConfiguration(ctx, svc)
	if err != nil {
		return r.fail(svc, servingv1.ServiceConditionConfigurationsReady, err)
	}
	rt, err := r.reconcileRoute(ctx, svc)
	if err != nil {
		return r.fail(svc, servingv1.ServiceConditionRoutesReady, err)
	}
	st.ObservedGeneration = svc.Generation
	st.LatestCreatedRevisionName = cfg.Status.LatestCreatedRevisionName
	st.LatestReadyRevisionName = cfg.Status.LatestReadyRevisionName
	st.URL, st.Address, st.Traffic = rt.Status.URL, rt.Status.Address, rt.Status.Traffic
	propagate(&st.Status, servingv1.ServiceConditionConfigurationsReady, &cfg.Status.Status, cfg.Generation, "Configuration")
	propagate(&st.Status, servingv1.ServiceConditionRoutesReady, &rt.Status.Status, rt.Generation, "Route")
	st.Summarize()
	return nil
}

// propagate copies a child's Ready condition into the parent's condition t,
// as Unknown until the child has observed its latest generation.
func propagate(parent *servingv1.Status, t string, child *servingv1.Status, generation int64, kind string) {
	c := child.GetCondition(servingv1.ConditionReady)
	switch {
	case c == nil || child.ObservedGeneration != generation:
		parent.MarkUnknown(t, servingv1.ReasonDeploying, kind+" has not reconciled its latest spec yet")
	case c.Status == metav1.ConditionTrue:
		parent.MarkTrue(t, servingv1.ReasonReady, "")
	case c.Status == metav1.ConditionFalse:
		parent.MarkFalse(t, c.Reason, c.Message)
	default:
		parent.MarkUnknown(t, c.Reason, c.Message)
	}
}

func (r *Reconciler) fail(svc *servingv1.Service, t string, err error) error {
	if !errors.Is(err, ErrNotOwned) {
		return err
	}
	svc.Status.ObservedGeneration = svc.Generation
	svc.Status.MarkFalse(t, servingv1.ReasonNotOwned, err.Error())
	svc.Status.Summarize()
	return reconcile.TerminalError(err)
}

func (r *Reconciler) reconcileConfiguration(ctx context.Context, svc *servingv1.Service) (*servingv1.Configuration, error) {
	want := resources.MakeConfiguration(svc)
	have := &servingv1.Configuration{}
	created, err := r.getOrCreate(ctx, svc, want, have)
	if err != nil || created {
		return want, err
	}
	if equality.Semantic.DeepEqual(want.Spec, have.Spec) && equality.Semantic.DeepEqual(want.Labels, have.Labels) {
		return have, nil
	}
	have.Spec, have.Labels = want.Spec, want.Labels
	if err := r.Client.Update(ctx, have); err != nil {
		return nil, fmt.Errorf("updating configuration %s: %w", have.Name, err)
	}
	return have, nil
}

func (r *Reconciler) reconcileRoute(ctx context.Context, svc *servingv1.Service) (*servingv1.Route, error) {
	want := resources.MakeRoute(svc)
	have := &servingv1.Route{}
	created, err := r.getOrCreate(ctx, svc, want, have)
	if err != nil || created {
		return want, err
	}
	if equality.Semantic.DeepEqual(want.Spec, have.Spec) && equality.Semantic.DeepEqual(want.Labels, have.Labels) &&
		have.Annotations[servingv1.AnnotationStickyMaxAge] == want.Annotations[servingv1.AnnotationStickyMaxAge] {
		return have, nil
	}
	have.Spec, have.Labels = want.Spec, want.Labels
	if v, ok := want.Annotations[servingv1.AnnotationStickyMaxAge]; ok {
		if have.Annotations == nil {
			have.Annotations = map[string]string{}
		}
		have.Annotations[servingv1.AnnotationStickyMaxAge] = v
	} else {
		delete(have.Annotations, servingv1.AnnotationStickyMaxAge)
	}
	if err := r.Client.Update(ctx, have); err != nil {
		return nil, fmt.Errorf("updating route %s: %w", have.Name, err)
	}
	return have, nil
}

// getOrCreate fills have with the existing child, or creates want (which
// the API server's answer then fills) and reports created. A child
// controlled by another owner is an error. It never reads a child it just
// created back from the cache, which may not have it yet.
func (r *Reconciler) getOrCreate(ctx context.Context, svc *servingv1.Service, want, have client.Object) (bool, error) {
	kind := fmt.Sprintf("%T", want)
	err := r.Client.Get(ctx, client.ObjectKeyFromObject(want), have)
	if apierrors.IsNotFound(err) {
		if err := r.Client.Create(ctx, want); err != nil {
			// AlreadyExists: the cache is behind; the retry will see it.
			return false, fmt.Errorf("creating %s %s: %w", kind, want.GetName(), err)
		}
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("getting %s %s: %w", kind, want.GetName(), err)
	}
	if !metav1.IsControlledBy(have, svc) {
		return false, fmt.Errorf("%w: %s %s/%s", ErrNotOwned, kind, have.GetNamespace(), have.GetName())
	}
	return false, nil
}

// SetupWithManager registers the reconciler.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("service").
		For(&servingv1.Service{}).
		Owns(&servingv1.Configuration{}).
		Owns(&servingv1.Route{}).
		Complete(r)
}
