package node

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// podRuntime is one pod on the local node: a sandbox directory, a loopback
// IP, credentials, host-port forwarders and one process per container.
type podRuntime struct {
	agent *Agent
	key   types.NamespacedName
	uid   types.UID
	spec  *corev1.Pod // as first seen; a pod's containers are immutable
	ip    string
	dir   string

	cancel   context.CancelFunc
	exited   chan struct{} // closed when run returns
	stopOnce sync.Once

	mu         sync.Mutex
	init       []*container
	containers []*container
	startTime  metav1.Time
	initDone   bool
	initFailed bool
	stopped    bool // every process is gone after a stop
	sandboxErr string
}

func newPodRuntime(a *Agent, pod *corev1.Pod, ip string) *podRuntime {
	p := &podRuntime{
		agent:     a,
		key:       types.NamespacedName{Namespace: pod.Namespace, Name: pod.Name},
		uid:       pod.UID,
		spec:      pod.DeepCopy(),
		ip:        ip,
		dir:       SandboxDir(a.opts.PodsDir, pod),
		exited:    make(chan struct{}),
		startTime: metav1.NewTime(time.Now().Truncate(time.Second)),
	}
	if pod.Status.StartTime != nil {
		p.startTime = *pod.Status.StartTime
	}
	p.spec.Status.PodIP = ip
	p.spec.Status.HostIP = hostIP
	prev := map[string]corev1.ContainerStatus{}
	for _, cs := range append(append([]corev1.ContainerStatus{}, pod.Status.InitContainerStatuses...), pod.Status.ContainerStatuses...) {
		prev[cs.Name] = cs
	}
	mk := func(spec corev1.Container, init bool) *container {
		c := &container{pod: p, spec: spec, init: init}
		c.state = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}
		if !init && len(pod.Spec.InitContainers) > 0 {
			c.state.Waiting.Reason = "PodInitializing"
		}
		// After an agent restart, keep counting restarts where the status left off.
		if old, ok := prev[spec.Name]; ok {
			c.restartCount = old.RestartCount
			if old.State.Running != nil || old.State.Terminated != nil {
				c.restartCount++
			}
			c.lastState = old.LastTerminationState
		}
		return c
	}
	for _, s := range pod.Spec.InitContainers {
		p.init = append(p.init, mk(s, true))
	}
	for _, s := range pod.Spec.Containers {
		p.containers = append(p.containers, mk(s, false))
	}
	return p
}

func (p *podRuntime) changed() { p.agent.enqueue(p.key) }

// start runs the pod in the background.
func (p *podRuntime) start() {
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	go p.run(ctx)
}

func (p *podRuntime) run(ctx context.Context) {
	defer close(p.exited)
	if !p.prepareSandbox(ctx) {
		return
	}
	fwd := p.startHostPorts()
	defer fwd.close()
	for _, ic := range p.init {
		if code := ic.run(ctx); ctx.Err() != nil {
			return
		} else if code != 0 {
			p.mu.Lock()
			p.initFailed = true
			p.mu.Unlock()
			p.changed()
			return
		}
	}
	p.mu.Lock()
	p.initDone = true
	for _, c := range p.containers {
		if w := c.state.Waiting; w != nil && w.Reason == "PodInitializing" {
			w.Reason = "ContainerCreating"
		}
	}
	p.mu.Unlock()
	p.changed()
	var wg sync.WaitGroup
	for _, c := range p.containers {
		wg.Go(func() { c.run(ctx) })
	}
	wg.Wait()
}

// prepareSandbox creates the pod directory and credentials, retrying until it
// works or the pod is stopped.
func (p *podRuntime) prepareSandbox(ctx context.Context) bool {
	for attempt := 0; ; attempt++ {
		err := os.MkdirAll(filepath.Join(p.dir, "tmp"), 0o755)
		if err == nil && p.needsCredentials() {
			var expiry time.Time
			if expiry, err = p.writeCredentials(ctx); err == nil {
				go p.refreshCredentials(ctx, expiry)
			}
		}
		p.mu.Lock()
		p.sandboxErr = ""
		if err != nil {
			p.sandboxErr = err.Error()
		}
		p.mu.Unlock()
		if err == nil {
			p.agent.recordStage(p.spec, StageSandbox, time.Now())
			return true
		}
		p.changed()
		p.agent.log.Info("Preparing pod sandbox failed", "pod", p.key, "error", err.Error())
		if !sleepCtx(ctx, min(time.Duration(attempt+1)*time.Second, 10*time.Second)) {
			return false
		}
	}
}

// environment is the container's environment at start: the node's base
// variables, then the pod spec's env.
func (p *podRuntime) environment(ctx context.Context, c *corev1.Container, tag string) (*envList, error) {
	path := os.Getenv("PATH")
	if path == "" {
		path = "/usr/local/bin:/usr/bin:/bin"
	}
	base := [][2]string{
		{"PATH", path},
		{"HOME", p.dir},
		{"TMPDIR", filepath.Join(p.dir, "tmp")},
		{"HOSTNAME", p.spec.Name},
		{"POD_IP", p.ip},
	}
	if tag != "" {
		base = append(base, [2]string{"RAMP_IMAGE_TAG", tag})
	}
	if p.automount() {
		base = append(base, [2]string{"KUBECONFIG", p.kubeconfigPath()})
	}
	return resolveEnv(ctx, p.agent.reader, p.spec, c, base)
}

// stop terminates the pod: preStop hooks, SIGTERM, and SIGKILL after grace.
// It returns at once; the agent is told when every process is gone.
func (p *podRuntime) stop(grace time.Duration) {
	p.stopOnce.Do(func() {
		go func() {
			p.cancel()
			var wg sync.WaitGroup
			for _, c := range append(append([]*container{}, p.init...), p.containers...) {
				wg.Go(func() { c.kill(grace, true) })
			}
			wg.Wait()
			<-p.exited
			p.mu.Lock()
			p.stopped = true
			for _, c := range append(append([]*container{}, p.init...), p.containers...) {
				c.ready = false
			}
			p.mu.Unlock()
			p.changed()
		}()
	})
}

// isStopped reports whether a stop has completed.
func (p *podRuntime) isStopped() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stopped
}

// killIfCancelled covers the race where a stop begins while a process is
// being started: the fresh process is terminated at once.
func killIfCancelled(ctx context.Context, pid int) {
	if ctx.Err() != nil {
		_ = syscall.Kill(-pid, syscall.SIGTERM)
	}
}
