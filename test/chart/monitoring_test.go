package chart

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"

	servingv1 "github.com/rampdev/ramp/apis/serving/v1"
	"github.com/rampdev/ramp/controllers/revision/resources"
	"github.com/rampdev/ramp/serving/queue"
)

// The Prometheus Operator's ServiceMonitor and PodMonitor
// (monitoring.coreos.com/v1), reduced to the fields a chart may use, with
// the JSON names of github.com/prometheus-operator/prometheus-operator's
// pkg/apis/monitoring/v1 (not a dependency of Ramp), so that strict decoding
// catches a misspelt or misplaced field.
type (
	relabelConfig struct {
		SourceLabels []string `json:"sourceLabels,omitempty"`
		Separator    *string  `json:"separator,omitempty"`
		TargetLabel  string   `json:"targetLabel,omitempty"`
		Regex        string   `json:"regex,omitempty"`
		Modulus      uint64   `json:"modulus,omitempty"`
		Replacement  *string  `json:"replacement,omitempty"`
		Action       string   `json:"action,omitempty"`
	}
	scrapeEndpoint struct {
		Port              string          `json:"port,omitempty"`
		Path              string          `json:"path,omitempty"`
		Scheme            string          `json:"scheme,omitempty"`
		Interval          string          `json:"interval,omitempty"`
		ScrapeTimeout     string          `json:"scrapeTimeout,omitempty"`
		HonorLabels       bool            `json:"honorLabels,omitempty"`
		Relabelings       []relabelConfig `json:"relabelings,omitempty"`
		MetricRelabelings []relabelConfig `json:"metricRelabelings,omitempty"`
	}
	namespaceSelector struct {
		Any        bool     `json:"any,omitempty"`
		MatchNames []string `json:"matchNames,omitempty"`
	}
	serviceMonitor struct {
		metav1.TypeMeta   `json:",inline"`
		metav1.ObjectMeta `json:"metadata,omitempty"`
		Spec              struct {
			JobLabel          string               `json:"jobLabel,omitempty"`
			TargetLabels      []string             `json:"targetLabels,omitempty"`
			PodTargetLabels   []string             `json:"podTargetLabels,omitempty"`
			Endpoints         []scrapeEndpoint     `json:"endpoints"`
			Selector          metav1.LabelSelector `json:"selector"`
			NamespaceSelector namespaceSelector    `json:"namespaceSelector,omitempty"`
		} `json:"spec"`
	}
	podMonitor struct {
		metav1.TypeMeta   `json:",inline"`
		metav1.ObjectMeta `json:"metadata,omitempty"`
		Spec              struct {
			JobLabel            string               `json:"jobLabel,omitempty"`
			PodTargetLabels     []string             `json:"podTargetLabels,omitempty"`
			PodMetricsEndpoints []scrapeEndpoint     `json:"podMetricsEndpoints"`
			Selector            metav1.LabelSelector `json:"selector"`
			NamespaceSelector   namespaceSelector    `json:"namespaceSelector,omitempty"`
		} `json:"spec"`
	}
)

var fullValues = valueSets["full"]

func decode[T any](t *testing.T, d doc) *T {
	t.Helper()
	out := new(T)
	if err := yaml.UnmarshalStrict([]byte(d.raw), out); err != nil {
		t.Fatalf("%s: %v", d.id(), err)
	}
	return out
}

func named(t *testing.T, docs []doc, kind, name string) doc {
	t.Helper()
	for _, d := range ofKind(docs, kind) {
		if d.name() == name {
			return d
		}
	}
	t.Fatalf("no %s/%s rendered", kind, name)
	return doc{}
}

// Every Service selects the pods of exactly one Deployment, and each of its
// ports targets a port of those pods.
func TestServicesReachTheirPods(t *testing.T) {
	for name, args := range valueSets {
		t.Run(name, func(t *testing.T) {
			docs := render(t, args...)
			for _, sd := range ofKind(docs, "Service") {
				svc := decode[corev1.Service](t, sd)
				var pods []corev1.PodTemplateSpec
				for _, dd := range ofKind(docs, "Deployment") {
					tmpl := decode[appsv1.Deployment](t, dd).Spec.Template
					if labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(tmpl.Labels)) {
						pods = append(pods, tmpl)
					}
				}
				if len(svc.Spec.Selector) == 0 || len(pods) != 1 {
					t.Errorf("%s selects %v: the pods of %d Deployments, want 1", sd.id(), svc.Spec.Selector, len(pods))
					continue
				}
				for _, p := range svc.Spec.Ports {
					if _, ok := containerPort(pods[0].Spec, p.TargetPort.String()); !ok {
						t.Errorf("%s port %s targets %s, which its pods do not have", sd.id(), p.Name, p.TargetPort.String())
					}
				}
			}
		})
	}
}

// containerPort finds a container port by name or number.
func containerPort(spec corev1.PodSpec, port string) (corev1.ContainerPort, bool) {
	for _, c := range spec.Containers {
		for _, cp := range c.Ports {
			if cp.Name == port || port == strconv.Itoa(int(cp.ContainerPort)) {
				return cp, true
			}
		}
	}
	return corev1.ContainerPort{}, false
}

// The Services the binaries are told about exist, on the ports they dial.
func TestFlagsNameRenderedServices(t *testing.T) {
	docs := render(t)
	gw := decode[appsv1.Deployment](t, named(t, docs, "Deployment", "ramp-gateway")).Spec.Template.Spec
	ctrl := decode[appsv1.Deployment](t, named(t, docs, "Deployment", "ramp-controller")).Spec.Template.Spec
	want := map[string]string{
		"--autoscaler-service=" + releaseNS + "/ramp-autoscaler": "gateway",
		"--gateway-service=" + releaseNS + "/ramp-gateway":       "controller",
	}
	for arg, who := range want {
		args := gw.Containers[0].Args
		if who == "controller" {
			args = ctrl.Containers[0].Args
		}
		if !slices.Contains(args, arg) {
			t.Errorf("%s args %q lack %s", who, args, arg)
		}
	}
	// The gateway dials the autoscaler Service's endpoints on
	// --autoscaler-port (default 8099): the controller's container port.
	as := decode[corev1.Service](t, named(t, docs, "Service", "ramp-autoscaler"))
	if len(as.Spec.Ports) != 1 || as.Spec.Ports[0].Port != 8099 || as.Spec.Ports[0].Name != "autoscaler" {
		t.Errorf("ramp-autoscaler ports = %+v, want autoscaler 8099", as.Spec.Ports)
	}
	if cp, ok := containerPort(ctrl, "autoscaler"); !ok || cp.ContainerPort != 8099 {
		t.Errorf("controller container port autoscaler = %+v, want 8099", cp)
	}
}

func TestMonitoringIsOffByDefault(t *testing.T) {
	docs := render(t)
	if n := len(ofKind(docs, "ServiceMonitor", "PodMonitor")); n != 0 {
		t.Errorf("%d monitors rendered by default, want none (they need the Prometheus Operator's CRDs)", n)
	}
	for _, d := range ofKind(docs, "ConfigMap") {
		if d.name() == "ramp-grafana-dashboard" {
			t.Error("the Grafana dashboard is rendered by default")
		}
	}
	// The metrics Services do not need the operator.
	named(t, docs, "Service", "ramp-controller-metrics")
	named(t, docs, "Service", "ramp-gateway-metrics")
}

// Each ServiceMonitor selects exactly one Service of the release, which has
// the port it scrapes; the metrics keep their own namespace label.
func TestServiceMonitorsScrapeTheMetricsServices(t *testing.T) {
	tests := map[string]struct {
		args []string
		want []string
	}{
		"full":            {fullValues, []string{"ramp-controller", "ramp-gateway"}},
		"gateway off":     {[]string{"--set", "metrics.serviceMonitor.enabled=true", "--set", "gateway.enabled=false"}, []string{"ramp-controller"}},
		"defaults, on":    {[]string{"--set", "metrics.serviceMonitor.enabled=true"}, []string{"ramp-controller", "ramp-gateway"}},
		"extra labels on": {[]string{"--set", "metrics.serviceMonitor.enabled=true", "--set", "metrics.serviceMonitor.labels.release=prom"}, []string{"ramp-controller", "ramp-gateway"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			docs := render(t, tc.args...)
			var got []string
			for _, d := range ofKind(docs, "ServiceMonitor") {
				got = append(got, d.name())
				sm := decode[serviceMonitor](t, d)
				if !slices.Equal(sm.Spec.NamespaceSelector.MatchNames, []string{releaseNS}) {
					t.Errorf("%s namespaceSelector = %+v, want the release namespace", d.id(), sm.Spec.NamespaceSelector)
				}
				sel, err := metav1.LabelSelectorAsSelector(&sm.Spec.Selector)
				if err != nil {
					t.Fatal(err)
				}
				var svcs []*corev1.Service
				for _, sd := range ofKind(docs, "Service") {
					if svc := decode[corev1.Service](t, sd); sel.Matches(labels.Set(svc.Labels)) {
						svcs = append(svcs, svc)
					}
				}
				if len(svcs) != 1 {
					t.Errorf("%s selects %d Services, want 1", d.id(), len(svcs))
					continue
				}
				if len(sm.Spec.Endpoints) != 1 {
					t.Fatalf("%s has %d endpoints, want 1", d.id(), len(sm.Spec.Endpoints))
				}
				ep := sm.Spec.Endpoints[0]
				if !slices.ContainsFunc(svcs[0].Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == ep.Port }) {
					t.Errorf("%s scrapes port %q, which Service %s lacks", d.id(), ep.Port, svcs[0].Name)
				}
				if ep.Path != "/metrics" || !ep.HonorLabels {
					t.Errorf("%s endpoint = %+v, want path /metrics and honorLabels (the metrics' namespace label wins)", d.id(), ep)
				}
				if strings.Contains(name, "extra labels") && sm.Labels["release"] != "prom" {
					t.Errorf("%s labels = %v, want release=prom", d.id(), sm.Labels)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("ServiceMonitors %v, want %v", got, tc.want)
			}
		})
	}
}

// The PodMonitor scrapes the queue-proxy of a Deployment the revision
// controller builds, and labels the series with the revision.
func TestPodMonitorScrapesQueueProxies(t *testing.T) {
	pm := decode[podMonitor](t, named(t, render(t, fullValues...), "PodMonitor", "ramp-revisions"))
	if !pm.Spec.NamespaceSelector.Any {
		t.Errorf("namespaceSelector = %+v, want any: revisions run in every namespace", pm.Spec.NamespaceSelector)
	}
	rev := &servingv1.Revision{
		ObjectMeta: metav1.ObjectMeta{Name: "hello-00001", Namespace: "default", Labels: map[string]string{
			servingv1.LabelConfiguration: "hello", servingv1.LabelService: "hello",
		}},
		Spec: servingv1.RevisionSpec{Containers: []servingv1.Container{{Image: "ramp/sampleapp:dev"}}},
	}
	tmpl := resources.MakeDeployment(rev, resources.DeploymentOptions{QueueImage: "ramp/queue:dev", Replicas: 1}).Spec.Template
	sel, err := metav1.LabelSelectorAsSelector(&pm.Spec.Selector)
	if err != nil {
		t.Fatal(err)
	}
	if !sel.Matches(labels.Set(tmpl.Labels)) {
		t.Errorf("selector %v does not match revision pod labels %v", sel, tmpl.Labels)
	}
	if sel.Matches(labels.Set{"app.kubernetes.io/name": "ramp", "app.kubernetes.io/component": "controller"}) {
		t.Errorf("selector %v matches the controller's pods", sel)
	}
	if len(pm.Spec.PodMetricsEndpoints) != 1 {
		t.Fatalf("%d endpoints, want 1", len(pm.Spec.PodMetricsEndpoints))
	}
	ep := pm.Spec.PodMetricsEndpoints[0]
	var port *corev1.ContainerPort
	for _, c := range tmpl.Spec.Containers {
		for i, p := range c.Ports {
			if p.Name == ep.Port && c.Name == resources.QueueContainerName {
				port = &c.Ports[i]
			}
		}
	}
	if port == nil || port.ContainerPort != queue.MetricsPort || ep.Path != queue.MetricsPath {
		t.Errorf("endpoint %s%s does not reach the queue-proxy's metrics (port %d, path %s): %+v",
			ep.Port, ep.Path, queue.MetricsPort, queue.MetricsPath, port)
	}
	podLabel := func(l string) string {
		return "__meta_kubernetes_pod_label_" + regexp.MustCompile(`[^a-zA-Z0-9_]`).ReplaceAllString(l, "_")
	}
	want := []relabelConfig{
		{Action: "keep", SourceLabels: []string{"__meta_kubernetes_pod_container_name"}, Regex: resources.QueueContainerName},
		{Action: "replace", SourceLabels: []string{podLabel(servingv1.LabelRevision)}, TargetLabel: "revision"},
		{Action: "replace", SourceLabels: []string{podLabel(servingv1.LabelConfiguration)}, TargetLabel: "configuration"},
		{Action: "replace", SourceLabels: []string{podLabel(servingv1.LabelService)}, TargetLabel: "service"},
	}
	if got, _ := json.Marshal(ep.Relabelings); string(got) != mustJSON(t, want) {
		t.Errorf("relabelings = %s, want %s", got, mustJSON(t, want))
	}
	if ep.Interval != "1m" || pm.Labels["team"] != "serving" {
		t.Errorf("interval %q, labels %v: want the values' 1m and team=serving", ep.Interval, pm.Labels)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// grafanaDashboard is the part of Grafana's dashboard model the test reads.
type grafanaDashboard struct {
	Title      string `json:"title"`
	UID        string `json:"uid"`
	Templating struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
	Panels []grafanaPanel `json:"panels"`
}

type grafanaPanel struct {
	ID         int            `json:"id"`
	Type       string         `json:"type"`
	Title      string         `json:"title"`
	Datasource map[string]any `json:"datasource"`
	GridPos    struct{ H, W, X, Y int }
	Targets    []struct {
		Expr  string `json:"expr"`
		RefID string `json:"refId"`
	} `json:"targets"`
}

// metricsWithoutNamespace are the dashboard's metrics that have no
// namespace label, so their panels cannot filter on $namespace (none:
// every Ramp metric a panel shows is per namespace).
var metricsWithoutNamespace = map[string]bool{}

// The dashboard is valid JSON whose queries use metrics the controller
// exports, filtered by the $namespace variable, and the ConfigMap carries
// it unchanged under the label Grafana's sidecar looks for.
func TestGrafanaDashboard(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(repoRoot(t), "charts/ramp/dashboards/ramp.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash grafanaDashboard
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("dashboards/ramp.json: %v", err)
	}
	if dash.Title == "" || dash.UID == "" {
		t.Errorf("title %q, uid %q: want both", dash.Title, dash.UID)
	}
	vars := map[string]string{}
	for _, v := range dash.Templating.List {
		vars[v.Name] = v.Type
	}
	if vars["namespace"] != "query" || vars["datasource"] != "datasource" {
		t.Errorf("template variables %v, want namespace (query) and datasource", vars)
	}

	// Metric names the Go sources declare.
	var src strings.Builder
	for _, f := range []string{"controllers/rollout/metrics.go", "controllers/autoscaler/metrics.go"} {
		b, err := os.ReadFile(filepath.Join(repoRoot(t), f))
		if err != nil {
			t.Fatal(err)
		}
		src.Write(b)
	}
	metricRE := regexp.MustCompile(`\bramp_[a-z_]+\b`)
	used := map[string]bool{}
	ids := map[int]bool{}
	for _, p := range dash.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d is used twice", p.ID)
		}
		ids[p.ID] = true
		if p.GridPos.W <= 0 || p.GridPos.X+p.GridPos.W > 24 {
			t.Errorf("panel %q: gridPos %+v is outside the 24 columns", p.Title, p.GridPos)
		}
		if p.Type == "row" {
			continue
		}
		if p.Datasource["uid"] != "${datasource}" || len(p.Targets) == 0 {
			t.Errorf("panel %q: datasource %v, %d targets; want ${datasource} and a query", p.Title, p.Datasource, len(p.Targets))
		}
		for _, tg := range p.Targets {
			names := metricRE.FindAllString(tg.Expr, -1)
			if len(names) == 0 {
				t.Errorf("panel %q: query %q uses no Ramp metric", p.Title, tg.Expr)
			}
			for _, m := range names {
				used[m] = true
				if !strings.Contains(src.String(), `"`+m+`"`) {
					t.Errorf("panel %q: metric %s is not declared in the controller's metrics.go files", p.Title, m)
				}
				if !metricsWithoutNamespace[m] && !strings.Contains(tg.Expr, `namespace=~"$namespace"`) {
					t.Errorf("panel %q: query %q does not filter on $namespace", p.Title, tg.Expr)
				}
			}
		}
	}
	for _, m := range []string{
		"ramp_rollout_phase", "ramp_rollout_canary_weight", "ramp_rollout_step", "ramp_rollout_analysis_measurements_total",
		"ramp_revision_desired_pods", "ramp_revision_actual_pods", "ramp_revision_stable_concurrency",
		"ramp_revision_requests_per_second", "ramp_revision_error_ratio", "ramp_revision_latency_seconds",
	} {
		if !used[m] {
			t.Errorf("no panel shows %s", m)
		}
	}

	cm := decode[corev1.ConfigMap](t, named(t, render(t, fullValues...), "ConfigMap", "ramp-grafana-dashboard"))
	if cm.Labels["grafana.example.org/dashboard"] != "ramp" || cm.Annotations["grafana_folder"] != "Ramp" {
		t.Errorf("labels %v, annotations %v: want the values' label and folder annotation", cm.Labels, cm.Annotations)
	}
	if cm.Data["ramp.json"] != strings.TrimRight(string(raw), "\n") {
		t.Error("the ConfigMap's ramp.json differs from dashboards/ramp.json")
	}
	cm = decode[corev1.ConfigMap](t, named(t, render(t, "--set", "grafana.dashboard.enabled=true"), "ConfigMap", "ramp-grafana-dashboard"))
	if cm.Labels["grafana_dashboard"] != "1" {
		t.Errorf("labels %v, want grafana_dashboard=1 by default", cm.Labels)
	}
}
