// Package prometheus runs a real Prometheus beside the Helm chart on a
// local cluster: it scrapes what the chart's PodMonitor and ServiceMonitors
// select (translated as the Prometheus Operator would, with kubernetes_sd
// against the local API server), the controller judges canaries with the
// Prometheus queries of a ClusterAnalysisTemplate, and the series the
// chart's Grafana dashboard and the docs name are checked against what was
// scraped.
package prometheus

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rolloutsv1alpha1 "github.com/rampdev/ramp/apis/rollouts/v1alpha1"
	servingv1 "github.com/rampdev/ramp/apis/serving/v1"
	"github.com/rampdev/ramp/controllers/manager"
	"github.com/rampdev/ramp/serving/gateway"
	"github.com/rampdev/ramp/test/framework"
)

const (
	releaseNS = "ramp-system"
	appNS     = "default"
	// maxErrorRatio is the template's limit on the canary's 5xx ratio.
	maxErrorRatio = 0.01
)

// errorRatioQuery is the canary's share of 5xx answers over the window,
// from the queue-proxy's request counter as the chart's PodMonitor labels
// it.
const errorRatioQuery = `sum(rate(ramp_queue_requests_total{namespace="{{.Namespace}}",revision="{{.Revision}}",class="5xx"}[{{.Window}}]))
/ sum(rate(ramp_queue_requests_total{namespace="{{.Namespace}}",revision="{{.Revision}}"}[{{.Window}}]))`

// errorsTemplate is the ClusterAnalysisTemplate the Rollout is judged by,
// and nothing else.
func errorsTemplate() *rolloutsv1alpha1.ClusterAnalysisTemplate {
	limit := rolloutsv1alpha1.Threshold("1%")
	return &rolloutsv1alpha1.ClusterAnalysisTemplate{
		ObjectMeta: metav1.ObjectMeta{Name: "queue-errors"},
		Spec: rolloutsv1alpha1.AnalysisTemplateSpec{Metrics: []rolloutsv1alpha1.Metric{{
			Name: "error-ratio", Max: &limit, Prometheus: &rolloutsv1alpha1.PrometheusQuery{Query: errorRatioQuery},
		}}},
	}
}

// webRollout is the Rollout "web" of the sample app at version (with
// extra env): one 50% step, judged every 2 s on a 10 s window by the
// template alone, at least 15 s; two failed looks in a row roll back.
func webRollout(version string, env ...corev1.EnvVar) *rolloutsv1alpha1.Rollout {
	return &rolloutsv1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Namespace: appNS, Name: "web"},
		Spec: rolloutsv1alpha1.RolloutSpec{
			Template: servingv1.RevisionTemplateSpec{Spec: servingv1.RevisionSpec{Containers: []servingv1.Container{{
				Image: "ramp/sampleapp:" + version,
				Env:   append([]corev1.EnvVar{{Name: "VERSION", Value: version}}, env...),
			}}}},
			Strategy: rolloutsv1alpha1.Strategy{Canary: &rolloutsv1alpha1.CanaryStrategy{Steps: []rolloutsv1alpha1.CanaryStep{
				{Weight: ptr.To[int32](50)},
			}}},
			Analysis: &rolloutsv1alpha1.Analysis{
				Interval:     &metav1.Duration{Duration: 2 * time.Second},
				Window:       &metav1.Duration{Duration: 10 * time.Second},
				MinStepTime:  &metav1.Duration{Duration: 15 * time.Second},
				MaxStepTime:  &metav1.Duration{Duration: 2 * time.Minute},
				FailureLimit: 2,
				Templates:    []rolloutsv1alpha1.AnalysisTemplateRef{{Name: "queue-errors", ClusterScope: true}},
			},
		},
	}
}

func TestPrometheusAnalysisAndMonitors(t *testing.T) {
	promBin, err := framework.PrometheusBinary()
	if err != nil {
		t.Skipf("skipping: %v", err)
	}
	start := time.Now()
	ctx := context.Background()
	c, err := framework.StartCluster(ctx, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Stop(t.Failed()) })
	scheme := manager.Scheme()
	if err := apiextensionsv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	cl, err := client.New(c.Config, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}

	// Given the chart installed with its PodMonitor and ServiceMonitors
	// (on stand-in CRDs) scraping every second, and the controller's
	// analysis pointed at a Prometheus on 127.0.0.1
	if err := installMonitoringCRDs(ctx, cl); err != nil {
		t.Fatal(err)
	}
	promPort := framework.FreePort(t)
	if err := c.InstallRamp(ctx, "analysis.prometheus.url=http://127.0.0.1:"+strconv.Itoa(promPort),
		"metrics.podMonitor.enabled=true", "metrics.podMonitor.interval=1s",
		"metrics.serviceMonitor.enabled=true", "metrics.serviceMonitor.interval=1s"); err != nil {
		t.Fatal(err)
	}

	// And that Prometheus, a host process, scraping what the installed
	// monitors select, with kubernetes_sd against the local API server
	monitors, err := listMonitors(ctx, cl, releaseNS)
	if err != nil {
		t.Fatal(err)
	}
	if len(monitors) != 3 {
		t.Fatalf("the chart installed %d monitors, want a PodMonitor and two ServiceMonitors", len(monitors))
	}
	jobs, err := scrapeConfigs(monitors, c.Kubeconfig())
	if err != nil {
		t.Fatal(err)
	}
	followCtx, stopFollowing := context.WithCancel(ctx)
	t.Cleanup(stopFollowing)
	dir := t.TempDir()
	startProm := func() (*framework.Prometheus, error) {
		config, err := prometheusConfig(jobs)
		if err != nil {
			t.Fatal(err)
		}
		return framework.StartPrometheus(ctx, framework.PrometheusOptions{
			Binary: promBin, Dir: dir, Config: config, Port: promPort, Retention: 30 * time.Minute,
			LogFile: filepath.Join(c.Dir(), "logs", "prometheus.log"),
		})
	}
	discovery := "kubernetes_sd against the local API server"
	prom, err := startProm()
	if lacksKubernetesSD(err) {
		// This build has no kubernetes_sd (Debian's): the test discovers
		// the same targets and labels itself (filesd_test.go).
		fsd, ferr := newFileSD(cl, dir, jobs)
		if ferr != nil {
			t.Fatal(ferr)
		}
		go fsd.run(followCtx, time.Second)
		discovery = "file_sd written by the test from pods and EndpointSlices (this build has no kubernetes_sd)"
		prom, err = startProm()
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(prom.Stop)
	t.Logf("Prometheus %s (%s) scraping %d jobs, discovery: %s; set up in %s", promBin, prom.URL, len(jobs), discovery,
		time.Since(start).Round(100*time.Millisecond))
	waitTargets(t, prom, "serviceMonitor/ramp-system/ramp-controller/0", "serviceMonitor/ramp-system/ramp-gateway/0")

	// And Rollout web at v1, judged only by ClusterAnalysisTemplate
	// queue-errors (its first revision goes straight to 100%)
	create(t, cl, errorsTemplate())
	create(t, cl, webRollout("v1"))
	waitPhase(t, cl, rolloutsv1alpha1.PhaseHealthy, 2*time.Minute)
	waitTargets(t, prom, "podMonitor/ramp-system/ramp-revisions/0")

	// And web serving through the gateway, reached at its endpoints
	// (loopback only)
	eps, err := c.FollowEndpoints(followCtx, types.NamespacedName{Namespace: releaseNS, Name: "ramp-gateway"}, 200*time.Millisecond)
	if err != nil {
		t.Fatalf("gateway endpoints: %v", err)
	}
	gw := &framework.Balancer{Endpoints: eps, Port: gateway.ExternalPort}
	host := "web." + appNS + ".example.com"
	framework.Eventually(t, 60*time.Second, func(ctx context.Context) error {
		code, err := getOnce(ctx, gw, host)
		if err != nil || code != 200 {
			return fmt.Errorf("GET web: %d %w", code, err)
		}
		return nil
	})
	// Then Prometheus has web-00001's requests, labelled as the
	// PodMonitor promises
	checkMonitorsLabelQueueSeries(ctx, t, cl, prom)

	// Given bounded load through the gateway: 100 requests a second, for
	// at most 3 minutes
	load, err := framework.StartLoad(ctx, framework.LoadOptions{Balancer: gw, Host: host, Rate: 100, Duration: 3 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { load.Stop() })

	// When a healthy v2 rolls out
	v2At := time.Now()
	update(t, cl, webRollout("v2"))

	// Then the Prometheus query passes it and it is promoted
	done := waitPhase(t, cl, rolloutsv1alpha1.PhaseHealthy, 2*time.Minute)
	if done.Status.StableRevision != "web-00002" {
		t.Fatalf("stable revision %q, want web-00002 promoted", done.Status.StableRevision)
	}
	pass := lastLook(t, done, "web-00002", "Pass")
	if v := lookValue(t, pass); v != 0 {
		t.Errorf("passing look of web-00002: canary error ratio %v, want 0 (it answered no 5xx)", v)
	}
	t.Logf("v2 promoted %s after its rollout began: %s", time.Since(v2At).Round(time.Second), pass.Message)

	// And the builtin telemetry saw no errors either, like Prometheus
	healthy := compareWithTelemetry(ctx, t, c, prom, "web-00002")
	if healthy.telemetry.errors != 0 || healthy.prom.errors != 0 {
		t.Errorf("healthy canary web-00002: telemetry %+v, Prometheus %+v, want no 5xx in either", healthy.telemetry, healthy.prom)
	}

	// When v3, answering 5% of requests with a 500, rolls out
	v3At := time.Now()
	update(t, cl, webRollout("v3", corev1.EnvVar{Name: "ERROR_RATE", Value: "5%"}, corev1.EnvVar{Name: "SEED", Value: "7"}))

	// Then the Prometheus query fails it twice and it is rolled back
	back := waitPhase(t, cl, rolloutsv1alpha1.PhaseRolledBack, 2*time.Minute)
	if back.Status.StableRevision != "web-00002" {
		t.Errorf("stable revision %q after the rollback, want web-00002", back.Status.StableRevision)
	}
	if !strings.Contains(back.Status.Message, "error-ratio") {
		t.Errorf("rollback message %q does not name the template's metric error-ratio", back.Status.Message)
	}
	fail := lastLook(t, back, "web-00003", "Fail")
	if v := lookValue(t, fail); v <= maxErrorRatio {
		t.Errorf("failed look of web-00003: canary error ratio %v, not over the template's max %v", v, maxErrorRatio)
	}
	t.Logf("v3 rolled back %s after its rollout began: %s (last failed look: canary %s)",
		time.Since(v3At).Round(time.Second), back.Status.Message, fail.Canary)

	// And the builtin telemetry of the same traffic shows the same error
	// ratio, over the 1% limit
	bad := compareWithTelemetry(ctx, t, c, prom, "web-00003")
	if bad.telemetry.ratio() <= maxErrorRatio {
		t.Errorf("telemetry error ratio of web-00003 %.2f%%: the builtin verdict would pass what Prometheus failed", 100*bad.telemetry.ratio())
	}

	// And the clients got those 500s and nothing else went wrong (v1 and
	// v2 answer no errors, so every 500 came from the canary)
	res := load.Stop()
	t.Logf("load: %s", res)
	if got, want := res.Codes[500], bad.prom.errors; math.Abs(float64(got-want)) > max(2, 0.05*float64(want)) {
		t.Errorf("the load got %d answers 500, Prometheus counted %d 5xx of web-00003", got, want)
	}
	if res.TransportErrors > 0 || res.Non2xx != res.Codes[500] {
		t.Errorf("load: %s; want no failures but the canary's 500s", res)
	}

	// And every series the chart's Grafana dashboard and the docs name was
	// scraped through the chart's monitors, with the labels they use
	root, err := framework.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	promises, err := dashboardPromises(filepath.Join(root, "charts/ramp/dashboards/ramp.json"))
	if err != nil {
		t.Fatal(err)
	}
	docs, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	fromDocs, err := docPromises(append(docs, filepath.Join(root, "README.md"))...)
	if err != nil {
		t.Fatal(err)
	}
	missing, err := checkPromises(ctx, prom, append(promises, fromDocs...))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range missing {
		t.Errorf("not in what Prometheus scraped: %s", m)
	}
	t.Logf("checked %d dashboard and %d doc references against the scrape; %s in all", len(promises), len(fromDocs), time.Since(start).Round(time.Second))
}

// create creates obj, retrying while the API server cannot call the
// chart's webhook yet: right after the install, the CA the controller
// writes into the webhook configuration may not be in force yet
// ("certificate signed by unknown authority").
func create(t *testing.T, cl client.Client, obj client.Object) {
	t.Helper()
	framework.Eventually(t, 30*time.Second, func(ctx context.Context) error {
		err := cl.Create(ctx, obj)
		if err != nil && !strings.Contains(err.Error(), "failed calling webhook") {
			t.Fatalf("creating %s: %v", obj.GetName(), err)
		}
		return err
	})
}

// update replaces the Rollout's spec with want's.
func update(t *testing.T, cl client.Client, want *rolloutsv1alpha1.Rollout) {
	t.Helper()
	framework.Eventually(t, 30*time.Second, func(ctx context.Context) error {
		ro := &rolloutsv1alpha1.Rollout{}
		if err := cl.Get(ctx, client.ObjectKeyFromObject(want), ro); err != nil {
			return err
		}
		ro.Spec = want.Spec
		return cl.Update(ctx, ro)
	})
}

// waitPhase waits until Rollout web's current generation reaches phase.
func waitPhase(t *testing.T, cl client.Client, phase rolloutsv1alpha1.Phase, within time.Duration) *rolloutsv1alpha1.Rollout {
	t.Helper()
	got := &rolloutsv1alpha1.Rollout{}
	framework.Eventually(t, within, func(ctx context.Context) error {
		if err := cl.Get(ctx, types.NamespacedName{Namespace: appNS, Name: "web"}, got); err != nil {
			return err
		}
		if got.Status.ObservedGeneration != got.Generation || got.Status.Phase != phase {
			return fmt.Errorf("phase %s, want %s: %s", got.Status.Phase, phase, got.Status.Message)
		}
		return nil
	})
	return got
}

// lastLook is the Rollout's last look of phase for canary, checked to be
// judged by the template's Prometheus metric alone, with a canary value.
func lastLook(t *testing.T, ro *rolloutsv1alpha1.Rollout, canary, phase string) rolloutsv1alpha1.MetricResult {
	t.Helper()
	ms := ro.Status.Measurements
	for i := len(ms) - 1; i >= 0; i-- {
		m := ms[i]
		if m.Phase != phase {
			continue
		}
		if len(m.Metrics) != 1 || m.Metrics[0].Name != "error-ratio" || m.Metrics[0].Canary == "" {
			t.Fatalf("%s look of %s judged %+v, want the template's error-ratio alone, with a canary value", phase, canary, m.Metrics)
		}
		if len(m.Templates) != 1 || !strings.HasPrefix(m.Templates[0], "ClusterAnalysisTemplate/queue-errors@") {
			t.Fatalf("%s look of %s used templates %v, want ClusterAnalysisTemplate/queue-errors", phase, canary, m.Templates)
		}
		return m.Metrics[0]
	}
	t.Fatalf("no %s look in the Rollout's status for %s: %+v", phase, canary, ms)
	return rolloutsv1alpha1.MetricResult{}
}

// lookValue is a look's canary value, a number or a percentage.
func lookValue(t *testing.T, r rolloutsv1alpha1.MetricResult) float64 {
	t.Helper()
	s, pct := strings.CutSuffix(r.Canary, "%")
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatalf("canary value %q of %s: %v", r.Canary, r.Name, err)
	}
	if pct {
		v /= 100
	}
	return v
}

// waitTargets waits until each scrape job has an active target and all
// of its targets are up.
func waitTargets(t *testing.T, prom *framework.Prometheus, jobs ...string) {
	t.Helper()
	framework.Eventually(t, 90*time.Second, func(ctx context.Context) error {
		res, err := prom.API.Targets(ctx)
		if err != nil {
			return err
		}
		for _, job := range jobs {
			n := 0
			for _, tg := range res.Active {
				if tg.ScrapePool != job {
					continue
				}
				n++
				if tg.Health != "up" {
					return fmt.Errorf("target %s of %s is %s: %s", tg.ScrapeURL, job, tg.Health, tg.LastError)
				}
			}
			if n == 0 {
				return fmt.Errorf("no active target for %s (%d active in all)", job, len(res.Active))
			}
		}
		return nil
	})
}
