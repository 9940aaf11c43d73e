// Package revision reconciles a Revision into a Deployment (user containers
// plus the queue-proxy) and a Kubernetes Service whose EndpointSlices list its
// ready pods, and reports what its pods are doing as conditions.
package revision

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	servingv1 "github.com/rampdev/ramp/apis/serving/v1"
	"github.com/rampdev/ramp/controllers/internal/index"
	"github.com/rampdev/ramp/controllers/revision/resources"
)

// Options configure the Revision reconciler.
type Options struct {
	// QueueImage is the queue-proxy sidecar's image.
	QueueImage string
	// ProgressDeadline is the default time a Revision has to become ready.
	ProgressDeadline time.Duration
	// ScaleToZeroGrace is how long an unreferenced Revision keeps its pods.
	ScaleToZeroGrace time.Duration
	// Scaler, when set, decides the scale of routed Revisions (the
	// autoscaler); without it a routed Revision keeps its initial scale.
	Scaler Scaler
	// InitialScale, when set, is a Revision's initial scale under the
	// cluster's autoscaling configuration (the autoscaler's: its
	// initial-scale and allow-zero-initial-scale). An initial scale of 0
	// starts the Revision with no pod, and it is Ready without one. When
	// nil, the initial-scale annotation decides, default 1, and 0 counts
	// as 1.
	InitialScale func(context.Context, *servingv1.Revision) int32
}

// Scaler is the autoscaler as the Revision reconciler sees it.
type Scaler interface {
	// Desired returns the scale decided for a Revision, and whether one
	// was (none before the autoscaler's first look at it).
	Desired(namespace, name string) (int32, bool)
}

// Reconciler reconciles Revisions.
type Reconciler struct {
	Client client.Client
	Clock  clock.PassiveClock
	Opts   Options
	// ScaleEvents, when set, delivers Revisions whose decided scale
	// changed.
	ScaleEvents <-chan event.GenericEvent
}

// ErrNotOwned means a child with the Revision's child name belongs to
// something else.
var ErrNotOwned = errors.New("resource is not owned by the revision")

// +kubebuilder:rbac:groups=serving.ramp.dev,resources=revisions,verbs=get;list;watch
// +kubebuilder:rbac:groups=serving.ramp.dev,resources=revisions/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=serving.ramp.dev,resources=routes,verbs=get;list;watch
// +kubebuilder:rbac:groups=apps,resources=deployments,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=services,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;watch

// Reconcile brings one Revision's children in line and writes its status once.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	rev := &servingv1.Revision{}
	if err := r.Client.Get(ctx, req.NamespacedName, rev); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if rev.DeletionTimestamp != nil {
		return ctrl.Result{}, nil // children go with their owner
	}
	orig := rev.DeepCopy()
	result, err := r.reconcile(ctx, rev)
	if !equality.Semantic.DeepEqual(orig.Status, rev.Status) {
		if perr := r.Client.Status().Patch(ctx, rev, client.MergeFrom(orig)); perr != nil {
			return ctrl.Result{}, errors.Join(err, fmt.Errorf("updating status of revision %s: %w", req.NamespacedName, perr))
		}
	}
	return result, err
}

func (r *Reconciler) reconcile(ctx context.Context, rev *servingv1.Revision) (ctrl.Result, error) {
	now := r.Clock.Now()
	routed, err := r.isRouted(ctx, rev)
	if err != nil {
		return ctrl.Result{}, err
	}
	initial := max(InitialScale(rev), 1)
	if r.Opts.InitialScale != nil {
		initial = r.Opts.InitialScale(ctx, rev)
	}
	desired, requeue := desiredReplicas(rev, routed, now, r.Opts.ScaleToZeroGrace, initial)
	if routed && r.Opts.Scaler != nil {
		if d, ok := r.Opts.Scaler.Desired(rev.Namespace, rev.Name); ok {
			desired = d
		} else if rev.Status.DesiredReplicas != nil {
			desired = *rev.Status.DesiredReplicas // until the autoscaler has looked
		}
	}

	if err := r.reconcileService(ctx, rev); err != nil {
		return ctrl.Result{}, r.markChildError(rev, err)
	}
	deploy, err := r.reconcileDeployment(ctx, rev, desired)
	if err != nil {
		return ctrl.Result{}, r.markChildError(rev, err)
	}
	var pods corev1.PodList
	if err := r.Client.List(ctx, &pods, client.InNamespace(rev.Namespace), client.MatchingLabels(resources.Selector(rev))); err != nil {
		return ctrl.Result{}, fmt.Errorf("listing pods of revision %s: %w", rev.Name, err)
	}
	computeStatus(rev, observed{deployment: deploy, pods: pods.Items, desired: desired, routed: routed,
		zeroStart: initial == 0})
	return ctrl.Result{RequeueAfter: requeue}, nil
}

// markChildError turns a child that belongs to someone else into a
// permanent, visible failure; other errors are retried.
func (r *Reconciler) markChildError(rev *servingv1.Revision, err error) error {
	if errors.Is(err, ErrNotOwned) {
		rev.Status.ObservedGeneration = rev.Generation
		rev.Status.MarkFalse(servingv1.RevisionConditionResourcesAvailable, servingv1.ReasonNotOwned, err.Error())
		rev.Status.Summarize()
		return reconcile.TerminalError(err)
	}
	return err
}

// isRouted reports whether any Route in the namespace sends traffic to (or
// tags) the Revision.
func (r *Reconciler) isRouted(ctx context.Context, rev *servingv1.Revision) (bool, error) {
	routes, err := index.Routes(ctx, r.Client, rev.Namespace, index.Revision(rev.Name))
	if err != nil {
		return false, err
	}
	for _, rt := range routes {
		for _, t := range rt.Status.Traffic {
			if t.RevisionName == rev.Name {
				return true, nil
			}
		}
	}
	return false, nil
}

// InitialScale is the Revision's initial-scale annotation (Ramp's or
// Knative's), default 1.
func InitialScale(rev *servingv1.Revision) int32 {
	if v, ok := servingv1.AutoscalingAnnotation(rev.Annotations, "initial-scale"); ok {
		if n, err := strconv.ParseInt(v, 10, 32); err == nil && n >= 0 {
			return int32(n)
		}
	}
	return 1
}

// desiredReplicas decides the Revision's pod count: its initial scale while
// it is routed, has never been available, or lost its last route (or became
// available) less than grace ago; zero otherwise. The duration says when to
// look again.
func desiredReplicas(rev *servingv1.Revision, routed bool, now time.Time, grace time.Duration, initial int32) (int32, time.Duration) {
	if routed || !isTrue(rev.Status.GetCondition(servingv1.RevisionConditionResourcesAvailable)) {
		return initial, 0
	}
	// The grace runs from the later of "lost its last route" and "became
	// available": a new revision that just became ready must survive until
	// its route catches up and starts sending traffic.
	since := now
	if c := rev.Status.GetCondition(servingv1.RevisionConditionActive); c != nil && c.Status == metav1.ConditionFalse {
		since = c.LastTransitionTime.Time
		if a := rev.Status.GetCondition(servingv1.RevisionConditionResourcesAvailable); a.LastTransitionTime.After(since) {
			since = a.LastTransitionTime.Time
		}
	}
	if left := grace - now.Sub(since); left > 0 {
		return initial, left
	}
	return 0, 0
}

func (r *Reconciler) progressDeadline(rev *servingv1.Revision) time.Duration {
	if v, ok := rev.Annotations[servingv1.AnnotationProgressDeadline]; ok {
		if d, err := time.ParseDuration(v); err == nil && d > 0 {
			return d
		}
	}
	return r.Opts.ProgressDeadline
}

func (r *Reconciler) reconcileService(ctx context.Context, rev *servingv1.Revision) error {
	want := resources.MakeService(rev)
	have := &corev1.Service{}
	err := r.Client.Get(ctx, client.ObjectKeyFromObject(want), have)
	if apierrors.IsNotFound(err) {
		if err := r.Client.Create(ctx, want); err != nil {
			return fmt.Errorf("creating service %s: %w", want.Name, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("getting service %s: %w", want.Name, err)
	}
	if !metav1.IsControlledBy(have, rev) {
		return fmt.Errorf("%w: service %s/%s", ErrNotOwned, have.Namespace, have.Name)
	}
	if equality.Semantic.DeepDerivative(want.Spec.Ports, have.Spec.Ports) &&
		equality.Semantic.DeepEqual(want.Spec.Selector, have.Spec.Selector) {
		return nil
	}
	have.Spec.Ports, have.Spec.Selector = want.Spec.Ports, want.Spec.Selector
	if err := r.Client.Update(ctx, have); err != nil {
		return fmt.Errorf("updating service %s: %w", have.Name, err)
	}
	return nil
}

func (r *Reconciler) reconcileDeployment(ctx context.Context, rev *servingv1.Revision, replicas int32) (*appsv1.Deployment, error) {
	want := resources.MakeDeployment(rev, resources.DeploymentOptions{
		QueueImage: r.Opts.QueueImage, Replicas: replicas, ProgressDeadline: r.progressDeadline(rev),
	})
	have := &appsv1.Deployment{}
	err := r.Client.Get(ctx, client.ObjectKeyFromObject(want), have)
	if apierrors.IsNotFound(err) {
		if err := r.Client.Create(ctx, want); err != nil {
			return nil, fmt.Errorf("creating deployment %s: %w", want.Name, err)
		}
		return want, nil
	}
	if err != nil {
		return nil, fmt.Errorf("getting deployment %s: %w", want.Name, err)
	}
	if !metav1.IsControlledBy(have, rev) {
		return nil, fmt.Errorf("%w: deployment %s/%s", ErrNotOwned, have.Namespace, have.Name)
	}
	if equality.Semantic.DeepDerivative(want.Spec, have.Spec) && sameShape(want.Spec.Template.Spec, have.Spec.Template.Spec) {
		return have, nil
	}
	have.Spec = want.Spec
	if err := r.Client.Update(ctx, have); err != nil {
		return nil, fmt.Errorf("updating deployment %s: %w", have.Name, err)
	}
	return have, nil
}

// sameShape catches what DeepDerivative lets through: containers or
// environment variables added by hand.
func sameShape(want, have corev1.PodSpec) bool {
	if len(want.Containers) != len(have.Containers) {
		return false
	}
	for i := range want.Containers {
		if len(want.Containers[i].Env) != len(have.Containers[i].Env) {
			return false
		}
	}
	return true
}
