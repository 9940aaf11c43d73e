package chart

import (
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	rolloutsv1alpha1 "github.com/rampdev/ramp/apis/rollouts/v1alpha1"
	servingv1 "github.com/rampdev/ramp/apis/serving/v1"
)

// renderNotes renders templates/NOTES.txt. `helm template` skips it and
// `helm install --dry-run` wants a cluster, so this renders a copy of the
// chart in which the notes are a file that a ConfigMap template passes
// through tpl.
func renderNotes(t *testing.T, extra ...string) string {
	t.Helper()
	src := filepath.Join(repoRoot(t), "charts/ramp")
	dst := filepath.Join(t.TempDir(), "ramp")
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		if rel == filepath.Join("templates", "NOTES.txt") {
			rel = "notes.txt"
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	const tmpl = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: notes}\ndata:\n  notes: {{ tpl (.Files.Get \"notes.txt\") . | quote }}\n"
	if err := os.WriteFile(filepath.Join(dst, "templates", "zz-notes.yaml"), []byte(tmpl), 0o644); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"template", releaseName, dst, "--namespace", releaseNS, "--show-only", "templates/zz-notes.yaml"}, extra...)
	out, err := helm(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	docs := splitDocs(t, out)
	if len(docs) != 1 {
		t.Fatalf("rendered %d documents, want the notes only", len(docs))
	}
	notes := str(docs[0].obj, "data", "notes")
	if !strings.Contains(notes, "Ramp ") {
		t.Fatalf("the notes did not render:\n%s", out)
	}
	return notes
}

// mergedValues are the chart's values with a values file over them, as
// helm merges them (maps merge, everything else is replaced).
func mergedValues(t *testing.T, args []string) map[string]any {
	t.Helper()
	vals := readYAML(t, "charts/ramp/values.yaml")
	if len(args) > 0 {
		mergeMaps(vals, readYAML(t, args[1]))
	}
	return vals
}

func mergeMaps(dst, src map[string]any) {
	for k, v := range src {
		if sm, ok := v.(map[string]any); ok {
			if dm, ok := dst[k].(map[string]any); ok {
				mergeMaps(dm, sm)
				continue
			}
		}
		dst[k] = v
	}
}

// heredocs are the manifests the notes apply with `kubectl apply -f - <<YAML`.
func heredocs(notes string) []string {
	var out []string
	for _, part := range strings.Split(notes, "<<YAML\n")[1:] {
		body, _, _ := strings.Cut(part, "\n  YAML\n")
		var lines []string
		for _, l := range strings.Split(body, "\n") {
			lines = append(lines, strings.TrimPrefix(l, "  "))
		}
		out = append(out, strings.Join(lines, "\n"))
	}
	return out
}

func TestNotesAreAccurate(t *testing.T) {
	for name, args := range valueSets {
		t.Run(name, func(t *testing.T) {
			notes := renderNotes(t, args...)
			docs := render(t, args...)
			vals := mergedValues(t, args)
			image := str(vals, "image", "registry") + "/sampleapp:" + str(vals, "image", "tag")
			for _, want := range []string{
				"kubectl -n " + releaseNS + " get pods -l ",
				"apiVersion: serving.ramp.dev/v1", "- image: " + image,
				"kubectl get rsvc,revisions", "." + str(vals, "domain"),
				"kubectl -n " + releaseNS + " port-forward svc/ramp-gateway 8080:80",
				`curl -H "Host: hello.default.` + str(vals, "domain") + `"`,
				"apiVersion: rollouts.ramp.dev/v1alpha1", "kubectl get ro greeter", "ramp rollout get greeter",
				"kubectl label namespace " + releaseNS + " pod-security.kubernetes.io/enforce=restricted",
			} {
				if !strings.Contains(notes, want) {
					t.Errorf("NOTES.txt lacks %q:\n%s", want, notes)
				}
			}
			if strings.Contains(notes, "<no value>") {
				t.Errorf("NOTES.txt uses a value that does not exist:\n%s", notes)
			}
			// The pod selector matches the controller's pods.
			_, rest, _ := strings.Cut(notes, "get pods -l ")
			selector, _, _ := strings.Cut(rest, "\n")
			labels, _ := get(controllerDeployment(t, docs), "spec", "template", "metadata", "labels").(map[string]any)
			for _, kv := range strings.Split(selector, ",") {
				k, v, _ := strings.Cut(kv, "=")
				if labels[k] != v {
					t.Errorf("NOTES.txt selects pods by %s, which the controller's pods (%v) do not match", kv, labels)
				}
			}
			// Resources it gets are core ones or the chart's CRDs, and the
			// Services it names are rendered.
			known := map[string]bool{"pods": true, "svc": true}
			for _, crd := range ofKind(docs, crdKind) {
				known[str(crd.obj, "spec", "names", "plural")] = true
				for _, s := range strList(crd.obj, "spec", "names", "shortNames") {
					known[s] = true
				}
			}
			services := serviceNames(docs)
			for _, line := range strings.Split(notes, "\n") {
				f := strings.Fields(strings.TrimSpace(line))
				if i := slices.Index(f, "get"); len(f) > 0 && f[0] == "kubectl" && i > 0 && i+1 < len(f) {
					for _, r := range strings.Split(f[i+1], ",") {
						if !known[r] {
							t.Errorf("NOTES.txt runs kubectl get %s, a resource the chart does not define", r)
						}
					}
					if f[i+1] == "svc" && i+2 < len(f) && !slices.Contains(services, f[i+2]) {
						t.Errorf("NOTES.txt gets Service %s, which the chart does not render", f[i+2])
					}
				}
				if _, svc, ok := strings.Cut(line, "svc/"); ok {
					if svc, _, _ = strings.Cut(svc, " "); !slices.Contains(services, svc) {
						t.Errorf("NOTES.txt names Service %s, which the chart does not render", svc)
					}
				}
			}
			// The manifests decode strictly into the API types, and the
			// patch that starts a canary points at a field of the Rollout.
			manifests := heredocs(notes)
			if len(manifests) != 2 {
				t.Fatalf("%d manifests in the notes, want the Service and the Rollout", len(manifests))
			}
			if err := yaml.UnmarshalStrict([]byte(manifests[0]), &servingv1.Service{}); err != nil {
				t.Errorf("the Service example does not decode: %v\n%s", err, manifests[0])
			}
			var ro rolloutsv1alpha1.Rollout
			if err := yaml.UnmarshalStrict([]byte(manifests[1]), &ro); err != nil {
				t.Errorf("the Rollout example does not decode: %v\n%s", err, manifests[1])
			}
			// No analysis block: the example shows the default analysis.
			if ro.Spec.Strategy.Canary == nil || ro.Spec.Analysis != nil || ro.Name != "greeter" {
				t.Errorf("the Rollout example has no canary steps, or an analysis block hiding the defaults: %+v", ro.Spec)
			}
			if c := ro.Spec.Template.Spec.Containers; len(c) != 1 || len(c[0].Env) != 1 || c[0].Env[0].Value != "v1" ||
				!strings.Contains(notes, `"path": "/spec/template/spec/containers/0/env/0/value", "value": "v2"`) {
				t.Errorf("the patch does not replace the example's env[0] v1 with v2:\n%s", notes)
			}
		})
	}
}

// What the notes say depends on the values.
func TestNotesFollowTheValues(t *testing.T) {
	tests := map[string]struct {
		args       []string
		want, none []string
	}{
		"defaults: a LoadBalancer, Slack off, no monitoring": {nil,
			[]string{"GATEWAY=$(kubectl -n " + releaseNS + " get svc ramp-gateway", "slack.mode=off", "need analysis.prometheus.url",
				"(after 30s), and without a verdict by 10m it does rollback"},
			[]string{"Monitoring:", "ramp-slack", "nodePort", "Local mode"}},
		"full: NodePort, Slack http, monitoring": {fullValues,
			[]string{"jsonpath='{.spec.ports[?(@.name==\"http\")].nodePort}'", "Service\n  " + releaseNS + "/ramp-slack (port 8098)",
				"https://<host>/slack/actions", "https://<host>/slack/commands", "channel #deploys", "Secret " + releaseNS + "/ramp-slack-tokens",
				"Allowed to act from Slack: U012AB3CD, alice.", "ask https://prometheus-operated.monitoring:9090, with the TLS files and\n  credentials of Secret ramp-system/ramp-prometheus.",
				"ServiceMonitors ramp-controller and ramp-gateway scrape /metrics every 15s", "PodMonitor ramp-revisions",
				"ConfigMap ramp-grafana-dashboard", "grafana.example.org/dashboard=ramp", "(after 1m), and without a verdict by 12m it does pause"},
			[]string{"slack.mode=off", "Socket Mode"}},
		"Slack socket mode": {valueSets["slack-socket"],
			[]string{"Socket Mode: nothing to\n  expose", "channel C0123ABCDE", "Nobody may act from Slack until slack.allowedUsers"},
			[]string{"ramp-slack (port 8098)", "/slack/actions"}},
		"local mode": {[]string{"--set", "gateway.hostPort=8080"},
			[]string{`curl -H "Host: hello.default.example.com" http://127.0.0.1:8080/`, "except the gateway's"},
			[]string{"GATEWAY=$("}},
		"ClusterIP gateway": {[]string{"--set", "gateway.service.type=ClusterIP"},
			[]string{"port-forward svc/ramp-gateway 8080:80"},
			[]string{"GATEWAY=$(", "nodePort"}},
		"no gateway": {[]string{"--set", "gateway.enabled=false"},
			[]string{"This release has no gateway"},
			[]string{"svc/ramp-gateway", "Send some to"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			notes := renderNotes(t, tc.args...)
			for _, w := range tc.want {
				if !strings.Contains(notes, w) {
					t.Errorf("NOTES.txt lacks %q:\n%s", w, notes)
				}
			}
			for _, n := range tc.none {
				if strings.Contains(notes, n) {
					t.Errorf("NOTES.txt has %q:\n%s", n, notes)
				}
			}
		})
	}
}
