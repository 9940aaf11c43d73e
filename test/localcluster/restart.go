package localcluster

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// Restart stops the named components of a running cluster (last started
// first, each with SIGTERM, then SIGKILL after its grace period) and starts
// them again in start order, waiting for each to be ready as Up does: a
// control-plane outage for chaos tests (etcd and kube-apiserver restarted
// in place, their data kept). Components not named keep running.
func (c *Cluster) Restart(ctx context.Context, names ...string) error {
	var ds []daemon
	for _, d := range c.daemons() {
		if slices.Contains(names, d.name) {
			ds = append(ds, d)
		}
	}
	if len(ds) != len(names) {
		var known []string
		for _, d := range c.daemons() {
			known = append(known, d.name)
		}
		return fmt.Errorf("restarting %v: the components of this cluster are %s", names, strings.Join(known, ", "))
	}
	for _, d := range ds {
		if d.pid() == 0 {
			return fmt.Errorf("restarting %s: it is not running (start the cluster with `ramp local up`)", d.name)
		}
	}
	for i := len(ds) - 1; i >= 0; i-- {
		c.say("  %-24s stopping for a restart", ds[i].name)
		if err := ds[i].stop(); err != nil {
			return err
		}
	}
	client, err := c.httpClient()
	if err != nil {
		return err
	}
	ready := c.readiness(client)
	for _, d := range ds {
		if err := c.startAndWait(ctx, d, false, ready); err != nil {
			return fmt.Errorf("restarting %s: %w", d.name, err)
		}
	}
	return nil
}
