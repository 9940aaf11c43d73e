// Package framework gives Ramp's tests their Kubernetes: an envtest API
// server on the binaries that `make tools` builds (integration tests), and a
// whole local cluster with the node agent (e2e tests). It never fakes the API
// server.
package framework

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// RepoRoot finds the repository root by walking up to Ramp's go.mod.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.HasPrefix(string(b), "module github.com/rampdev/ramp\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("not inside the Ramp repository")
		}
		dir = parent
	}
}

// BinDir is where `make build` and `make tools` put binaries: $RAMP_BIN_DIR,
// or bin/ at the repository root.
func BinDir() (string, error) {
	if d := os.Getenv("RAMP_BIN_DIR"); d != "" {
		return filepath.Abs(d)
	}
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, "bin"), nil
}

// requireBinaries fails with the command that builds what is missing.
func requireBinaries(dir string, names ...string) error {
	var missing []string
	for _, n := range names {
		if _, err := os.Stat(filepath.Join(dir, n)); err != nil {
			missing = append(missing, filepath.Join(dir, n))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing %s: run `make tools build` first", strings.Join(missing, ", "))
	}
	return nil
}
