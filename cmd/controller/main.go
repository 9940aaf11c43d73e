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
	"syscall"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client/config"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

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
	zapOpts := zap.Options{}
	flag.StringVar(&o.Namespace, "namespace", ns, "namespace of the controller (leader election, ramp-config)")
	flag.StringVar(&o.MetricsAddr, "metrics-bind-address", net.JoinHostPort(podIP, "9090"), "metrics address; 0 disables")
	flag.StringVar(&o.HealthAddr, "health-probe-bind-address", net.JoinHostPort(podIP, "8081"), "health probe address; 0 disables")
	flag.BoolVar(&o.LeaderElection, "leader-elect", true, "use leader election, so replicas can run side by side")
	flag.StringVar(&o.QueueImage, "queue-image", "ramp/queue:dev", "image of the queue-proxy sidecar")
	flag.DurationVar(&o.ProgressDeadline, "progress-deadline", 600*time.Second, "default time a revision has to become ready")
	flag.DurationVar(&o.ScaleToZeroGrace, "scale-to-zero-grace", 30*time.Second, "how long an unrouted revision keeps its pods")
	flag.StringVar(&o.GatewayService, "gateway-service", "", "namespace/name of the gateway's Service; routes are Ready once every replica has their routing table")
	flag.StringVar(&o.AutoscalerAddr, "autoscaler-bind-address", net.JoinHostPort(podIP, "8099"), "address of the autoscaler's activation and telemetry API (leader only); 0 disables")
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))

	cfg, err := config.GetConfig()
	if err != nil {
		return fmt.Errorf("loading kubeconfig: %w", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	return manager.Run(ctx, cfg, o)
}
