package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/rampdev/ramp/test/framework"
)

func TestCrashingContainerRestartsWithBackOff(t *testing.T) {
	ns := cluster.Namespace(t)
	ctx := context.Background()

	// Given a pod whose app exits with status 1 shortly after it starts
	pod := framework.MakePod(ns, "crasher").Env("CRASH_AFTER", "200ms").Obj()
	if err := cluster.Client.Create(ctx, pod); err != nil {
		t.Fatal(err)
	}

	// Then it is restarted, shows CrashLoopBackOff, and records the exit
	sawBackOff := false
	framework.Eventually(t, 90*time.Second, func(ctx context.Context) error {
		if err := cluster.Client.Get(ctx, client.ObjectKeyFromObject(pod), pod); err != nil {
			return err
		}
		if len(pod.Status.ContainerStatuses) != 1 {
			return fmt.Errorf("no container status yet")
		}
		cs := pod.Status.ContainerStatuses[0]
		if w := cs.State.Waiting; w != nil && w.Reason == "CrashLoopBackOff" {
			sawBackOff = true
		}
		if framework.PodReady(pod) {
			return fmt.Errorf("a crash-looping pod must not be Ready")
		}
		last := cs.LastTerminationState.Terminated
		if cs.RestartCount < 2 || !sawBackOff || last == nil {
			return fmt.Errorf("restarts %d, saw CrashLoopBackOff %v, last termination %v", cs.RestartCount, sawBackOff, last)
		}
		if last.ExitCode != 1 || last.Reason != "Error" {
			return fmt.Errorf("last termination %+v, want exit code 1 with reason Error", last)
		}
		return nil
	})
}

func TestFailingReadinessProbeKeepsPodOutOfEndpoints(t *testing.T) {
	ns := cluster.Namespace(t)
	ctx := context.Background()
	dir := t.TempDir()

	// Given 2 replicas that are ready only while their ready file exists
	b := framework.MakePod(ns, "gated").Env("READY_FILE", filepath.Join(dir, "$(POD_NAME).ready"))
	for _, obj := range []client.Object{b.Service(), b.Deployment(2)} {
		if err := cluster.Client.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}
	var pods []corev1.Pod
	framework.Eventually(t, 60*time.Second, func(ctx context.Context) error {
		var err error
		if pods, err = cluster.Pods(ctx, ns, map[string]string{"app": "gated"}); err != nil {
			return err
		}
		for _, p := range pods {
			if len(p.Status.ContainerStatuses) == 0 || p.Status.ContainerStatuses[0].State.Running == nil {
				return fmt.Errorf("pod %s not running", p.Name)
			}
		}
		if len(pods) != 2 {
			return fmt.Errorf("%d pods", len(pods))
		}
		return nil
	})
	good, bad := pods[0], pods[1]

	// When only the first pod's readiness probe passes
	if err := os.WriteFile(filepath.Join(dir, good.Name+".ready"), nil, 0o644); err != nil {
		t.Fatal(err)
	}

	// Then only it is a ready endpoint, and the other pod is not Ready
	framework.Eventually(t, 30*time.Second, func(ctx context.Context) error {
		got, err := readyEndpoints(ctx, ns, "gated")
		if err != nil {
			return err
		}
		if !slices.Equal(got, []string{good.Status.PodIP}) {
			return fmt.Errorf("ready endpoints %v, want only %s", got, good.Status.PodIP)
		}
		return nil
	})
	if err := cluster.Client.Get(ctx, client.ObjectKeyFromObject(&bad), &bad); err != nil {
		t.Fatal(err)
	}
	if framework.PodReady(&bad) {
		t.Fatalf("pod %s is Ready although its probe fails", bad.Name)
	}

	// When the first pod's probe starts failing too
	if err := os.Remove(filepath.Join(dir, good.Name+".ready")); err != nil {
		t.Fatal(err)
	}

	// Then it leaves the ready endpoints
	framework.Eventually(t, 30*time.Second, func(ctx context.Context) error {
		got, err := readyEndpoints(ctx, ns, "gated")
		if err != nil {
			return err
		}
		if len(got) != 0 {
			return fmt.Errorf("ready endpoints %v, want none", got)
		}
		return nil
	})
}
