package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rolloutsv1alpha1 "github.com/rampdev/ramp/apis/rollouts/v1alpha1"
	"github.com/rampdev/ramp/controllers/manager"
	"github.com/rampdev/ramp/test/framework"
)

// chromium finds Debian's chromium (make test installs it as root), or
// skips the test saying why.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no Chromium on this machine: the browser e2e needs Debian's chromium package, which `make test` installs with apt-get when it runs as root (make browser)")
	return ""
}

// browser starts a headless Chromium for the test.
func browser(t *testing.T) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.WindowSize(1280, 1800), chromedp.UserDataDir(t.TempDir()))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("starting Chromium: %v", err)
	}
	return bctx
}

// startDashboard runs the built `ramp dashboard` with kubeconfig and extra
// flags on a free loopback port and returns its URL.
func startDashboard(t *testing.T, kubeconfig string, args ...string) string {
	t.Helper()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(framework.FreePort(t)))
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, filepath.Join(cluster.BinDir, "ramp"), append([]string{"dashboard", "--address", addr, "--interval", "1s"}, args...)...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var errOut strings.Builder
	cmd.Stderr = &errOut
	if err := cmd.Start(); err != nil {
		t.Fatalf("the ramp CLI is not built (make build)? %v", err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("ramp dashboard's standard error:\n%s", errOut.String())
		}
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "Ramp dashboard on http://"+addr+"/") {
		t.Fatalf("ramp dashboard printed %q (%v); standard error:\n%s", line, err, errOut.String())
	}
	go func() { _, _ = io.Copy(io.Discard, out) }()
	return "http://" + addr + "/"
}

// waitJS polls a JavaScript condition in the page until it is true.
func waitJS(ctx context.Context, t *testing.T, what, expr string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	var last error
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
		if last = err; err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the page did not show %s within %s (last error %v)", what, within, last)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func evalJS[T any](ctx context.Context, t *testing.T, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluating %s: %v", expr, err)
	}
	return v
}

// screenshot saves the page as _out/<name>.png.
func screenshot(ctx context.Context, t *testing.T, name string) {
	t.Helper()
	root, err := framework.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	dir := filepath.Join(root, "_out")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s (%d bytes)", path, len(png))
}

// pointsOf is the number of points a chart plots for a series.
func pointsOf(ctx context.Context, t *testing.T, chart, series string) int {
	t.Helper()
	return evalJS[int](ctx, t, fmt.Sprintf(`(JSON.parse(document.getElementById(%q).dataset.points || "{}")[%q] || 0)`, chart, series))
}

func TestDashboardShowsARolloutLiveAndPromotesIt(t *testing.T) {
	bctx := browser(t)
	ns := cluster.Namespace(t)
	const name = "web"
	host := name + "." + ns + ".example.com"
	ctx := context.Background()

	// Given a Healthy Rollout whose next rollout goes to 20%, then waits
	// for an approval
	ro := canaryRollout(ns, name, sampleTemplate("v1", latency(quickLatency)), weight(20),
		rolloutsv1alpha1.CanaryStep{Approval: &rolloutsv1alpha1.Approval{}})
	ro.Spec.Analysis = stepTimes(10*time.Second, 5*time.Minute)
	if err := cluster.Client.Create(ctx, ro); err != nil {
		t.Fatal(err)
	}
	waitPhase(t, ns, name, rolloutsv1alpha1.PhaseHealthy, 90*time.Second)
	waitProgrammed(t, ns, name)
	load := startVersionLoad(host, 4, 4*time.Minute)
	defer load.stop()
	url := startDashboard(t, cluster.Kubeconfig(), "--autoscaler-url", cluster.AutoscalerURL())

	// When v2 rolls out under load
	setTemplate(t, ns, name, sampleTemplate("v2", latency(quickLatency)))

	// Then the list shows it Progressing
	row := fmt.Sprintf(`document.querySelector('tr[data-rollout="%s/%s"]')`, ns, name)
	if err := chromedp.Do(bctx, chromedp.Navigate(url)); err != nil {
		t.Fatal(err)
	}
	waitJS(bctx, t, "the rollout Progressing in the list", row+` && `+row+`.textContent.includes("Progressing")`, 90*time.Second)
	screenshot(bctx, t, "dashboard-list")

	// And its page shows canary and stable series, with points arriving
	// live
	if err := chromedp.Do(bctx, chromedp.Click(chromedp.CSS(fmt.Sprintf(`tr[data-rollout="%s/%s"] a`, ns, name)))); err != nil {
		t.Fatal(err)
	}
	waitJS(bctx, t, "the rollout's page", `document.getElementById("detail-title").textContent.includes("`+ns+`/`+name+`")`, 10*time.Second)
	waitJS(bctx, t, "canary and stable error-rate points",
		`(p => p.canary >= 2 && p.stable >= 2)(JSON.parse(document.getElementById("errors-chart").dataset.points || "{}"))`, 60*time.Second)
	canary, stable := pointsOf(bctx, t, "errors-chart", "canary"), pointsOf(bctx, t, "errors-chart", "stable")
	waitJS(bctx, t, "new points arriving", fmt.Sprintf(`(p => p.canary >= %d && p.stable >= %d)(JSON.parse(document.getElementById("errors-chart").dataset.points))`,
		canary+3, stable+3), 30*time.Second)
	waitJS(bctx, t, "15 points of each", `(p => p.canary >= 15 && p.stable >= 15)(JSON.parse(document.getElementById("errors-chart").dataset.points))`, 60*time.Second)
	screenshot(bctx, t, "dashboard-progress")
	if n := pointsOf(bctx, t, "latency-chart", "canary p90"); n < 2 {
		t.Errorf("the latency chart plots %d canary p90 points", n)
	}

	// And a look marker and the look list carry the evidence
	waitJS(bctx, t, "a look with its evidence", `!!document.querySelector("#errors-chart .look title") && !!document.querySelector("#looks .evidence")`, 60*time.Second)
	evidence := evalJS[string](bctx, t, `document.querySelector("#looks .evidence").textContent`)
	marker := evalJS[string](bctx, t, `document.querySelector("#errors-chart .look title").textContent`)
	for _, want := range []string{"canary", "stable", "n=", "pts [", "e="} { // counts, interval, statistic
		if !strings.Contains(evidence, want) || !strings.Contains(marker, want) {
			t.Errorf("evidence %q / marker %q lacks %q", evidence, marker, want)
		}
	}
	waitJS(bctx, t, "the current step in the timeline", `!!document.querySelector('#timeline li[data-state="current"]')`, 30*time.Second)

	// When Promote is clicked and confirmed
	waitJS(bctx, t, "an enabled Promote button", `!document.querySelector('button[data-action="promote"]').disabled`, 10*time.Second)
	if err := chromedp.Do(bctx, chromedp.Click(chromedp.CSS(`button[data-action="promote"]`))); err != nil {
		t.Fatal(err)
	}
	waitJS(bctx, t, "the confirmation", `document.getElementById("confirm").open && document.getElementById("confirm-text").textContent.includes("Promote")`, 5*time.Second)
	if st := evalJS[string](bctx, t, `document.getElementById("action-status").textContent`); st != "" {
		t.Fatalf("the action ran before its confirmation: %q", st)
	}
	screenshot(bctx, t, "dashboard-confirm")
	if err := chromedp.Do(bctx, chromedp.Click(chromedp.CSS(`#confirm-ok`))); err != nil {
		t.Fatal(err)
	}

	// Then the controller promotes the Rollout, and the page says so
	waitJS(bctx, t, "the promote result", `document.getElementById("action-status").dataset.result === "applied"`, 30*time.Second)
	done := waitPhase(t, ns, name, rolloutsv1alpha1.PhaseHealthy, 60*time.Second)
	if done.Status.StableRevision != name+"-00002" || done.Status.LastAction == nil || done.Status.LastAction.Action != "promote" ||
		!strings.HasSuffix(done.Status.LastAction.By, "(dashboard)") {
		t.Errorf("after Promote: stable %s, last action %+v", done.Status.StableRevision, done.Status.LastAction)
	}
	waitJS(bctx, t, "Healthy on the page", `document.getElementById("phase").textContent === "Healthy"`, 10*time.Second)
	screenshot(bctx, t, "dashboard-rollout")
	ok, bad, _ := load.snapshot()
	if len(bad) > 0 {
		t.Errorf("clients saw failures during the rollout: ok %v, bad %v", ok, bad)
	}

	// And a user who may not patch Rollouts sees the buttons disabled,
	// saying why
	viewer := viewerKubeconfig(t, ns)
	vurl := startDashboard(t, viewer, "-n", ns, "--autoscaler-url", cluster.AutoscalerURL())
	vctx, cancel := chromedp.NewContext(bctx)
	defer cancel()
	if err := chromedp.Do(vctx, chromedp.Navigate(vurl+"#/r/"+ns+"/"+name)); err != nil {
		t.Fatal(err)
	}
	waitJS(vctx, t, "the viewer's buttons", `document.querySelectorAll("#actions button").length === 4`, 30*time.Second)
	if n := evalJS[int](vctx, t, `[...document.querySelectorAll("#actions button")].filter(b => !b.disabled).length`); n != 0 {
		t.Errorf("%d buttons enabled for a user without patch", n)
	}
	if note := evalJS[string](vctx, t, `document.getElementById("actions-note").textContent`); !strings.Contains(note, "may not patch rollouts.rollouts.ramp.dev") {
		t.Errorf("the disabled buttons' explanation: %q", note)
	}
}

// viewerKubeconfig is a kubeconfig of ServiceAccount viewer in ns, which
// may read Rollouts, their Revisions, Routes, pods and events, and patch
// nothing.
func viewerKubeconfig(t *testing.T, ns string) string {
	t.Helper()
	ctx := context.Background()
	c := cluster.Client
	objs := []client.Object{
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "viewer"}},
		&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "viewer"}, Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{"rollouts.ramp.dev"}, Resources: []string{"rollouts"}, Verbs: []string{"get", "list", "watch"}},
			{APIGroups: []string{"serving.ramp.dev"}, Resources: []string{"revisions", "routes"}, Verbs: []string{"get", "list"}},
			{APIGroups: []string{""}, Resources: []string{"pods", "events"}, Verbs: []string{"list"}},
		}},
		&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "viewer"},
			RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "viewer"},
			Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "viewer", Namespace: ns}}},
	}
	for _, o := range objs {
		if err := c.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	tr := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}}
	if err := c.SubResource("token").Create(ctx, objs[0], tr); err != nil {
		t.Fatal(err)
	}
	return writeTokenKubeconfig(t, cluster.Config, "viewer", tr.Status.Token, ns)
}

// writeTokenKubeconfig writes a kubeconfig for cfg's server with a bearer
// token (or, token empty, cfg's own credentials).
func writeTokenKubeconfig(t *testing.T, cfg *rest.Config, user, token, ns string) string {
	t.Helper()
	kc := clientcmdapi.NewConfig()
	kc.Clusters["e2e"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData, CertificateAuthority: cfg.CAFile}
	auth := &clientcmdapi.AuthInfo{Token: token}
	if token == "" {
		auth = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData, ClientCertificate: cfg.CertFile,
			ClientKey: cfg.KeyFile, Token: cfg.BearerToken}
	}
	kc.AuthInfos[user] = auth
	kc.Contexts["e2e"] = &clientcmdapi.Context{Cluster: "e2e", AuthInfo: user, Namespace: ns}
	kc.CurrentContext = "e2e"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestDashboardListsAndUpdates200Rollouts lists 200 Rollouts whose
// status changes 20 times a second, on an API server of its own (no
// controller acts on them), checks the page follows and filters them, and
// reports its render time per update. The time is a goal only when
// RAMP_DASHBOARD_GOAL_MS is set (make bench-dashboard): timed assertions
// do not belong in make test.
func TestDashboardListsAndUpdates200Rollouts(t *testing.T) {
	bctx := browser(t)
	root, err := framework.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	env := framework.StartEnvtest(t, manager.Scheme(), filepath.Join(root, "charts", "ramp", "templates", "crds"))
	ctx := context.Background()
	const ns, n = "many", 200
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	var ros []*rolloutsv1alpha1.Rollout
	for i := range n {
		ro := canaryRollout(ns, fmt.Sprintf("svc-%03d", i), sampleTemplate("v2"), weight(10), weight(50))
		if err := env.Client.Create(ctx, ro); err != nil {
			t.Fatal(err)
		}
		ro.Status = rolloutsv1alpha1.RolloutStatus{Phase: rolloutsv1alpha1.PhaseProgressing, StableRevision: ro.Name + "-00001",
			CanaryRevision: ro.Name + "-00002", CurrentStepIndex: ptr.To[int32](0), CanaryWeight: 10}
		if err := env.Client.Status().Update(ctx, ro); err != nil {
			t.Fatal(err)
		}
		ros = append(ros, ro)
	}
	token := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(token, []byte("unused"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Telemetry goes nowhere: a closed loopback port.
	url := startDashboard(t, writeTokenKubeconfig(t, env.Config, "admin", "", ns),
		"--autoscaler-url", "http://127.0.0.1:"+strconv.Itoa(framework.FreePort(t)), "--token-file", token)
	if err := chromedp.Do(bctx, chromedp.Navigate(url)); err != nil {
		t.Fatal(err)
	}
	waitJS(bctx, t, "200 rows", `document.querySelectorAll("#rollouts tbody tr").length === 200`, 30*time.Second)
	before := evalJS[int](bctx, t, `window.rampStats.samples.length`)

	// When 20 statuses a second change for 10 seconds
	rng := rand.New(rand.NewPCG(1, 2))
	end := time.Now().Add(10 * time.Second)
	changes, last := 0, ros[0]
	for time.Now().Before(end) {
		ro := ros[rng.IntN(n)]
		ro.Status.CanaryWeight = 10 + int32(rng.IntN(40))
		if err := env.Client.Status().Update(ctx, ro); err != nil {
			_ = env.Client.Get(ctx, client.ObjectKeyFromObject(ro), ro) // a conflict: read it again
			continue
		}
		changes++
		last = ro
		time.Sleep(50 * time.Millisecond)
	}

	// Then the page shows the last change, having updated about twice a
	// second
	waitJS(bctx, t, "the last change", fmt.Sprintf(`document.querySelector('tr[data-rollout="%s/%s"]').cells[4].textContent === "%d%%"`,
		ns, last.Name, last.Status.CanaryWeight), 10*time.Second)
	samples := evalJS[[]float64](bctx, t, fmt.Sprintf(`window.rampStats.samples.slice(%d)`, before))
	if len(samples) < 10 {
		t.Errorf("only %d page updates for %d changes in 10 s", len(samples), changes)
	}
	slices.Sort(samples)
	q := func(p float64) float64 { return samples[min(len(samples)-1, int(p*float64(len(samples))))] }
	t.Logf("200 Rollouts, %d status changes in 10 s: %d page updates; render time per update p50 %.1f ms, p90 %.1f ms, max %.1f ms",
		changes, len(samples), q(0.5), q(0.9), samples[len(samples)-1])
	if goal := os.Getenv("RAMP_DASHBOARD_GOAL_MS"); goal != "" {
		g, err := strconv.ParseFloat(goal, 64)
		if err != nil {
			t.Fatalf("RAMP_DASHBOARD_GOAL_MS=%q: %v", goal, err)
		}
		verdict := "met"
		if samples[len(samples)-1] >= g {
			verdict = "missed"
			t.Errorf("the slowest update took %.1f ms, goal < %.0f ms", samples[len(samples)-1], g)
		}
		t.Logf("goal: every update under %.0f ms: %s", g, verdict)
	}

	// And search filters the 200 rows
	if err := chromedp.Do(bctx, chromedp.SendKeys(chromedp.CSS("#search"), "svc-01")); err != nil {
		t.Fatal(err)
	}
	waitJS(bctx, t, "10 matching rows", `document.querySelectorAll("#rollouts tbody tr").length === 10 && document.getElementById("count").textContent === "10 of 200"`, 5*time.Second)
}
