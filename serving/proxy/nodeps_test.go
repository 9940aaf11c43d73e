package proxy

import (
	"os/exec"
	"strings"
	"testing"
)

// The queue-proxy, in every pod, builds on this package: it imports the
// standard library, fasthttp and zap, and nothing of Kubernetes or Ramp.
func TestImportsOnlyFasthttpAndZap(t *testing.T) {
	const pkg = "github.com/rampdev/ramp/serving/proxy"
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", pkg).Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 2 {
		t.Fatalf("go list found only %v", deps)
	}
	for _, d := range deps {
		switch {
		case d == pkg, strings.HasPrefix(d, "github.com/valyala/"), strings.HasPrefix(d, "go.uber.org/"),
			strings.HasPrefix(d, "github.com/klauspost/compress"), strings.HasPrefix(d, "github.com/andybalholm/brotli"):
		default:
			t.Errorf("%s depends on %s", pkg, d)
		}
	}
}
