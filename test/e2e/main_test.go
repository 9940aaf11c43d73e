// Package e2e holds Ramp's end-to-end specs. They run on a real local
// cluster (etcd, kube-apiserver, kube-controller-manager and the node agent)
// that TestMain starts on free ports and stops afterwards, with Ramp's CRDs
// installed and its controller running in the test process. Set
// RAMP_E2E_KEEP=1 to keep its directory and logs.
package e2e

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/rampdev/ramp/test/framework"
)

var cluster *framework.Cluster

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var err error
	if cluster, err = framework.StartCluster(ctx, os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
		return 1
	}
	ctrlCtx, stopController := context.WithCancel(context.Background())
	defer stopController()
	if err := cluster.InstallCRDs(ctx); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
		_ = cluster.Stop(true)
		return 1
	}
	if err := cluster.StartController(ctrlCtx); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: starting the controller: %v\n", err)
		_ = cluster.Stop(true)
		return 1
	}
	if err := cluster.StartGateway(ctrlCtx); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: starting the gateway: %v\n", err)
		_ = cluster.Stop(true)
		return 1
	}
	code := m.Run()
	stopController()
	keep := os.Getenv("RAMP_E2E_KEEP") != "" || code != 0
	if err := cluster.Stop(keep); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: stopping the cluster: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}
