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
	"github.com/rampdev/ramp/serving/gateway/routing"
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
	flag.IntVar(&o.MaxHeldPerRevision, "max-held-per-revision", routing.DefaultMaxWaiters,
		"most requests held while one revision scales from zero; past it they get 503 with Retry-After")
	flag.IntVar(&o.MaxHeld, "max-held", routing.DefaultMaxTotalWaiters,
		"most requests held while revisions scale from zero, all revisions together; past it they get 503 with Retry-After")
	flag.DurationVar(&o.Limits.HeaderTimeout, "header-timeout", gateway.DefaultHeaderTimeout,
		"how long a client may take to send a request's header")
	flag.DurationVar(&o.Limits.IdleTimeout, "idle-timeout", gateway.DefaultIdleTimeout,
		"how long a client's keep-alive connection may stay idle")
	flag.DurationVar(&o.Limits.RequestTimeout, "request-timeout", 0,
		"how long reading a request's body and writing its response may take (0: the largest revision timeout, 1h, plus -activation-timeout)")
	flag.StringVar(&o.AutoscalerService, "autoscaler-service", "", "namespace/name of the controller's autoscaler Service, signalled to scale revisions from zero")
	flag.IntVar(&o.AutoscalerPort, "autoscaler-port", 8099, "the autoscaler's port")
	flag.StringVar(&o.AutoscalerTokenFile, "autoscaler-token-file", "/var/run/secrets/ramp.dev/autoscaler/token",
		"file of the gateway's ServiceAccount token for the autoscaler API (audience autoscaler.ramp.dev; a projected token, re-read when it changes)")
	flag.StringVar(&o.PprofAddr, "pprof-addr", "", "serve net/http/pprof on this loopback address, e.g. 127.0.0.1:6060 (off by default; profiling only)")
	static := flag.String("static-config", "", "serve a fixed routing table from this JSON file instead of watching Kubernetes (benchmarks, debugging)")
	showVersion := flag.Bool("version", false, "print the version and exit")
	flag.Parse()
	if err := validate(o); err != nil {
		return err
	}
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

// validate checks the flags whose zero or negative values make no sense.
func validate(o gateway.Options) error {
	switch {
	case o.MaxHeldPerRevision < 1:
		return fmt.Errorf("-max-held-per-revision=%d: must be at least 1", o.MaxHeldPerRevision)
	case o.MaxHeld < o.MaxHeldPerRevision:
		return fmt.Errorf("-max-held=%d: must be at least -max-held-per-revision (%d)", o.MaxHeld, o.MaxHeldPerRevision)
	case o.Limits.HeaderTimeout <= 0:
		return fmt.Errorf("-header-timeout=%s: must be positive", o.Limits.HeaderTimeout)
	case o.Limits.IdleTimeout <= 0:
		return fmt.Errorf("-idle-timeout=%s: must be positive", o.Limits.IdleTimeout)
	case o.Limits.RequestTimeout < 0:
		return fmt.Errorf("-request-timeout=%s: must not be negative", o.Limits.RequestTimeout)
	case o.PprofAddr != "":
		if err := gateway.CheckPprofAddr(o.PprofAddr); err != nil {
			return fmt.Errorf("-pprof-addr: %w", err)
		}
	}
	return nil
}
