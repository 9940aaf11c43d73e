// Command controller is Ramp's controller (image ramp/controller): the
// serving core's reconcilers.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
	_ "time/tzdata" // promotion windows name IANA time zones; do not depend on the image having them

	uberzap "go.uber.org/zap"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client/config"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/rampdev/ramp/cmd/internal/version"
	"github.com/rampdev/ramp/controllers/manager"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "controller: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	podIP := os.Getenv("POD_IP")
	if podIP == "" {
		podIP = "127.0.0.1"
	}
	ns := os.Getenv("POD_NAMESPACE")
	if ns == "" {
		ns = "ramp-system"
	}
	var o manager.Options
	o.PodName = os.Getenv("POD_NAME")
	zapOpts := zap.Options{}
	flag.StringVar(&o.Namespace, "namespace", ns, "namespace of the controller (leader election, ramp-config)")
	flag.StringVar(&o.MetricsAddr, "metrics-bind-address", net.JoinHostPort(podIP, "9090"), "metrics address; 0 disables")
	flag.StringVar(&o.HealthAddr, "health-probe-bind-address", net.JoinHostPort(podIP, "8081"), "health probe address; 0 disables")
	flag.BoolVar(&o.LeaderElection, "leader-elect", true, "use leader election, so replicas can run side by side")
	flag.IntVar(&o.MaxConcurrentReconciles, "max-concurrent-reconciles", 4, "objects each reconciler works on at once")
	flag.StringVar(&o.QueueImage, "queue-image", version.Image("queue"), "image of the queue-proxy sidecar")
	flag.DurationVar(&o.ProgressDeadline, "progress-deadline", 600*time.Second, "default time a revision has to become ready")
	flag.DurationVar(&o.ScaleToZeroGrace, "scale-to-zero-grace", 30*time.Second, "how long an unrouted revision keeps its pods")
	flag.StringVar(&o.GatewayService, "gateway-service", "", "namespace/name of the gateway's Service; routes are Ready once every replica has their routing table")
	flag.StringVar(&o.Auth.GatewayTokenFile, "gateway-token-file", "/var/run/secrets/ramp.dev/gateway/token",
		"file of the controller's ServiceAccount token for the gateway's admin API (audience gateway.ramp.dev; a projected token, re-read when it changes)")
	flag.StringVar(&o.AutoscalerAddr, "autoscaler-bind-address", net.JoinHostPort(podIP, "8099"), "address of the autoscaler's activation and telemetry API (leader only); 0 disables")
	flag.StringVar(&o.Prometheus.URL, "prometheus-url", "", "Prometheus address (http or https) for analysis metrics with PromQL queries; empty turns the prometheus provider off")
	flag.DurationVar(&o.Prometheus.Timeout, "prometheus-timeout", 10*time.Second, "bound of each Prometheus query, on the server and the client; 0: only the look's deadline")
	flag.StringVar(&o.Prometheus.CAFile, "prometheus-ca-file", "", "PEM CA bundle verifying an https Prometheus (default: the system's roots)")
	flag.StringVar(&o.Prometheus.CertFile, "prometheus-cert-file", "", "PEM client certificate for a Prometheus that requires mutual TLS (with --prometheus-key-file; re-read at each handshake)")
	flag.StringVar(&o.Prometheus.KeyFile, "prometheus-key-file", "", "PEM key of --prometheus-cert-file")
	flag.BoolVar(&o.Prometheus.InsecureSkipVerify, "prometheus-insecure-skip-verify", false, "do not verify the https Prometheus's certificate (tests only)")
	flag.StringVar(&o.Prometheus.BearerTokenFile, "prometheus-bearer-token-file", "", "file of a bearer token sent to Prometheus (re-read at each request; needs https)")
	flag.StringVar(&o.Prometheus.Username, "prometheus-username", "", "basic auth user name for Prometheus (with --prometheus-password-file)")
	flag.StringVar(&o.Prometheus.PasswordFile, "prometheus-password-file", "", "file of the basic auth password for Prometheus (re-read at each request; needs https)")
	flag.DurationVar(&o.AnalysisDefaults.Interval, "analysis-interval", 5*time.Second, "default time between two analysis looks")
	flag.DurationVar(&o.AnalysisDefaults.Window, "analysis-window", time.Minute, "default history a Prometheus query metric looks at")
	flag.Float64Var(&o.AnalysisDefaults.Alpha, "analysis-alpha", 0.01, "default chance, in (0, 0.5], that a healthy canary is rolled back during a step")
	flag.Float64Var(&o.AnalysisDefaults.Beta, "analysis-beta", 0.05, "default chance, in (0, 0.5], that a canary worse than a metric's margin passes a step")
	flag.DurationVar(&o.AnalysisDefaults.MinStepTime, "analysis-min-step-time", 30*time.Second, "default least time a weight step runs before it may advance")
	flag.DurationVar(&o.AnalysisDefaults.MaxStepTime, "analysis-max-step-time", 10*time.Minute, "default longest a weight step gathers evidence (at most 15m)")
	flag.StringVar(&o.AnalysisDefaults.OnTimeout, "analysis-on-timeout", "rollback", "default for a step without a verdict at its maximum time: rollback or pause")
	int32Flag(&o.AnalysisDefaults.MinRequests, "analysis-min-requests", 50, "default canary requests a Prometheus query metric's window needs; fewer is Inconclusive")
	int32Flag(&o.AnalysisDefaults.FailureLimit, "analysis-failure-limit", 2, "default consecutive looks failed by query metrics that roll back")
	int32Flag(&o.AnalysisDefaults.InconclusiveLimit, "analysis-inconclusive-limit", 12, "default consecutive looks that could not measure (Error) that pause")
	flag.StringVar(&o.SlackMode, "slack-mode", manager.SlackOff, "off (notifications to the log), http (serve /slack/actions and /slack/commands) or socket (Socket Mode)")
	flag.StringVar(&o.Slack.DefaultChannel, "slack-channel", "", "Slack channel of notifications")
	users := flag.String("slack-allowed-users", "", "comma-separated Slack user IDs or names allowed to approve, abort, promote and retry; empty allows nobody")
	flag.StringVar(&o.SlackAddr, "slack-bind-address", net.JoinHostPort(podIP, "8098"), "address of the Slack endpoints in http mode")
	flag.StringVar(&o.Webhook.Addr, "webhook-bind-address", net.JoinHostPort(podIP, "9443"), "address of the validating admission webhook (every replica); 0 disables")
	flag.StringVar(&o.Webhook.Secret, "webhook-secret", "ramp-webhook-cert", "Secret in the controller's namespace holding the webhook's CA and certificate (created and renewed by the controller)")
	flag.StringVar(&o.Webhook.Configuration, "webhook-configuration", "ramp-validation", "ValidatingWebhookConfiguration whose caBundle the controller keeps; empty leaves it alone")
	webhookService := flag.String("webhook-service", "ramp-webhook", "Service the API server reaches the webhook through (the certificate's names)")
	flag.Func("cloudevents-sink", "http(s) URL receiving every Rollout state change as a lifecycle CloudEvent (binary mode; repeatable; e.g. a Knative Eventing broker)",
		func(s string) error { o.CloudEvents.Sinks = append(o.CloudEvents.Sinks, s); return nil })
	flag.IntVar(&o.CloudEvents.QueueSize, "cloudevents-queue-size", 1000, "events waiting per sink; more are dropped and counted")
	flag.IntVar(&o.CloudEvents.MaxAttempts, "cloudevents-max-attempts", 5, "sends of one event before it counts as failed")
	showVersion := flag.Bool("version", false, "print the version and exit")
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()
	if *showVersion {
		fmt.Println("ramp controller", version.String())
		return nil
	}
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))
	ctrl.Log.WithName("setup").Info("Starting the Ramp controller", "version", version.Version, "revision", version.Revision)
	o.Slack.Token, o.Slack.SigningSecret, o.Slack.AppToken = os.Getenv("SLACK_BOT_TOKEN"), os.Getenv("SLACK_SIGNING_SECRET"), os.Getenv("SLACK_APP_TOKEN")
	o.Webhook.Hosts = manager.ServiceHosts(*webhookService, o.Namespace)
	for _, u := range strings.Split(*users, ",") {
		if u = strings.TrimSpace(u); u != "" {
			o.Slack.AllowedUsers = append(o.Slack.AllowedUsers, u)
		}
	}
	notifyLog, err := uberzap.NewProduction()
	if err != nil {
		return err
	}
	defer func() { _ = notifyLog.Sync() }()
	o.NotifyLog = notifyLog.Named("notify")

	cfg, err := config.GetConfig()
	if err != nil {
		return fmt.Errorf("loading kubeconfig: %w", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	return manager.Run(ctx, cfg, o)
}

// int32Flag defines an int32 flag (the flag package has none).
func int32Flag(p *int32, name string, value int32, usage string) {
	*p = value
	flag.Func(name, fmt.Sprintf("%s (default %d)", usage, value), func(s string) error {
		n, err := strconv.ParseInt(s, 10, 32)
		if err != nil || n < 0 {
			return fmt.Errorf("want a non-negative integer")
		}
		*p = int32(n)
		return nil
	})
}
