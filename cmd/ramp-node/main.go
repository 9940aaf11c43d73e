// Command ramp-node is the node agent of Ramp's local cluster: it stands in
// for the kubelet (and the scheduler) and runs pods as local processes.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client/config"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/rampdev/ramp/test/localcluster/node"
)

func main() {
	var (
		opts    node.Options
		zapOpts = zap.Options{Development: false}
	)
	flag.StringVar(&opts.NodeName, "node-name", "ramp-node", "name of the Node to register")
	flag.StringVar(&opts.PodsDir, "pods-dir", "", "directory for pod sandboxes (logs, PID files, credentials)")
	flag.StringVar(&opts.BinDir, "bin-dir", "", "directory of the binaries that images map to")
	flag.StringVar(&opts.PodCIDR, "pod-cidr", "127.0.0.0/16", "loopback range that pod IPs come from")
	flag.DurationVar(&opts.BackoffBase, "crash-backoff", 10*time.Second, "first crash-loop back-off")
	flag.DurationVar(&opts.BackoffMax, "crash-backoff-max", 5*time.Minute, "longest crash-loop back-off")
	flag.IntVar(&opts.KubeletPort, "kubelet-port", 10250, "port of the kubelet API (container logs) on 127.0.0.1; 0 disables it")
	flag.StringVar(&opts.TLSCertFile, "tls-cert-file", "", "serving certificate of the kubelet API")
	flag.StringVar(&opts.TLSKeyFile, "tls-private-key-file", "", "serving key of the kubelet API")
	flag.StringVar(&opts.ClientCAFile, "client-ca-file", "", "CA of the clients (the API server) allowed to call the kubelet API")
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))

	if err := run(opts); err != nil {
		fmt.Fprintf(os.Stderr, "ramp-node: %v\n", err)
		os.Exit(1)
	}
}

func run(opts node.Options) error {
	// controller-runtime registers --kubeconfig on the default flag set.
	cfg, err := config.GetConfig()
	if err != nil {
		return fmt.Errorf("loading kubeconfig: %w", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	return node.Run(ctx, cfg, opts)
}
