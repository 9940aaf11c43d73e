package queue

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// goList runs `go list` in the module root.
func goList(t *testing.T, args ...string) []string {
	t.Helper()
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(gomod)))
	cmd := exec.Command("go", append([]string{"list"}, args...)...)
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %v: %v", args, err)
	}
	return strings.Fields(string(out))
}

// The queue-proxy runs in every pod: it must stay small, so it imports
// nothing from Kubernetes.
func TestQueueProxyImportsNothingFromKubernetes(t *testing.T) {
	deps := goList(t, "-deps", "github.com/rampdev/ramp/cmd/queue")
	if len(deps) < 10 {
		t.Fatalf("go list found only %v", deps)
	}
	for _, d := range deps {
		if strings.HasPrefix(d, "k8s.io/") || strings.HasPrefix(d, "sigs.k8s.io/") {
			t.Errorf("cmd/queue depends on %s", d)
		}
	}
}

// The stats package is imported by the autoscaler and the canary analysis:
// standard library only.
func TestStatsPackageIsStandardLibraryOnly(t *testing.T) {
	const pkg = "github.com/rampdev/ramp/serving/queue/stats"
	for _, d := range goList(t, "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", pkg) {
		if d != pkg {
			t.Errorf("%s depends on %s", pkg, d)
		}
	}
}
