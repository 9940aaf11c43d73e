package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/rampdev/ramp/cmd/ramp/dashboard"
	autoscaling "github.com/rampdev/ramp/controllers/autoscaler"
)

type dashboardOptions struct {
	telemetry       telemetryOptions
	address         string
	allNamespaces   bool
	interval        time.Duration
	proxySecretFile string
	proxyUserHeader string
}

func newDashboardCommand() *cobra.Command {
	o := &dashboardOptions{}
	cmd := &cobra.Command{
		Use:   "dashboard",
		Short: "Serve a live web view of every Rollout, with canary-against-stable charts and the analysis' evidence",
		Long: `Serve the Ramp dashboard on --address (default ` + dashboard.DefaultAddress + `) until interrupted.

It lists every Rollout your kubeconfig may list (all namespaces, else -n's),
and shows each one's steps as a timeline, its canary's and stable's error
rate and latency over time on the same axes, every analysis look with its
evidence, its events and its revisions with their pods, updated live. The
Promote, Approve, Abort and Retry buttons set the same action annotations
as ` + "`ramp rollout promote`" + ` and Slack; they are disabled, saying why, when
Kubernetes RBAC does not let you patch the Rollout.

The charts come from the autoscaler's telemetry, read every --interval
from the dashboard's start (see ramp telemetry for how it is reached).

The dashboard acts with your credentials, so it serves loopback addresses
only, unless an authenticating proxy stands in front of it: then pass
--proxy-secret-file, whose content the proxy must send in the
X-Ramp-Proxy-Secret header, and the proxy's user header (docs/dashboard.md).

` + tokenHelp,
		Example: `  ramp dashboard
  # Another port, one namespace
  ramp dashboard --address 127.0.0.1:8080 -n shop --all-namespaces=false`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return o.run(cmd) },
	}
	f := cmd.Flags()
	o.telemetry.kube.addFlags(f)
	o.telemetry.addAPIFlags(f)
	f.StringVar(&o.address, "address", dashboard.DefaultAddress, "address to serve on (loopback unless --proxy-secret-file)")
	f.BoolVarP(&o.allNamespaces, "all-namespaces", "A", true, "show the Rollouts of every namespace you may list (else -n's)")
	f.DurationVar(&o.interval, "interval", 2*time.Second, "how often to read the canaries' and stables' telemetry (1s to 1m)")
	f.StringVar(&o.proxySecretFile, "proxy-secret-file", "", "file of a secret an authenticating proxy sends in X-Ramp-Proxy-Secret; allows non-loopback addresses")
	f.StringVar(&o.proxyUserHeader, "proxy-user-header", "X-Forwarded-User", "header in which the proxy names the authenticated user (recorded on actions)")
	return cmd
}

func (o *dashboardOptions) run(cmd *cobra.Command) error {
	if o.interval < time.Second || o.interval > time.Minute {
		return fmt.Errorf("--interval %s: must be between 1s and 1m", o.interval)
	}
	secret := ""
	if o.proxySecretFile != "" {
		b, err := os.ReadFile(o.proxySecretFile)
		if err != nil {
			return fmt.Errorf("--proxy-secret-file: %w", err)
		}
		if secret = strings.TrimSpace(string(b)); len(secret) < 16 {
			return fmt.Errorf("--proxy-secret-file %s: the secret must be at least 16 characters", o.proxySecretFile)
		}
	}
	if err := dashboard.CheckAddress(o.address, secret != ""); err != nil {
		return err
	}
	kc, err := o.telemetry.kube.connect(cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	tel := &dashboardTelemetry{o: &o.telemetry, kc: kc}
	store := dashboard.NewStore(kc.client, tel.read, kc.namespace, o.allNamespaces, o.interval, time.Now)
	ln, err := net.Listen("tcp", o.address)
	if err != nil {
		return fmt.Errorf("serving the dashboard: %w", err)
	}
	srv, err := dashboard.New(dashboard.Options{Client: kc.client, Store: store, Actor: kc.actor(),
		ProxySecret: secret, ProxyUserHeader: o.proxyUserHeader}, ln.Addr())
	if err != nil {
		_ = ln.Close()
		return err
	}
	go store.Run(ctx)
	fmt.Fprintf(cmd.OutOrStdout(), "Ramp dashboard on http://%s/ (Ctrl-C to stop)\n", ln.Addr())
	err = srv.Serve(ctx, ln)
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// dashboardTelemetry reads telemetry for the dashboard: it finds the
// autoscaler API and gets a token once, and again when a read fails (a
// new leader, an expired token) or the token is 5 minutes old.
type dashboardTelemetry struct {
	o  *telemetryOptions
	kc *kube

	mu  sync.Mutex
	api *autoscalerAPI
	at  time.Time
}

const dashboardTokenAge = 5 * time.Minute

func (t *dashboardTelemetry) read(ctx context.Context, ns, revision string, window time.Duration) (autoscaling.Telemetry, error) {
	api, err := t.connect(ctx)
	if err != nil {
		return autoscaling.Telemetry{}, err
	}
	path := autoscaling.TelemetryPath + url.PathEscape(ns) + "/" + url.PathEscape(revision) + "?" + url.Values{"window": {window.String()}}.Encode()
	var tel autoscaling.Telemetry
	if err := api.getJSON(ctx, path, &tel); err != nil {
		t.mu.Lock()
		t.api = nil // find the leader and get a token again
		t.mu.Unlock()
		return autoscaling.Telemetry{}, err
	}
	return tel, nil
}

func (t *dashboardTelemetry) connect(ctx context.Context) (autoscalerAPI, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.api != nil && time.Since(t.at) < dashboardTokenAge {
		return *t.api, nil
	}
	base := strings.TrimRight(t.o.autoscalerURL, "/")
	var err error
	if base == "" {
		if base, err = leaderURL(ctx, t.kc.client, t.o.controllerNamespace); err != nil {
			return autoscalerAPI{}, err
		}
	}
	token, err := t.o.telemetryToken(ctx, t.kc)
	if err != nil {
		return autoscalerAPI{}, err
	}
	t.api, t.at = &autoscalerAPI{base: base, token: token}, time.Now()
	return *t.api, nil
}
