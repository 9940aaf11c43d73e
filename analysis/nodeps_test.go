package analysis

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// goTool is the go command: the one on PATH, else the one of the
// toolchain that built this test.
func goTool(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	p := filepath.Join(runtime.GOROOT(), "bin", "go") //nolint:staticcheck // SA1019: only a fallback when go is not on PATH
	if _, err := os.Stat(p); err != nil {
		t.Skipf("no go command on PATH or in GOROOT: %v", err)
	}
	return p
}

// The analysis runs in the controller but must stay plain Go, testable and
// reusable without a cluster: it imports nothing from Kubernetes.
func TestAnalysisImportsNothingFromKubernetes(t *testing.T) {
	const pkg = "github.com/rampdev/ramp/analysis"
	out, err := exec.Command(goTool(t), "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", pkg).Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v", pkg, err)
	}
	deps := strings.Fields(string(out))
	// The package itself and its telemetry source must show up, or go list
	// did not look where we think.
	for _, want := range []string{pkg, "github.com/rampdev/ramp/serving/autoscaler"} {
		if !slices.Contains(deps, want) {
			t.Fatalf("go list -deps %s does not list %s: %v", pkg, want, deps)
		}
	}
	for _, d := range deps {
		if strings.HasPrefix(d, "k8s.io/") || strings.HasPrefix(d, "sigs.k8s.io/") {
			t.Errorf("%s depends on %s", pkg, d)
		}
	}
}
