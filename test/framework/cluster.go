package framework

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/rampdev/ramp/test/localcluster"
)

// Cluster is a running local cluster for e2e tests.
type Cluster struct {
	*localcluster.Cluster
	BinDir    string
	Config    *rest.Config
	Client    client.Client
	Clientset kubernetes.Interface

	// hashesToken is the file of the controller's token for the gateway's
	// admin API (apiauth.go).
	hashesToken string
	// Events receives the in-process controller's lifecycle CloudEvents
	// (set by StartController).
	Events *EventSink
}

// StartCluster brings up a fresh local cluster in a temporary directory, on
// free ports and its own pod IP range, so that it never collides with a
// developer's `make up` cluster or another test package's cluster.
func StartCluster(ctx context.Context, out *os.File) (*Cluster, error) {
	setTestLogger()
	bin, err := BinDir()
	if err != nil {
		return nil, err
	}
	if err := requireBinaries(bin, "ramp-node", "k8s/etcd", "k8s/kube-apiserver", "k8s/kube-controller-manager"); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "ramp-e2e-")
	if err != nil {
		return nil, err
	}
	ports, err := freePorts(4)
	if err != nil {
		return nil, err
	}
	lc, err := localcluster.New(localcluster.Options{
		Dir:           dir,
		BinDir:        bin,
		APIServerPort: ports[0],
		EtcdPort:      ports[1],
		EtcdPeerPort:  ports[2],
		KubeletPort:   ports[3],
		// A /16 of its own, derived from the unique API server port.
		PodCIDR: fmt.Sprintf("127.%d.0.0/16", 10+ports[0]%240),
		Out:     out,
	})
	if err != nil {
		return nil, err
	}
	if err := lc.Up(ctx); err != nil {
		_ = lc.Down(false)
		return nil, fmt.Errorf("starting local cluster in %s: %w", dir, err)
	}
	return connect(lc, bin)
}

// connect builds the clients of a started local cluster.
func connect(lc *localcluster.Cluster, bin string) (*Cluster, error) {
	c := &Cluster{Cluster: lc, BinDir: bin}
	var err error
	if c.Config, err = clientcmd.BuildConfigFromFlags("", lc.Kubeconfig()); err != nil {
		return nil, err
	}
	c.Config.QPS, c.Config.Burst = 100, 200
	if c.Client, err = client.New(c.Config, client.Options{Scheme: clientgoscheme.Scheme}); err != nil {
		return nil, err
	}
	if c.Clientset, err = kubernetes.NewForConfig(c.Config); err != nil {
		return nil, err
	}
	return c, nil
}

// Stop stops the cluster and removes its directory, unless keep is set (to
// look at logs after a failure).
func (c *Cluster) Stop(keep bool) error {
	if err := c.Down(!keep); err != nil {
		return err
	}
	if keep {
		fmt.Fprintf(os.Stderr, "local cluster state kept in %s (logs in %s)\n", c.Dir(), filepath.Join(c.Dir(), "logs"))
	}
	return nil
}

// PodsDir is where the node agent keeps pod sandboxes and logs.
func (c *Cluster) PodsDir() string { return filepath.Join(c.Dir(), "pods") }

// freePorts asks the kernel for n distinct free loopback ports.
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			_ = l.Close()
		}
	}()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		_, p, _ := net.SplitHostPort(l.Addr().String())
		port, _ := strconv.Atoi(p)
		ports = append(ports, port)
	}
	return ports, nil
}

// FreePort returns a loopback port that is free now.
func FreePort(t testing.TB) int {
	t.Helper()
	ports, err := freePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	return ports[0]
}
