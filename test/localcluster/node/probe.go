package node

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

var probeClient = &http.Client{
	Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // kubelet probes skip verification too
		DisableKeepAlives: true,
	},
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// probe runs the startup, readiness and liveness probes of one process until
// ctx ends. A liveness (or startup) failure kills the process, and the restart
// policy decides what happens next.
func (c *container) probe(ctx context.Context) {
	s := &c.spec
	if s.StartupProbe != nil {
		if !c.probeUntil(ctx, s.StartupProbe, true) {
			if ctx.Err() == nil {
				c.pod.agent.event(c.pod.spec, corev1.EventTypeWarning, "Unhealthy", "Startup probe failed for container %s; restarting it", s.Name)
				go c.kill(c.grace(), true)
			}
			return
		}
		c.setState(func() { c.started = true })
	}
	if s.ReadinessProbe == nil {
		c.setReady(true)
	} else {
		go c.readinessLoop(ctx)
	}
	if s.LivenessProbe != nil {
		if !c.probeUntil(ctx, s.LivenessProbe, false) && ctx.Err() == nil {
			c.pod.agent.event(c.pod.spec, corev1.EventTypeWarning, "Unhealthy", "Liveness probe failed for container %s; restarting it", s.Name)
			go c.kill(c.grace(), true)
		}
	}
}

// probeUntil probes on the probe's period. With wantSuccess it returns true
// at the first success (startup probes); otherwise it returns false once the
// failure threshold is reached (liveness probes). Both return false when ctx
// ends.
func (c *container) probeUntil(ctx context.Context, p *corev1.Probe, wantSuccess bool) bool {
	if !sleepCtx(ctx, time.Duration(p.InitialDelaySeconds)*time.Second) {
		return false
	}
	failures := 0
	for {
		err := c.pod.runProbe(ctx, &c.spec, p)
		if err == nil {
			failures = 0
			if wantSuccess {
				return true
			}
		} else if failures++; failures >= threshold(p.FailureThreshold, 3) {
			return false
		}
		if !sleepCtx(ctx, period(p)) {
			return false
		}
	}
}

// Until a container is first ready, the agent probes it every
// startupProbeInterval rather than every periodSeconds, for at most
// startupProbeWindow after its start. A kubelet probes on the period from
// the start: the first probe usually finds the process not listening
// yet, and the pod is Ready up to a whole period (a second, commonly)
// after it could be, which on the local node was most of a scale from
// zero (docs/performance.md). A failed probe of a process that is still
// starting costs a refused connection; a container that never becomes
// ready falls back to the period after the window.
const (
	startupProbeInterval = 10 * time.Millisecond
	startupProbeWindow   = 10 * time.Second
)

func (c *container) readinessLoop(ctx context.Context) {
	p := c.spec.ReadinessProbe
	if !sleepCtx(ctx, time.Duration(p.InitialDelaySeconds)*time.Second) {
		return
	}
	fastUntil := time.Now().Add(startupProbeWindow)
	successes, failures, everReady := 0, 0, false
	for {
		err := c.pod.runProbe(ctx, &c.spec, p)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			successes, failures = successes+1, 0
			if successes >= threshold(p.SuccessThreshold, 1) {
				c.setReady(true)
				everReady = true
			}
		} else {
			successes, failures = 0, failures+1
			if failures >= threshold(p.FailureThreshold, 3) {
				c.setReady(false)
			}
		}
		wait := period(p)
		if !everReady && err != nil && time.Now().Before(fastUntil) {
			wait = startupProbeInterval
		}
		if !sleepCtx(ctx, wait) {
			return
		}
	}
}

func (c *container) setReady(ready bool) {
	c.pod.mu.Lock()
	changed := c.ready != ready && c.state.Running != nil
	if changed {
		c.ready = ready
	}
	c.pod.mu.Unlock()
	if changed {
		if ready {
			c.pod.agent.recordStage(c.pod.spec, StageContainerReady+":"+c.spec.Name, time.Now())
		}
		c.pod.changed()
	}
}

func (c *container) grace() time.Duration {
	if g := c.pod.spec.Spec.TerminationGracePeriodSeconds; g != nil {
		return time.Duration(*g) * time.Second
	}
	return 30 * time.Second
}

// runProbe performs one probe attempt within its timeout.
func (p *podRuntime) runProbe(ctx context.Context, c *corev1.Container, pr *corev1.Probe) error {
	timeout := time.Duration(threshold(pr.TimeoutSeconds, 1)) * time.Second
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	switch {
	case pr.HTTPGet != nil:
		return p.httpGet(ctx, c, pr.HTTPGet)
	case pr.TCPSocket != nil:
		port, err := resolvePort(c, pr.TCPSocket.Port)
		if err != nil {
			return err
		}
		host := pr.TCPSocket.Host
		if host == "" {
			host = p.ip
		}
		conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(port)))
		if err != nil {
			return err
		}
		return conn.Close()
	case pr.Exec != nil:
		return p.execIn(ctx, c, pr.Exec.Command)
	case pr.GRPC != nil:
		return fmt.Errorf("gRPC probes are not supported by the local node")
	}
	return fmt.Errorf("probe has no handler")
}

// runHandler runs a lifecycle hook (preStop).
func (p *podRuntime) runHandler(ctx context.Context, c *corev1.Container, h *corev1.LifecycleHandler) error {
	switch {
	case h.HTTPGet != nil:
		return p.httpGet(ctx, c, h.HTTPGet)
	case h.Exec != nil:
		return p.execIn(ctx, c, h.Exec.Command)
	case h.Sleep != nil:
		sleepCtx(ctx, time.Duration(h.Sleep.Seconds)*time.Second)
		return nil
	case h.TCPSocket != nil:
		return nil // deprecated and a no-op on the kubelet as well
	}
	return fmt.Errorf("hook has no handler")
}

func (p *podRuntime) httpGet(ctx context.Context, c *corev1.Container, g *corev1.HTTPGetAction) error {
	port, err := resolvePort(c, g.Port)
	if err != nil {
		return err
	}
	host := g.Host
	if host == "" {
		host = p.ip
	}
	scheme := strings.ToLower(string(g.Scheme))
	if scheme == "" {
		scheme = "http"
	}
	path := g.Path
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet,
		fmt.Sprintf("%s://%s%s", scheme, net.JoinHostPort(host, strconv.Itoa(port)), path), nil)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", "kube-probe/1.36")
	for _, h := range g.HTTPHeaders {
		if strings.EqualFold(h.Name, "Host") {
			req.Host = h.Value
		} else {
			req.Header.Add(h.Name, h.Value)
		}
	}
	resp, err := probeClient.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 10<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode >= 400 {
		return fmt.Errorf("HTTP probe failed with statuscode: %d", resp.StatusCode)
	}
	return nil
}

// execIn runs a command on the host in the pod's sandbox with the
// container's environment (the local node has no container filesystem).
func (p *podRuntime) execIn(ctx context.Context, c *corev1.Container, command []string) error {
	if len(command) == 0 {
		return fmt.Errorf("exec: empty command")
	}
	env, err := p.environment(ctx, c, "")
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, command[0], command[1:]...)
	cmd.Env = env.environ()
	cmd.Dir = p.dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("exec %v: %w: %s", command, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// resolvePort turns a number or a named container port into a number.
func resolvePort(c *corev1.Container, port intstr.IntOrString) (int, error) {
	if port.Type == intstr.Int {
		return port.IntValue(), nil
	}
	for _, cp := range c.Ports {
		if cp.Name == port.StrVal {
			return int(cp.ContainerPort), nil
		}
	}
	if n, err := strconv.Atoi(port.StrVal); err == nil {
		return n, nil
	}
	return 0, fmt.Errorf("container %s has no port named %q", c.Name, port.StrVal)
}

func threshold(v, def int32) int {
	if v <= 0 {
		return int(def)
	}
	return int(v)
}

func period(p *corev1.Probe) time.Duration {
	return time.Duration(threshold(p.PeriodSeconds, 10)) * time.Second
}

// sleepCtx sleeps d and reports whether ctx is still live.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
