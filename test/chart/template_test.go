package chart

import (
	"flag"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

const crdKind = "CustomResourceDefinition"

// goldenText is the rendering without the files `make manifests` generates
// (the CRDs and ClusterRoles), which `make verify` checks, and whose
// permissions TestRBACIsLeastPrivilege audits.
func goldenText(docs []doc) string {
	var b strings.Builder
	for _, d := range docs {
		if d.generated() {
			continue
		}
		b.WriteString("---\n")
		b.WriteString(d.raw)
	}
	return b.String()
}

func TestRenderingMatchesGoldenFile(t *testing.T) {
	tests := map[string]struct {
		values string
		golden string
	}{
		"defaults":          {golden: "defaults.golden.yaml"},
		"every value set":   {values: "full-values.yaml", golden: "full.golden.yaml"},
		"slack socket mode": {values: "slack-socket-values.yaml", golden: "slack-socket.golden.yaml"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var extra []string
			if tc.values != "" {
				extra = []string{"--values", filepath.Join("test/chart/testdata", tc.values)}
			}
			got := goldenText(render(t, extra...))
			path := filepath.Join("testdata", tc.golden)
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./test/chart/ -run Golden -update to write it)", err)
			}
			if got != string(want) {
				t.Errorf("rendering differs from %s (if intended: go test ./test/chart/ -run Golden -update):\n%s",
					path, lineDiff(string(want), got))
			}
		})
	}
}

// lineDiff shows the lines between the common head and tail of want and
// got, with some context.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	head := 0
	for head < len(w) && head < len(g) && w[head] == g[head] {
		head++
	}
	tail := 0
	for tail < len(w)-head && tail < len(g)-head && w[len(w)-1-tail] == g[len(g)-1-tail] {
		tail++
	}
	var b strings.Builder
	for _, l := range w[max(0, head-3):head] {
		b.WriteString("  " + l + "\n")
	}
	for _, l := range limit(w[head:len(w)-tail], 40) {
		b.WriteString("- " + l + "\n")
	}
	for _, l := range limit(g[head:len(g)-tail], 40) {
		b.WriteString("+ " + l + "\n")
	}
	for _, l := range w[len(w)-tail : min(len(w), len(w)-tail+3)] {
		b.WriteString("  " + l + "\n")
	}
	return b.String()
}

func limit(lines []string, n int) []string {
	if len(lines) > n {
		return append(lines[:n:n], "...")
	}
	return lines
}

func TestChartRendersTheCRDs(t *testing.T) {
	want := map[string]string{
		"configurations.serving.ramp.dev":            "serving.ramp.dev",
		"revisions.serving.ramp.dev":                 "serving.ramp.dev",
		"routes.serving.ramp.dev":                    "serving.ramp.dev",
		"services.serving.ramp.dev":                  "serving.ramp.dev",
		"rollouts.rollouts.ramp.dev":                 "rollouts.ramp.dev",
		"analysistemplates.rollouts.ramp.dev":        "rollouts.ramp.dev",
		"clusteranalysistemplates.rollouts.ramp.dev": "rollouts.ramp.dev",
	}
	for name, args := range valueSets {
		t.Run(name, func(t *testing.T) {
			got := map[string]string{}
			for _, d := range ofKind(render(t, args...), crdKind) {
				got[d.name()] = str(d.obj, "spec", "group")
			}
			if !maps.Equal(got, want) {
				t.Errorf("rendered CRDs (name: group) %v, want exactly %v", got, want)
			}
		})
	}
}

// apiTypes are the kinds the chart may render, with their apiVersion and Go
// type; a new kind must be added here.
var apiTypes = map[string]struct {
	apiVersion string
	new        func() any
}{
	"ServiceAccount":           {"v1", func() any { return &corev1.ServiceAccount{} }},
	"Service":                  {"v1", func() any { return &corev1.Service{} }},
	"ConfigMap":                {"v1", func() any { return &corev1.ConfigMap{} }},
	"Deployment":               {"apps/v1", func() any { return &appsv1.Deployment{} }},
	"PodDisruptionBudget":      {"policy/v1", func() any { return &policyv1.PodDisruptionBudget{} }},
	"NetworkPolicy":            {"networking.k8s.io/v1", func() any { return &networkingv1.NetworkPolicy{} }},
	"ClusterRole":              {"rbac.authorization.k8s.io/v1", func() any { return &rbacv1.ClusterRole{} }},
	"ClusterRoleBinding":       {"rbac.authorization.k8s.io/v1", func() any { return &rbacv1.ClusterRoleBinding{} }},
	"Role":                     {"rbac.authorization.k8s.io/v1", func() any { return &rbacv1.Role{} }},
	"RoleBinding":              {"rbac.authorization.k8s.io/v1", func() any { return &rbacv1.RoleBinding{} }},
	"CustomResourceDefinition": {"apiextensions.k8s.io/v1", func() any { return &apiextensionsv1.CustomResourceDefinition{} }},
	"ServiceMonitor":           {"monitoring.coreos.com/v1", func() any { return &serviceMonitor{} }},
	"PodMonitor":               {"monitoring.coreos.com/v1", func() any { return &podMonitor{} }},
	"ValidatingWebhookConfiguration": {"admissionregistration.k8s.io/v1", func() any {
		return &admissionregistrationv1.ValidatingWebhookConfiguration{}
	}},
}

// Every rendered object decodes strictly into its API type, so a misspelt
// or misplaced field in a template fails here rather than being dropped by
// the API server. Namespaced objects are in the release namespace.
func TestRenderedObjectsAreValidAPIObjects(t *testing.T) {
	clusterScoped := map[string]bool{"ClusterRole": true, "ClusterRoleBinding": true, crdKind: true, "ValidatingWebhookConfiguration": true}
	for name, args := range valueSets {
		t.Run(name, func(t *testing.T) {
			seen := map[string]bool{}
			for _, d := range render(t, args...) {
				typ, ok := apiTypes[d.kind()]
				if !ok {
					t.Errorf("%s: kind not known to this test; add it to apiTypes", d.id())
					continue
				}
				if v := str(d.obj, "apiVersion"); v != typ.apiVersion {
					t.Errorf("%s: apiVersion %q, want %q", d.id(), v, typ.apiVersion)
				}
				if err := yaml.UnmarshalStrict([]byte(d.raw), typ.new()); err != nil {
					t.Errorf("%s does not decode strictly: %v", d.id(), err)
				}
				ns := str(d.obj, "metadata", "namespace")
				if clusterScoped[d.kind()] && ns != "" {
					t.Errorf("%s is cluster-scoped but has namespace %q", d.id(), ns)
				}
				if !clusterScoped[d.kind()] && ns != releaseNS {
					t.Errorf("%s: namespace %q, want the release namespace %s", d.id(), ns, releaseNS)
				}
				if !d.generated() && (str(d.obj, "metadata", "labels", "app.kubernetes.io/name") != "ramp" ||
					str(d.obj, "metadata", "labels", "app.kubernetes.io/instance") != releaseName) {
					t.Errorf("%s lacks the chart's labels: %v", d.id(), get(d.obj, "metadata", "labels"))
				}
				if seen[d.id()] {
					t.Errorf("%s is rendered twice", d.id())
				}
				seen[d.id()] = true
			}
		})
	}
}
