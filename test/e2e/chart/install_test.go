// Package chart installs Ramp with its Helm chart on a fresh local cluster
// and checks the production install path: every pod Ready under its own
// ServiceAccount, traffic through the chart's gateway, an upgrade that rolls
// the controller while serving continues, controllers killed mid-step and
// mid-rollback, and an uninstall that leaves only the CRDs.
package chart

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rolloutsv1alpha1 "github.com/rampdev/ramp/apis/rollouts/v1alpha1"
	servingv1 "github.com/rampdev/ramp/apis/serving/v1"
	"github.com/rampdev/ramp/controllers/manager"
	"github.com/rampdev/ramp/test/framework"
)

const ns = "ramp-system"

func helm(t *testing.T, c *framework.Cluster, args ...string) string {
	t.Helper()
	root, err := framework.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(c.BinDir, "helm"), append(args, "--kubeconfig", c.Kubeconfig())...)
	cmd.Dir = root
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("helm %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

func TestHelmInstallUpgradeUninstall(t *testing.T) {
	ctx := context.Background()
	c, err := framework.StartCluster(ctx, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Stop(t.Failed()) })
	cl, err := client.New(c.Config, client.Options{Scheme: manager.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	hostPort := framework.FreePort(t)
	install := []string{"upgrade", "--install", "ramp", "charts/ramp", "--namespace", ns, "--create-namespace",
		"--set", "gateway.hostPort=" + strconv.Itoa(hostPort), "--set", "gateway.service.type=ClusterIP",
		"--wait", "--timeout", "3m"}

	// When the chart is installed with local image values
	helm(t, c, install...)

	// Then every pod is Ready and runs as its chart-defined ServiceAccount
	var pods corev1.PodList
	if err := cl.List(ctx, &pods, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	wantSA := map[string]string{"controller": "ramp-controller", "gateway": "ramp-gateway"}
	seen := map[string]bool{}
	for i := range pods.Items {
		p := &pods.Items[i]
		comp := p.Labels["app.kubernetes.io/component"]
		if !framework.PodReady(p) || p.Spec.ServiceAccountName != wantSA[comp] {
			t.Fatalf("pod %s (%s): ready=%v serviceAccount=%q, want Ready as %q", p.Name, comp, framework.PodReady(p), p.Spec.ServiceAccountName, wantSA[comp])
		}
		seen[comp] = true
	}
	if !seen["controller"] || !seen["gateway"] {
		t.Fatalf("components running: %v, want controller and gateway", seen)
	}

	// And the admission webhook refuses what CEL cannot check, naming the field
	expectWebhookRefusals(ctx, t, cl)

	// And a Service deployed through the API serves through the chart's gateway
	svc := &servingv1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "hello"},
		Spec: servingv1.ServiceSpec{ConfigurationSpec: servingv1.ConfigurationSpec{Template: servingv1.RevisionTemplateSpec{
			Spec: servingv1.RevisionSpec{Containers: []servingv1.Container{{Image: "ramp/sampleapp:v1",
				Env: []corev1.EnvVar{{Name: "TARGET", Value: "chart"}}}}}}}},
	}
	if err := cl.Create(ctx, svc); err != nil {
		t.Fatal(err)
	}
	url := fmt.Sprintf("http://127.0.0.1:%d/", hostPort)
	get := func(ctx context.Context) (int, string, error) { return getHost(ctx, url, "hello.default.example.com") }
	framework.Eventually(t, 90*time.Second, func(ctx context.Context) error {
		if err := cl.Get(ctx, client.ObjectKeyFromObject(svc), svc); err != nil {
			return err
		}
		if !svc.Status.IsReady(svc.Generation) {
			return fmt.Errorf("service not ready: %+v", svc.Status.Conditions)
		}
		code, body, err := get(ctx)
		if err != nil || code != 200 || body != "Hello chart!\n" {
			return fmt.Errorf("GET through the gateway: %d %q %w", code, body, err)
		}
		return nil
	})

	// Given a Rollout at v1 (its first revision goes straight to 100%)
	ro := webRollout("v1")
	if err := cl.Create(ctx, ro); err != nil {
		t.Fatal(err)
	}
	waitRollout(t, cl, ro, rolloutsv1alpha1.PhaseHealthy, 2*time.Minute)
	web := func(ctx context.Context) (int, string, error) { return getHost(ctx, url, "web.default.example.com") }
	framework.Eventually(t, 60*time.Second, func(ctx context.Context) error {
		code, body, err := web(ctx)
		if err != nil || code != 200 {
			return fmt.Errorf("GET web: %d %q %w", code, body, err)
		}
		return nil
	})

	// And bounded load on it (one client, at most 5 minutes or 100,000
	// requests, loopback only)
	loadCtx, stopLoad := context.WithTimeout(ctx, 5*time.Minute)
	defer stopLoad()
	var sent, failed atomic.Int64
	var firstFailure atomic.Value
	var wg sync.WaitGroup
	wg.Go(func() {
		for loadCtx.Err() == nil && sent.Add(1) <= 100000 {
			code, _, err := web(loadCtx)
			if loadCtx.Err() == nil && (err != nil || code != 200) {
				failed.Add(1)
				firstFailure.CompareAndSwap(nil, fmt.Sprintf("%d %v", code, err))
			}
			time.Sleep(5 * time.Millisecond)
		}
	})

	// When v2 starts rolling out
	framework.Eventually(t, 30*time.Second, func(ctx context.Context) error {
		if err := cl.Get(ctx, client.ObjectKeyFromObject(ro), ro); err != nil {
			return err
		}
		ro.Spec.Template = webRollout("v2").Spec.Template
		return cl.Update(ctx, ro)
	})
	waitStep(t, cl, ro, 0)

	// And the chart is upgraded with a changed value mid-rollout
	before := controllerPod(t, cl)
	helm(t, c, append(install, "--set", "controller.logLevel=debug")...)
	framework.Eventually(t, 90*time.Second, func(context.Context) error {
		if after := controllerPod(t, cl); after == "" || after == before {
			return fmt.Errorf("controller pod still %q", before)
		}
		return nil
	})

	// And the new controller is killed (SIGKILL) between two steps, once
	// it has reported step 2 (so the count below is not short of an event
	// the kill could lose)
	waitStep(t, cl, ro, 1)
	framework.Eventually(t, 30*time.Second, func(ctx context.Context) error {
		if n := stepEvents(ctx, t, cl)["Started step 2/"]; n == 0 {
			return fmt.Errorf("no StepStarted event for step 2 yet")
		}
		return nil
	})
	t.Logf("killed controller pod %s at step 2", killController(ctx, t, cl))

	// Then the rollout survives both and finishes, with each step run once
	done := waitRollout(t, cl, ro, rolloutsv1alpha1.PhaseHealthy, 4*time.Minute)
	if done.Status.StableRevision != "web-00002" {
		t.Errorf("stable revision %q after the rollout, want web-00002", done.Status.StableRevision)
	}
	started := stepEvents(ctx, t, cl)
	if len(started) != 3 {
		t.Errorf("steps started for web-00002: %v, want each of the 3 steps", started)
	}
	for step, n := range started {
		if n != 1 {
			t.Errorf("%q happened %d times: a step was run twice", step, n)
		}
	}
	// And serving never stopped
	stopLoad()
	wg.Wait()
	t.Logf("%d requests through the gateway during the rollout, the upgrade and the kill", sent.Load())
	if n := failed.Load(); n > 0 {
		t.Fatalf("%d of %d requests failed; first: %v", n, sent.Load(), firstFailure.Load())
	}

	// And a controller killed between recording a rollback and moving the
	// traffic finishes the move once, after it restarts
	killWhileRollingBack(ctx, t, cl, ro, web)

	// And the internal APIs authenticate their callers with the chart's
	// tokens (apiauth_test.go)
	checkInternalAuth(ctx, t, c, cl, get)

	// When the chart is uninstalled
	helm(t, c, "uninstall", "ramp", "--namespace", ns, "--wait", "--timeout", "2m")

	// Then nothing of the release is left but the CRDs
	framework.Eventually(t, 60*time.Second, func(ctx context.Context) error {
		var left []string
		for _, list := range []client.ObjectList{&appsv1.DeploymentList{}, &corev1.ServiceAccountList{}, &corev1.ConfigMapList{}, &corev1.ServiceList{}} {
			if err := cl.List(ctx, list, client.InNamespace(ns), client.MatchingLabels{"app.kubernetes.io/instance": "ramp"}); err != nil {
				return err
			}
			for _, o := range objects(list) {
				left = append(left, fmt.Sprintf("%T %s", o, o.GetName()))
			}
		}
		var pods corev1.PodList
		if err := cl.List(ctx, &pods, client.InNamespace(ns)); err != nil {
			return err
		}
		for _, p := range pods.Items {
			left = append(left, "pod "+p.Name)
		}
		if len(left) > 0 {
			return fmt.Errorf("left behind: %v", left)
		}
		return nil
	})
	crdScheme := manager.Scheme()
	_ = apiextensionsv1.AddToScheme(crdScheme)
	crdClient, _ := client.New(c.Config, client.Options{Scheme: crdScheme})
	for _, name := range []string{"services.serving.ramp.dev", "configurations.serving.ramp.dev",
		"revisions.serving.ramp.dev", "routes.serving.ramp.dev", "rollouts.rollouts.ramp.dev"} {
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := crdClient.Get(ctx, types.NamespacedName{Name: name}, crd); err != nil {
			t.Fatalf("CRD %s is gone after uninstall (it must be kept): %v", name, err)
		}
	}
}

// killController deletes the Ready controller pod with no grace period (a
// SIGKILL on the local node) and returns its name.
func killController(ctx context.Context, t *testing.T, cl client.Client) string {
	t.Helper()
	victim := controllerPod(t, cl)
	var pod corev1.Pod
	if err := cl.Get(ctx, types.NamespacedName{Namespace: ns, Name: victim}, &pod); err != nil {
		t.Fatal(err)
	}
	if err := cl.Delete(ctx, &pod, client.GracePeriodSeconds(0)); err != nil {
		t.Fatal(err)
	}
	return victim
}

func controllerPod(t *testing.T, cl client.Client) string {
	t.Helper()
	var pods corev1.PodList
	if err := cl.List(context.Background(), &pods, client.InNamespace(ns),
		client.MatchingLabels{"app.kubernetes.io/component": "controller"}); err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		if framework.PodReady(&p) && p.DeletionTimestamp == nil {
			return p.Name
		}
	}
	return ""
}

func objects(list client.ObjectList) []client.Object {
	var out []client.Object
	switch l := list.(type) {
	case *appsv1.DeploymentList:
		for i := range l.Items {
			out = append(out, &l.Items[i])
		}
	case *corev1.ServiceAccountList:
		for i := range l.Items {
			out = append(out, &l.Items[i])
		}
	case *corev1.ConfigMapList:
		for i := range l.Items {
			out = append(out, &l.Items[i])
		}
	case *corev1.ServiceList:
		for i := range l.Items {
			out = append(out, &l.Items[i])
		}
	}
	return out
}

// getHost sends GET url with the given Host header.
func getHost(ctx context.Context, url, host string) (int, string, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	req.Host = host
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return resp.StatusCode, b.String(), nil
}

// webRollout is the Rollout "web" of the sample app at version: three
// steps (20% and 50%, each held 15 s once passed, then 80%), judged by the
// sequential error-rate test (with a 1% guard rail) after at least 5 s
// each. The last step is not 100%: a step is judged canary against
// stable, and at 100% the stable gets no traffic to compare with.
func webRollout(version string) *rolloutsv1alpha1.Rollout {
	pause := &metav1.Duration{Duration: 15 * time.Second}
	limit := rolloutsv1alpha1.Threshold("1%")
	return &rolloutsv1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"},
		Spec: rolloutsv1alpha1.RolloutSpec{
			Template: servingv1.RevisionTemplateSpec{Spec: servingv1.RevisionSpec{Containers: []servingv1.Container{{
				Image: "ramp/sampleapp:" + version,
				Env:   []corev1.EnvVar{{Name: "VERSION", Value: version}},
			}}}},
			Strategy: rolloutsv1alpha1.Strategy{Canary: &rolloutsv1alpha1.CanaryStrategy{Steps: []rolloutsv1alpha1.CanaryStep{
				{Weight: ptr.To[int32](20), Pause: pause}, {Weight: ptr.To[int32](50), Pause: pause}, {Weight: ptr.To[int32](80)},
			}}},
			Analysis: &rolloutsv1alpha1.Analysis{
				Interval:    &metav1.Duration{Duration: 2 * time.Second},
				MinStepTime: &metav1.Duration{Duration: 5 * time.Second}, MaxStepTime: &metav1.Duration{Duration: 5 * time.Minute},
				Metrics: []rolloutsv1alpha1.Metric{{Name: "error-rate", Builtin: "errorRate", Max: &limit}},
			},
		},
	}
}

// waitRollout waits until the Rollout's current generation reaches phase.
func waitRollout(t *testing.T, cl client.Client, ro *rolloutsv1alpha1.Rollout, phase rolloutsv1alpha1.Phase, within time.Duration) *rolloutsv1alpha1.Rollout {
	t.Helper()
	got := &rolloutsv1alpha1.Rollout{}
	framework.Eventually(t, within, func(ctx context.Context) error {
		if err := cl.Get(ctx, client.ObjectKeyFromObject(ro), got); err != nil {
			return err
		}
		if got.Status.ObservedGeneration != got.Generation || got.Status.Phase != phase {
			return fmt.Errorf("phase %s, want %s: %s", got.Status.Phase, phase, got.Status.Message)
		}
		return nil
	})
	return got
}

// waitStep waits until the Rollout of the current generation runs step i.
func waitStep(t *testing.T, cl client.Client, ro *rolloutsv1alpha1.Rollout, i int32) {
	t.Helper()
	framework.Eventually(t, 2*time.Minute, func(ctx context.Context) error {
		got := &rolloutsv1alpha1.Rollout{}
		if err := cl.Get(ctx, client.ObjectKeyFromObject(ro), got); err != nil {
			return err
		}
		if got.Status.ObservedGeneration != got.Generation || ptr.Deref(got.Status.CurrentStepIndex, -1) < i {
			return fmt.Errorf("phase %s step %v: %s", got.Status.Phase, got.Status.CurrentStepIndex, got.Status.Message)
		}
		return nil
	})
}

// stepEvents counts the StepStarted events of web-00002 by step ("Started
// step 2/"), summing each event's series count.
func stepEvents(ctx context.Context, t *testing.T, cl client.Client) map[string]int {
	t.Helper()
	var events eventsv1.EventList
	if err := cl.List(ctx, &events, client.InNamespace("default")); err != nil {
		t.Fatal(err)
	}
	started := map[string]int{}
	for _, e := range events.Items {
		if e.Regarding.Name != "web" || e.Reason != "StepStarted" || !strings.Contains(e.Note, "web-00002") {
			continue
		}
		step, _, _ := strings.Cut(e.Note, "/")
		n := 1
		if e.Series != nil {
			n = int(e.Series.Count)
		}
		started[step+"/"] += n
	}
	return started
}
