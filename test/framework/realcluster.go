package framework

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"

	"github.com/rampdev/ramp/test/localcluster"
)

// RealNodeSkipReason is why this host cannot run a real node (one line),
// or "" when it can.
func RealNodeSkipReason() string {
	bin, err := BinDir()
	if err != nil {
		return err.Error()
	}
	if err := localcluster.CheckRealNode(bin); err != nil {
		return err.Error()
	}
	return ""
}

// BuildNodeImages builds Ramp's images and the pause image for this
// machine's platform from the current tree into dir (an OCI layout), with
// ramp-images, and returns its output.
func BuildNodeImages(ctx context.Context, dir string) (string, error) {
	bin, err := BinDir()
	if err != nil {
		return "", err
	}
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "ramp-images"), "build", "--root", root, "--out", dir,
		"--platforms", "linux/"+runtime.GOARCH, "--only", "controller,gateway,queue,sampleapp,pause")
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("ramp-images build: %w\n%s", err, out)
	}
	return string(out), nil
}

// StartRealCluster brings up a local cluster with a real node (kubelet,
// containerd, runc, bridge CNI, kube-proxy in a network namespace of its
// own) in a temporary directory, on free host ports, importing the images
// of the OCI layout images. GatewayURL reaches the node's gateway
// hostPort through the forward.
func StartRealCluster(ctx context.Context, out *os.File, images string) (*Cluster, error) {
	setTestLogger()
	bin, err := BinDir()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "ramp-real-")
	if err != nil {
		return nil, err
	}
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	lc, err := localcluster.New(localcluster.Options{
		Dir: dir, BinDir: bin, Node: localcluster.NodeReal, Images: []string{images},
		APIServerPort: ports[0], EtcdPort: ports[1], GatewayPort: ports[2], Out: out,
	})
	if err != nil {
		return nil, err
	}
	if err := lc.Up(ctx); err != nil {
		_ = lc.Down(false)
		return nil, fmt.Errorf("starting a real-node cluster in %s: %w", dir, err)
	}
	return connect(lc, bin)
}

// GatewayURL is the host loopback URL of a real node's gateway.
func (c *Cluster) GatewayURL() string {
	return fmt.Sprintf("http://127.0.0.1:%d/", c.GatewayPort())
}
