package localcluster_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/rampdev/ramp/test/framework"
	"github.com/rampdev/ramp/test/localcluster"
)

// TestUpDownLeavesNothingBehind brings a cluster up, runs a pod with a host
// port on it, and checks that down stops every process and frees every
// socket, and that the cluster comes back with its pod after a second up.
func TestUpDownLeavesNothingBehind(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a whole cluster")
	}
	ctx := context.Background()

	// Given a running local cluster with a pod that holds a host port
	c, err := framework.StartCluster(ctx, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Down(true) })
	hostPort := framework.FreePort(t)
	pod := framework.MakePod("default", "holder").HostPort(int32(hostPort)).Obj()
	if err := c.Client.Create(ctx, pod); err != nil {
		t.Fatal(err)
	}
	var podIP string
	framework.Eventually(t, 60*time.Second, func(ctx context.Context) error {
		if err := c.Client.Get(ctx, client.ObjectKeyFromObject(pod), pod); err != nil {
			return err
		}
		if !framework.PodReady(pod) {
			return fmt.Errorf("pod not ready")
		}
		podIP = pod.Status.PodIP
		return nil
	})
	pids := map[string]bool{}
	for name, up := range c.Running() {
		if !up {
			t.Fatalf("%s is not running", name)
		}
		pids[name] = true
	}

	// When up runs again
	err = c.Up(ctx)

	// Then it says the cluster is already running
	if !errors.Is(err, localcluster.ErrAlreadyRunning) {
		t.Fatalf("second Up: %v, want ErrAlreadyRunning", err)
	}

	// When the cluster goes down
	if err := c.Down(false); err != nil {
		t.Fatal(err)
	}

	// Then no component and no pod process is left, and every socket is free
	for name, up := range c.Running() {
		if up {
			t.Errorf("%s still runs after down", name)
		}
	}
	if left, _ := c.Processes("sampleapp"); len(left) > 0 {
		t.Errorf("pod processes %v survive down", left)
	}
	for _, addr := range []string{
		"127.0.0.1:" + strconv.Itoa(hostPort),
		net.JoinHostPort(podIP, "8080"),
		strings.TrimPrefix(c.APIServerURL(), "https://"),
	} {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Errorf("%s is still bound after down: %v", addr, err)
			continue
		}
		_ = l.Close()
	}

	// When it comes up again
	if err := c.Up(ctx); err != nil {
		t.Fatal(err)
	}

	// Then the pod runs again, on the same IP
	framework.Eventually(t, 60*time.Second, func(ctx context.Context) error {
		if err := c.Client.Get(ctx, client.ObjectKeyFromObject(pod), pod); err != nil {
			return err
		}
		if !framework.PodReady(pod) || pod.Status.PodIP != podIP {
			return fmt.Errorf("pod ready=%v ip=%s, want ready on %s", framework.PodReady(pod), pod.Status.PodIP, podIP)
		}
		code, _, err := framework.Get(ctx, "http://"+podIP+":8080/")
		if err != nil || code != 200 {
			return fmt.Errorf("GET: %d %w", code, err)
		}
		return nil
	})

	// And down --purge removes the state directory
	if err := c.Down(true); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(c.Dir()); !os.IsNotExist(err) {
		t.Fatalf("%s still exists after purge (%v)", c.Dir(), err)
	}
}
