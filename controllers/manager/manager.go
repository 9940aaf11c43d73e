// Package manager assembles Ramp's controller: every reconciler on one
// controller-runtime manager, with leader election.
package manager

import (
	"context"
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/rampdev/ramp/analysis"
	rolloutsv1alpha1 "github.com/rampdev/ramp/apis/rollouts/v1alpha1"
	servingv1 "github.com/rampdev/ramp/apis/serving/v1"
	autoscaling "github.com/rampdev/ramp/controllers/autoscaler"
	"github.com/rampdev/ramp/controllers/configuration"
	"github.com/rampdev/ramp/controllers/notify"
	"github.com/rampdev/ramp/controllers/revision"
	"github.com/rampdev/ramp/controllers/rollout"
	rolloutresources "github.com/rampdev/ramp/controllers/rollout/resources"
	"github.com/rampdev/ramp/controllers/route"
	"github.com/rampdev/ramp/controllers/service"
	"github.com/rampdev/ramp/controllers/servingconfig"
)

// Options configure the controller process.
type Options struct {
	// Namespace is where the controller runs and reads ramp-config.
	Namespace        string
	MetricsAddr      string
	HealthAddr       string
	LeaderElection   bool
	QueueImage       string
	ProgressDeadline time.Duration
	ScaleToZeroGrace time.Duration
	// GatewayService is the gateway's Kubernetes Service ("namespace/name");
	// when set, a Route is Ready only once every replica behind it has
	// applied the route's routing table.
	GatewayService string
	// AutoscalerAddr is where the autoscaler serves the gateway's
	// activation signals and the telemetry API ("0" disables it).
	AutoscalerAddr string
	// AutoscalerTick is the autoscaler's scrape and decision period
	// (default 1 s).
	AutoscalerTick     time.Duration
	SkipNameValidation bool // for tests that start several managers
	// MaxConcurrentReconciles is how many objects each reconciler works
	// on at once (0: controller-runtime's default, 1).
	MaxConcurrentReconciles int
	// PodName, when set, is the leader-election identity's prefix
	// ("<pod>_<uuid>"), so that tools can find the leader's pod from the
	// Lease (the default, the host name, is the node's on the local
	// cluster).
	PodName string
	// Slack configures notifications and interactive actions; with no
	// token, notifications go to NotifyLog.
	Slack notify.Config
	// CloudEvents sends every Rollout state change to its sinks as a
	// lifecycle CloudEvent (none: off).
	CloudEvents notify.CloudEventsConfig
	// SlackMode is "off" (notifications to the log, no Slack endpoints),
	// "http" (serve /slack/actions and /slack/commands on SlackAddr) or
	// "socket" (Slack's Socket Mode, leader only).
	SlackMode string
	SlackAddr string
	// NotifyLog receives notifications when Slack is off, and the Slack
	// integration's own logs.
	NotifyLog *zap.Logger
	// Prometheus, when its URL is set, enables the "prometheus" analysis
	// provider: its address, TLS, credentials and query timeout.
	Prometheus analysis.PrometheusConfig
	// AnalysisDefaults apply to Rollouts that omit them.
	AnalysisDefaults AnalysisDefaults
	// Webhook serves the validating admission webhook; its zero value
	// serves none.
	Webhook WebhookOptions
	// Auth configures the authentication of the internal APIs (auth.go).
	Auth AuthOptions
}

// AnalysisDefaults are the analysis settings a Rollout gets when it
// leaves them out.
type AnalysisDefaults struct {
	Interval, Window                             time.Duration
	MinRequests, FailureLimit, InconclusiveLimit int32
	// Alpha and Beta are the sequential judge's error budgets, MinStepTime
	// and MaxStepTime bound a weight step, OnTimeout is rollback or pause.
	Alpha, Beta              float64
	MinStepTime, MaxStepTime time.Duration
	OnTimeout                string
}

// Scheme holds every type the controller uses.
func Scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(s)
	_ = servingv1.AddToScheme(s)
	_ = rolloutsv1alpha1.AddToScheme(s)
	return s
}

// New builds a manager with every reconciler registered.
func New(cfg *rest.Config, o Options) (ctrl.Manager, error) {
	var lock resourcelock.Interface
	if o.LeaderElection && o.PodName != "" {
		var err error
		if lock, err = leaderLock(cfg, o); err != nil {
			return nil, err
		}
	}
	certs, whServer, err := newWebhookServer(cfg, o)
	if err != nil {
		return nil, err
	}
	mgr, err := ctrl.NewManager(cfg, manager.Options{
		WebhookServer:                       whServer,
		LeaderElectionResourceLockInterface: lock,
		Scheme:                              Scheme(),
		Metrics:                             metricsserver.Options{BindAddress: o.MetricsAddr},
		HealthProbeBindAddress:              o.HealthAddr,
		LeaderElection:                      o.LeaderElection,
		LeaderElectionID:                    LeaderElectionID,
		LeaderElectionNamespace:             o.Namespace,
		LeaseDuration:                       ptr.To(LeaseDuration),
		RenewDeadline:                       ptr.To(RenewDeadline),
		RetryPeriod:                         ptr.To(RetryPeriod),
		// The controller reads ConfigMaps only in its own namespace, and
		// never managedFields, which are about a third of a cached object.
		Cache: cache.Options{
			ByObject: map[client.Object]cache.ByObject{
				&corev1.ConfigMap{}: {Namespaces: map[string]cache.Config{o.Namespace: {}}},
			},
			DefaultTransform: cache.TransformStripManagedFields(),
		},
		Controller: ctrlConfig(o),
	})
	if err != nil {
		return nil, fmt.Errorf("creating manager: %w", err)
	}
	store := &servingconfig.Store{Reader: mgr.GetClient(), Namespace: o.Namespace}
	c := mgr.GetClient()
	scalerMetrics, err := autoscaling.NewRecorder(metrics.Registry)
	if err != nil {
		return nil, err
	}
	scaler := autoscaling.New(c, clock.RealClock{}, mgr.GetEventRecorder("autoscaler"),
		scalerMetrics, mgr.GetLogger().WithName("autoscaler"),
		autoscaling.Options{Namespace: o.Namespace, TickInterval: o.AutoscalerTick})
	if err := mgr.Add(scaler); err != nil {
		return nil, err
	}
	if o.AutoscalerAddr != "0" && o.AutoscalerAddr != "" {
		// Leader only: the gateway signals every controller replica and
		// followers refuse the connection.
		handler, err := protectAutoscaler(mgr, o, scaler.Handler())
		if err != nil {
			return nil, err
		}
		api := &httpServer{name: "autoscaler", addr: o.AutoscalerAddr, handler: handler, leaderOnly: true, log: mgr.GetLogger()}
		if err := mgr.Add(api); err != nil {
			return nil, err
		}
	}
	setups := []func() error{
		func() error { return (&service.Reconciler{Client: c}).SetupWithManager(mgr) },
		func() error { return (&configuration.Reconciler{Client: c, Config: store}).SetupWithManager(mgr) },
		func() error {
			return (&revision.Reconciler{Client: c, Clock: clock.RealClock{}, ScaleEvents: scaler.Events(), Opts: revision.Options{
				QueueImage: o.QueueImage, ProgressDeadline: o.ProgressDeadline, ScaleToZeroGrace: o.ScaleToZeroGrace,
				Scaler: scaler, InitialScale: scaler.InitialScale,
			}}).SetupWithManager(mgr)
		},
		func() error {
			r := &route.Reconciler{Client: c, Config: store}
			if o.GatewayService != "" {
				ns, name, ok := strings.Cut(o.GatewayService, "/")
				if !ok {
					return fmt.Errorf("gateway service %q: want namespace/name", o.GatewayService)
				}
				token, err := gatewayToken(o)
				if err != nil {
					return err
				}
				r.Gateway = &route.HTTPProber{Client: c, Service: types.NamespacedName{Namespace: ns, Name: name}, Token: token}
			}
			return r.SetupWithManager(mgr, o.Namespace)
		},
		func() error {
			providers, err := rollout.Providers(scaler.Telemetry(), o.Prometheus)
			if err != nil {
				return err
			}
			rec, err := rollout.NewRecorder(metrics.Registry)
			if err != nil {
				return err
			}
			notifier, err := notify.New(o.Slack, notifyLog(o), metrics.Registry)
			if err != nil {
				return fmt.Errorf("notifications: %w", err)
			}
			var lifecycle rollout.LifecycleSink
			if len(o.CloudEvents.Sinks) > 0 {
				ce, err := notify.NewCloudEvents(o.CloudEvents, notifyLog(o).Named("cloudevents"), metrics.Registry)
				if err != nil {
					return fmt.Errorf("cloudevents: %w", err)
				}
				if err := mgr.Add(ce); err != nil {
					return err
				}
				lifecycle = ce
			}
			return (&rollout.Reconciler{Client: c, Analyzer: rollout.ProviderAnalyzer{Providers: providers}, Clock: clock.RealClock{},
				Events: mgr.GetEventRecorder("rollout-controller"), Metrics: rec, Notifier: notifier, Lifecycle: lifecycle,
				AnalysisDefaults: rolloutresources.Defaults{
					Interval: o.AnalysisDefaults.Interval, Window: o.AnalysisDefaults.Window,
					MinRequests: int64(o.AnalysisDefaults.MinRequests), FailureLimit: o.AnalysisDefaults.FailureLimit,
					InconclusiveLimit: o.AnalysisDefaults.InconclusiveLimit,
					Alpha:             o.AnalysisDefaults.Alpha, Beta: o.AnalysisDefaults.Beta,
					MinStepTime: o.AnalysisDefaults.MinStepTime, MaxStepTime: o.AnalysisDefaults.MaxStepTime,
					OnTimeout: analysis.TimeoutPolicy(o.AnalysisDefaults.OnTimeout),
				}}).SetupWithManager(mgr)
		},
	}
	if err := addSlack(mgr, o); err != nil {
		return nil, err
	}
	if err := addWebhook(mgr, certs); err != nil {
		return nil, err
	}
	for _, setup := range setups {
		if err := setup(); err != nil {
			return nil, err
		}
	}
	if o.HealthAddr != "0" && o.HealthAddr != "" {
		if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
			return nil, err
		}
		if err := mgr.AddReadyzCheck("ping", healthz.Ping); err != nil {
			return nil, err
		}
	}
	return mgr, nil
}

// Run builds the manager and runs it until ctx ends.
func Run(ctx context.Context, cfg *rest.Config, o Options) error {
	mgr, err := New(cfg, o)
	if err != nil {
		return err
	}
	return mgr.Start(ctx)
}

// leaderLock is the Lease lock of leader election, with the pod's name as
// the identity's prefix.
func leaderLock(cfg *rest.Config, o Options) (resourcelock.Interface, error) {
	cs, err := kubernetes.NewForConfig(rest.AddUserAgent(rest.CopyConfig(cfg), "leader-election"))
	if err != nil {
		return nil, fmt.Errorf("leader election client: %w", err)
	}
	id := o.PodName + "_" + string(uuid.NewUUID())
	lock, err := resourcelock.New(resourcelock.LeasesResourceLock, o.Namespace, LeaderElectionID,
		cs.CoreV1(), cs.CoordinationV1(), resourcelock.ResourceLockConfig{Identity: id})
	if err != nil {
		return nil, fmt.Errorf("leader election lock: %w", err)
	}
	return lock, nil
}

// LeaderElectionID names the controller's leader-election Lease.
const LeaderElectionID = "ramp-controller"

// Leader election timing. A replica takes over a lease whose holder died
// (SIGKILL, a lost node: nobody releases it) once it has seen the lease
// unrenewed for LeaseDuration, at its next try; it looks every RetryPeriod
// plus a jitter of up to 1.2 times that, both to notice the last renewal
// and to find the lease expired. So the takeover comes at most
// LeaseDuration + 2 × 2.2 × RetryPeriod (14.4 s) after the last renewal:
// within 15 s. (controller-runtime's defaults, 15 s, 10 s and 2 s, took
// 16.3 s in the chaos test and may take up to 23.8 s.) A leader that
// cannot renew for RenewDeadline steps down (the process exits and
// restarts), before its lease can expire.
const (
	LeaseDuration = 10 * time.Second
	RenewDeadline = 8 * time.Second
	RetryPeriod   = time.Second
)
