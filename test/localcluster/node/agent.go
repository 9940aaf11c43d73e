// Package node is Ramp's local node agent: a kubelet and scheduler in one
// small controller. It registers a Node, binds pending pods to it, and runs
// each container as a local process on the pod's own loopback IP, with the
// kubelet's semantics for environment, probes, restarts and graceful
// termination. Everything above it (Deployments, EndpointSlices, RBAC) is the
// real Kubernetes control plane.
package node

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/recorder"
	"sigs.k8s.io/controller-runtime/pkg/source"
)

// Options configure the agent.
type Options struct {
	NodeName string
	// PodsDir holds one sandbox directory per pod: logs, PID files, credentials.
	PodsDir string
	// BinDir holds the binaries that images map to.
	BinDir string
	// PodCIDR is the loopback range pod IPs come from.
	PodCIDR string
	// BackoffBase and BackoffMax bound the crash-loop back-off (kubelet: 10s, 5m).
	BackoffBase, BackoffMax time.Duration
	// ShutdownGrace caps each pod's grace period when the agent itself stops.
	ShutdownGrace time.Duration
	// KubeletPort serves the kubelet API (container logs) on 127.0.0.1 with
	// TLSCertFile/TLSKeyFile, to clients with a certificate from
	// ClientCAFile. 0 disables it.
	KubeletPort                           int
	TLSCertFile, TLSKeyFile, ClientCAFile string
}

// Agent is the node agent. Create it with New and start it with Run.
type Agent struct {
	opts      Options
	client    client.Client
	reader    client.Reader // uncached, for Secrets and ConfigMaps
	recorder  recorder.EventRecorder
	log       logr.Logger
	caPEM     []byte
	apiServer string
	pool      *ipPool

	mu       sync.Mutex
	pods     map[types.NamespacedName]*podRuntime
	shutdown bool

	dirtyMu sync.Mutex
	dirty   map[types.NamespacedName]struct{}
	kick    chan struct{}
	events  chan event.GenericEvent
}

// Run starts the agent and blocks until ctx ends; then it stops every pod
// process gracefully before returning.
func Run(ctx context.Context, cfg *rest.Config, opts Options) error {
	if opts.NodeName == "" || opts.PodsDir == "" || opts.BinDir == "" {
		return errors.New("node name, pods directory and binary directory are required")
	}
	if opts.BackoffBase == 0 {
		opts.BackoffBase = 10 * time.Second
	}
	if opts.BackoffMax == 0 {
		opts.BackoffMax = 5 * time.Minute
	}
	if opts.ShutdownGrace == 0 {
		opts.ShutdownGrace = 15 * time.Second
	}
	pool, err := newIPPool(opts.PodCIDR)
	if err != nil {
		return err
	}
	caPEM := cfg.CAData
	if len(caPEM) == 0 && cfg.CAFile != "" {
		if caPEM, err = os.ReadFile(cfg.CAFile); err != nil {
			return fmt.Errorf("reading API server CA: %w", err)
		}
	}
	if err := os.MkdirAll(opts.PodsDir, 0o755); err != nil {
		return fmt.Errorf("creating pods directory: %w", err)
	}
	log := ctrl.LoggerFrom(ctx).WithName("ramp-node")
	if n, err := SweepProcesses(opts.PodsDir); err != nil {
		return fmt.Errorf("cleaning up processes of a previous run: %w", err)
	} else if n > 0 {
		log.Info("Stopped processes left by a previous run", "count", n)
	}

	mgr, err := ctrl.NewManager(cfg, manager.Options{
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Logger:                 log,
	})
	if err != nil {
		return fmt.Errorf("creating manager: %w", err)
	}
	a := &Agent{
		opts: opts, client: mgr.GetClient(), reader: mgr.GetAPIReader(),
		recorder: mgr.GetEventRecorder("ramp-node"), log: log,
		caPEM: caPEM, apiServer: cfg.Host, pool: pool,
		pods:   map[types.NamespacedName]*podRuntime{},
		dirty:  map[types.NamespacedName]struct{}{},
		kick:   make(chan struct{}, 1),
		events: make(chan event.GenericEvent, 256),
	}
	if err := mgr.Add(manager.RunnableFunc(a.forwardEvents)); err != nil {
		return err
	}
	if err := mgr.Add(manager.RunnableFunc(a.heartbeat)); err != nil {
		return err
	}
	if err := mgr.Add(manager.RunnableFunc(a.serveKubeletAPI)); err != nil {
		return err
	}
	err = ctrl.NewControllerManagedBy(mgr).
		Named("ramp-node").
		For(&corev1.Pod{}).
		WatchesRawSource(source.Channel(a.events, &handler.EnqueueRequestForObject{})).
		WithOptions(controller.Options{MaxConcurrentReconciles: 4}).
		Complete(a)
	if err != nil {
		return fmt.Errorf("creating pod controller: %w", err)
	}
	runErr := mgr.Start(ctx)
	a.stopAll()
	return runErr
}

// enqueue asks for pod key to be reconciled. It never blocks.
func (a *Agent) enqueue(key types.NamespacedName) {
	a.dirtyMu.Lock()
	a.dirty[key] = struct{}{}
	a.dirtyMu.Unlock()
	select {
	case a.kick <- struct{}{}:
	default:
	}
}

// forwardEvents turns runtime changes into reconcile requests.
func (a *Agent) forwardEvents(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-a.kick:
		}
		a.dirtyMu.Lock()
		keys := a.dirty
		a.dirty = map[types.NamespacedName]struct{}{}
		a.dirtyMu.Unlock()
		for k := range keys {
			ev := event.GenericEvent{Object: &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: k.Namespace, Name: k.Name}}}
			select {
			case a.events <- ev:
			case <-ctx.Done():
				return nil
			}
		}
	}
}

func (a *Agent) event(obj runtime.Object, typ, reason, format string, args ...any) {
	a.recorder.Eventf(obj, nil, typ, reason, reason, format, args...)
}

// Reconcile binds, starts, stops and reports on one pod.
func (a *Agent) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var pod corev1.Pod
	if err := a.client.Get(ctx, req.NamespacedName, &pod); err != nil {
		if !apierrors.IsNotFound(err) {
			return ctrl.Result{}, err
		}
		a.forget(req.NamespacedName, "")
		return ctrl.Result{}, nil
	}
	if pod.Spec.NodeName == "" {
		bound, err := a.bind(ctx, &pod)
		if !bound || err != nil {
			return ctrl.Result{}, err
		}
		// Start it now rather than when the watch brings the bound pod
		// back: a round trip less in every pod's start.
		pod.Spec.NodeName = a.opts.NodeName
	}
	if pod.Spec.NodeName != a.opts.NodeName {
		return ctrl.Result{}, nil
	}
	rt := a.runtimeFor(req.NamespacedName)
	if rt != nil && rt.uid != pod.UID {
		// A new pod took the name of an old one (a StatefulSet, say).
		a.forget(req.NamespacedName, pod.UID)
		return ctrl.Result{RequeueAfter: 200 * time.Millisecond}, nil
	}
	if pod.DeletionTimestamp != nil {
		return ctrl.Result{}, a.terminate(ctx, &pod, rt)
	}
	if rt == nil {
		if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
			return ctrl.Result{}, nil
		}
		var err error
		if rt, err = a.startPod(&pod); err != nil {
			return ctrl.Result{}, err
		}
		if rt == nil {
			return ctrl.Result{}, nil // shutting down
		}
	}
	return ctrl.Result{}, a.writeStatus(ctx, &pod, rt)
}

func (a *Agent) runtimeFor(key types.NamespacedName) *podRuntime {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.pods[key]
}

// bind schedules a pending pod onto this node, honouring nodeSelector, and
// reports whether this call bound it.
func (a *Agent) bind(ctx context.Context, pod *corev1.Pod) (bool, error) {
	if s := pod.Spec.SchedulerName; s != "" && s != corev1.DefaultSchedulerName {
		return false, nil
	}
	for k, v := range pod.Spec.NodeSelector {
		if nodeLabels(a.opts.NodeName)[k] != v {
			a.event(pod, corev1.EventTypeWarning, "FailedScheduling",
				"0/1 nodes are available: node %s does not match the pod's nodeSelector %s=%s", a.opts.NodeName, k, v)
			return false, nil
		}
	}
	b := &corev1.Binding{
		ObjectMeta: metav1.ObjectMeta{Name: pod.Name, Namespace: pod.Namespace, UID: pod.UID},
		Target:     corev1.ObjectReference{Kind: "Node", Name: a.opts.NodeName},
	}
	if err := a.client.SubResource("binding").Create(ctx, pod, b); err != nil {
		if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
			return false, nil // bound meanwhile, or gone
		}
		return false, fmt.Errorf("binding pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	a.recordStage(pod, StageBound, time.Now())
	a.event(pod, corev1.EventTypeNormal, "Scheduled", "Successfully assigned %s/%s to %s", pod.Namespace, pod.Name, a.opts.NodeName)
	return true, nil
}

func (a *Agent) startPod(pod *corev1.Pod) (*podRuntime, error) {
	key := types.NamespacedName{Namespace: pod.Namespace, Name: pod.Name}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.shutdown {
		return nil, nil
	}
	ip, err := a.pool.allocate(key.String(), pod.Status.PodIP)
	if err != nil {
		return nil, fmt.Errorf("pod %s: %w", key, err)
	}
	rt := newPodRuntime(a, pod, ip)
	a.pods[key] = rt
	rt.start()
	a.log.V(1).Info("Started pod", "pod", key, "ip", ip)
	return rt, nil
}

// terminate stops a deleted pod's processes, then removes the pod from the
// API (the kubelet's final, zero-grace delete).
func (a *Agent) terminate(ctx context.Context, pod *corev1.Pod, rt *podRuntime) error {
	key := types.NamespacedName{Namespace: pod.Namespace, Name: pod.Name}
	if rt != nil && !rt.isStopped() {
		grace := 30 * time.Second
		if g := pod.DeletionGracePeriodSeconds; g != nil {
			grace = time.Duration(*g) * time.Second
		}
		rt.stop(grace)
		return a.writeStatus(ctx, pod, rt)
	}
	uid := pod.UID
	err := a.client.Delete(ctx, pod, client.GracePeriodSeconds(0), client.Preconditions{UID: &uid})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("deleting pod %s: %w", key, err)
	}
	a.forget(key, "")
	return nil
}

// forget drops a runtime (stopping it quickly if it still runs) and releases
// its IP. With keep set, a runtime of that UID is kept.
func (a *Agent) forget(key types.NamespacedName, keep types.UID) {
	a.mu.Lock()
	rt := a.pods[key]
	if rt == nil || rt.uid == keep {
		a.mu.Unlock()
		return
	}
	delete(a.pods, key)
	a.mu.Unlock()
	rt.stop(2 * time.Second)
	go func() {
		for !rt.isStopped() {
			time.Sleep(100 * time.Millisecond)
		}
		a.pool.release(key.String())
	}()
}

// writeStatus patches the pod's status when the runtime's view differs.
func (a *Agent) writeStatus(ctx context.Context, pod *corev1.Pod, rt *podRuntime) error {
	status := buildStatus(pod, rt.snapshot(), time.Now())
	if equality.Semantic.DeepEqual(status, pod.Status) {
		return nil
	}
	orig := pod.DeepCopy()
	pod.Status = status
	if err := a.client.Status().Patch(ctx, pod, client.MergeFrom(orig)); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("updating status of pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	if podReady(&pod.Status) && !podReady(&orig.Status) {
		a.recordStage(pod, StageReadyWritten, time.Now())
	}
	return nil
}

// podReady reports whether a status has condition Ready=True.
func podReady(s *corev1.PodStatus) bool {
	for _, c := range s.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// stopAll stops every pod when the agent shuts down; pods stay bound and
// start again when the agent comes back, like a rebooted node's.
func (a *Agent) stopAll() {
	a.mu.Lock()
	a.shutdown = true
	pods := make([]*podRuntime, 0, len(a.pods))
	for _, rt := range a.pods {
		pods = append(pods, rt)
	}
	a.mu.Unlock()
	for _, rt := range pods {
		grace := a.opts.ShutdownGrace
		if g := rt.spec.Spec.TerminationGracePeriodSeconds; g != nil {
			grace = min(grace, time.Duration(*g)*time.Second)
		}
		rt.stop(grace)
	}
	for _, rt := range pods {
		<-rt.exited
		for !rt.isStopped() {
			time.Sleep(20 * time.Millisecond)
		}
	}
	a.log.Info("Stopped all pods", "count", len(pods))
}
