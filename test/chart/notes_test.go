package chart

import (
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
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

func TestNotesAreAccurate(t *testing.T) {
	for name, args := range valueSets {
		t.Run(name, func(t *testing.T) {
			notes := renderNotes(t, args...)
			docs := render(t, args...)
			var full map[string]any
			if len(args) > 0 {
				full = readYAML(t, args[1])
			} else {
				full = readYAML(t, "charts/ramp/values.yaml")
			}
			image := str(full, "image", "registry") + "/sampleapp:" + str(full, "image", "tag")
			for _, want := range []string{
				"kubectl -n " + releaseNS + " get pods -l ",
				"apiVersion: serving.ramp.dev/v1", "- image: " + image,
				"kubectl get rsvc,revisions", "." + str(full, "domain"),
				"gateway", "data plane",
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
			// Resources it lists are core ones or the chart's CRDs.
			known := map[string]bool{"pods": true}
			for _, crd := range ofKind(docs, crdKind) {
				known[str(crd.obj, "spec", "names", "plural")] = true
				for _, s := range strList(crd.obj, "spec", "names", "shortNames") {
					known[s] = true
				}
			}
			for _, line := range strings.Split(notes, "\n") {
				f := strings.Fields(strings.TrimSpace(line))
				if i := slices.Index(f, "get"); len(f) > 0 && f[0] == "kubectl" && i > 0 && i+1 < len(f) {
					for _, r := range strings.Split(f[i+1], ",") {
						if !known[r] {
							t.Errorf("NOTES.txt runs kubectl get %s, a resource the chart does not define", r)
						}
					}
				}
			}
		})
	}
}
