// Package autoscaler wires Ramp's pure scaling core (serving/autoscaler)
// into the controller: it scrapes every ready revision pod's queue-proxy
// each second, decides each revision's scale with KPA semantics, hands the
// decision to the Revision reconciler, scales from zero when the gateway
// signals a waiting request, and serves the request telemetry that canary
// analysis and the CLI read.
//
// It runs only on the leader replica.
package autoscaler

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"

	servingv1 "github.com/rampdev/ramp/apis/serving/v1"
	"github.com/rampdev/ramp/serving/autoscaler"
)

// +kubebuilder:rbac:groups=serving.ramp.dev,resources=revisions,verbs=get;list;watch
// +kubebuilder:rbac:groups=discovery.k8s.io,resources=endpointslices,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Options configure an Autoscaler.
type Options struct {
	// Namespace holds ConfigMap ramp-autoscaler.
	Namespace string
	// TickInterval is the scrape and decision period (default 1 s).
	TickInterval time.Duration
	// Retention is how much telemetry history is kept (default 15 min).
	Retention time.Duration
	// ActivationHold is how long a scale-from-zero signal keeps a revision
	// at one pod while none is ready yet (default 2 min).
	ActivationHold time.Duration
	// Decided, when set, is told of every decision as it is made, on the
	// deciding goroutine, so it must return at once; benchmarks use it to
	// time decisions.
	Decided func(key autoscaler.RevisionKey, d autoscaler.Decision)
}

// Autoscaler is the controller's autoscaler. Create it with New.
type Autoscaler struct {
	client   client.Reader
	clock    clock.PassiveClock
	events   events.EventRecorder
	metrics  *Recorder
	log      logr.Logger
	opts     Options
	pods     *slicePods
	agg      *autoscaler.Aggregator
	store    *autoscaler.Store
	scraper  *autoscaler.Scraper
	enqueue  chan event.GenericEvent
	decideMu sync.Mutex // one decision pass at a time

	mu     sync.Mutex
	state  map[autoscaler.RevisionKey]*revState
	config Config
	cfgRV  string // resourceVersion of the ConfigMap last parsed
	loaded bool   // a configuration (or the defaults, for none) was read
	// resync asks the next decision pass to enqueue every revision: a
	// new initial scale changes what unrouted ones run and whether one
	// with none is Ready.
	resync   bool
	lastTick time.Time
}

// revState is what the autoscaler remembers of a revision between
// decisions. After a restart it starts over from the Deployment's replica
// count, with traffic assumed just now (so nothing scales down early).
type revState struct {
	desired     int32
	decided     bool
	panicSince  time.Time
	lastTraffic time.Time
	activatedAt time.Time
	reached     bool // InitialScale was reached once
	decision    autoscaler.Decision
	inputs      autoscaler.Inputs
}

// New returns an Autoscaler reading through c (the manager's cached
// client), recording Events with events and metrics with rec.
func New(c client.Reader, clk clock.PassiveClock, recorder events.EventRecorder, rec *Recorder, log logr.Logger, o Options) *Autoscaler {
	if o.TickInterval <= 0 {
		o.TickInterval = time.Second
	}
	if o.ActivationHold <= 0 {
		o.ActivationHold = 2 * time.Minute
	}
	a := &Autoscaler{
		client: c, clock: clk, events: recorder, metrics: rec, log: log, opts: o,
		pods:    &slicePods{Client: c},
		agg:     autoscaler.NewAggregator(autoscaler.AggregatorConfig{StableWindow: maxStableWindow}),
		store:   autoscaler.NewStore(o.Retention),
		enqueue: make(chan event.GenericEvent, 1024),
		state:   map[autoscaler.RevisionKey]*revState{},
		config:  DefaultConfig(),
	}
	a.scraper = autoscaler.NewScraper(a.pods, a.agg, a.store, autoscaler.ScraperConfig{Logger: zap.NewNop()})
	return a
}

// Telemetry is the request telemetry store, for canary analysis.
func (a *Autoscaler) Telemetry() autoscaler.Telemetry { return a.store }

// Events delivers the Revisions whose desired scale changed; the Revision
// controller watches it.
func (a *Autoscaler) Events() <-chan event.GenericEvent { return a.enqueue }

// NeedLeaderElection implements manager.LeaderElectionRunnable: only the
// leader scrapes and decides.
func (a *Autoscaler) NeedLeaderElection() bool { return true }

// Start implements manager.Runnable: it ticks until ctx ends.
func (a *Autoscaler) Start(ctx context.Context) error {
	a.log.Info("Autoscaler started", "tick", a.opts.TickInterval)
	t := time.NewTicker(a.opts.TickInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			a.Tick(ctx, a.clock.Now())
		}
	}
}

// Tick scrapes every ready pod once and decides every revision's scale.
func (a *Autoscaler) Tick(ctx context.Context, now time.Time) {
	start := time.Now()
	res, err := a.scraper.Tick(ctx, now)
	a.metrics.observeScrape(res, err, time.Since(start))
	if err != nil {
		a.log.V(1).Info("Scrape failed", "error", err.Error())
	}
	a.agg.Prune(now)
	a.reloadConfig(ctx)
	if err := a.decideAll(ctx, now); err != nil {
		a.log.Error(err, "Scaling decisions failed")
	}
	a.mu.Lock()
	a.lastTick = now
	a.mu.Unlock()
}

// reloadConfig parses ConfigMap ramp-autoscaler when it changed. A bad
// one is rejected with a log line and a Warning Event on the ConfigMap;
// the last good configuration stays in force.
func (a *Autoscaler) reloadConfig(ctx context.Context) {
	cm := &corev1.ConfigMap{}
	err := a.client.Get(ctx, types.NamespacedName{Namespace: a.opts.Namespace, Name: ConfigMapName}, cm)
	rv := cm.ResourceVersion
	if err != nil {
		rv = "" // absent (or unreadable): the defaults
	}
	a.mu.Lock()
	same := rv == a.cfgRV
	a.mu.Unlock()
	if same {
		return
	}
	cfg := DefaultConfig()
	if rv != "" {
		cfg, err = ParseConfig(cm.Data)
		if err != nil {
			a.log.Error(err, "Rejected autoscaler configuration; keeping the last good one", "configmap", ConfigMapName)
			a.events.Eventf(cm, nil, corev1.EventTypeWarning, "InvalidConfig", "Reload",
				"%s; the last good configuration stays in force", err.Error())
			a.mu.Lock()
			a.cfgRV = rv // report once per version
			a.mu.Unlock()
			return
		}
		a.log.Info("Loaded autoscaler configuration", "configmap", ConfigMapName, "resourceVersion", rv)
	}
	a.mu.Lock()
	a.resync = a.resync || cfg.AllowZeroInitialScale != a.config.AllowZeroInitialScale ||
		cfg.Defaults.InitialScale != a.config.Defaults.InitialScale
	a.config, a.cfgRV, a.loaded = cfg, rv, true
	a.mu.Unlock()
}

// Config returns the configuration in force.
func (a *Autoscaler) Config() Config {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.config
}

func (a *Autoscaler) decideAll(ctx context.Context, now time.Time) error {
	var revs servingv1.RevisionList
	if err := a.client.List(ctx, &revs); err != nil {
		return fmt.Errorf("listing revisions: %w", err)
	}
	a.decideMu.Lock()
	defer a.decideMu.Unlock()
	a.mu.Lock()
	resync := a.resync
	a.resync = false
	a.mu.Unlock()
	live := make(map[autoscaler.RevisionKey]bool, len(revs.Items))
	for i := range revs.Items {
		rev := &revs.Items[i]
		if rev.DeletionTimestamp != nil {
			continue
		}
		key := autoscaler.RevisionKey{Namespace: rev.Namespace, Name: rev.Name}
		live[key] = true
		if !a.decide(now, rev, key, false) && resync {
			a.notify(rev)
		}
	}
	a.mu.Lock()
	for key := range a.state {
		if !live[key] {
			delete(a.state, key)
			a.metrics.forget(key)
		}
	}
	a.mu.Unlock()
	return nil
}

// decide runs Scale for one revision and enqueues it when the desired
// scale changed, reporting whether it did; activated records that a
// request waits for a pod of it (and counts as traffic). Callers hold
// decideMu.
func (a *Autoscaler) decide(now time.Time, rev *servingv1.Revision, key autoscaler.RevisionKey, activated bool) bool {
	cfg, err := revisionConfig(a.Config(), rev)
	if err != nil {
		a.log.V(1).Info("Keeping the scale of a revision with bad autoscaling annotations", "revision", key, "error", err.Error())
		return false
	}
	m := a.agg.MetricsWindows(now, key, cfg.StableWindow, cfg.PanicWindow())
	ready := a.pods.Ready(key)
	a.mu.Lock()
	st := a.state[key]
	if st == nil {
		st = &revState{desired: currentReplicas(rev, cfg), lastTraffic: now}
		a.state[key] = st
	}
	firstActivation := activated && st.activatedAt.IsZero()
	if activated {
		st.activatedAt, st.lastTraffic = now, now
	}
	if m.LastNonZeroTraffic.After(st.lastTraffic) {
		st.lastTraffic = m.LastNonZeroTraffic
	}
	if ready > 0 {
		st.activatedAt = time.Time{}
	}
	if ready >= int(cfg.InitialScale) || isAvailable(rev) {
		st.reached = true
	}
	in := autoscaler.Inputs{
		Config: cfg, ReadyPods: ready, CurrentDesired: st.desired,
		StableConcurrency: m.StableConcurrency, PanicConcurrency: m.PanicConcurrency,
		PanicSince: st.panicSince, LastNonZeroTraffic: st.lastTraffic,
		Activated:           !st.activatedAt.IsZero() && now.Sub(st.activatedAt) < a.opts.ActivationHold,
		InitialScaleReached: st.reached,
	}
	d := autoscaler.Scale(now, in)
	changed := !st.decided || d.DesiredScale != st.desired
	prev := st.desired
	st.desired, st.decided, st.panicSince, st.decision, st.inputs = d.DesiredScale, true, d.PanicSince, d, in
	a.mu.Unlock()

	if firstActivation {
		a.log.V(1).Info("Activation: a request waits for the revision", "revision", key)
	}
	a.metrics.observeRevision(key, d, in, m)
	if a.opts.Decided != nil {
		a.opts.Decided(key, d)
	}
	if changed {
		if prev != d.DesiredScale {
			a.log.V(1).Info("Scaling revision", "revision", key, "from", prev, "to", d.DesiredScale, "reason", d.Reason)
		}
		a.notify(rev)
	}
	return changed
}

// currentReplicas is where a revision first seen by this autoscaler
// starts: what its Deployment asks for now, else its initial scale.
func currentReplicas(rev *servingv1.Revision, cfg autoscaler.Config) int32 {
	if rev.Status.DesiredReplicas != nil {
		return *rev.Status.DesiredReplicas
	}
	return cfg.InitialScale
}

func (a *Autoscaler) notify(rev *servingv1.Revision) {
	obj := &servingv1.Revision{ObjectMeta: metav1.ObjectMeta{Namespace: rev.Namespace, Name: rev.Name}}
	select {
	case a.enqueue <- event.GenericEvent{Object: obj}:
	default:
		// The queue is full: the Revision reconciler's periodic resync
		// and the next change pick it up.
		a.log.V(1).Info("Revision event queue full", "revision", rev.Name)
	}
}

// InitialScale is the pods a revision starts with under the configuration
// in force: its initial-scale annotation, else the cluster's; 0 only with
// allow-zero-initial-scale. A revision with bad annotations starts with 1.
//
// Before the first tick it reads the ConfigMap itself: a revision created
// while the controller starts must not get a pod the configuration says
// it should not have.
func (a *Autoscaler) InitialScale(ctx context.Context, rev *servingv1.Revision) int32 {
	a.mu.Lock()
	loaded := a.loaded
	a.mu.Unlock()
	if !loaded {
		a.reloadConfig(ctx)
	}
	cfg, err := revisionConfig(a.Config(), rev)
	if err != nil {
		return 1
	}
	return cfg.InitialScale
}

// Desired returns the scale decided for a revision, and whether one was.
func (a *Autoscaler) Desired(namespace, name string) (int32, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	st := a.state[autoscaler.RevisionKey{Namespace: namespace, Name: name}]
	if st == nil || !st.decided {
		return 0, false
	}
	return st.desired, true
}

// ErrUnknownRevision means an activation named a revision that does not
// exist.
var ErrUnknownRevision = fmt.Errorf("unknown revision")

// Activate records that a request waits for a pod of the revision. When
// the revision's last decision is zero pods (or it has none yet), it
// decides its scale at once, so a revision at zero goes to one without
// waiting for the next tick. Otherwise it only records the waiting request
// (as traffic, and as a hold while no pod is ready) and decides nothing:
// activations never raise a revision already asked to run, however many
// arrive from however many gateways, and a flood of them costs no
// decisions. Scale up from there follows the concurrency the queue-proxies
// report.
func (a *Autoscaler) Activate(ctx context.Context, namespace, name string) error {
	received := time.Now()
	rev := &servingv1.Revision{}
	if err := a.client.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, rev); err != nil {
		return fmt.Errorf("%w %s/%s: %w", ErrUnknownRevision, namespace, name, err)
	}
	now := a.clock.Now()
	key := autoscaler.RevisionKey{Namespace: namespace, Name: name}
	a.metrics.activations.Inc()
	a.decideMu.Lock()
	defer a.decideMu.Unlock()
	if a.holdActivated(key, now) {
		return nil
	}
	a.decide(now, rev, key, true)
	if n, ok := a.Desired(namespace, name); ok && n > 0 {
		// Wall-clock times (not a.clock's), to line up with the
		// gateway's and the node's in a benchmark.
		a.metrics.observeActivation(key, received, time.Now())
	}
	return nil
}

// holdActivated records an activation of a revision whose last decision
// already asks for pods, and reports whether it did. Callers hold
// decideMu, so no decision runs between the check and the record.
func (a *Autoscaler) holdActivated(key autoscaler.RevisionKey, now time.Time) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	st := a.state[key]
	if st == nil || !st.decided || st.desired < 1 {
		return false
	}
	// The next decision clears activatedAt once a pod is ready.
	st.activatedAt, st.lastTraffic = now, now
	return true
}

// Status is one revision's autoscaling state, for the CLI and metrics.
type Status struct {
	Namespace         string    `json:"namespace"`
	Revision          string    `json:"revision"`
	DesiredPods       int32     `json:"desiredPods"`
	ReadyPods         int       `json:"readyPods"`
	StableConcurrency float64   `json:"stableConcurrency"`
	PanicConcurrency  float64   `json:"panicConcurrency"`
	Target            float64   `json:"targetConcurrencyPerPod"`
	Panicking         bool      `json:"panicking"`
	LastTraffic       time.Time `json:"lastTraffic"`
	Reason            string    `json:"reason"`
}

// Statuses returns every known revision's state, sorted by key.
func (a *Autoscaler) Statuses() []Status {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]Status, 0, len(a.state))
	for k, st := range a.state {
		out = append(out, Status{
			Namespace: k.Namespace, Revision: k.Name, DesiredPods: st.desired, ReadyPods: st.inputs.ReadyPods,
			StableConcurrency: st.inputs.StableConcurrency, PanicConcurrency: st.inputs.PanicConcurrency,
			Target: st.inputs.Target, Panicking: !st.panicSince.IsZero(), LastTraffic: st.lastTraffic,
			Reason: st.decision.Reason,
		})
	}
	sortStatuses(out)
	return out
}

func isAvailable(rev *servingv1.Revision) bool {
	c := rev.Status.GetCondition(servingv1.RevisionConditionResourcesAvailable)
	return c != nil && c.Status == metav1.ConditionTrue
}
