package framework

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
)

// Helm runs bin/helm against the cluster from the repository root (so
// charts/ramp resolves) and returns its output.
func (c *Cluster) Helm(ctx context.Context, args ...string) (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	if err := requireBinaries(c.BinDir, "helm"); err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, filepath.Join(c.BinDir, "helm"), append(args, "--kubeconfig", c.Kubeconfig())...)
	cmd.Dir = root
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("helm %s: %w\n%s", strings.Join(args, " "), err, out.String())
	}
	return out.String(), nil
}

// InstallRamp installs charts/ramp as release "ramp" in namespace
// ramp-system, with the images of bin/ (the chart's defaults on the local
// node), a ClusterIP gateway Service (the local cluster has no load
// balancer) and the given --set values, and waits until every pod is
// Ready.
func (c *Cluster) InstallRamp(ctx context.Context, set ...string) error {
	args := []string{"upgrade", "--install", "ramp", "charts/ramp", "--namespace", "ramp-system", "--create-namespace",
		"--set", "gateway.service.type=ClusterIP", "--wait", "--timeout", "3m"}
	for _, s := range set {
		args = append(args, "--set", s)
	}
	_, err := c.Helm(ctx, args...)
	return err
}
