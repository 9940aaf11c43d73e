// Command gateway is Ramp's ingress (image ramp/gateway): it routes requests
// by host, weight, tag and header to revision pods.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.uber.org/zap"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client/config"
	crzap "sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/rampdev/ramp/cmd/internal/version"
	"github.com/rampdev/ramp/serving/gateway"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "gateway: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	var o gateway.Options
	ip := os.Getenv("POD_IP")
	if ip == "" {
		ip = "127.0.0.1"
	}
	flag.StringVar(&o.IP, "ip", ip, "address to bind (the pod IP)")
	flag.DurationVar(&o.DrainDelay, "drain-delay", 3*time.Second, "how long to keep serving after SIGTERM before refusing connections")
	flag.DurationVar(&o.ActivationTimeout, "activation-timeout", 30*time.Second, "how long a request waits for a revision to scale from zero")
	flag.StringVar(&o.AutoscalerService, "autoscaler-service", "", "namespace/name of the controller's autoscaler Service, signalled to scale revisions from zero")
	flag.IntVar(&o.AutoscalerPort, "autoscaler-port", 8099, "the autoscaler's port")
	flag.StringVar(&o.AutoscalerTokenFile, "autoscaler-token-file", "/var/run/secrets/ramp.dev/autoscaler/token",
		"file of the gateway's ServiceAccount token for the autoscaler API (audience autoscaler.ramp.dev; a projected token, re-read when it changes)")
	static := flag.String("static-config", "", "serve a fixed routing table from this JSON file instead of watching Kubernetes (benchmarks, debugging)")
	showVersion := flag.Bool("version", false, "print the version and exit")
	flag.Parse()
	if *showVersion {
		fmt.Println("ramp gateway", version.String())
		return nil
	}
	ctrl.SetLogger(crzap.New())
	log, err := zap.NewProduction()
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if *static != "" {
		c, err := gateway.LoadStaticConfig(*static)
		if err != nil {
			return err
		}
		return gateway.RunStatic(ctx, c, o, log)
	}
	cfg, err := config.GetConfig()
	if err != nil {
		return fmt.Errorf("loading kubeconfig: %w", err)
	}
	return gateway.Run(ctx, cfg, o, log)
}
