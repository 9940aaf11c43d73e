package v1alpha1_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	rolloutsv1alpha1 "github.com/rampdev/ramp/apis/rollouts/v1alpha1"
	"github.com/rampdev/ramp/test/framework"
)

// TestAdmission checks the Rollout CRD's OpenAPI and CEL validation against
// a real API server: one envtest for every case in this file.
func TestAdmission(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := rolloutsv1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	env := framework.StartEnvtest(t, scheme, "../../../charts/ramp/templates/crds")
	c := env.Client
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "admission"}}
	if err := c.Create(ctx, ns); err != nil {
		t.Fatalf("creating namespace: %v", err)
	}

	t.Run("Create", func(t *testing.T) { testCreate(ctx, t, c, ns.Name) })
	t.Run("Defaults", func(t *testing.T) { testDefaults(ctx, t, c, ns.Name) })
	t.Run("IssueExample", func(t *testing.T) { testIssueExample(ctx, t, c, ns.Name) })
	t.Run("Durations", func(t *testing.T) { testDurations(ctx, t, c, ns.Name) })
	t.Run("DocsCountsExample", func(t *testing.T) { testDocsCountsExample(ctx, t, c) })
}

func testCreate(ctx context.Context, t *testing.T, c client.Client, ns string) {
	const (
		steps    = `spec.strategy.canary.steps`
		metric0  = `spec.analysis.metrics[0]`
		duration = `must be a positive duration such as 90s, 10m or 1h30m`
		thresh   = `must be a percentage (1%), a duration (500ms), a rate (10/s) or a number (0.01)`
	)
	errRate := rolloutsv1alpha1.Builtin("errorRate")
	p99 := rolloutsv1alpha1.Builtin("latencyP99")
	rps := rolloutsv1alpha1.Builtin("requestRate")
	good := builtin("error-rate", errRate, "1%")
	withMetric := func(mutate func(*rolloutsv1alpha1.Metric)) roMutator {
		m := good
		mutate(&m)
		return withMetrics(m)
	}
	threshold := func(s string) *rolloutsv1alpha1.Threshold { return ptr(rolloutsv1alpha1.Threshold(s)) }
	margin := func(relative, absolute string) *rolloutsv1alpha1.MarginSpec {
		m := &rolloutsv1alpha1.MarginSpec{}
		if relative != "" {
			m.Relative = ptr(relative)
		}
		if absolute != "" {
			m.Absolute = threshold(absolute)
		}
		return m
	}
	analysis := func(mutate func(*rolloutsv1alpha1.Analysis)) roMutator {
		a := rolloutsv1alpha1.Analysis{Metrics: []rolloutsv1alpha1.Metric{good}}
		mutate(&a)
		return withAnalysis(a)
	}
	const (
		alphaMsg = `must be a number in (0, 0.5], such as 0.01`
		betaMsg  = `must be a number in (0, 0.5], such as 0.05`
	)

	cases := map[string]struct {
		obj     *rolloutsv1alpha1.Rollout
		wantErr string
	}{
		// Valid objects.
		"minimal":       {obj: rollout()},
		"pause-alone":   {obj: rollout(withSteps(weight(10), pause(time.Minute), weight(50)))},
		"weight-pause":  {obj: rollout(withSteps(weightPause(10, time.Minute), approval(), weight(100)))},
		"weight-0":      {obj: rollout(withSteps(weight(0), approval(), weight(100)))},
		"equal-weights": {obj: rollout(withSteps(weight(20), weightPause(20, time.Minute)))},
		"blue-green":    {obj: rollout(withoutCanary(), withBlueGreen(&rolloutsv1alpha1.BlueGreenStrategy{}))},
		"prometheus":    {obj: rollout(withMetrics(promQuery("p", `sum(rate(x[1m]))`, "0.5")))},
		"metrics":       {obj: rollout(withMetrics(good, builtin("p99", p99, "500ms"), builtin("p99-s", p99, "0.5"), builtin("rps", rps, "1000")))},
		"min-and-ratio": {obj: rollout(withMetric(func(m *rolloutsv1alpha1.Metric) {
			m.Max, m.Min, m.MaxRatio = nil, threshold("0"), ptr(rolloutsv1alpha1.Ratio("1.5"))
		}))},
		"rate-units":    {obj: rollout(withMetrics(builtin("rps", rps, "10/s"), builtin("rps2", rps, "10 req/s"), builtin("rps3", rps, "10rps")))},
		"query-percent": {obj: rollout(withMetrics(promQuery("q", "up", "5%")))},
		"web": {obj: rollout(withMetrics(web("w", func(w *rolloutsv1alpha1.WebMetric) {
			w.Method, w.Body, w.Timeout = "POST", `{"rev":"{{.Revision}}"}`, ptr(dur(time.Minute))
			w.Headers = []rolloutsv1alpha1.WebHeader{{Name: "X-Team", Value: ptr("payments")},
				{Name: "Authorization", ValueFrom: &rolloutsv1alpha1.WebHeaderSource{SecretKeyRef: rolloutsv1alpha1.KeyRef{Name: "api", Key: "token"}}}}
		})))},
		"interval-1s":    {obj: rollout(withAnalysis(rolloutsv1alpha1.Analysis{Interval: ptr(dur(time.Second)), Window: ptr(dur(time.Second)), Metrics: []rolloutsv1alpha1.Metric{good}}))},
		"action-approve": {obj: rollout(withAnnotation(rolloutsv1alpha1.AnnotationAction, "approve"))},
		// An analysis block without metrics gets the default ones (error
		// rate and p90 latency) from the controller.
		"no-metrics":        {obj: rollout(withMetrics([]rolloutsv1alpha1.Metric{}...))},
		"analysis-disabled": {obj: rollout(withAnalysis(rolloutsv1alpha1.Analysis{Disabled: true}))},
		// Comparative metrics need no threshold: margin and tolerance
		// against the stable.
		"no-threshold": {obj: rollout(withMetric(func(m *rolloutsv1alpha1.Metric) { m.Max = nil }))},
		"margins": {obj: rollout(withMetrics(
			rolloutsv1alpha1.Metric{Name: "e", Builtin: errRate, Margin: margin("50%", "1.5%"), Tolerance: margin("0.1", "0.001")},
			rolloutsv1alpha1.Metric{Name: "p90", Builtin: "latencyP90", Margin: margin("20%", "10ms"), Tolerance: margin("0", "0.005")},
		))},
		"sequential-settings": {obj: rollout(analysis(func(a *rolloutsv1alpha1.Analysis) {
			a.Alpha, a.Beta = ptr("0.5"), ptr("0.001")
			a.MinStepTime, a.MaxStepTime, a.OnTimeout = ptr(dur(0)), ptr(dur(15*time.Minute)), "pause"
		}))},
		"step-times-equal": {obj: rollout(analysis(func(a *rolloutsv1alpha1.Analysis) {
			a.MinStepTime, a.MaxStepTime, a.OnTimeout = ptr(dur(time.Minute)), ptr(dur(time.Minute)), "rollback"
		}))},
		// Only one step time: the controller's default for the other gives way.
		"max-step-time-alone": {obj: rollout(analysis(func(a *rolloutsv1alpha1.Analysis) { a.MaxStepTime = ptr(dur(20 * time.Second)) }))},
		// Prometheus counts metrics: a kind and its queries, judged as the
		// builtin of that kind (no threshold needed, margins allowed).
		"prometheus-counts": {obj: rollout(withMetrics(
			rolloutsv1alpha1.Metric{Name: "e", Prometheus: promCounts("errorRate", "r", "e", ""), Margin: margin("50%", "1%"), Max: threshold("5%")},
			rolloutsv1alpha1.Metric{Name: "p90", Prometheus: promCounts("latencyP90", "", "", "h"), Tolerance: margin("", "10ms"), Max: threshold("500ms")},
		))},
		"template-name": {obj: rollout(named("template-name"), withTemplateName("template-name-v2"))},
		"name-56":       {obj: rollout(named(strings.Repeat("n", 56)))},

		// Strategy: exactly one of canary and blueGreen.
		"both-strategies": {obj: rollout(withBlueGreen(&rolloutsv1alpha1.BlueGreenStrategy{})),
			wantErr: `spec.strategy: Invalid value: exactly one of canary and blueGreen must be set`},
		"no-strategy": {obj: rollout(withoutCanary()),
			wantErr: `spec.strategy: Invalid value: exactly one of canary and blueGreen must be set`},
		"no-steps": {obj: rollout(withSteps([]rolloutsv1alpha1.CanaryStep{}...)),
			wantErr: steps + `: Invalid value: 0: ` + steps + ` in body should have at least 1 items`},

		// Steps: weight, pause, approval.
		"weight-and-approval": {obj: rollout(withSteps(weight(10), rolloutsv1alpha1.CanaryStep{Weight: ptr[int32](20), Approval: &rolloutsv1alpha1.Approval{}})),
			wantErr: steps + `[1]: Invalid value: a step sets weight or approval, not both`},
		"pause-and-approval": {obj: rollout(withSteps(rolloutsv1alpha1.CanaryStep{Pause: ptr(dur(time.Minute)), Approval: &rolloutsv1alpha1.Approval{}})),
			wantErr: steps + `[0]: Invalid value: an approval step cannot have a pause`},
		"empty-step": {obj: rollout(withSteps(weight(10), rolloutsv1alpha1.CanaryStep{})),
			wantErr: steps + `[1]: Invalid value: a step needs a weight, a pause or an approval`},
		"weight-101": {obj: rollout(withSteps(weight(101))),
			wantErr: steps + `[0].weight: Invalid value: 101: ` + steps + `[0].weight in body should be less than or equal to 100`},
		"weight-negative": {obj: rollout(withSteps(weight(-1))),
			wantErr: steps + `[0].weight: Invalid value: -1: ` + steps + `[0].weight in body should be greater than or equal to 0`},
		"decreasing": {obj: rollout(withSteps(weight(50), approval(), weight(20))),
			wantErr: steps + `: Invalid value: step weights must not decrease`},
		// Analysis.
		"duplicate-metrics": {obj: rollout(withMetrics(good, builtin("error-rate", p99, "1s"))),
			wantErr: `spec.analysis.metrics: Invalid value: metric names must be unique`},
		"builtin-and-prometheus": {obj: rollout(withMetric(func(m *rolloutsv1alpha1.Metric) { m.Prometheus = &rolloutsv1alpha1.PrometheusQuery{Query: "up"} })),
			wantErr: metric0 + `: Invalid value: exactly one of builtin, prometheus and web must be set`},
		"neither-builtin-nor-prometheus": {obj: rollout(withMetric(func(m *rolloutsv1alpha1.Metric) { m.Builtin = "" })),
			wantErr: metric0 + `: Invalid value: exactly one of builtin, prometheus and web must be set`},
		"web-and-builtin": {obj: rollout(withMetrics(func() rolloutsv1alpha1.Metric {
			m := web("w", func(*rolloutsv1alpha1.WebMetric) {})
			m.Builtin = errRate
			return m
		}())), wantErr: metric0 + `: Invalid value: exactly one of builtin, prometheus and web must be set`},
		"web-no-threshold": {obj: rollout(withMetrics(func() rolloutsv1alpha1.Metric {
			m := web("w", func(*rolloutsv1alpha1.WebMetric) {})
			m.Min = nil
			return m
		}())), wantErr: metric0 + `: Invalid value: requestRate, prometheus and web metrics need at least one of max, min, maxIncrease and maxRatio`},
		"web-margin": {obj: rollout(withMetrics(func() rolloutsv1alpha1.Metric {
			m := web("w", func(*rolloutsv1alpha1.WebMetric) {})
			m.Margin = margin("10%", "")
			return m
		}())), wantErr: metric0 + `: Invalid value: margin and tolerance apply to errorRate and latency metrics`},
		"web-ftp": {obj: rollout(withMetrics(web("w", func(w *rolloutsv1alpha1.WebMetric) { w.URL = "ftp://metrics.shop/ok" }))),
			wantErr: metric0 + `.web.url: Invalid value: "ftp://metrics.shop/ok": must be an http:// or https:// URL`},
		"web-method": {obj: rollout(withMetrics(web("w", func(w *rolloutsv1alpha1.WebMetric) { w.Method = "PUT" }))),
			wantErr: metric0 + `.web.method: Unsupported value: "PUT": supported values: "GET", "POST"`},
		"web-body-with-get": {obj: rollout(withMetrics(web("w", func(w *rolloutsv1alpha1.WebMetric) { w.Body = "{}" }))),
			wantErr: metric0 + `.web.body: Invalid value: body is sent only with method POST`},
		"web-no-json-path": {obj: rollout(withMetrics(web("w", func(w *rolloutsv1alpha1.WebMetric) { w.JSONPath = "" }))),
			wantErr: metric0 + `.web.jsonPath: Invalid value: "": ` + metric0 + `.web.jsonPath in body should be at least 1 chars long`},
		"web-timeout-2m": {obj: rollout(withMetrics(web("w", func(w *rolloutsv1alpha1.WebMetric) { w.Timeout = ptr(dur(2 * time.Minute)) }))),
			wantErr: metric0 + `.web.timeout: Invalid value: "2m0s": must be a positive duration of at most 1m, such as 10s`},
		"web-header-name": {obj: rollout(withMetrics(web("w", func(w *rolloutsv1alpha1.WebMetric) {
			w.Headers = []rolloutsv1alpha1.WebHeader{{Name: "Bad Name", Value: ptr("x")}}
		}))), wantErr: metric0 + `.web.headers[0].name: Invalid value: "Bad Name"`},
		"web-header-twice": {obj: rollout(withMetrics(web("w", func(w *rolloutsv1alpha1.WebMetric) {
			w.Headers = []rolloutsv1alpha1.WebHeader{{Name: "X-A", Value: ptr("1")}, {Name: "X-A", Value: ptr("2")}}
		}))), wantErr: metric0 + `.web.headers[1]: Duplicate value: {"name":"X-A"}`},
		"web-header-both": {obj: rollout(withMetrics(web("w", func(w *rolloutsv1alpha1.WebMetric) {
			w.Headers = []rolloutsv1alpha1.WebHeader{{Name: "X-A", Value: ptr("1"),
				ValueFrom: &rolloutsv1alpha1.WebHeaderSource{SecretKeyRef: rolloutsv1alpha1.KeyRef{Name: "api", Key: "token"}}}}
		}))), wantErr: metric0 + `.web.headers[0]: Invalid value: set exactly one of value and valueFrom`},
		"unknown-builtin": {obj: rollout(withMetric(func(m *rolloutsv1alpha1.Metric) { m.Builtin = "errors" })),
			wantErr: metric0 + `.builtin: Unsupported value: "errors": supported values: "errorRate", "latencyP50", "latencyP90", "latencyP99", "requestRate"`},
		"request-rate-no-threshold": {obj: rollout(withMetrics(rolloutsv1alpha1.Metric{Name: "rps", Builtin: rps})),
			wantErr: metric0 + `: Invalid value: requestRate, prometheus and web metrics need at least one of max, min, maxIncrease and maxRatio`},
		"prometheus-no-threshold": {obj: rollout(withMetrics(rolloutsv1alpha1.Metric{Name: "q", Prometheus: &rolloutsv1alpha1.PrometheusQuery{Query: "up"}})),
			wantErr: metric0 + `: Invalid value: requestRate, prometheus and web metrics need at least one of max, min, maxIncrease and maxRatio`},
		"margin-on-request-rate": {obj: rollout(withMetrics(rolloutsv1alpha1.Metric{Name: "rps", Builtin: rps, Min: threshold("10"), Margin: margin("10%", "")})),
			wantErr: metric0 + `: Invalid value: margin and tolerance apply to errorRate and latency metrics, which compare the canary with the stable`},
		"tolerance-on-prometheus": {obj: rollout(withMetrics(func() rolloutsv1alpha1.Metric {
			m := promQuery("q", "up", "0.5")
			m.Tolerance = margin("10%", "")
			return m
		}())),
			wantErr: metric0 + `: Invalid value: margin and tolerance apply to errorRate and latency metrics, which compare the canary with the stable`},
		"query-and-kind": {obj: rollout(withMetrics(func() rolloutsv1alpha1.Metric {
			m := promQuery("q", "up", "0.5")
			m.Prometheus.Kind, m.Prometheus.Requests, m.Prometheus.Errors = "errorRate", "r", "e"
			return m
		}())), wantErr: metric0 + `.prometheus: Invalid value: set either query (one number, judged on thresholds) or kind with its counts queries (judged canary against stable)`},
		"prometheus-empty": {obj: rollout(withMetrics(rolloutsv1alpha1.Metric{Name: "q", Prometheus: &rolloutsv1alpha1.PrometheusQuery{}, Max: threshold("1")})),
			wantErr: metric0 + `.prometheus: Invalid value: set either query`},
		"counts-without-kind": {obj: rollout(withMetrics(func() rolloutsv1alpha1.Metric {
			m := promQuery("q", "up", "0.5")
			m.Prometheus.Requests = "r"
			return m
		}())), wantErr: metric0 + `.prometheus: Invalid value: requests, errors and histogram are counts queries: set kind (errorRate, latencyP50, latencyP90 or latencyP99) with them, instead of query`},
		"error-rate-counts-without-errors": {obj: rollout(withMetrics(rolloutsv1alpha1.Metric{Name: "e", Prometheus: promCounts("errorRate", "r", "", "")})),
			wantErr: metric0 + `.prometheus: Invalid value: kind errorRate needs the requests and errors queries, and no histogram`},
		"error-rate-counts-with-histogram": {obj: rollout(withMetrics(rolloutsv1alpha1.Metric{Name: "e", Prometheus: promCounts("errorRate", "r", "e", "h")})),
			wantErr: metric0 + `.prometheus: Invalid value: kind errorRate needs the requests and errors queries, and no histogram`},
		"latency-counts-without-histogram": {obj: rollout(withMetrics(rolloutsv1alpha1.Metric{Name: "p", Prometheus: promCounts("latencyP99", "r", "", "")})),
			wantErr: metric0 + `.prometheus: Invalid value: a latency kind needs the histogram query, and no requests or errors`},
		"counts-kind-request-rate": {obj: rollout(withMetrics(rolloutsv1alpha1.Metric{Name: "p", Prometheus: promCounts("requestRate", "r", "", ""), Max: threshold("10")})),
			wantErr: metric0 + `.prometheus.kind: Unsupported value: "requestRate": supported values: "errorRate", "latencyP50", "latencyP90", "latencyP99"`},
		"latency-counts-percent": {obj: rollout(withMetrics(rolloutsv1alpha1.Metric{Name: "p", Prometheus: promCounts("latencyP50", "", "", "h"), Max: threshold("5%")})),
			wantErr: metric0 + `: Invalid value: latency thresholds are durations (500ms) or seconds (0.5)`},
		"error-rate-counts-duration": {obj: rollout(withMetrics(rolloutsv1alpha1.Metric{Name: "e", Prometheus: promCounts("errorRate", "r", "e", ""), Max: threshold("10ms")})),
			wantErr: metric0 + `: Invalid value: errorRate, prometheus and web thresholds are percentages (1%) or numbers (0.01)`},
		"margin-relative-negative": {obj: rollout(withMetric(func(m *rolloutsv1alpha1.Metric) { m.Margin = margin("-5%", "") })),
			wantErr: metric0 + `.margin.relative: Invalid value: must not be negative`},
		"tolerance-relative-words": {obj: rollout(withMetric(func(m *rolloutsv1alpha1.Metric) { m.Tolerance = margin("ten percent", "") })),
			wantErr: metric0 + `.tolerance.relative: Invalid value: "ten percent": must be a percentage (20%) or a fraction (0.2), not negative`},
		"margin-absolute-negative": {obj: rollout(withMetric(func(m *rolloutsv1alpha1.Metric) { m.Margin = margin("", "-1%") })),
			wantErr: metric0 + `.margin.absolute: Invalid value: must not be negative`},
		"alpha-0": {obj: rollout(analysis(func(a *rolloutsv1alpha1.Analysis) { a.Alpha = ptr("0") })),
			wantErr: `spec.analysis.alpha: Invalid value: "0": ` + alphaMsg},
		"alpha-0.7": {obj: rollout(analysis(func(a *rolloutsv1alpha1.Analysis) { a.Alpha = ptr("0.7") })),
			wantErr: `spec.analysis.alpha: Invalid value: "0.7": ` + alphaMsg},
		"alpha-negative": {obj: rollout(analysis(func(a *rolloutsv1alpha1.Analysis) { a.Alpha = ptr("-1") })),
			wantErr: `spec.analysis.alpha: Invalid value: "-1": ` + alphaMsg},
		"beta-1": {obj: rollout(analysis(func(a *rolloutsv1alpha1.Analysis) { a.Beta = ptr("1") })),
			wantErr: `spec.analysis.beta: Invalid value: "1": ` + betaMsg},
		"min-step-time-above-max": {obj: rollout(analysis(func(a *rolloutsv1alpha1.Analysis) {
			a.MinStepTime, a.MaxStepTime = ptr(dur(5*time.Minute)), ptr(dur(time.Minute))
		})), wantErr: `spec.analysis.minStepTime: Invalid value: minStepTime must not be above maxStepTime`},
		"max-step-time-20m": {obj: rollout(analysis(func(a *rolloutsv1alpha1.Analysis) { a.MaxStepTime = ptr(dur(20 * time.Minute)) })),
			wantErr: `spec.analysis.maxStepTime: Invalid value: "20m0s": must be a positive duration of at most 15m (the builtin telemetry keeps 15 minutes), such as 10m`},
		"max-step-time-0": {obj: rollout(analysis(func(a *rolloutsv1alpha1.Analysis) { a.MaxStepTime = ptr(dur(0)) })),
			wantErr: `spec.analysis.maxStepTime: Invalid value: "0s": must be a positive duration of at most 15m`},
		"on-timeout-ignore": {obj: rollout(analysis(func(a *rolloutsv1alpha1.Analysis) { a.OnTimeout = "ignore" })),
			wantErr: `spec.analysis.onTimeout: Unsupported value: "ignore": supported values: "rollback", "pause"`},
		"disabled-with-metrics": {obj: rollout(analysis(func(a *rolloutsv1alpha1.Analysis) { a.Disabled = true })),
			wantErr: `spec.analysis.disabled: Invalid value: a disabled analysis has no metrics`},
		"bad-threshold": {obj: rollout(withMetric(func(m *rolloutsv1alpha1.Metric) { m.Max = threshold("1 percent") })),
			wantErr: metric0 + `.max: Invalid value: "1 percent": ` + thresh},
		"bad-min": {obj: rollout(withMetric(func(m *rolloutsv1alpha1.Metric) { m.Min = threshold("%1") })),
			wantErr: metric0 + `.min: Invalid value: "%1": ` + thresh},
		"bad-ratio": {obj: rollout(withMetric(func(m *rolloutsv1alpha1.Metric) { m.MaxRatio = ptr(rolloutsv1alpha1.Ratio("2x")) })),
			wantErr: metric0 + `.maxRatio: Invalid value: "2x": must be a number greater than 0, such as 1.2`},
		"latency-percent": {obj: rollout(withMetrics(builtin("p99", p99, "5%"))),
			wantErr: metric0 + `: Invalid value: latency thresholds are durations (500ms) or seconds (0.5)`},
		"error-rate-duration": {obj: rollout(withMetric(func(m *rolloutsv1alpha1.Metric) { m.MaxIncrease = threshold("10ms") })),
			wantErr: metric0 + `: Invalid value: errorRate, prometheus and web thresholds are percentages (1%) or numbers (0.01)`},
		"query-rate": {obj: rollout(withMetrics(promQuery("q", "up", "10/s"))),
			wantErr: metric0 + `: Invalid value: errorRate, prometheus and web thresholds are percentages (1%) or numbers (0.01)`},
		"request-rate-percent": {obj: rollout(withMetrics(builtin("rps", rps, "50%"))),
			wantErr: metric0 + `: Invalid value: requestRate thresholds are requests per second (10, 10/s or 10 req/s)`},
		"request-rate-duration": {obj: rollout(withMetrics(builtin("rps", rps, "10s"))),
			wantErr: metric0 + `: Invalid value: requestRate thresholds are requests per second (10, 10/s or 10 req/s)`},
		"ratio-zero": {obj: rollout(withMetric(func(m *rolloutsv1alpha1.Metric) { m.MaxRatio = ptr(rolloutsv1alpha1.Ratio("0")) })),
			wantErr: metric0 + `.maxRatio: Invalid value: "0": must be a number greater than 0, such as 1.2`},
		"bad-metric-name": {obj: rollout(withMetrics(builtin("Error_Rate", errRate, "1%"))),
			wantErr: metric0 + `.name: Invalid value: "Error_Rate": ` + metric0 + `.name in body should match`},
		"interval-500ms": {obj: rollout(withAnalysis(rolloutsv1alpha1.Analysis{Interval: ptr(dur(500 * time.Millisecond)), Metrics: []rolloutsv1alpha1.Metric{good}})),
			wantErr: `spec.analysis.interval: Invalid value: interval must be at least 1s`},
		"window-below-interval": {obj: rollout(withAnalysis(rolloutsv1alpha1.Analysis{Interval: ptr(dur(time.Minute)), Window: ptr(dur(30 * time.Second)), Metrics: []rolloutsv1alpha1.Metric{good}})),
			wantErr: `spec.analysis.window: Invalid value: window must be at least the interval`},
		"failure-limit-0": {obj: rollout(func(ro *rolloutsv1alpha1.Rollout) {
			ro.Spec.Analysis = &rolloutsv1alpha1.Analysis{FailureLimit: -1, Metrics: []rolloutsv1alpha1.Metric{good}}
		}), wantErr: `spec.analysis.failureLimit: Invalid value: -1: spec.analysis.failureLimit in body should be greater than or equal to 1`},

		// Promotion windows.
		"windows": {obj: rollout(func(ro *rolloutsv1alpha1.Rollout) {
			ro.Spec.PromotionWindows = []rolloutsv1alpha1.PromotionWindow{
				{Schedule: "0 9 * * 1-5", Duration: dur(8 * time.Hour), TimeZone: "Europe/Paris"},
				{Schedule: "@daily", Duration: dur(time.Hour)}}
		})},
		"window-schedule-4-fields": {obj: rollout(func(ro *rolloutsv1alpha1.Rollout) {
			ro.Spec.PromotionWindows = []rolloutsv1alpha1.PromotionWindow{{Schedule: "0 9 * *", Duration: dur(time.Hour)}}
		}), wantErr: `spec.promotionWindows[0].schedule: Invalid value: "0 9 * *": must be a cron expression with five fields`},
		"window-duration-0": {obj: rollout(func(ro *rolloutsv1alpha1.Rollout) {
			ro.Spec.PromotionWindows = []rolloutsv1alpha1.PromotionWindow{{Schedule: "@hourly", Duration: dur(0)}}
		}), wantErr: `spec.promotionWindows[0].duration: Invalid value: "0s": must be a positive duration`},

		// Durations.
		"deadline-0": {obj: rollout(withDeadline(0)), wantErr: `spec.progressDeadline: Invalid value: "0s": ` + duration},

		// Blue/green.
		"preview-stable": {obj: rollout(withoutCanary(), withBlueGreen(&rolloutsv1alpha1.BlueGreenStrategy{PreviewTag: "stable"})),
			wantErr: `spec.strategy.blueGreen.previewTag: Invalid value: "stable": previewTag "stable" is reserved for the stable revision`},
		"preview-bad": {obj: rollout(withoutCanary(), withBlueGreen(&rolloutsv1alpha1.BlueGreenStrategy{PreviewTag: "Pre_view"})),
			wantErr: `spec.strategy.blueGreen.previewTag: Invalid value: "Pre_view": spec.strategy.blueGreen.previewTag in body should match`},
		"preview-too-long": {obj: rollout(named(strings.Repeat("p", 40)), withoutCanary(), withBlueGreen(&rolloutsv1alpha1.BlueGreenStrategy{PreviewTag: strings.Repeat("t", 23)})),
			wantErr: `spec.strategy.blueGreen.previewTag: Invalid value: the preview host label <previewTag>-<name> must be at most 63 characters`},

		// Root rules.
		"name-57": {obj: rollout(named(strings.Repeat("n", 57))),
			wantErr: `Invalid value: metadata.name must be at most 56 characters: the tag hosts stable-<name> and canary-<name> are DNS labels of at most 63`},
		"template-name-wrong": {obj: rollout(named("template-name-wrong"), withTemplateName("other-v2")),
			wantErr: `spec.template.metadata.name: Invalid value: template.metadata.name must start with the rollout's name and a dash`},
		"template-checked": {obj: rollout(func(ro *rolloutsv1alpha1.Rollout) { ro.Spec.Template.Spec.Containers = nil }),
			wantErr: `spec.template.spec.containers: Required value`},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			obj := tc.obj
			if obj.Name == "" {
				obj.Name = name
			}
			obj.Namespace = ns
			framework.ExpectAdmission(t, c.Create(ctx, obj), tc.wantErr)
		})
	}
}

func testDefaults(ctx context.Context, t *testing.T, c client.Client, ns string) {
	ro := rollout(withoutCanary(), withBlueGreen(&rolloutsv1alpha1.BlueGreenStrategy{}),
		withMetrics(builtin("error-rate", "errorRate", "1%")))
	ro.Namespace, ro.Name = ns, "defaults"
	if err := c.Create(ctx, ro); err != nil {
		t.Fatalf("Create: %v", err)
	}
	got := &rolloutsv1alpha1.Rollout{}
	if err := c.Get(ctx, client.ObjectKeyFromObject(ro), got); err != nil {
		t.Fatal(err)
	}
	if p := got.Spec.Strategy.BlueGreen.PreviewTag; p != "preview" {
		t.Errorf("previewTag = %q, want preview", p)
	}
	// Analysis settings are defaulted by the controller (its --analysis-*
	// flags), not by the API server.
	a := got.Spec.Analysis
	if a.Interval != nil || a.Window != nil || a.MinRequests != nil || a.FailureLimit != 0 || a.InconclusiveLimit != 0 ||
		a.Alpha != nil || a.Beta != nil || a.MinStepTime != nil || a.MaxStepTime != nil || a.OnTimeout != "" || a.Disabled ||
		a.Metrics[0].Margin != nil || a.Metrics[0].Tolerance != nil {
		t.Errorf("analysis settings were defaulted at admission: %+v", a)
	}
	// A Rollout without an analysis block keeps none: the controller gives
	// it the default analysis in memory.
	bare := rollout()
	bare.Namespace, bare.Name = ns, "defaults-no-analysis"
	if err := c.Create(ctx, bare); err != nil {
		t.Fatalf("Create: %v", err)
	}
	if err := c.Get(ctx, client.ObjectKeyFromObject(bare), got); err != nil {
		t.Fatal(err)
	}
	if got.Spec.Analysis != nil {
		t.Errorf("analysis = %+v, want none stored", got.Spec.Analysis)
	}
	if d := got.Spec.ProgressDeadline.Duration; d != 10*time.Minute {
		t.Errorf("progressDeadline = %v, want the 10m default", d)
	}
}

func testIssueExample(ctx context.Context, t *testing.T, c client.Client, ns string) {
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(issueExample), &u.Object); err != nil {
		t.Fatal(err)
	}
	u.SetNamespace(ns)
	if err := c.Create(ctx, u); err != nil {
		t.Fatalf("creating the issue's Rollout: %v", err)
	}
	got := &rolloutsv1alpha1.Rollout{}
	if err := c.Get(ctx, client.ObjectKeyFromObject(u), got); err != nil {
		t.Fatal(err)
	}
	if n := got.Spec.NumSteps(); n != 5 {
		t.Errorf("steps = %d, want 5", n)
	}
	if d := got.Spec.Strategy.Canary.Steps[1].Pause.Duration; d != 2*time.Minute {
		t.Errorf("step 1 pause = %s, want 2m", d)
	}
}

// testDurations writes duration strings Go would never marshal.
func testDurations(ctx context.Context, t *testing.T, c client.Client, ns string) {
	const msg = `must be a positive duration such as 90s, 10m or 1h30m`
	cases := map[string]struct {
		path    []string
		value   any
		wantErr string
	}{
		"deadline-words":     {path: []string{"spec", "progressDeadline"}, value: "10 minutes", wantErr: `spec.progressDeadline: Invalid value: "10 minutes": ` + msg},
		"deadline-1h30m":     {path: []string{"spec", "progressDeadline"}, value: "1h30m"},
		"deadline-1.5h":      {path: []string{"spec", "progressDeadline"}, value: "1.5h"},
		"interval-days":      {path: []string{"spec", "analysis", "interval"}, value: "1d", wantErr: `spec.analysis.interval: Invalid value: "1d": ` + msg},
		"window-negative":    {path: []string{"spec", "analysis", "window"}, value: "-1m", wantErr: `spec.analysis.window: Invalid value: "-1m": ` + msg},
		"pause-bare":         {path: []string{"spec", "strategy", "canary", "steps"}, value: []any{map[string]any{"pause": "30"}}, wantErr: `spec.strategy.canary.steps[0].pause: Invalid value: "30": ` + msg},
		"min-step-time-0s":   {path: []string{"spec", "analysis", "minStepTime"}, value: "0s"},
		"min-step-time-bare": {path: []string{"spec", "analysis", "minStepTime"}, value: "30", wantErr: `spec.analysis.minStepTime: Invalid value: "30": must be a duration such as 30s or 2m`},
		"min-step-time-above-max": {path: []string{"spec", "analysis"}, value: map[string]any{"minStepTime": "2m", "maxStepTime": "90s"},
			wantErr: `spec.analysis.minStepTime: Invalid value: minStepTime must not be above maxStepTime`},
		"max-step-time-15m": {path: []string{"spec", "analysis", "maxStepTime"}, value: "15m"},
		"max-step-time-1h":  {path: []string{"spec", "analysis", "maxStepTime"}, value: "1h", wantErr: `spec.analysis.maxStepTime: Invalid value: "1h": must be a positive duration of at most 15m`},
		"alpha-fraction":    {path: []string{"spec", "analysis", "alpha"}, value: "0.001"},
		"alpha-percent":     {path: []string{"spec", "analysis", "alpha"}, value: "1%", wantErr: `spec.analysis.alpha: Invalid value: "1%": must be a number in (0, 0.5]`},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			u := &unstructured.Unstructured{}
			if err := yaml.Unmarshal([]byte(issueExample), &u.Object); err != nil {
				t.Fatal(err)
			}
			u.SetNamespace(ns)
			u.SetName(name)
			if err := unstructured.SetNestedField(u.Object, tc.value, tc.path...); err != nil {
				t.Fatal(err)
			}
			framework.ExpectAdmission(t, c.Create(ctx, u), tc.wantErr)
		})
	}
}

// testDocsCountsExample creates docs/analysis.md's ClusterAnalysisTemplate
// of Prometheus counts metrics: the CEL rules admit it as written.
func testDocsCountsExample(ctx context.Context, t *testing.T, c client.Client) {
	b, err := os.ReadFile("../../../docs/analysis.md")
	if err != nil {
		t.Fatal(err)
	}
	_, block, ok := strings.Cut(string(b), "<!-- counts-example -->\n```yaml\n")
	if !ok {
		t.Fatal("docs/analysis.md has no counts example")
	}
	block, _, _ = strings.Cut(block, "```")
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(block), &u.Object); err != nil {
		t.Fatal(err)
	}
	if err := c.Create(ctx, u); err != nil {
		t.Fatalf("creating the docs' ClusterAnalysisTemplate: %v", err)
	}
	got := &rolloutsv1alpha1.ClusterAnalysisTemplate{}
	if err := c.Get(ctx, client.ObjectKeyFromObject(u), got); err != nil {
		t.Fatal(err)
	}
	if p := got.Spec.Metrics[1].Prometheus; p == nil || p.Kind != "latencyP90" || p.Histogram == "" {
		t.Errorf("latency metric stored as %+v", p)
	}
}
