package rollout

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/rampdev/ramp/analysis"
	rolloutsv1alpha1 "github.com/rampdev/ramp/apis/rollouts/v1alpha1"
	servingv1 "github.com/rampdev/ramp/apis/serving/v1"
	"github.com/rampdev/ramp/controllers/rollout/resources"
)

// ErrNotOwned means a serving Service of the Rollout's name belongs to
// something else.
var ErrNotOwned = errors.New("service is not owned by the rollout")

// measureTimeout bounds one measurement round: a provider that hangs
// makes it an Error measurement instead of stalling the reconcile.
const measureTimeout = 30 * time.Second

// eventAction is the action of the Rollout's events (events.k8s.io).
const eventAction = "Rollout"

// ErrNoAnalyzer means the controller was built without an Analyzer.
var ErrNoAnalyzer = errors.New("no analyzer configured")

// +kubebuilder:rbac:groups=rollouts.ramp.dev,resources=rollouts,verbs=get;list;watch
// +kubebuilder:rbac:groups=rollouts.ramp.dev,resources=rollouts/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=serving.ramp.dev,resources=services,verbs=get;list;watch;create;update;patch
// +kubebuilder:rbac:groups=serving.ramp.dev,resources=configurations;revisions;routes,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile plans one round and writes the status once, then the Service.
//
// The status is written before the Service: the Service's traffic is a
// pure function of the status, so if the Service write fails (or the
// process stops) the next round writes it again, and no step is taken
// until the Route shows that traffic. The status patch carries the
// resourceVersion it was planned from, so a plan made from a stale cache
// is refused rather than applied twice.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	ro := &rolloutsv1alpha1.Rollout{}
	if err := r.Client.Get(ctx, req.NamespacedName, ro); err != nil {
		if apierrors.IsNotFound(err) {
			r.Metrics.Forget(req.Namespace, req.Name)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if ro.DeletionTimestamp != nil {
		return ctrl.Result{}, nil
	}
	resources.ApplySpecDefaults(&ro.Spec, r.AnalysisDefaults) // in memory only
	orig := ro.DeepCopy()
	now := r.Clock.Now()
	if errs := resources.ValidateSpec(&ro.Spec, now); len(errs) > 0 {
		// Admission refuses such a spec; one stored before the webhook
		// existed, or while it was down, is not acted on at all.
		return ctrl.Result{}, r.refuseInvalid(ctx, orig, ro, errs)
	}

	svc, obs, err := r.observe(ctx, ro)
	if errors.Is(err, ErrNotOwned) {
		ro.Status.ObservedGeneration = ro.Generation
		ro.Status.MarkFalse(rolloutsv1alpha1.ConditionReady, rolloutsv1alpha1.ReasonNotOwned, err.Error())
		if _, perr := r.patchStatus(ctx, orig, ro); perr != nil {
			return ctrl.Result{}, errors.Join(err, perr)
		}
		return ctrl.Result{}, reconcile.TerminalError(err)
	}
	if err != nil {
		return ctrl.Result{}, err
	}

	in := Input{Spec: &ro.Spec, Status: &ro.Status, Observed: obs, Action: PendingAction(ro), Now: now}
	if MeasurementDue(&ro.Spec, &ro.Status, now) {
		// The analysis with its templates' metrics, read afresh for each
		// look (and only for a look: the kinds and templates are what the
		// measurement records).
		eff := *ro
		eff.Spec.Analysis = ro.Spec.Analysis.DeepCopy()
		templates, terr := r.resolveTemplates(ctx, ro.Namespace, eff.Spec.Analysis)
		rep := analysis.Report{Phase: analysis.Error, Message: "analysis templates: " + oneLine(terr), Time: now}
		if terr == nil {
			rep = r.measure(ctx, &eff, now)
		}
		in.Report, in.Kinds, in.Templates = &rep, metricKinds(&eff), templates
	}
	plan := Run(in)
	ro.Status = plan.Status
	ro.Status.ObservedGeneration = ro.Generation
	SetConditions(&ro.Spec, &ro.Status, obs, now)

	written, err := r.patchStatus(ctx, orig, ro)
	if apierrors.IsConflict(err) {
		// Planned from a stale cache: the newer Rollout is on its way to
		// the cache and its event will plan again.
		ctrl.LoggerFrom(ctx).V(1).Info("Rollout changed since it was read; planning again", "error", err.Error())
		return ctrl.Result{}, nil
	}
	if err != nil {
		return ctrl.Result{}, err
	}
	r.record(ctx, orig, ro, plan)
	if written {
		r.notify(ctx, orig, ro)
	}
	if err := r.applyService(ctx, ro, svc, written); err != nil {
		return ctrl.Result{}, err
	}
	return ctrl.Result{RequeueAfter: plan.RequeueAfter}, nil
}

// refuseInvalid records that the spec is invalid and changes nothing else:
// no revision, no traffic, no step. The next edit of the spec reconciles
// again.
func (r *Reconciler) refuseInvalid(ctx context.Context, orig, ro *rolloutsv1alpha1.Rollout, errs field.ErrorList) error {
	msg := "Invalid spec, nothing changes until it is fixed: " + errs.ToAggregate().Error()
	was := orig.Status.GetCondition(rolloutsv1alpha1.ConditionReady)
	ro.Status.ObservedGeneration = ro.Generation
	ro.Status.MarkFalse(rolloutsv1alpha1.ConditionReady, rolloutsv1alpha1.ReasonInvalidSpec, msg)
	ro.Status.MarkFalse(rolloutsv1alpha1.ConditionProgressing, rolloutsv1alpha1.ReasonInvalidSpec, msg)
	written, err := r.patchStatus(ctx, orig, ro)
	if err != nil {
		return client.IgnoreNotFound(err)
	}
	if written && (was == nil || was.Reason != rolloutsv1alpha1.ReasonInvalidSpec || was.Message != msg) {
		ctrl.LoggerFrom(ctx).Info("Rollout spec is invalid; not acting on it", "errors", errs.ToAggregate().Error())
		if r.Events != nil {
			r.Events.Eventf(ro, nil, corev1.EventTypeWarning, rolloutsv1alpha1.ReasonInvalidSpec, eventAction, "%s", msg)
		}
	}
	return nil
}

// patchStatus writes the status if it changed, and reports whether it did.
func (r *Reconciler) patchStatus(ctx context.Context, orig, ro *rolloutsv1alpha1.Rollout) (bool, error) {
	if equality.Semantic.DeepEqual(orig.Status, ro.Status) {
		return false, nil
	}
	patch := client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{})
	if err := r.Client.Status().Patch(ctx, ro, patch); err != nil {
		return false, fmt.Errorf("updating status of rollout %s/%s: %w", ro.Namespace, ro.Name, err)
	}
	return true, nil
}

// stale reports whether the API server has a newer Rollout than ro: its
// status may call for other traffic, which the newer version's reconcile
// will write.
func (r *Reconciler) stale(ctx context.Context, ro *rolloutsv1alpha1.Rollout) (bool, error) {
	fresh := &metav1.PartialObjectMetadata{}
	fresh.SetGroupVersionKind(rolloutsv1alpha1.GroupVersion.WithKind("Rollout"))
	if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(ro), fresh); err != nil {
		return false, fmt.Errorf("reading rollout %s/%s: %w", ro.Namespace, ro.Name, client.IgnoreNotFound(err))
	}
	return fresh.ResourceVersion != ro.ResourceVersion, nil
}

// record emits the plan's events, logs state changes and updates the
// metrics; it runs only once the status is written.
func (r *Reconciler) record(ctx context.Context, orig, ro *rolloutsv1alpha1.Rollout, plan Plan) {
	for _, e := range plan.Events {
		if r.Events != nil {
			r.Events.Eventf(ro, nil, e.Type, e.Reason, eventAction, "%s", e.Message)
		}
	}
	st := &ro.Status
	if orig.Status.Phase != st.Phase || stepLabel(orig.Status.CurrentStepIndex) != stepLabel(st.CurrentStepIndex) ||
		orig.Status.CanaryWeight != st.CanaryWeight {
		ctrl.LoggerFrom(ctx).V(1).Info("Rollout state changed", "phase", st.Phase, "step", stepLabel(st.CurrentStepIndex),
			"weight", st.CanaryWeight, "canary", st.CanaryRevision, "stable", st.StableRevision, "message", st.Message)
	}
	r.Metrics.Transition(ro.Namespace, orig.Status.Phase, st.Phase)
	r.Metrics.Measured(ro.Namespace, string(plan.Measured))
	r.Metrics.Observe(ro)
}

func oneLine(err error) string {
	if err == nil {
		return ""
	}
	return strings.Join(strings.Fields(err.Error()), " ")
}

// measure runs one analysis round for the Rollout's current canary. A
// spec the analysis package cannot use is an Error measurement, which
// counts like an inconclusive one.
func (r *Reconciler) measure(ctx context.Context, ro *rolloutsv1alpha1.Rollout, now time.Time) analysis.Report {
	spec, err := resources.MakeAnalysisSpec(ro)
	if err == nil && r.Analyzer == nil {
		err = ErrNoAnalyzer
	}
	if err != nil {
		return analysis.Report{Phase: analysis.Error, Message: "invalid analysis: " + err.Error(), Time: now}
	}
	if err := r.loadWebSecrets(ctx, ro.Namespace, &spec); err != nil {
		return analysis.Report{Phase: analysis.Error, Message: oneLine(err), Time: now}
	}
	ctx, cancel := context.WithTimeout(ctx, measureTimeout)
	defer cancel()
	return r.Analyzer.Evaluate(ctx, spec, now)
}

func metricKinds(ro *rolloutsv1alpha1.Rollout) map[string]string {
	if !ro.Spec.HasAnalysis() {
		return nil
	}
	kinds := make(map[string]string, len(ro.Spec.Analysis.Metrics))
	for i := range ro.Spec.Analysis.Metrics {
		m := &ro.Spec.Analysis.Metrics[i]
		kinds[m.Name] = resources.MetricKind(m)
	}
	return kinds
}

// observe reads the Rollout's Service (nil if it does not exist yet), the
// Revision of the current template and the Route.
func (r *Reconciler) observe(ctx context.Context, ro *rolloutsv1alpha1.Rollout) (*servingv1.Service, Observed, error) {
	obs := Observed{TemplateHash: resources.TemplateHash(&ro.Spec.Template)}
	key := types.NamespacedName{Namespace: ro.Namespace, Name: ro.Name}
	svc := &servingv1.Service{}
	switch err := r.Client.Get(ctx, key, svc); {
	case apierrors.IsNotFound(err):
		return nil, obs, nil
	case err != nil:
		return nil, obs, fmt.Errorf("getting service %s: %w", key, err)
	case !metav1.IsControlledBy(svc, ro):
		return nil, obs, fmt.Errorf("%w: service %s already exists", ErrNotOwned, key)
	}

	cfg := &servingv1.Configuration{}
	if err := r.Client.Get(ctx, key, cfg); client.IgnoreNotFound(err) != nil {
		return nil, obs, fmt.Errorf("getting configuration %s: %w", key, err)
	}
	obs.Revision.Message = conditionMessage(&cfg.Status.Status, servingv1.ConditionReady)
	if name := cfg.Status.LatestCreatedRevisionName; name != "" {
		rev := &servingv1.Revision{}
		err := r.Client.Get(ctx, types.NamespacedName{Namespace: ro.Namespace, Name: name}, rev)
		if client.IgnoreNotFound(err) != nil {
			return nil, obs, fmt.Errorf("getting revision %s: %w", name, err)
		}
		if err == nil && rev.Annotations[rolloutsv1alpha1.AnnotationTemplateHash] == obs.TemplateHash {
			obs.Revision = RevisionState{Name: rev.Name, Ready: rev.Status.IsReady(rev.Generation),
				Message: conditionMessage(&rev.Status.Status, servingv1.ConditionReady)}
		}
	}

	rt := &servingv1.Route{}
	if err := r.Client.Get(ctx, key, rt); client.IgnoreNotFound(err) != nil {
		return nil, obs, fmt.Errorf("getting route %s: %w", key, err)
	}
	obs.Route = RouteState{Ready: rt.Status.IsReady(rt.Generation), Traffic: rt.Status.Traffic,
		Message: conditionMessage(&rt.Status.Status, servingv1.ConditionReady)}
	return svc, obs, nil
}

// conditionMessage is the message of condition t unless it is True.
func conditionMessage(st *servingv1.Status, t string) string {
	c := st.GetCondition(t)
	if c == nil || c.Status == metav1.ConditionTrue {
		return ""
	}
	return c.Message
}

// applyService writes the Service the status calls for: the Rollout's
// template and the traffic of resources.Traffic.
//
// The Service is written only from a Rollout known to be current: one
// whose status this reconcile has just written (with optimistic locking),
// or, when the status did not change, one the API server confirms. A
// Rollout read from a cache that lags behind would otherwise send the
// traffic back to an earlier step for a moment.
func (r *Reconciler) applyService(ctx context.Context, ro *rolloutsv1alpha1.Rollout, have *servingv1.Service, current bool) error {
	want := resources.MakeService(ro, resources.Traffic(&ro.Spec, &ro.Status))
	if have != nil && equality.Semantic.DeepEqual(want.Spec, have.Spec) &&
		sameKeys(want.Labels, have.Labels, rolloutsv1alpha1.LabelRollout, servingv1.LabelVisibility) &&
		sameKeys(want.Annotations, have.Annotations, servingv1.AnnotationStickyMaxAge) {
		return nil
	}
	if !current {
		stale, err := r.stale(ctx, ro)
		if err != nil || stale {
			if stale {
				ctrl.LoggerFrom(ctx).V(1).Info("Cached rollout is stale: the service waits for the next reconcile")
			}
			return err
		}
	}
	if have == nil {
		err := r.Client.Create(ctx, want)
		if apierrors.IsAlreadyExists(err) {
			// The cache is behind; the Service's event brings it.
			return nil
		}
		if err != nil {
			return fmt.Errorf("creating service %s/%s: %w", want.Namespace, want.Name, err)
		}
		return nil
	}
	// A merge patch: the Service's status changes often and must not make
	// this write conflict. The Rollout is the only writer of the spec.
	patch := client.MergeFrom(have.DeepCopy())
	have.Spec = want.Spec
	have.Labels = copyKeys(want.Labels, have.Labels, rolloutsv1alpha1.LabelRollout, servingv1.LabelVisibility)
	have.Annotations = copyKeys(want.Annotations, have.Annotations, servingv1.AnnotationStickyMaxAge)
	if err := r.Client.Patch(ctx, have, patch); err != nil {
		return fmt.Errorf("updating service %s/%s: %w", have.Namespace, have.Name, err)
	}
	return nil
}

// sameKeys reports whether want and have agree on keys (present with the
// same value, or both absent); other keys belong to others.
func sameKeys(want, have map[string]string, keys ...string) bool {
	for _, k := range keys {
		wv, wok := want[k]
		hv, hok := have[k]
		if wok != hok || wv != hv {
			return false
		}
	}
	return true
}

// copyKeys sets (or removes) keys in have as they are in want.
func copyKeys(want, have map[string]string, keys ...string) map[string]string {
	for _, k := range keys {
		v, ok := want[k]
		switch {
		case ok && have == nil:
			have = map[string]string{k: v}
		case ok:
			have[k] = v
		default:
			delete(have, k)
		}
	}
	return have
}
