// Package chaos injects faults into Ramp installed with its Helm chart on a
// fresh local cluster (two gateway replicas, two controller replicas with
// leader election) while bounded load (about 500 GETs per second, spread
// over the gateway replicas' ready endpoints as a Service load balancer
// would, loopback only) runs through the gateway, and counts what the
// clients saw and whether any state was lost:
//
//  1. a gateway replica SIGKILLed,
//  2. the leader controller SIGKILLed while a rollout step is in progress,
//  3. etcd and kube-apiserver restarted,
//  4. a revision pod's queue-proxy SIGTERMed, and a revision pod evicted,
//  5. 100 concurrent requests to a revision at zero with containerConcurrency 1.
//
// At the end it logs a table of the faults (and writes it to the test's
// artifact directory: go test -artifacts -outputdir DIR keeps it).
package chaos

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/rampdev/ramp/controllers/manager"
	"github.com/rampdev/ramp/serving/gateway"
	"github.com/rampdev/ramp/test/framework"
)

// rate is the load's request rate during each fault.
const rate = 500

// suite is what the faults share.
type suite struct {
	c   *framework.Cluster
	cl  client.Client
	ns  string
	gw  *framework.Balancer
	ro  *rolloutWatch
	tbl *table
}

func TestChaosUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a whole cluster and injects faults into it")
	}
	ctx := context.Background()
	start := time.Now()

	// Given Ramp installed with its chart: two gateways, two controllers
	// (leader election), idle revisions scaled to zero 2 s after their
	// window
	c, err := framework.StartCluster(ctx, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Stop(t.Failed()) })
	if err := c.InstallRamp(ctx, "gateway.replicas=2", "controller.replicas=2",
		"autoscaler.scaleToZeroGracePeriod=2s"); err != nil {
		t.Fatal(err)
	}
	cl, err := client.New(c.Config, client.Options{Scheme: manager.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	s := &suite{c: c, cl: cl, ns: c.Namespace(t), tbl: &table{}}
	followCtx, stopFollowing := context.WithCancel(ctx)
	t.Cleanup(stopFollowing)
	eps, err := c.FollowEndpoints(followCtx, types.NamespacedName{Namespace: "ramp-system", Name: "ramp-gateway"}, 100*time.Millisecond)
	if err != nil {
		t.Fatalf("gateway endpoints: %v", err)
	}
	s.gw = &framework.Balancer{Endpoints: eps, Port: gateway.ExternalPort}

	// And the workloads: Rollout web at v1, Service drain (two pods, for
	// the queue-proxy faults) and Service zero (one request per pod, a
	// 6 s window: at zero by the time of the last fault)
	s.deploy(t)
	t.Logf("set up in %s", time.Since(start).Round(100*time.Millisecond))
	s.ro = s.watchRollout(followCtx)

	// When each fault strikes under load; Then (each subtest)
	t.Run("gateway SIGKILL", s.gatewayKill)
	t.Run("controller SIGKILL mid-step", s.controllerKill)
	t.Run("apiserver and etcd restart", s.controlPlaneRestart)
	t.Run("queue-proxy SIGTERM", s.queueProxyTerm)
	t.Run("revision pod eviction", s.podEviction)
	t.Run("100 concurrent from zero", s.fromZero)
	// And the rollout driven through faults 2 and 3 finishes, each step
	// once
	t.Run("rollout history", s.rolloutHistory)

	out := s.tbl.String()
	t.Logf("chaos under load (%d req/s), %s in all:\n%s", rate, time.Since(start).Round(time.Second), out)
	path := filepath.Join(t.ArtifactDir(), "chaos-table.txt")
	if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
		t.Errorf("writing the table: %v", err)
	} else {
		t.Logf("table written to %s", path)
	}
}
