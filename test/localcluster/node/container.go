package node

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// errNotStarted means a container could not be started (unknown image, bad
// configuration): it waits and is retried without counting a restart.
var errNotStarted = errors.New("container not started")

// container runs one container of a pod as a local process, restarting it per
// the pod's restart policy with the kubelet's back-off. Its status fields are
// guarded by the pod's mutex.
type container struct {
	pod  *podRuntime
	spec corev1.Container
	init bool

	// Guarded by pod.mu.
	state        corev1.ContainerState
	lastState    corev1.ContainerState
	ready        bool
	started      bool
	restartCount int32
	imageID      string
	containerID  string
	proc         *os.Process
	procDone     chan struct{}
}

func (c *container) logPath() string {
	return filepath.Join(c.pod.dir, "logs", c.spec.Name+".log")
}

func (c *container) pidPath() string {
	return filepath.Join(c.pod.dir, c.spec.Name+".pid")
}

// setState updates the status under the pod lock and tells the agent.
func (c *container) setState(f func()) {
	c.pod.mu.Lock()
	f()
	c.pod.mu.Unlock()
	c.pod.changed()
}

// restartPolicy returns whether a container that exited with code should run
// again.
func (c *container) shouldRestart(exitCode int) bool {
	switch c.pod.spec.Spec.RestartPolicy {
	case corev1.RestartPolicyNever:
		return false
	case corev1.RestartPolicyOnFailure:
		return exitCode != 0
	default:
		return !c.init || exitCode != 0
	}
}

// run drives the container until ctx ends or the restart policy says stop. It
// returns the last exit code (init containers need it).
func (c *container) run(ctx context.Context) int {
	// The thread that starts a child is the one whose exit triggers the
	// child's Pdeathsig, so keep one thread for this container's lifetime.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	backoff := time.Duration(0)
	for {
		startedAt := time.Now()
		exitCode, err := c.runOnce(ctx)
		if ctx.Err() != nil {
			return exitCode
		}
		notStarted := errors.Is(err, errNotStarted)
		if !notStarted && !c.shouldRestart(exitCode) {
			return exitCode
		}
		if time.Since(startedAt) > 10*time.Minute {
			backoff = 0 // a long healthy run forgives earlier crashes
		}
		if !notStarted && backoff > 0 {
			c.setState(func() {
				c.state = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{
					Reason: "CrashLoopBackOff",
					Message: fmt.Sprintf("back-off %s restarting failed container=%s pod=%s",
						backoff, c.spec.Name, c.pod.key.Name),
				}}
			})
		}
		select {
		case <-ctx.Done():
			return exitCode
		case <-time.After(backoff):
		}
		switch {
		case backoff == 0:
			backoff = c.pod.agent.opts.BackoffBase
		case backoff < c.pod.agent.opts.BackoffMax:
			backoff = min(2*backoff, c.pod.agent.opts.BackoffMax)
		}
		if !notStarted {
			c.setState(func() { c.restartCount++ })
		}
	}
}

// runOnce starts the process, probes it, and waits for it to exit.
func (c *container) runOnce(ctx context.Context) (int, error) {
	img, err := resolveImage(c.pod.agent.opts.BinDir, c.spec.Image)
	if err != nil {
		c.waiting("ImagePullBackOff", fmt.Sprintf("Back-off pulling image %q: %v", c.spec.Image, err))
		return 0, fmt.Errorf("%w: %w", errNotStarted, err)
	}
	env, err := c.pod.environment(ctx, &c.spec, img.tag)
	if err != nil {
		var ce *configError
		if errors.As(err, &ce) {
			c.waiting("CreateContainerConfigError", ce.msg)
		} else {
			c.waiting("CreateContainerError", err.Error())
		}
		return 0, fmt.Errorf("%w: %w", errNotStarted, err)
	}
	argv := []string{img.binary}
	if len(c.spec.Command) > 1 {
		argv = append(argv, expandAll(c.spec.Command[1:], env.vals)...)
	}
	argv = append(argv, expandAll(c.spec.Args, env.vals)...)
	argv = c.pod.mountPaths(&c.spec, argv)

	if err := rotateLog(c.logPath()); err != nil {
		return 0, err
	}
	logf, err := os.OpenFile(c.logPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return 0, fmt.Errorf("opening log: %w", err)
	}
	defer logf.Close()
	cmd := exec.Command(img.binary, argv[1:]...)
	cmd.Env = env.environ()
	cmd.Dir = c.pod.dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		c.waiting("RunContainerError", err.Error())
		return 0, fmt.Errorf("%w: %w", errNotStarted, err)
	}
	pid := cmd.Process.Pid
	c.pod.agent.recordStage(c.pod.spec, StageStarted+":"+c.spec.Name, time.Now())
	_ = os.WriteFile(c.pidPath(), []byte(strconv.Itoa(pid)+"\n"+img.binary+"\n"), 0o644)
	startedAt := metav1.NewTime(time.Now().Truncate(time.Second))
	done := make(chan struct{})
	c.setState(func() {
		c.state = corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: startedAt}}
		c.ready = false
		c.started = c.spec.StartupProbe == nil
		c.imageID = "ramp-local://" + img.binary
		c.containerID = fmt.Sprintf("ramp://%s/%s/%d", c.pod.uid, c.spec.Name, pid)
		c.proc = cmd.Process
		c.procDone = done
	})

	killIfCancelled(ctx, pid)
	probeCtx, stopProbes := context.WithCancel(ctx)
	go c.probe(probeCtx)
	waitErr := cmd.Wait()
	stopProbes()
	close(done)
	_ = os.Remove(c.pidPath())

	code := exitCode(cmd.ProcessState, waitErr)
	reason := "Completed"
	if code != 0 {
		reason = "Error"
	}
	finished := metav1.NewTime(time.Now().Truncate(time.Second))
	c.setState(func() {
		term := &corev1.ContainerStateTerminated{
			ExitCode: int32(code), Reason: reason, StartedAt: startedAt, FinishedAt: finished,
			ContainerID: c.containerID,
		}
		c.state = corev1.ContainerState{Terminated: term}
		c.lastState = corev1.ContainerState{Terminated: term.DeepCopy()}
		c.ready = false
		c.proc = nil
	})
	return code, nil
}

func (c *container) waiting(reason, msg string) {
	c.setState(func() {
		c.state = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: msg}}
		c.ready = false
	})
}

// kill stops the running process: preStop hook, SIGTERM to its process group,
// then SIGKILL once grace has passed. It returns when the process is gone.
func (c *container) kill(grace time.Duration, runPreStop bool) {
	c.pod.mu.Lock()
	proc, done := c.proc, c.procDone
	c.pod.mu.Unlock()
	if proc == nil {
		return
	}
	deadline := time.Now().Add(grace)
	if runPreStop && c.spec.Lifecycle != nil && c.spec.Lifecycle.PreStop != nil {
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		if err := c.pod.runHandler(ctx, &c.spec, c.spec.Lifecycle.PreStop); err != nil {
			c.pod.agent.log.Info("PreStop hook failed", "pod", c.pod.key, "container", c.spec.Name, "error", err.Error())
		}
		cancel()
	}
	_ = syscall.Kill(-proc.Pid, syscall.SIGTERM)
	select {
	case <-done:
		return
	case <-time.After(time.Until(deadline)):
	}
	_ = syscall.Kill(-proc.Pid, syscall.SIGKILL)
	<-done
}

// exitCode maps a process state to a container exit code (128+signal when
// killed by a signal, as a container runtime reports it).
func exitCode(ps *os.ProcessState, err error) int {
	if ps == nil {
		if err != nil {
			return 128
		}
		return 0
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}

// rotateLog keeps the previous run's output as <name>.previous.log.
func rotateLog(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("creating log directory: %w", err)
	}
	if _, err := os.Stat(path); err == nil {
		prev := path[:len(path)-len(".log")] + ".previous.log"
		if err := os.Rename(path, prev); err != nil {
			return fmt.Errorf("rotating log: %w", err)
		}
	}
	return nil
}

func expandAll(in []string, vars map[string]string) []string {
	out := make([]string, len(in))
	for i, s := range in {
		out[i] = expand(s, vars)
	}
	return out
}
