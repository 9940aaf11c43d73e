// Package rollout reconciles Rollouts: each owns the serving Service of its
// name, writes that Service's template and traffic block, and moves the
// traffic from the stable revision to the canary step by step (or at once,
// for blue/green), judged by analysis.
//
// A reconcile observes the serving objects, plans with a pure function of
// the Rollout's status, the observations, the pending action and, when
// one is due, an analysis measurement (plan.go), writes the status in one
// patch, then writes the Service the new status calls for. Everything
// needed to resume is in the status, so a restarted controller resumes
// where the last one was, without repeating a step.
package rollout

import (
	"context"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/rampdev/ramp/analysis"
	rolloutsv1alpha1 "github.com/rampdev/ramp/apis/rollouts/v1alpha1"
	servingv1 "github.com/rampdev/ramp/apis/serving/v1"
	"github.com/rampdev/ramp/controllers/notify"
	"github.com/rampdev/ramp/controllers/rollout/resources"
	"github.com/rampdev/ramp/serving/autoscaler"
)

// Analyzer runs one analysis measurement round.
type Analyzer interface {
	Evaluate(ctx context.Context, spec analysis.Spec, now time.Time) analysis.Report
}

// ProviderAnalyzer evaluates with the analysis package and the configured
// providers (the builtin one backed by the autoscaler's telemetry store,
// the web one, Prometheus when configured). A metric whose provider is not configured
// is an Error measurement, never a pass.
type ProviderAnalyzer struct {
	Providers analysis.Providers
}

var _ Analyzer = ProviderAnalyzer{}

// Evaluate implements Analyzer.
func (a ProviderAnalyzer) Evaluate(ctx context.Context, spec analysis.Spec, now time.Time) analysis.Report {
	return analysis.Evaluate(ctx, a.Providers, spec, now)
}

// Providers builds the analysis providers: the builtin one, reading the
// queue-proxies' request telemetry, the web one (HTTP requests of web
// metrics), and the Prometheus one when prom has a
// URL (analysis.NewPrometheusFromConfig: a bad setting or an unreadable
// credential file is an error). A metric naming a provider that is not
// configured is an Error measurement.
func Providers(telemetry autoscaler.Telemetry, prom analysis.PrometheusConfig) (analysis.Providers, error) {
	providers := analysis.Providers{
		analysis.BuiltinProvider: &analysis.Builtin{Telemetry: telemetry},
		analysis.WebProvider:     analysis.NewWeb(),
	}
	if prom.URL != "" {
		p, err := analysis.NewPrometheusFromConfig(prom)
		if err != nil {
			return nil, err
		}
		providers[analysis.PrometheusProvider] = p
	}
	return providers, nil
}

// Reconciler reconciles Rollouts.
type Reconciler struct {
	Client client.Client
	// APIReader reads uncached, to confirm a Rollout is current before its
	// Service is written without a status change; SetupWithManager sets it
	// to the manager's when nil.
	APIReader client.Reader
	// Analyzer measures canaries; nil makes every measurement an Error.
	Analyzer Analyzer
	// Clock is the time; SetupWithManager sets the real one when nil.
	Clock clock.PassiveClock
	// Events records an event for each transition (events.k8s.io, from
	// mgr.GetEventRecorder); nil records none.
	Events events.EventRecorder
	// Metrics may be nil.
	Metrics *Recorder
	// AnalysisDefaults fill the analysis settings a Rollout leaves out.
	AnalysisDefaults resources.Defaults
	// Notifier is told of phase changes and approval gates once they are
	// saved; nil sends none.
	Notifier notify.Notifier
	// Lifecycle, when set, is given every saved state change as lifecycle
	// events (CloudEvents), after the status is saved.
	Lifecycle LifecycleSink
}

// SetupWithManager registers the reconciler: Rollouts, the Services they
// own, and the Configurations, Revisions and Routes of those Services.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.APIReader == nil {
		r.APIReader = mgr.GetAPIReader()
	}
	if r.Clock == nil {
		r.Clock = clock.RealClock{}
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("rollout").
		For(&rolloutsv1alpha1.Rollout{}).
		Owns(&servingv1.Service{}).
		Watches(&servingv1.Configuration{}, handler.EnqueueRequestsFromMapFunc(byService)).
		Watches(&servingv1.Revision{}, handler.EnqueueRequestsFromMapFunc(byService)).
		Watches(&servingv1.Route{}, handler.EnqueueRequestsFromMapFunc(byService)).
		Complete(r)
}

// byService enqueues the Rollout of the same name as the serving Service an
// object belongs to (its serving.ramp.dev/service label). A Service without
// a Rollout costs one cache miss.
func byService(_ context.Context, obj client.Object) []reconcile.Request {
	name := obj.GetLabels()[servingv1.LabelService]
	if name == "" {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: obj.GetNamespace(), Name: name}}}
}
