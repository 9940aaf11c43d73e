// Package chart tests the Helm chart charts/ramp with the helm binary that
// `make tools` builds: golden renderings, values validation, an RBAC audit and
// the pod security of every workload. No cluster is needed.
package chart

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"sigs.k8s.io/yaml"
)

const (
	module      = "module github.com/rampdev/ramp"
	releaseName = "ramp"
	releaseNS   = "ramp-system"
	chartSA     = "ramp-controller"
)

var (
	rootOnce sync.Once
	rootDir  string
	rootErr  error
)

// repoRoot walks up from the working directory to Ramp's go.mod.
func repoRoot(t testing.TB) string {
	t.Helper()
	rootOnce.Do(func() {
		dir, err := os.Getwd()
		if err != nil {
			rootErr = err
			return
		}
		for {
			b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
			if err == nil && strings.HasPrefix(string(b), module+"\n") {
				rootDir = dir
				return
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				rootErr = errors.New("not inside the Ramp repository (no go.mod with " + module + ")")
				return
			}
			dir = parent
		}
	})
	if rootErr != nil {
		t.Fatal(rootErr)
	}
	return rootDir
}

// helmBin is bin/helm ($RAMP_BIN_DIR/helm if set, as for the other tests).
func helmBin(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(repoRoot(t), "bin")
	if d := os.Getenv("RAMP_BIN_DIR"); d != "" {
		dir = d
	}
	p := filepath.Join(dir, "helm")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("%s is missing: run make tools", p)
	}
	return p
}

// helm runs bin/helm at the repository root; err carries helm's stderr.
func helm(t testing.TB, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(helmBin(t), args...)
	cmd.Dir = repoRoot(t)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("helm %s: %w\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

// templateArgs renders the chart as `make up` installs it, plus extra flags.
func templateArgs(extra ...string) []string {
	return append([]string{"template", releaseName, "charts/ramp", "--namespace", releaseNS}, extra...)
}

// doc is one rendered YAML document: its text and its parsed object.
type doc struct {
	raw string
	obj map[string]any
}

func (d doc) kind() string { s, _ := d.obj["kind"].(string); return s }
func (d doc) name() string { return str(d.obj, "metadata", "name") }
func (d doc) id() string   { return d.kind() + "/" + d.name() }

// source is the template a document comes from, from helm's "# Source:" line.
func (d doc) source() string {
	first, _, _ := strings.Cut(d.raw, "\n")
	return strings.TrimPrefix(first, "# Source: ")
}

// generated tells whether the document comes from a file that `make
// manifests` generates (the CRDs and the ClusterRole), which the chart's
// conventions cannot be imposed on.
func (d doc) generated() bool {
	s := d.source()
	return strings.HasPrefix(s, "ramp/templates/crds/") || strings.HasPrefix(s, "ramp/templates/rbac/")
}

// splitDocs splits helm's multi-document output on "\n---\n" and parses each
// document; documents holding only comments or whitespace are dropped.
func splitDocs(t testing.TB, out string) []doc {
	t.Helper()
	var docs []doc
	for i, part := range strings.Split("\n"+out, "\n---\n") {
		var obj map[string]any
		if err := yaml.Unmarshal([]byte(part), &obj); err != nil {
			t.Fatalf("document %d does not parse: %v\n%s", i, err, part)
		}
		if len(obj) == 0 {
			continue
		}
		docs = append(docs, doc{raw: strings.TrimSpace(part) + "\n", obj: obj})
	}
	return docs
}

var (
	renderMu    sync.Mutex
	renderCache = map[string][]doc{}
)

// render renders the chart with the given extra flags (cached) and fails the
// test if helm fails.
func render(t testing.TB, extra ...string) []doc {
	t.Helper()
	key := strings.Join(extra, "\x00")
	renderMu.Lock()
	defer renderMu.Unlock()
	if docs, ok := renderCache[key]; ok {
		return docs
	}
	out, err := helm(t, templateArgs(extra...)...)
	if err != nil {
		t.Fatal(err)
	}
	docs := splitDocs(t, out)
	renderCache[key] = docs
	return docs
}

// valueSets are the renderings that every audit runs on.
var valueSets = map[string][]string{
	"defaults":     nil,
	"full":         {"--values", "test/chart/testdata/full-values.yaml"},
	"slack-socket": {"--values", "test/chart/testdata/slack-socket-values.yaml"},
}

func ofKind(docs []doc, kinds ...string) []doc {
	var out []doc
	for _, d := range docs {
		for _, k := range kinds {
			if d.kind() == k {
				out = append(out, d)
			}
		}
	}
	return out
}

// get walks nested maps; nil if a step is missing.
func get(m any, path ...string) any {
	for _, p := range path {
		mm, ok := m.(map[string]any)
		if !ok {
			return nil
		}
		m = mm[p]
	}
	return m
}

func str(m any, path ...string) string { s, _ := get(m, path...).(string); return s }

func list(m any, path ...string) []any { l, _ := get(m, path...).([]any); return l }

func strList(m any, path ...string) []string {
	var out []string
	for _, v := range list(m, path...) {
		out = append(out, fmt.Sprint(v))
	}
	return out
}

// diffSorted lists what only want has (-) and what only got has (+).
func diffSorted(want, got []string) string {
	in := func(s []string) map[string]bool {
		m := map[string]bool{}
		for _, v := range s {
			m[v] = true
		}
		return m
	}
	w, g := in(want), in(got)
	var lines []string
	for v := range w {
		if !g[v] {
			lines = append(lines, "- "+v)
		}
	}
	for v := range g {
		if !w[v] {
			lines = append(lines, "+ "+v)
		}
	}
	sort.Slice(lines, func(i, j int) bool { return lines[i][2:] < lines[j][2:] })
	return strings.Join(lines, "\n")
}
