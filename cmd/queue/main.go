// Command queue is the queue-proxy sidecar (image ramp/queue) injected into
// every revision pod.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/rampdev/ramp/serving/queue"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "queue-proxy: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	cfg, err := queue.LoadConfig(os.Getenv)
	if err != nil {
		return err
	}
	log, err := zap.NewProduction()
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	return queue.NewServer(cfg, log).Run(ctx, 2*time.Second)
}
