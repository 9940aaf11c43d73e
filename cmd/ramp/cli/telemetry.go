package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	autoscaling "github.com/rampdev/ramp/controllers/autoscaler"
)

// leaseName is the controller's leader election Lease (LeaderElectionID
// in controllers/manager).
const leaseName = "ramp-controller"

// Errors of the telemetry command.
var (
	// errNoLeader: no controller leader could be found.
	errNoLeader = errors.New("no Ramp controller leader")
	// errAutoscalerUnreachable: the leader's autoscaler API did not answer.
	errAutoscalerUnreachable = errors.New("cannot reach the autoscaler API")
)

type telemetryOptions struct {
	kube                kubeOptions
	controllerNamespace string
	autoscalerURL       string
	tokenFile           string
	window              time.Duration
	tag                 string
}

func newTelemetryCommand() *cobra.Command {
	o := &telemetryOptions{}
	cmd := &cobra.Command{
		Use:   "telemetry [REVISION]",
		Short: "Show a revision's request telemetry, or every revision's autoscaling state",
		Long: `Show what the controller's autoscaler measured.

With REVISION: its requests over the last --window (requests, requests per
second, 5xx error rate, p50/p90/p99 latency), optionally for one traffic tag
(stable, canary, a preview tag). Without: every revision's autoscaling
state (pods, concurrency, panic mode), optionally only in -n's namespace.

Only the controller leader serves this API, on port 8099 of its pod IP. The
leader is the holder of Lease ramp-controller in --controller-namespace;
reading it needs get on leases and pods there, and the pod IP must be
reachable (it is on the local cluster). Otherwise use kubectl port-forward
and --autoscaler-url.

` + tokenHelp,
		Example: `  # A revision over the last minute
  ramp telemetry web-00002

  # Only the canary tag's requests, over 5 minutes
  ramp telemetry web-00002 --tag canary --window 5m

  # Every revision's autoscaling state
  ramp telemetry

  # Through a port-forward
  kubectl -n ramp-system port-forward pod/ramp-controller-7d9f-abcde 8099 &
  ramp telemetry web-00002 --autoscaler-url http://127.0.0.1:8099`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return o.listRevisions(cmd)
			}
			return o.revision(cmd, args[0])
		},
	}
	f := cmd.Flags()
	o.kube.addFlags(f)
	o.addAPIFlags(f)
	f.DurationVar(&o.window, "window", time.Minute, "how far back to summarize (1s to 5m)")
	f.StringVar(&o.tag, "tag", "", "only the requests sent through this traffic tag")
	return cmd
}

func (o *telemetryOptions) revision(cmd *cobra.Command, revision string) error {
	api, ns, err := o.connect(cmd, true)
	if err != nil {
		return err
	}
	q := url.Values{"window": {o.window.String()}}
	if cmd.Flags().Changed("tag") {
		q.Set("tag", o.tag)
	}
	path := autoscaling.TelemetryPath + url.PathEscape(ns) + "/" + url.PathEscape(revision) + "?" + q.Encode()
	var t autoscaling.Telemetry
	if err := api.getJSON(cmd.Context(), path, &t); err != nil {
		return err
	}
	tw := newTable(cmd.OutOrStdout())
	fmt.Fprintln(tw, "NAMESPACE\tREVISION\tTAG\tWINDOW\tREQUESTS\tRPS\tERRORS\tERROR RATE\tP50\tP90\tP99\tPODS")
	p50, p90, p99 := "-", "-", "-"
	if t.Requests > 0 {
		p50, p90, p99 = millis(t.P50Seconds), millis(t.P90Seconds), millis(t.P99Seconds)
	}
	window := time.Duration(t.WindowSeconds * float64(time.Second))
	fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%.2f\t%d\t%.2f%%\t%s\t%s\t%s\t%d\n", t.Namespace, t.Revision, orDash(t.Tag), window,
		t.Requests, t.RequestRate, t.Errors5xx, t.ErrorRate*100, p50, p90, p99, t.Pods)
	return tw.Flush()
}

func (o *telemetryOptions) listRevisions(cmd *cobra.Command) error {
	api, ns, err := o.connect(cmd, o.kube.namespace != "")
	if err != nil {
		return err
	}
	var statuses []autoscaling.Status
	if err := api.getJSON(cmd.Context(), autoscaling.RevisionsPath, &statuses); err != nil {
		return err
	}
	tw := newTable(cmd.OutOrStdout())
	fmt.Fprintln(tw, "NAMESPACE\tREVISION\tDESIRED\tREADY\tSTABLE CONC\tPANIC CONC\tTARGET/POD\tPANICKING\tLAST TRAFFIC\tREASON")
	n := 0
	for _, s := range statuses {
		if ns != "" && s.Namespace != ns {
			continue
		}
		n++
		last := "-"
		if !s.LastTraffic.IsZero() {
			last = time.Since(s.LastTraffic).Round(time.Second).String() + " ago"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%.2f\t%.2f\t%.2f\t%t\t%s\t%s\n", s.Namespace, s.Revision, s.DesiredPods, s.ReadyPods,
			s.StableConcurrency, s.PanicConcurrency, s.Target, s.Panicking, last, orDash(s.Reason))
	}
	if n == 0 {
		fmt.Fprintln(cmd.ErrOrStderr(), "The autoscaler knows no revisions.")
		return nil
	}
	return tw.Flush()
}

// autoscalerAPI is the leader's autoscaler API and the token to send it.
type autoscalerAPI struct {
	base, token string
}

// connect returns the autoscaler API (its base URL and a token) and, if
// wantNamespace, the namespace: -n, else the kubeconfig's (or "default"
// when --autoscaler-url and --token-file make the kubeconfig unnecessary).
func (o *telemetryOptions) connect(cmd *cobra.Command, wantNamespace bool) (api autoscalerAPI, ns string, err error) {
	base := strings.TrimRight(o.autoscalerURL, "/")
	ns = o.kube.namespace
	var kc *kube
	if base == "" || o.tokenFile == "" || (wantNamespace && ns == "") {
		kc, err = o.kube.connect(cmd.ErrOrStderr())
		switch {
		case errors.Is(err, errNoKubeconfig) && base != "":
			kc = nil // telemetryToken says what is missing, if anything
			if wantNamespace && ns == "" {
				ns = "default"
			}
		case err != nil:
			return autoscalerAPI{}, "", err
		case wantNamespace:
			ns = kc.namespace
		}
	}
	if base == "" {
		if base, err = leaderURL(cmd.Context(), kc.client, o.controllerNamespace); err != nil {
			return autoscalerAPI{}, "", err
		}
	}
	token, err := o.telemetryToken(cmd.Context(), kc)
	if err != nil {
		return autoscalerAPI{}, "", err
	}
	return autoscalerAPI{base: base, token: token}, ns, nil
}

// leaderURL finds the autoscaler API of the controller leader: the pod
// named by the holder of Lease ramp-controller ("<pod>_<uuid>"), on port
// 8099 of its IP.
func leaderURL(ctx context.Context, c client.Client, ns string) (string, error) {
	lease := &coordinationv1.Lease{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: leaseName}, lease); err != nil {
		if apierrors.IsNotFound(err) {
			return "", fmt.Errorf("%w: there is no Lease %s in namespace %s; is the controller running there? (see --controller-namespace, or pass --autoscaler-url)",
				errNoLeader, leaseName, ns)
		}
		return "", fmt.Errorf("reading Lease %s/%s: %w", ns, leaseName, err)
	}
	holder := ""
	if lease.Spec.HolderIdentity != nil {
		holder = *lease.Spec.HolderIdentity
	}
	if holder == "" {
		return "", fmt.Errorf("%w: Lease %s/%s has no holder; the controller may be starting or stopped", errNoLeader, ns, leaseName)
	}
	podName := holder
	if i := strings.LastIndex(holder, "_"); i > 0 {
		podName = holder[:i]
	}
	pod := &corev1.Pod{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: podName}, pod); err != nil {
		if apierrors.IsNotFound(err) {
			return "", fmt.Errorf("%w: the leader pod %s (holder of Lease %s/%s) does not exist; a new leader may not be elected yet",
				errNoLeader, podName, ns, leaseName)
		}
		return "", fmt.Errorf("reading the leader pod %s/%s: %w", ns, podName, err)
	}
	if pod.Status.PodIP == "" {
		return "", fmt.Errorf("%w: the leader pod %s/%s has no IP yet", errNoLeader, ns, podName)
	}
	return "http://" + net.JoinHostPort(pod.Status.PodIP, strconv.Itoa(autoscaling.Port)), nil
}

// getJSON gets the API's path and decodes the JSON answer into v.
func (a autoscalerAPI) getJSON(ctx context.Context, path string, v any) error {
	base := a.base
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
	if err != nil {
		return fmt.Errorf("autoscaler URL %q: %w", base, err)
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("%w at %s: %w; only the controller leader serves it, and its pod IP must be reachable from here (else use kubectl port-forward and --autoscaler-url)",
			errAutoscalerUnreachable, base, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return fmt.Errorf("reading the answer of %s: %w", base+path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("the autoscaler API answered %s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("decoding the answer of %s: %w", base+path, err)
	}
	return nil
}

func millis(seconds float64) string { return strconv.FormatFloat(seconds*1000, 'f', 1, 64) + "ms" }
