// Package realnode runs Ramp on the local cluster's real node: kubelet,
// containerd, runc, a bridge CNI and kube-proxy in a network namespace the
// test creates, Ramp installed with its Helm chart from its own images
// (only imagePullPolicy changed). It is skipped, with the reason in one
// line, where the host cannot run a real node (not root, Debian packages
// missing: make node-packages). Test traffic goes to the host's loopback
// forward of the node's gateway hostPort, and from there only into the
// namespace.
package realnode

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rolloutsv1alpha1 "github.com/rampdev/ramp/apis/rollouts/v1alpha1"
	servingv1 "github.com/rampdev/ramp/apis/serving/v1"
	"github.com/rampdev/ramp/controllers/manager"
	"github.com/rampdev/ramp/test/framework"
)

const sampleImage = "ghcr.io/rampdev/sampleapp:0.1.0"

type env struct {
	c  *framework.Cluster
	cl client.Client
}

func TestRealNode(t *testing.T) {
	if reason := framework.RealNodeSkipReason(); reason != "" {
		t.Skip("real node: " + reason)
	}
	ctx := context.Background()
	images := filepath.Join(t.TempDir(), "images")
	start := time.Now()
	if _, err := framework.BuildNodeImages(ctx, images); err != nil {
		t.Fatal(err)
	}
	t.Logf("built the node's images in %s", time.Since(start).Round(time.Second))
	start = time.Now()
	c, err := framework.StartRealCluster(ctx, os.Stderr, images)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Stop(t.Failed() && os.Getenv("RAMP_E2E_KEEP") != "") })
	t.Logf("real node up in %s", time.Since(start).Round(100*time.Millisecond))
	cl, err := client.New(c.Config, client.Options{Scheme: manager.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{c: c, cl: cl}
	e.helmInstall(t)

	t.Run("the restricted Pod Security profile is enforced", e.restricted)
	t.Run("the chart's NetworkPolicies are present", e.networkPolicies)
	t.Run("a revision scales to zero and back on a request", e.scaleFromZero)
	t.Run("weight changes under load answer every request with a 2xx", e.weightChanges)
	t.Run("a Rollout rolls back a canary with errors", e.rollback)
}

// helmInstall installs the chart unchanged but for imagePullPolicy (the
// images are in containerd already), with NetworkPolicies and a quick
// autoscaler.
func (e *env) helmInstall(t *testing.T) {
	root, err := framework.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(e.c.BinDir, "helm"), "upgrade", "--install", "ramp", "charts/ramp",
		"--namespace", "ramp-system", "--create-namespace", "--kubeconfig", e.c.Kubeconfig(),
		"--set", "image.pullPolicy=Never", "--set", "gateway.hostPort=8080", "--set", "gateway.service.type=ClusterIP",
		"--set", "networkPolicy.enabled=true",
		"--set", "autoscaler.stableWindow=6s", "--set", "autoscaler.scaleToZeroGracePeriod=2s",
		"--wait", "--timeout", "3m")
	cmd.Dir = root
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("helm install: %v\n%s", err, out.String())
	}
}

// get sends GET / with host through the node's gateway.
func (e *env) get(ctx context.Context, host string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.c.GatewayURL(), nil)
	if err != nil {
		return 0, "", err
	}
	req.Host = host
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	return resp.StatusCode, string(b), nil
}

// restrictedContainer is the sample app with the restricted profile's
// container settings.
func restrictedContainer(env ...corev1.EnvVar) servingv1.Container {
	return servingv1.Container{Image: sampleImage, Env: env, SecurityContext: &corev1.SecurityContext{
		AllowPrivilegeEscalation: ptr.To(false), RunAsNonRoot: ptr.To(true), ReadOnlyRootFilesystem: ptr.To(true),
		Capabilities:   &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}}
}

func service(ns, name string, annotations map[string]string, ctr servingv1.Container) *servingv1.Service {
	return &servingv1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: servingv1.ServiceSpec{ConfigurationSpec: servingv1.ConfigurationSpec{Template: servingv1.RevisionTemplateSpec{
			Metadata: servingv1.TemplateMeta{Annotations: annotations},
			Spec:     servingv1.RevisionSpec{Containers: []servingv1.Container{ctr}}}}},
	}
}

func (e *env) namespace(t *testing.T, name string, labels map[string]string) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	if err := e.cl.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
}

func (e *env) waitReady(t *testing.T, svc *servingv1.Service) {
	t.Helper()
	framework.Eventually(t, 2*time.Minute, func(ctx context.Context) error {
		if err := e.cl.Get(ctx, client.ObjectKeyFromObject(svc), svc); err != nil {
			return err
		}
		if !svc.Status.IsReady(svc.Generation) {
			return fmt.Errorf("service %s not ready: %+v", svc.Name, svc.Status.Conditions)
		}
		return nil
	})
}

func (e *env) restricted(t *testing.T) {
	ctx := context.Background()
	// Given a namespace that enforces the restricted profile
	e.namespace(t, "secure", map[string]string{"pod-security.kubernetes.io/enforce": "restricted"})

	// When a pod that breaks it is created, Then the API server refuses it
	bad := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "secure", Name: "root"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: sampleImage, ImagePullPolicy: corev1.PullNever}}}}
	if err := e.cl.Create(ctx, bad); err == nil || !strings.Contains(err.Error(), "violates PodSecurity") {
		t.Fatalf("a pod without the restricted settings: %v, want refused by PodSecurity", err)
	}

	// When a Service's container has the restricted settings, Then its
	// revision pod (with the queue-proxy) is admitted, runs for real and
	// serves through the gateway pod
	svc := service("secure", "hello", nil, restrictedContainer(corev1.EnvVar{Name: "TARGET", Value: "restricted"}))
	if err := e.cl.Create(ctx, svc); err != nil {
		t.Fatal(err)
	}
	e.waitReady(t, svc)
	framework.Eventually(t, 60*time.Second, func(ctx context.Context) error {
		code, body, err := e.get(ctx, "hello.secure.example.com")
		if err != nil || code != http.StatusOK || body != "Hello restricted!\n" {
			return fmt.Errorf("GET through the gateway: %d %q %w", code, body, err)
		}
		return nil
	})
}

func (e *env) networkPolicies(t *testing.T) {
	var nps networkingv1.NetworkPolicyList
	if err := e.cl.List(context.Background(), &nps, client.InNamespace("ramp-system")); err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, np := range nps.Items {
		names[np.Name] = true
	}
	// The bridge CNI does not enforce them (docs/real-node.md): this
	// checks they are installed, not that packets are dropped.
	if len(names) < 2 {
		t.Fatalf("NetworkPolicies in ramp-system: %v, want the controller's and the gateway's", names)
	}
}

// pods counts the pods of a Service that still exist (terminating ones
// too).
func (e *env) pods(ctx context.Context, ns, name string) (int, error) {
	var pods corev1.PodList
	if err := e.cl.List(ctx, &pods, client.InNamespace(ns), client.MatchingLabels{"serving.ramp.dev/service": name}); err != nil {
		return 0, err
	}
	return len(pods.Items), nil
}

func (e *env) scaleFromZero(t *testing.T) {
	ctx := context.Background()
	e.namespace(t, "zero", nil)
	// Given a Service whose revision may scale to zero
	svc := service("zero", "sleepy", nil, restrictedContainer(corev1.EnvVar{Name: "TARGET", Value: "awake"}))
	if err := e.cl.Create(ctx, svc); err != nil {
		t.Fatal(err)
	}
	e.waitReady(t, svc)

	// When it gets no traffic, Then its pods go away
	framework.Eventually(t, 2*time.Minute, func(ctx context.Context) error {
		if n, err := e.pods(ctx, "zero", "sleepy"); err != nil || n != 0 {
			return fmt.Errorf("%d pods, want 0: %w", n, err)
		}
		return nil
	})
	zeroAt := time.Now()

	// When a request comes, Then the gateway holds it until a new pod is
	// up, and it succeeds
	code, body, err := e.get(ctx, "sleepy.zero.example.com")
	if err != nil || code != http.StatusOK || body != "Hello awake!\n" {
		t.Fatalf("the first request after scale to zero: %d %q %v", code, body, err)
	}
	var pods corev1.PodList
	if err := e.cl.List(ctx, &pods, client.InNamespace("zero"), client.MatchingLabels{"serving.ramp.dev/service": "sleepy"}); err != nil {
		t.Fatal(err)
	}
	woke := false
	for _, p := range pods.Items {
		woke = woke || !p.CreationTimestamp.Time.Before(zeroAt.Add(-time.Second))
	}
	if !woke {
		t.Errorf("the request succeeded without a pod created after the revision went to zero: %d pods", len(pods.Items))
	}

	// And without traffic it goes back to zero
	framework.Eventually(t, 2*time.Minute, func(ctx context.Context) error {
		if n, err := e.pods(ctx, "zero", "sleepy"); err != nil || n != 0 {
			return fmt.Errorf("%d pods, want 0 again: %w", n, err)
		}
		return nil
	})
}

func (e *env) weightChanges(t *testing.T) {
	ctx := context.Background()
	e.namespace(t, "split", nil)
	// Given two ready revisions of one Service
	svc := service("split", "web", map[string]string{"autoscaling.ramp.dev/min-scale": "1"},
		restrictedContainer(corev1.EnvVar{Name: "VERSION", Value: "v1"}))
	if err := e.cl.Create(ctx, svc); err != nil {
		t.Fatal(err)
	}
	e.waitReady(t, svc)
	e.update(t, svc, func(s *servingv1.Service) {
		s.Spec.Template.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "VERSION", Value: "v2"}}
		s.Spec.Traffic = servingv1.TrafficList{
			{RevisionName: "web-00001", Percent: ptr.To[int64](100)},
			{LatestRevision: ptr.To(true), Percent: ptr.To[int64](0)},
		}
	})
	e.waitReady(t, svc)

	// And bounded load through the gateway (one client, at most 2 minutes
	// or 20,000 requests)
	loadCtx, stop := context.WithTimeout(ctx, 2*time.Minute)
	defer stop()
	var sent, bad atomic.Int64
	var first atomic.Value
	var wg sync.WaitGroup
	wg.Go(func() {
		for loadCtx.Err() == nil && sent.Add(1) <= 20000 {
			code, body, err := e.get(loadCtx, "web.split.example.com")
			if loadCtx.Err() == nil && (err != nil || code < 200 || code > 299) {
				bad.Add(1)
				first.CompareAndSwap(nil, fmt.Sprintf("%d %q %v", code, body, err))
			}
		}
	})

	// When the split moves 10 times, each time waiting for the gateway
	for i, pct := range []int64{10, 30, 50, 70, 90, 100, 60, 20, 0, 50} {
		e.update(t, svc, func(s *servingv1.Service) {
			s.Spec.Traffic = servingv1.TrafficList{
				{RevisionName: "web-00001", Percent: ptr.To(100 - pct)},
				{LatestRevision: ptr.To(true), Percent: ptr.To(pct)},
			}
		})
		e.waitReady(t, svc)
		t.Logf("change %d: %d%% to the latest revision", i+1, pct)
	}
	stop()
	wg.Wait()

	// Then every request got a 2xx
	if n := bad.Load(); n > 0 {
		t.Fatalf("%d of %d requests failed during the weight changes; first: %v", n, sent.Load(), first.Load())
	}
	t.Logf("%d requests, all 2xx, through 10 weight changes", sent.Load())
}

// update applies change to svc with retries on conflict.
func (e *env) update(t *testing.T, svc *servingv1.Service, change func(*servingv1.Service)) {
	t.Helper()
	framework.Eventually(t, 30*time.Second, func(ctx context.Context) error {
		if err := e.cl.Get(ctx, client.ObjectKeyFromObject(svc), svc); err != nil {
			return err
		}
		change(svc)
		return e.cl.Update(ctx, svc)
	})
}

func (e *env) rollback(t *testing.T) {
	ctx := context.Background()
	e.namespace(t, "ro", nil)
	interval := &metav1.Duration{Duration: 2 * time.Second}
	ro := &rolloutsv1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ro", Name: "shop"},
		Spec: rolloutsv1alpha1.RolloutSpec{
			Template: servingv1.RevisionTemplateSpec{
				Metadata: servingv1.TemplateMeta{Annotations: map[string]string{"autoscaling.ramp.dev/min-scale": "1"}},
				Spec:     servingv1.RevisionSpec{Containers: []servingv1.Container{restrictedContainer(corev1.EnvVar{Name: "VERSION", Value: "v1"})}},
			},
			Strategy: rolloutsv1alpha1.Strategy{Canary: &rolloutsv1alpha1.CanaryStrategy{Steps: []rolloutsv1alpha1.CanaryStep{{Weight: ptr.To[int32](50)}}}},
			Analysis: &rolloutsv1alpha1.Analysis{Interval: interval, MinStepTime: &metav1.Duration{Duration: 5 * time.Second},
				Metrics: []rolloutsv1alpha1.Metric{{Name: "error-rate", Builtin: "errorRate"}}},
		},
	}
	// Given a Rollout whose first revision has all the traffic
	if err := e.cl.Create(ctx, ro); err != nil {
		t.Fatal(err)
	}
	e.waitPhase(t, ro, rolloutsv1alpha1.PhaseHealthy)

	// And bounded load on it
	loadCtx, stop := context.WithTimeout(ctx, 3*time.Minute)
	defer stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() {
		for i := 0; i < 30000 && loadCtx.Err() == nil; i++ {
			_, _, _ = e.get(loadCtx, "shop.ro.example.com")
			time.Sleep(2 * time.Millisecond)
		}
	})

	// When v2, which fails a third of its requests, rolls out
	framework.Eventually(t, 30*time.Second, func(ctx context.Context) error {
		if err := e.cl.Get(ctx, client.ObjectKeyFromObject(ro), ro); err != nil {
			return err
		}
		ro.Spec.Template.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "VERSION", Value: "v2"}, {Name: "ERROR_RATE", Value: "0.33"}}
		return e.cl.Update(ctx, ro)
	})

	// Then the analysis, on Ramp's own telemetry, rolls it back
	got := e.waitPhase(t, ro, rolloutsv1alpha1.PhaseRolledBack)
	stop()
	if got.Status.StableRevision != "shop-00001" {
		t.Errorf("stable after the rollback: %q, want shop-00001", got.Status.StableRevision)
	}
	t.Logf("rolled back: %s", got.Status.Message)
}

func (e *env) waitPhase(t *testing.T, ro *rolloutsv1alpha1.Rollout, phase rolloutsv1alpha1.Phase) *rolloutsv1alpha1.Rollout {
	t.Helper()
	got := &rolloutsv1alpha1.Rollout{}
	framework.Eventually(t, 3*time.Minute, func(ctx context.Context) error {
		if err := e.cl.Get(ctx, client.ObjectKeyFromObject(ro), got); err != nil {
			return err
		}
		if got.Status.ObservedGeneration != got.Generation || got.Status.Phase != phase {
			return fmt.Errorf("phase %s, want %s: %s", got.Status.Phase, phase, got.Status.Message)
		}
		return nil
	})
	return got
}
