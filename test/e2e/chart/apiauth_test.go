package chart

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	servingv1 "github.com/rampdev/ramp/apis/serving/v1"
	autoscaling "github.com/rampdev/ramp/controllers/autoscaler"
	"github.com/rampdev/ramp/test/framework"
)

// checkInternalAuth checks the chart's internal APIs authenticate their
// callers on the node agent, with the chart's projected tokens: an
// anonymous call of the leader's autoscaler API is refused, `ramp
// telemetry` (a token of ramp-telemetry, requested with the admin's
// kubeconfig) reads it, and hello, idle and at zero by now, is activated
// through the gateway, whose signal carries its projected token.
func checkInternalAuth(ctx context.Context, t *testing.T, c *framework.Cluster, cl client.Client, hello func(context.Context) (int, string, error)) {
	t.Helper()
	var pod corev1.Pod
	if err := cl.Get(ctx, types.NamespacedName{Namespace: ns, Name: controllerPod(t, cl)}, &pod); err != nil {
		t.Fatal(err)
	}
	revisions := "http://" + net.JoinHostPort(pod.Status.PodIP, strconv.Itoa(autoscaling.Port)) + autoscaling.RevisionsPath
	framework.Eventually(t, 30*time.Second, func(ctx context.Context) error {
		code, body, err := framework.Request(ctx, http.MethodGet, revisions, "")
		if err != nil || code != http.StatusUnauthorized {
			return fmt.Errorf("anonymous GET %s: %d %q, want 401: %w", revisions, code, body, err)
		}
		return nil
	})
	framework.Eventually(t, 30*time.Second, func(ctx context.Context) error {
		var out, errOut bytes.Buffer
		cmd := exec.CommandContext(ctx, filepath.Join(c.BinDir, "ramp"), "telemetry", "--kubeconfig", c.Kubeconfig(), "--controller-namespace", ns)
		cmd.Stdout, cmd.Stderr = &out, &errOut
		if err := cmd.Run(); err != nil || !strings.Contains(out.String(), "hello-00001") {
			return fmt.Errorf("ramp telemetry: %w: %s%s", err, out.String(), errOut.String())
		}
		return nil
	})
	framework.Eventually(t, 3*time.Minute, func(ctx context.Context) error {
		var deps appsv1.DeploymentList
		if err := cl.List(ctx, &deps, client.InNamespace("default"), client.MatchingLabels{servingv1.LabelRevision: "hello-00001"}); err != nil {
			return err
		}
		if len(deps.Items) != 1 || ptr.Deref(deps.Items[0].Spec.Replicas, 1) != 0 {
			return fmt.Errorf("hello-00001 not at zero yet (%d deployments)", len(deps.Items))
		}
		return nil
	})
	framework.Eventually(t, 60*time.Second, func(ctx context.Context) error {
		code, body, err := hello(ctx)
		if err != nil || code != http.StatusOK || body != "Hello chart!\n" {
			return fmt.Errorf("GET hello from zero: %d %q: %w", code, body, err)
		}
		return nil
	})
}
