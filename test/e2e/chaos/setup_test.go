package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rolloutsv1alpha1 "github.com/rampdev/ramp/apis/rollouts/v1alpha1"
	servingv1 "github.com/rampdev/ramp/apis/serving/v1"
	"github.com/rampdev/ramp/controllers/manager"
	"github.com/rampdev/ramp/serving/apiauth"
	"github.com/rampdev/ramp/serving/gateway"
	"github.com/rampdev/ramp/test/framework"
)

// The workloads.
const (
	// web is a Rollout: v1, then v2 rolled out in steps through faults 2
	// and 3.
	web = "web"
	// drain is a Service with two pods, for the queue-proxy faults.
	drain = "drain"
	// zero is a Service whose pods serve one request at a time, at zero
	// pods by the last fault.
	zero = "zero"
)

// The Rollout's canary steps: 10% to 80%, each held for pause once its
// traffic is applied. Analysis is off: a step passes once the gateways
// serve its weights, so its progress depends on the controller alone.
const (
	steps = 8
	pause = 6 * time.Second
)

const versionHeader = "X-Sampleapp-Version"

func sampleTemplate(version string, annotations map[string]string, env ...corev1.EnvVar) servingv1.RevisionTemplateSpec {
	return servingv1.RevisionTemplateSpec{
		Metadata: servingv1.TemplateMeta{Annotations: annotations},
		Spec: servingv1.RevisionSpec{Containers: []servingv1.Container{{
			Image:          "ramp/sampleapp:" + version,
			Env:            append([]corev1.EnvVar{{Name: "VERSION", Value: version}}, env...),
			Ports:          []servingv1.ContainerPort{{ContainerPort: 8080}},
			ReadinessProbe: &servingv1.Probe{HTTPGet: &servingv1.HTTPGetAction{Path: "/healthz"}, PeriodSeconds: 1},
		}}},
	}
}

func webRollout(ns string) *rolloutsv1alpha1.Rollout {
	var ss []rolloutsv1alpha1.CanaryStep
	for i := range steps {
		ss = append(ss, rolloutsv1alpha1.CanaryStep{Weight: ptr.To(int32(10 * (i + 1))), Pause: &metav1.Duration{Duration: pause}})
	}
	return &rolloutsv1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: web},
		Spec: rolloutsv1alpha1.RolloutSpec{
			Template: sampleTemplate("v1", nil),
			Strategy: rolloutsv1alpha1.Strategy{Canary: &rolloutsv1alpha1.CanaryStrategy{Steps: ss}},
			Analysis: &rolloutsv1alpha1.Analysis{Disabled: true},
		},
	}
}

func service(ns, name string, tpl servingv1.RevisionTemplateSpec) *servingv1.Service {
	return &servingv1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       servingv1.ServiceSpec{ConfigurationSpec: servingv1.ConfigurationSpec{Template: tpl}},
	}
}

func (s *suite) host(name string) string { return name + "." + s.ns + ".example.com" }

// deploy creates the workloads and waits until each serves through the
// gateways.
func (s *suite) deploy(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	zeroTpl := sampleTemplate("v1", map[string]string{
		"autoscaling.ramp.dev/window": "6s", "autoscaling.ramp.dev/max-scale": "4",
	}, corev1.EnvVar{Name: "LATENCY", Value: "20ms"})
	zeroTpl.Spec.ContainerConcurrency = ptr.To[int64](1)
	objs := []client.Object{
		webRollout(s.ns),
		service(s.ns, drain, sampleTemplate("v1", map[string]string{
			"autoscaling.ramp.dev/min-scale": "2", servingv1.AnnotationInitialScale: "2",
		})),
		service(s.ns, zero, zeroTpl),
	}
	for _, o := range objs {
		if err := s.cl.Create(ctx, o); err != nil {
			t.Fatalf("creating %s: %v", o.GetName(), err)
		}
	}
	s.waitRollout(t, func(ro *rolloutsv1alpha1.Rollout) error {
		if ro.Status.Phase != rolloutsv1alpha1.PhaseHealthy {
			return fmt.Errorf("phase %q: %s", ro.Status.Phase, ro.Status.Message)
		}
		return nil
	}, 2*time.Minute)
	for _, name := range []string{web, drain, zero} {
		framework.Eventually(t, 2*time.Minute, func(ctx context.Context) error {
			svc := &servingv1.Service{}
			if err := s.cl.Get(ctx, types.NamespacedName{Namespace: s.ns, Name: name}, svc); err != nil {
				return err
			}
			if !svc.Status.IsReady(svc.Generation) {
				return fmt.Errorf("service %s not ready: %+v", name, svc.Status.Conditions)
			}
			code, _, err := s.get(ctx, s.host(name))
			if err != nil {
				return fmt.Errorf("GET %s: %w", name, err)
			}
			if code != 200 {
				return fmt.Errorf("GET %s: %d", name, code)
			}
			return nil
		})
	}
}

// waitRollout waits until the Rollout web, at its current generation,
// passes check.
func (s *suite) waitRollout(t *testing.T, check func(*rolloutsv1alpha1.Rollout) error, within time.Duration) *rolloutsv1alpha1.Rollout {
	t.Helper()
	ro := &rolloutsv1alpha1.Rollout{}
	framework.Eventually(t, within, func(ctx context.Context) error {
		if err := s.cl.Get(ctx, types.NamespacedName{Namespace: s.ns, Name: web}, ro); err != nil {
			return err
		}
		if ro.Status.ObservedGeneration != ro.Generation {
			return fmt.Errorf("generation %d not observed yet (%d)", ro.Generation, ro.Status.ObservedGeneration)
		}
		return check(ro)
	})
	return ro
}

// get sends one GET through the gateways' load balancer and returns the
// status and the version that answered.
func (s *suite) get(ctx context.Context, host string) (int, string, error) {
	return getVia(ctx, s.gw.Client(5*time.Second, 2), "http://balanced.invalid/", host)
}

// getDirect sends one GET to a loopback address (a pod's), bypassing the
// load balancer.
func getDirect(ctx context.Context, addr, host string) (int, string, error) {
	ip, _, err := net.SplitHostPort(addr)
	if a := net.ParseIP(ip); err != nil || a == nil || !a.IsLoopback() {
		return 0, "", fmt.Errorf("refusing to send test traffic to %s: tests only target 127.0.0.0/8", addr)
	}
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	return getVia(ctx, c, "http://"+addr+"/", host)
}

func getVia(ctx context.Context, c *http.Client, url, host string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	req.Host = host
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	return resp.StatusCode, resp.Header.Get(versionHeader), nil
}

// gatewayHash is the routing-table hash a gateway pod has applied for a
// route, asked as the chart's controller asks it: with a token of its
// ServiceAccount for the gateway's audience.
func gatewayHash(ctx context.Context, c *framework.Cluster, podIP, ns, route string) (string, error) {
	token, err := c.ServiceAccountToken(ctx, system, "ramp-controller", apiauth.GatewayAudience)
	if err != nil {
		return "", err
	}
	code, body, err := framework.Request(ctx, http.MethodGet, "http://"+net.JoinHostPort(podIP, strconv.Itoa(gateway.AdminPort))+gateway.HashesPath, token)
	if err != nil {
		return "", fmt.Errorf("GET %s of %s: %w", gateway.HashesPath, podIP, err)
	}
	if code != 200 {
		return "", fmt.Errorf("GET %s of %s: %d %s", gateway.HashesPath, podIP, code, body)
	}
	var hashes map[string]string
	if err := json.Unmarshal([]byte(body), &hashes); err != nil {
		return "", err
	}
	return hashes[ns+"/"+route], nil
}

// versionIn checks that a 2xx answer came from one of the versions.
func versionIn(versions ...string) func(http.Header, []byte) error {
	return func(h http.Header, _ []byte) error {
		v := h.Get(versionHeader)
		for _, want := range versions {
			if v == want {
				return nil
			}
		}
		return fmt.Errorf("answered by version %q, want one of %v", v, versions)
	}
}

// load starts the fault's load on host: rate requests per second, for at
// most limit.
func (s *suite) load(t *testing.T, host string, limit time.Duration, check func(http.Header, []byte) error) *framework.Load {
	t.Helper()
	l, err := framework.StartLoad(context.Background(), framework.LoadOptions{Balancer: s.gw, Host: host, Rate: rate,
		Duration: limit, Check: check})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// readyPods lists the ready, not terminating pods matching labels, and
// the list's resource version (to watch them from).
func (s *suite) readyPods(ctx context.Context, ns string, labels map[string]string) ([]corev1.Pod, string, error) {
	var list corev1.PodList
	if err := s.cl.List(ctx, &list, client.InNamespace(ns), client.MatchingLabels(labels)); err != nil {
		return nil, "", err
	}
	var out []corev1.Pod
	for _, p := range list.Items {
		if framework.PodReady(&p) && p.DeletionTimestamp == nil {
			out = append(out, p)
		}
	}
	return out, list.ResourceVersion, nil
}

// replicas is what a revision's Deployment asks for.
func (s *suite) replicas(ctx context.Context, rev string) (int32, error) {
	d := &appsv1.Deployment{}
	if err := s.cl.Get(ctx, types.NamespacedName{Namespace: s.ns, Name: rev + "-deployment"}, d); err != nil {
		return 0, err
	}
	return ptr.Deref(d.Spec.Replicas, 1), nil
}

// stepEvents counts the StepStarted events of the Rollout web for a
// canary, by step number, summing each event's series count.
func (s *suite) stepEvents(ctx context.Context, canary string) (map[int]int, error) {
	var events eventsv1.EventList
	if err := s.cl.List(ctx, &events, client.InNamespace(s.ns)); err != nil {
		return nil, err
	}
	started := map[int]int{}
	for _, e := range events.Items {
		if e.Regarding.Name != web || e.Reason != "StepStarted" || !strings.HasSuffix(e.Note, " of "+canary) {
			continue
		}
		// "Started step 2/8 (weight 20%, then pause 6s) of web-00002"
		var step, of int
		if _, err := fmt.Sscanf(e.Note, "Started step %d/%d", &step, &of); err != nil {
			return nil, fmt.Errorf("event %q: %w", e.Note, err)
		}
		n := 1
		if e.Series != nil {
			n = int(e.Series.Count)
		}
		started[step] += n
	}
	return started, nil
}

// roSample is the Rollout's progress at one look.
type roSample struct {
	at     time.Time
	phase  rolloutsv1alpha1.Phase
	canary string
	step   int32 // -1: no step
}

func (r roSample) String() string {
	return fmt.Sprintf("%s %s/%s step %d", r.at.Format("15:04:05.000"), r.phase, r.canary, r.step)
}

// rolloutWatch records every change of the Rollout web's progress it
// sees, looking every 200 ms (a step lasts at least pause), through
// faults: a look the API cannot answer is skipped.
type rolloutWatch struct {
	mu      sync.Mutex
	samples []roSample
}

func (s *suite) watchRollout(ctx context.Context) *rolloutWatch {
	cfg := rest.CopyConfig(s.c.Config)
	cfg.Timeout = time.Second
	r, err := client.New(cfg, client.Options{Scheme: manager.Scheme()})
	w := &rolloutWatch{}
	if err != nil {
		panic(err) // the same config made s.cl
	}
	go func() {
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			ro := &rolloutsv1alpha1.Rollout{}
			if err := r.Get(ctx, types.NamespacedName{Namespace: s.ns, Name: web}, ro); err != nil {
				continue
			}
			smp := roSample{at: time.Now(), phase: ro.Status.Phase, canary: ro.Status.CanaryRevision, step: ptr.Deref(ro.Status.CurrentStepIndex, -1)}
			w.mu.Lock()
			if n := len(w.samples); n == 0 || w.samples[n-1].phase != smp.phase || w.samples[n-1].canary != smp.canary || w.samples[n-1].step != smp.step {
				w.samples = append(w.samples, smp)
			}
			w.mu.Unlock()
		}
	}()
	return w
}

// history returns the changes seen for a canary, in order.
func (w *rolloutWatch) history(canary string) []roSample {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []roSample
	for _, smp := range w.samples {
		if smp.canary == canary {
			out = append(out, smp)
		}
	}
	return out
}

// stepProblems describes the steps of a canary's history that went back,
// or were skipped (a step index that grew by more than one between two
// looks), or "" when each step followed the one before.
func stepProblems(h []roSample) string {
	var problems []string
	for i := 1; i < len(h); i++ {
		prev, cur := h[i-1].step, h[i].step
		switch {
		case cur == prev:
		case cur < prev:
			problems = append(problems, fmt.Sprintf("step went back from %d to %d at %s", prev, cur, h[i].at.Format("15:04:05.000")))
		case cur > prev+1:
			problems = append(problems, fmt.Sprintf("step skipped from %d to %d at %s", prev, cur, h[i].at.Format("15:04:05.000")))
		}
	}
	return strings.Join(problems, "; ")
}
