package images

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"sigs.k8s.io/yaml"
)

// Source is the project's repository, the images' source label.
const Source = "https://github.com/rampdev/ramp"

// BuildOptions are the flags of `ramp-images build`.
type BuildOptions struct {
	Root      string   // module root
	Out       string   // the OCI layout to write
	Registry  string   // names the images: <registry>/<name>:<version>
	Version   string   // tag and version label; the chart's appVersion if empty
	Revision  string   // source commit; `git rev-parse HEAD` (+"-dirty") if empty
	Created   int64    // unix seconds of every timestamp; SOURCE_DATE_EPOCH or the commit's time if < 0
	Platforms []string // os/arch
	Only      []string // component names; all if empty
	GoEnv     []string // extra environment of go build
}

// RunBuild builds the images and writes the layout, printing progress and
// a line per image to w.
func RunBuild(ctx context.Context, o BuildOptions, w io.Writer) error {
	m, err := metadata(o)
	if err != nil {
		return err
	}
	platforms, err := ParsePlatforms(o.Platforms)
	if err != nil {
		return err
	}
	comps, err := selectComponents(o.Only)
	if err != nil {
		return err
	}
	progress := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	fmt.Fprintf(w, ">> building %d images for %s: version %s, revision %s, created %s\n",
		len(comps), strings.Join(o.Platforms, ", "), m.Version, orNone(m.Revision), m.Created.UTC().Format(time.RFC3339))
	start := time.Now()
	compiler := &GoCompiler{Dir: o.Root, Env: o.GoEnv}
	var built []*Built
	for _, c := range comps {
		b, err := Build(ctx, c, platforms, m, compiler, progress)
		if err != nil {
			return err
		}
		built = append(built, b)
	}
	if err := WriteLayout(o.Out, built); err != nil {
		return err
	}
	fmt.Fprintf(w, ">> wrote the OCI layout %s in %s\n", o.Out, time.Since(start).Round(time.Second))
	Report(w, built)
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// ParsePlatforms parses "os/arch" values.
func ParsePlatforms(ss []string) ([]v1.Platform, error) {
	if len(ss) == 0 {
		return nil, errors.New("--platforms: give at least one os/arch, e.g. linux/amd64")
	}
	var out []v1.Platform
	for _, s := range ss {
		os, arch, ok := strings.Cut(strings.TrimSpace(s), "/")
		if !ok || os == "" || arch == "" || strings.Contains(arch, "/") {
			return nil, fmt.Errorf("--platforms: %q is not os/arch, e.g. linux/arm64", s)
		}
		out = append(out, v1.Platform{OS: os, Architecture: arch})
	}
	return out, nil
}

func selectComponents(only []string) ([]Component, error) {
	if len(only) == 0 {
		return Components, nil
	}
	var out []Component
	all := append(append([]Component{}, Components...), NodeComponents...)
	for _, n := range only {
		found := false
		for _, c := range all {
			if c.Name == n {
				out, found = append(out, c), true
			}
		}
		if !found {
			names := make([]string, len(all))
			for i, c := range all {
				names[i] = c.Name
			}
			return nil, fmt.Errorf("--only: no image %q (the images are %s)", n, strings.Join(names, ", "))
		}
	}
	return out, nil
}

// metadata fills in what the options leave out from the chart and git.
func metadata(o BuildOptions) (Metadata, error) {
	m := Metadata{Registry: strings.TrimSuffix(o.Registry, "/"), Version: o.Version, Revision: o.Revision, Source: Source}
	if m.Registry == "" {
		return m, errors.New("--registry: the images need a registry path, e.g. ghcr.io/rampdev")
	}
	if m.Version == "" {
		v, err := ChartAppVersion(filepath.Join(o.Root, "charts", "ramp", "Chart.yaml"))
		if err != nil {
			return m, err
		}
		m.Version = v
	}
	if m.Revision == "" {
		m.Revision = gitRevision(o.Root)
	}
	created := o.Created
	if created < 0 {
		if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return m, fmt.Errorf("SOURCE_DATE_EPOCH=%q: not unix seconds", s)
			}
			created = n
		} else {
			created = gitCommitTime(o.Root)
		}
	}
	m.Created = time.Unix(created, 0).UTC()
	return m, nil
}

// ChartAppVersion reads appVersion from a Chart.yaml.
func ChartAppVersion(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("reading the chart's appVersion: %w", err)
	}
	var c struct {
		AppVersion string `json:"appVersion"`
	}
	if err := yaml.Unmarshal(b, &c); err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	if c.AppVersion == "" {
		return "", fmt.Errorf("%s has no appVersion", path)
	}
	return c.AppVersion, nil
}

// gitRevision is HEAD, with "-dirty" if tracked files changed; "" outside
// a git checkout.
func gitRevision(dir string) string {
	head, err := git(dir, "rev-parse", "HEAD")
	if err != nil {
		return ""
	}
	if st, err := git(dir, "status", "--porcelain", "--untracked-files=no"); err == nil && st != "" {
		head += "-dirty"
	}
	return head
}

// gitCommitTime is HEAD's commit time; 0 outside a git checkout.
func gitCommitTime(dir string) int64 {
	s, err := git(dir, "log", "-1", "--format=%ct")
	if err != nil {
		return 0
	}
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}

func git(dir string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	out, err := cmd.Output()
	return strings.TrimSpace(string(out)), err
}
