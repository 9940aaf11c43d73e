package rollout_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/rampdev/ramp/analysis"
	rolloutsv1alpha1 "github.com/rampdev/ramp/apis/rollouts/v1alpha1"
	servingv1 "github.com/rampdev/ramp/apis/serving/v1"
	"github.com/rampdev/ramp/controllers/configuration"
	"github.com/rampdev/ramp/controllers/notify"
	"github.com/rampdev/ramp/controllers/revision"
	"github.com/rampdev/ramp/controllers/rollout"
	"github.com/rampdev/ramp/controllers/rollout/resources"
	"github.com/rampdev/ramp/controllers/route"
	"github.com/rampdev/ramp/controllers/service"
	"github.com/rampdev/ramp/controllers/servingconfig"
	"github.com/rampdev/ramp/test/framework"
)

const (
	timeout         = 30 * time.Second
	systemNamespace = "ramp-system"
)

var (
	ctx = context.Background()
	// k8s talks to the API server directly, without a cache.
	k8s client.Client
)

// TestRollouts runs the serving reconcilers and the rollout reconciler on
// one manager against an envtest API server (no Deployment controller, no
// pods, no gateway: tests mark Deployments ready, and a Route is Ready once
// its routing table is published). Analysis comes from a fake analyzer.
// Each subtest works in a namespace of its own; they run one after another
// because the restart test replaces the manager.
func TestRollouts(t *testing.T) {
	root, err := framework.RepoRoot()
	must(t, err)
	scheme := runtime.NewScheme()
	must(t, clientgoscheme.AddToScheme(scheme))
	must(t, servingv1.AddToScheme(scheme))
	must(t, rolloutsv1alpha1.AddToScheme(scheme))
	env := framework.StartEnvtest(t, scheme, filepath.Join(root, "charts", "ramp", "templates", "crds"))
	k8s = env.Client
	must(t, k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: systemNamespace}}))
	if os.Getenv("RAMP_TEST_LOG") != "" {
		ctrl.SetLogger(zap.New(zap.UseDevMode(true))) // RAMP_TEST_LOG=1: controller logs
	} else {
		ctrl.SetLogger(logr.Discard())
	}

	h := &harness{cfg: env.Config, scheme: scheme, analyzer: newFakeAnalyzer(), events: &eventLog{}, notes: &noteLog{},
		gateway: newFakeGateway(), serviceWrites: newWriteGate()}
	h.start(t)
	t.Cleanup(func() { h.stop(t) })

	t.Run("first rollout is healthy", func(t *testing.T) { testFirstRollout(t, h) })
	t.Run("good canary steps through to healthy", func(t *testing.T) { testGoodCanary(t, h) })
	t.Run("failing analysis rolls back", func(t *testing.T) { testFailingCanary(t, h) })
	t.Run("evidence of regression rolls back at once", func(t *testing.T) { testRegression(t, h) })
	t.Run("no analysis block: no evidence is never a pass", func(t *testing.T) { testDefaultAnalysis(t, h) })
	t.Run("approval waits for the action", func(t *testing.T) { testApproval(t, h) })
	t.Run("new template mid-rollout starts over", func(t *testing.T) { testNewTemplateMidRollout(t, h) })
	t.Run("an action for an earlier run is ignored", func(t *testing.T) { testStaleAction(t, h) })
	t.Run("blue/green previews then promotes", func(t *testing.T) { testBlueGreen(t, h) })
	t.Run("restart between steps does not repeat a step", func(t *testing.T) { testRestart(t, h) })
	t.Run("rolled back only once the gateway serves the stable", func(t *testing.T) { testRollbackWaitsForTheGateway(t, h) })
	t.Run("aborted only once the gateway serves the stable", func(t *testing.T) { testAbortWaitsForTheGateway(t, h) })
	t.Run("restart between RollingBack and the traffic move finishes it", func(t *testing.T) { testRestartWhileRollingBack(t, h) })
	t.Run("an invalid spec that got in is not acted on", func(t *testing.T) { testInvalidSpec(t, h) })
	t.Run("analysis templates with arguments", func(t *testing.T) { testTemplates(t, h) })
	t.Run("a cluster template shared by two namespaces, edited mid-rollout", func(t *testing.T) { testSharedTemplate(t, h) })
	t.Run("a web metric passes then rolls back", func(t *testing.T) { testWebMetric(t, h) })
}

// harness runs (and restarts) the manager.
type harness struct {
	cfg      *rest.Config
	scheme   *runtime.Scheme
	analyzer *fakeAnalyzer
	events   *eventLog
	notes    *noteLog
	// gateway plays the gateway replicas for the route reconciler.
	gateway *fakeGateway
	// serviceWrites can make the rollout controller's Service writes fail.
	serviceWrites *writeGate
	// defaults are the controller's analysis defaults (its --analysis-*
	// flags); zero takes the package defaults.
	defaults resources.Defaults
	cancel   context.CancelFunc
	done     chan error
}

// start builds a new manager, as a restarted controller process would,
// and runs it.
func (h *harness) start(t testing.TB) {
	t.Helper()
	mgr, err := ctrl.NewManager(h.cfg, manager.Options{
		Scheme:                 h.scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Controller:             config.Controller{SkipNameValidation: ptr.To(true)},
	})
	must(t, err)
	c := mgr.GetClient()
	store := &servingconfig.Store{Reader: c, Namespace: systemNamespace}
	metrics, err := rollout.NewRecorder(prometheus.NewRegistry())
	must(t, err)
	must(t, (&service.Reconciler{Client: c}).SetupWithManager(mgr))
	must(t, (&configuration.Reconciler{Client: c, Config: store}).SetupWithManager(mgr))
	must(t, (&revision.Reconciler{Client: c, Clock: clock.RealClock{}, Opts: revision.Options{
		QueueImage: "ramp/queue:test", ProgressDeadline: 10 * time.Minute, ScaleToZeroGrace: time.Hour,
	}}).SetupWithManager(mgr))
	must(t, (&route.Reconciler{Client: c, Config: store, Gateway: h.gateway}).SetupWithManager(mgr, systemNamespace))
	must(t, (&rollout.Reconciler{Client: gatedClient{Client: c, gate: h.serviceWrites}, Analyzer: h.analyzer, Clock: clock.RealClock{}, Events: h.events, Metrics: metrics, Notifier: h.notes,
		AnalysisDefaults: h.defaults}).SetupWithManager(mgr))
	mgrCtx, cancel := context.WithCancel(ctx)
	h.cancel, h.done = cancel, make(chan error, 1)
	go func() { h.done <- mgr.Start(mgrCtx) }()
}

// stop stops the manager and waits for it.
func (h *harness) stop(t testing.TB) {
	t.Helper()
	if h.cancel == nil {
		return
	}
	h.cancel()
	if err := <-h.done; err != nil {
		t.Errorf("manager: %v", err)
	}
	h.cancel = nil
}

// restart restarts the manager with the analysis defaults d, as a
// controller started with other --analysis-* flags.
func (h *harness) restart(t testing.TB, d resources.Defaults) {
	t.Helper()
	h.stop(t)
	h.defaults = d
	h.start(t)
}

// fakeAnalyzer passes every canary unless told otherwise, counts the
// measurements of each canary revision and keeps the last spec it was
// asked to measure. Its reports are not sequential: they carry no
// results, so a Fail is a threshold failure (the failure limit applies)
// unless the report given to judge says otherwise.
type fakeAnalyzer struct {
	mu      sync.Mutex
	reports map[string]analysis.Report
	calls   map[string]int
	specs   map[string]analysis.Spec
	// real analyzers measure the canaries of some namespaces.
	real map[string]rollout.Analyzer
}

var _ rollout.Analyzer = (*fakeAnalyzer)(nil)

func newFakeAnalyzer() *fakeAnalyzer {
	return &fakeAnalyzer{reports: map[string]analysis.Report{}, calls: map[string]int{}, specs: map[string]analysis.Spec{},
		real: map[string]rollout.Analyzer{}}
}

func (f *fakeAnalyzer) Evaluate(ctx context.Context, spec analysis.Spec, now time.Time) analysis.Report {
	if a := f.record(spec); a != nil {
		return a.Evaluate(ctx, spec, now)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	rep, ok := f.reports[spec.Canary.Namespace+"/"+spec.Canary.Revision]
	if !ok {
		rep = analysis.Report{Phase: analysis.Pass, Message: "all 1 metrics passed: error-rate"}
	}
	rep.Time = now
	return rep
}

// record counts and keeps a measurement's spec, and returns the real
// analyzer of its namespace, if any.
func (f *fakeAnalyzer) record(spec analysis.Spec) rollout.Analyzer {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[spec.Canary.Namespace+"/"+spec.Canary.Revision]++
	f.specs[spec.Canary.Namespace+"/"+spec.Canary.Revision] = spec
	return f.real[spec.Canary.Namespace]
}

// measureWith makes a measure the canaries of namespace ns.
func (f *fakeAnalyzer) measureWith(ns string, a rollout.Analyzer) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.real[ns] = a
}

// judge makes every measurement of a canary revision rep.
func (f *fakeAnalyzer) judge(ns, rev string, rep analysis.Report) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reports[ns+"/"+rev] = rep
}

func (f *fakeAnalyzer) measurements(ns, rev string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[ns+"/"+rev]
}

// lastSpec is the last spec a canary revision was measured with.
func (f *fakeAnalyzer) lastSpec(ns, rev string) (analysis.Spec, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	spec, ok := f.specs[ns+"/"+rev]
	return spec, ok
}

// eventLog records events and, for the events that say the traffic is
// back on the stable (RolledBack, Aborted), what the Route served when
// they were emitted.
type eventLog struct {
	mu     sync.Mutex
	events []string // "namespace/name Reason: message"
	// settled is "namespace/name Reason: routeState" for RolledBack and
	// Aborted events.
	settled []string
}

var _ events.EventRecorder = (*eventLog)(nil)

func (l *eventLog) Eventf(regarding, _ runtime.Object, _, reason, _, note string, args ...any) {
	m, ok := regarding.(metav1.Object)
	if !ok {
		return
	}
	route := ""
	if reason == rolloutsv1alpha1.ReasonRolledBack || reason == rolloutsv1alpha1.ReasonAborted {
		route = routeState(ctx, m.GetNamespace(), m.GetName())
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, fmt.Sprintf("%s/%s %s: %s", m.GetNamespace(), m.GetName(), reason, fmt.Sprintf(note, args...)))
	if route != "" {
		l.settled = append(l.settled, fmt.Sprintf("%s/%s %s: %s", m.GetNamespace(), m.GetName(), reason, route))
	}
}

// settledRoutes lists, for the RolledBack and Aborted events of one
// Rollout, "Reason: routeState" when each was emitted.
func (l *eventLog) settledRoutes(ns, name string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, e := range l.settled {
		if rest, ok := strings.CutPrefix(e, ns+"/"+name+" "); ok {
			out = append(out, rest)
		}
	}
	return out
}

// reasons lists the reasons of the events of one Rollout, in order.
func (l *eventLog) reasons(ns, name string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, e := range l.events {
		if rest, ok := strings.CutPrefix(e, ns+"/"+name+" "); ok {
			reason, _, _ := strings.Cut(rest, ":")
			out = append(out, reason)
		}
	}
	return out
}

// markReady plays the Deployment controller envtest lacks: it reports the
// Revision's Deployment as rolled out with one ready replica.
func markReady(t testing.TB, ns, rev string) {
	t.Helper()
	d := &appsv1.Deployment{}
	key := types.NamespacedName{Namespace: ns, Name: rev + "-deployment"}
	eventually(t, timeout, func() error { return k8s.Get(ctx, key, d) })
	must(t, retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := k8s.Get(ctx, key, d); err != nil {
			return err
		}
		d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: 1,
			UpdatedReplicas: 1, ReadyReplicas: 1, AvailableReplicas: 1}
		return k8s.Status().Update(ctx, d)
	}))
}

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

// noteLog is a Notifier that records each notification and whether the
// state it reports was already saved (read back from the API server,
// uncached) when it was posted.
type noteLog struct {
	mu    sync.Mutex
	notes []note
}

type note struct {
	notify.Event
	saved bool
	// route is what the Route served when the notification was posted
	// (see routeState).
	route string
}

func (l *noteLog) Post(ctx context.Context, e notify.Event) error {
	ro := &rolloutsv1alpha1.Rollout{}
	err := k8s.Get(ctx, types.NamespacedName{Namespace: e.Namespace, Name: e.Rollout}, ro)
	step := -1
	if ro.Status.CurrentStepIndex != nil {
		step = int(*ro.Status.CurrentStepIndex)
	}
	saved := err == nil && string(ro.Status.Phase) == e.Phase && step == e.Step
	route := routeState(ctx, e.Namespace, e.Rollout)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.notes = append(l.notes, note{e, saved, route})
	return nil
}

// find returns the notifications of a rollout with phase.
func (l *noteLog) find(ns, name, phase string) []note {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []note
	for _, n := range l.notes {
		if n.Namespace == ns && n.Rollout == name && n.Phase == phase {
			out = append(out, n)
		}
	}
	return out
}

// routeState reads a Route (uncached) and says what it serves: "Ready"
// (for its generation) or "not Ready", then its resolved traffic as
// "rev=percent(tag)" items.
func routeState(ctx context.Context, ns, name string) string {
	rt := &servingv1.Route{}
	if err := k8s.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, rt); err != nil {
		return "unreadable: " + err.Error()
	}
	out := "not Ready"
	if rt.Status.IsReady(rt.Generation) {
		out = "Ready"
	}
	for _, tt := range rt.Status.Traffic {
		out += fmt.Sprintf(" %s=%d(%s)", tt.RevisionName, tt.PercentOf(), tt.Tag)
	}
	return out
}

// servesStable is the routeState of a Route that sends everything to the
// stable revision.
func servesStable(stable string) string { return "Ready " + stable + "=100(stable)" }

// fakeGateway plays the gateway replicas for the route reconciler: a
// route's routing table is programmed as soon as the reconciler asks,
// unless the route is held: then the gateway keeps serving the table it
// last programmed until the route is released, as a slow gateway would.
// The Route stays not Ready meanwhile; the reconciler asks again every
// second.
type fakeGateway struct {
	mu         sync.Mutex
	programmed map[string]string // route -> hash
	held       map[string]bool
	refused    map[string]int // probes of a held route for a table it has not programmed
}

var _ route.GatewayProber = (*fakeGateway)(nil)

func newFakeGateway() *fakeGateway {
	return &fakeGateway{programmed: map[string]string{}, held: map[string]bool{}, refused: map[string]int{}}
}

func (g *fakeGateway) Programmed(_ context.Context, rt types.NamespacedName, hash string) (bool, string, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	k := rt.String()
	if g.held[k] && g.programmed[k] != hash {
		g.refused[k]++
		return false, fmt.Sprintf("The gateway still serves routing table %s, not %s", g.programmed[k], hash), nil
	}
	g.programmed[k] = hash
	return true, "", nil
}

// hold keeps the route's current table on the gateway.
func (g *fakeGateway) hold(ns, name string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.held[ns+"/"+name] = true
}

// release lets the gateway program the route's newest table.
func (g *fakeGateway) release(ns, name string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.held[ns+"/"+name] = false
}

// refusals counts the probes of a held route for a newer table.
func (g *fakeGateway) refusals(ns, name string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.refused[ns+"/"+name]
}

// errServiceWriteBlocked is the error of a Service write the gate refuses.
var errServiceWriteBlocked = errors.New("test: service writes are blocked")

// writeGate makes the rollout controller's writes of the serving Services
// of blocked namespaces fail: what the API server holds is then what a
// controller that stopped right after saving a status leaves behind.
type writeGate struct {
	mu      sync.Mutex
	blocked map[string]bool
	refused map[string]int
}

func newWriteGate() *writeGate {
	return &writeGate{blocked: map[string]bool{}, refused: map[string]int{}}
}

func (g *writeGate) block(ns string, on bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.blocked[ns] = on
}

// refuse reports whether a Service write in ns is refused, and counts it.
func (g *writeGate) refuse(ns string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.blocked[ns] {
		g.refused[ns]++
	}
	return g.blocked[ns]
}

func (g *writeGate) refusals(ns string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.refused[ns]
}

// gatedClient is the rollout controller's client: Service creates and
// patches go through the gate, everything else (the status included)
// straight to the manager's client.
type gatedClient struct {
	client.Client
	gate *writeGate
}

func (c gatedClient) Create(ctx context.Context, obj client.Object, opts ...client.CreateOption) error {
	if _, ok := obj.(*servingv1.Service); ok && c.gate.refuse(obj.GetNamespace()) {
		return errServiceWriteBlocked
	}
	return c.Client.Create(ctx, obj, opts...)
}

func (c gatedClient) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
	if _, ok := obj.(*servingv1.Service); ok && c.gate.refuse(obj.GetNamespace()) {
		return errServiceWriteBlocked
	}
	return c.Client.Patch(ctx, obj, patch, opts...)
}
