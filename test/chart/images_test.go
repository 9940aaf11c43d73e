package chart

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
)

// images renders the chart and returns the image of each Deployment's
// first container and the controller's --queue-image.
func images(t *testing.T, extra ...string) map[string]string {
	t.Helper()
	docs := render(t, extra...)
	out := map[string]string{}
	for _, d := range ofKind(docs, "Deployment") {
		dep := decode[appsv1.Deployment](t, d)
		out[dep.Name] = dep.Spec.Template.Spec.Containers[0].Image
	}
	for _, a := range controllerArgs(t, docs) {
		if v, ok := strings.CutPrefix(a, "--queue-image="); ok {
			out["queue"] = v
		}
	}
	return out
}

func appVersion(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "charts", "ramp", "Chart.yaml"))
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

func TestImagesComeFromTheRegistryAtTheChartsAppVersion(t *testing.T) {
	v := appVersion(t)
	digest := "sha256:" + strings.Repeat("ab", 32)
	tests := map[string]struct {
		args []string
		want map[string]string
	}{
		"defaults: the project's registry, tag = appVersion": {nil, map[string]string{
			"ramp-controller": "ghcr.io/rampdev/controller:" + v,
			"ramp-gateway":    "ghcr.io/rampdev/gateway:" + v,
			"queue":           "ghcr.io/rampdev/queue:" + v,
		}},
		"another registry and tag": {[]string{"--set", "image.registry=registry.example.com:5000/mirror", "--set-string", "image.tag=1.2.3"}, map[string]string{
			"ramp-controller": "registry.example.com:5000/mirror/controller:1.2.3",
			"ramp-gateway":    "registry.example.com:5000/mirror/gateway:1.2.3",
			"queue":           "registry.example.com:5000/mirror/queue:1.2.3",
		}},
		"digests pin the images they name": {[]string{"--set", "image.digests.controller=" + digest, "--set", "image.digests.queue=" + digest}, map[string]string{
			"ramp-controller": "ghcr.io/rampdev/controller:" + v + "@" + digest,
			"ramp-gateway":    "ghcr.io/rampdev/gateway:" + v,
			"queue":           "ghcr.io/rampdev/queue:" + v + "@" + digest,
		}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := images(t, tc.args...)
			for k, want := range tc.want {
				if got[k] != want {
					t.Errorf("%s image = %q, want %q", k, got[k], want)
				}
			}
			if keys := slices.Sorted(maps.Keys(got)); !slices.Equal(keys, []string{"queue", "ramp-controller", "ramp-gateway"}) {
				t.Errorf("images rendered for %v", keys)
			}
		})
	}
}
