// Package chart installs Ramp with its Helm chart on a fresh local cluster
// and checks the production install path: every pod Ready under its own
// ServiceAccount, traffic through the chart's gateway, an upgrade that rolls
// the controller while serving continues, and an uninstall that leaves only
// the CRDs.
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
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

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
	get := func(ctx context.Context) (int, string, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		req.Host = "hello.default.example.com"
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		return resp.StatusCode, b.String(), nil
	}
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

	// When the chart is upgraded with a changed value, under bounded load
	before := controllerPod(t, cl)
	loadCtx, stopLoad := context.WithTimeout(ctx, 3*time.Minute)
	defer stopLoad()
	var sent, failed atomic.Int64
	var wg sync.WaitGroup
	wg.Go(func() {
		for loadCtx.Err() == nil && sent.Add(1) <= 100000 {
			code, _, err := get(loadCtx)
			if loadCtx.Err() == nil && (err != nil || code != 200) {
				failed.Add(1)
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
	helm(t, c, append(install, "--set", "controller.logLevel=debug")...)

	// Then the controller is rolled to a new pod, and serving never stopped
	framework.Eventually(t, 90*time.Second, func(context.Context) error {
		if after := controllerPod(t, cl); after == "" || after == before {
			return fmt.Errorf("controller pod still %q", before)
		}
		return nil
	})
	// And the new controller picks up a template change made after the upgrade
	framework.Eventually(t, 30*time.Second, func(ctx context.Context) error {
		if err := cl.Get(ctx, client.ObjectKeyFromObject(svc), svc); err != nil {
			return err
		}
		svc.Spec.Template.Spec.Containers[0].Env[0].Value = "upgraded"
		return cl.Update(ctx, svc)
	})
	framework.Eventually(t, 90*time.Second, func(ctx context.Context) error {
		code, body, err := get(ctx)
		if err != nil || code != 200 || body != "Hello upgraded!\n" {
			return fmt.Errorf("GET: %d %q %w", code, body, err)
		}
		return nil
	})
	stopLoad()
	wg.Wait()
	t.Logf("%d requests through the gateway during the upgrade", sent.Load())
	if n := failed.Load(); n > 0 {
		t.Fatalf("%d of %d requests failed during the upgrade", n, sent.Load())
	}

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
	for _, name := range []string{"services", "configurations", "revisions", "routes"} {
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := crdClient.Get(ctx, types.NamespacedName{Name: name + ".serving.ramp.dev"}, crd); err != nil {
			t.Fatalf("CRD %s.serving.ramp.dev is gone after uninstall (it must be kept): %v", name, err)
		}
	}
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
