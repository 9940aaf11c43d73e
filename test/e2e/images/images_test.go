// Package images builds Ramp's OCI images with `ramp-images` (the code
// behind `make images`), pushes them and the chart to a registry running
// in this process, pulls them with podman and runs them for real, under
// the chart's restricted securityContext: the queue-proxy in front of the
// sample app, and the controller and the gateway against a local cluster.
// Traffic goes to loopback addresses only (the containers share the host
// network and bind 127.0.0.0/8).
package images

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	servingv1 "github.com/rampdev/ramp/apis/serving/v1"
	"github.com/rampdev/ramp/controllers/manager"
	"github.com/rampdev/ramp/serving/gateway"
	"github.com/rampdev/ramp/serving/queue"
	"github.com/rampdev/ramp/test/framework"
)

const version = "0.1.0" // the chart's appVersion (checked below)

// env is what the whole test shares: the images built once and a registry
// that holds them.
type env struct {
	root, bin, dir string
	registry       string // 127.0.0.1:port/rampdev
	digests        map[string]string
	podman         *podman
}

func TestImages(t *testing.T) {
	ctx := context.Background()
	p := newPodman(t)
	e := setup(ctx, t, p)

	t.Run("the same commit builds the same digests", func(t *testing.T) { e.reproducible(ctx, t) })
	t.Run("the chart is pushed as an OCI artifact", func(t *testing.T) { e.chart(ctx, t) })
	t.Run("the queue-proxy image serves the sample app image", func(t *testing.T) { e.queueProxy(ctx, t) })
	t.Run("the controller image prints its usage and version", func(t *testing.T) { e.controllerHelp(ctx, t) })
	t.Run("the controller and gateway images serve a Service of the local cluster", func(t *testing.T) { e.onCluster(ctx, t) })
}

// setup builds every image for this machine's platform, starts a registry
// on loopback, pushes the images with `ramp-images push`, and pulls them
// with podman.
func setup(ctx context.Context, t *testing.T, p *podman) *env {
	root, err := framework.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin, err := framework.BinDir()
	if err != nil {
		t.Fatal(err)
	}
	if v := chartAppVersion(t, root); v != version {
		t.Fatalf("the chart's appVersion is %s; update this test's version (%s)", v, version)
	}
	e := &env{root: root, bin: bin, dir: t.TempDir(), podman: p}
	start := time.Now()
	out := e.buildImages(ctx, t, filepath.Join(e.dir, "images"), nil)
	t.Logf("built the images in %s:\n%s", time.Since(start).Round(time.Second), out)
	e.digests = readDigests(t, filepath.Join(e.dir, "images"))
	for _, name := range []string{"controller", "gateway", "queue", "sampleapp"} {
		if e.digests[name] == "" {
			t.Fatalf("no %s image in the layout: %v", name, e.digests)
		}
	}

	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	e.registry = strings.TrimPrefix(srv.URL, "http://") + "/rampdev"
	pushed := e.run(ctx, t, nil, filepath.Join(bin, "ramp-images"), "push", "--from", filepath.Join(e.dir, "images"), "--registry", e.registry)
	for name, d := range e.digests {
		if want := fmt.Sprintf("pushed %s/%s:%s@%s", e.registry, name, version, d); !strings.Contains(pushed, want) {
			t.Fatalf("push output lacks %q:\n%s", want, pushed)
		}
	}
	for name := range e.digests {
		p.must(ctx, "pull", "--quiet", "--tls-verify=false", e.image(name))
	}
	return e
}

// buildImages runs ramp-images build for this machine's platform into out.
func (e *env) buildImages(ctx context.Context, t *testing.T, out string, extraEnv []string, only ...string) string {
	t.Helper()
	args := []string{"build", "--root", e.root, "--out", out, "--platforms", "linux/" + runtime.GOARCH}
	if len(only) > 0 {
		args = append(args, "--only", strings.Join(only, ","))
	}
	return e.run(ctx, t, extraEnv, filepath.Join(e.bin, "ramp-images"), args...)
}

func (e *env) image(name string) string { return e.registry + "/" + name + ":" + version }

func (e *env) run(ctx context.Context, t *testing.T, extraEnv []string, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 15*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = e.root
	cmd.Env = append(os.Environ(), extraEnv...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

// reproducible builds the sample app's image again, with an empty Go build
// cache, and compares the digests.
func (e *env) reproducible(ctx context.Context, t *testing.T) {
	again := filepath.Join(e.dir, "again")
	e.buildImages(ctx, t, again, []string{"GOCACHE=" + filepath.Join(e.dir, "gocache")}, "sampleapp")
	if d := readDigests(t, again)["sampleapp"]; d != e.digests["sampleapp"] {
		t.Fatalf("sampleapp built twice from one commit: %s, then %s with a cold build cache", e.digests["sampleapp"], d)
	}
}

// chart packages the chart, pushes it with helm push and reads it back.
func (e *env) chart(ctx context.Context, t *testing.T) {
	helmHome := filepath.Join(e.dir, "helm")
	henv := []string{"HELM_CONFIG_HOME=" + helmHome, "HELM_CACHE_HOME=" + helmHome + "/cache", "HELM_DATA_HOME=" + helmHome + "/data"}
	helm := filepath.Join(e.bin, "helm")
	pkgDir := filepath.Join(e.dir, "charts")
	e.run(ctx, t, henv, helm, "package", "charts/ramp", "--destination", pkgDir)
	repo := "oci://" + e.registry + "/charts"
	e.run(ctx, t, henv, helm, "push", filepath.Join(pkgDir, "ramp-"+version+".tgz"), repo, "--plain-http")
	shown := e.run(ctx, t, henv, helm, "show", "chart", repo+"/ramp", "--version", version, "--plain-http")
	if !strings.Contains(shown, "appVersion: "+version) {
		t.Fatalf("helm show chart of the pushed chart:\n%s", shown)
	}
}

// queueProxy runs the sample app and the queue-proxy in front of it, and
// sends requests through the queue-proxy.
func (e *env) queueProxy(ctx context.Context, t *testing.T) {
	p := e.podman
	app, serving, admin, metrics := framework.FreePort(t), framework.FreePort(t), framework.FreePort(t), framework.FreePort(t)
	p.start(ctx, "sampleapp", e.image("sampleapp"), map[string]string{"PORT": strconv.Itoa(app), "TARGET": "image"}, nil)
	p.start(ctx, "queue", e.image("queue"), map[string]string{
		queue.EnvServingPort: strconv.Itoa(serving), queue.EnvAdminPort: strconv.Itoa(admin), queue.EnvMetricsPort: strconv.Itoa(metrics),
		queue.EnvUserPort: strconv.Itoa(app), queue.EnvRevision: "images-00001", queue.EnvPod: "images-00001-pod", queue.EnvPodIP: "127.0.0.1",
	}, nil)
	url := fmt.Sprintf("http://127.0.0.1:%d/", serving)
	framework.Eventually(t, 30*time.Second, func(ctx context.Context) error {
		code, body, err := framework.Get(ctx, url)
		if err != nil || code != 200 {
			return fmt.Errorf("GET %s: %d %q %w", url, code, body, err)
		}
		return nil
	})
	const n = 200
	for i := range n {
		code, body, err := framework.Get(ctx, url)
		if err != nil || code != 200 || body != "Hello image!\n" {
			t.Fatalf("request %d of %d through the queue-proxy: %d %q %v", i+1, n, code, body, err)
		}
	}
	p.checkRestricted(ctx, "sampleapp")
	p.checkRestricted(ctx, "queue")
}

// controllerHelp runs the controller image's --help and --version.
func (e *env) controllerHelp(ctx context.Context, t *testing.T) {
	p := e.podman
	run := append(append([]string{"run", "--rm"}, restricted...), e.image("controller"))
	help := p.must(ctx, append(run, "--help")...)
	for _, flag := range []string{"-queue-image", "-analysis-alpha", "-leader-elect"} {
		if !strings.Contains(help, flag) {
			t.Errorf("controller --help lacks %s:\n%s", flag, help)
		}
	}
	if v := p.must(ctx, append(run, "--version")...); !strings.HasPrefix(v, "ramp controller "+version+" (") {
		t.Errorf("controller --version: %q, want version %s and its revision", v, version)
	}
	gw := append(append([]string{"run", "--rm"}, restricted...), e.image("gateway"), "--version")
	if v := p.must(ctx, gw...); !strings.HasPrefix(v, "ramp gateway "+version) {
		t.Errorf("gateway --version: %q", v)
	}
}

// onCluster runs the controller image against a local cluster until it
// makes a Service Ready (its revision pod runs on the cluster's node agent,
// with the queue-proxy image the controller injects), then the gateway
// image, which routes a request by host to that revision.
func (e *env) onCluster(ctx context.Context, t *testing.T) {
	p := e.podman
	c, err := framework.StartCluster(ctx, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Stop(t.Failed()) })
	if err := c.InstallCRDs(ctx); err != nil {
		t.Fatal(err)
	}
	cl, err := client.New(c.Config, client.Options{Scheme: manager.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ramp-system"}}); err != nil {
		t.Fatal(err)
	}
	// The container's user (65532) must read the kubeconfig.
	kc, err := os.ReadFile(c.Kubeconfig())
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig := filepath.Join(e.dir, "kubeconfig")
	if err := os.WriteFile(kubeconfig, kc, 0o644); err != nil {
		t.Fatal(err)
	}
	mount := []string{kubeconfig + ":/etc/ramp/kubeconfig:ro"}
	kenv := map[string]string{"KUBECONFIG": "/etc/ramp/kubeconfig", "POD_NAMESPACE": "ramp-system"}

	// When the controller image runs against the cluster
	cenv := map[string]string{"POD_IP": c.AutoscalerIP()}
	for k, v := range kenv {
		cenv[k] = v
	}
	p.start(ctx, "controller", e.image("controller"), cenv, mount, "--leader-elect=false")

	// And a Service is created
	svc := &servingv1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "hello"},
		Spec: servingv1.ServiceSpec{ConfigurationSpec: servingv1.ConfigurationSpec{Template: servingv1.RevisionTemplateSpec{
			Spec: servingv1.RevisionSpec{Containers: []servingv1.Container{{Image: "ghcr.io/rampdev/sampleapp:" + version,
				Env: []corev1.EnvVar{{Name: "TARGET", Value: "cluster"}}}}}}}},
	}
	if err := cl.Create(ctx, svc); err != nil {
		t.Fatal(err)
	}

	// Then the controller makes it Ready, with its queue-proxy image
	framework.Eventually(t, 2*time.Minute, func(ctx context.Context) error {
		if err := cl.Get(ctx, client.ObjectKeyFromObject(svc), svc); err != nil {
			return err
		}
		if !svc.Status.IsReady(svc.Generation) {
			return fmt.Errorf("service not ready: %+v", svc.Status.Conditions)
		}
		return nil
	})
	pods, err := c.Pods(ctx, "default", map[string]string{"serving.ramp.dev/service": "hello"})
	if err != nil || len(pods) == 0 {
		t.Fatalf("pods of hello: %d, %v", len(pods), err)
	}
	images := map[string]string{}
	for _, ctr := range pods[0].Spec.Containers {
		images[ctr.Name] = ctr.Image
	}
	if images["queue-proxy"] != "ghcr.io/rampdev/queue:"+version {
		t.Errorf("revision pod containers %v, want the queue-proxy image ghcr.io/rampdev/queue:%s (the controller's default)", images, version)
	}

	// When the gateway image runs against the cluster
	p.start(ctx, "gateway", e.image("gateway"), kenv, mount, "--ip="+c.GatewayIP())

	// Then it routes a request by host to the revision
	url := fmt.Sprintf("http://%s:%d/", c.GatewayIP(), gateway.ExternalPort)
	framework.Eventually(t, 60*time.Second, func(ctx context.Context) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		req.Host = "hello.default.example.com"
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK || string(body) != "Hello cluster!\n" {
			return fmt.Errorf("GET through the gateway image: %d %q", resp.StatusCode, body)
		}
		return nil
	})
	p.checkRestricted(ctx, "controller")
	p.checkRestricted(ctx, "gateway")
}

// readDigests reads the layout's digests.txt into name → digest.
func readDigests(t *testing.T, dir string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "digests.txt"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, line := range strings.Fields(string(b)) {
		ref, digest, _ := strings.Cut(line, "@")
		repo, _, _ := strings.Cut(ref[strings.LastIndex(ref, "/")+1:], ":")
		out[repo] = digest
	}
	return out
}

func chartAppVersion(t *testing.T, root string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "charts", "ramp", "Chart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "appVersion:"); ok {
			return strings.Trim(strings.TrimSpace(v), `"`)
		}
	}
	t.Fatal("Chart.yaml has no appVersion")
	return ""
}
