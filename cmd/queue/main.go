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

// drainDelay is how long the queue-proxy keeps serving after SIGTERM while
// reporting not ready, so that endpoints drop the pod first.
const drainDelay = 2 * time.Second

func main() {
	if err := run(os.Getenv); err != nil {
		fmt.Fprintf(os.Stderr, "queue-proxy: %v\n", err)
		os.Exit(1)
	}
}

func run(getenv func(string) string) error {
	cfg, err := queue.LoadConfig(getenv)
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	log, err := zap.NewProduction()
	if err != nil {
		return fmt.Errorf("logger: %w", err)
	}
	defer func() { _ = log.Sync() }()
	log = log.With(zap.String("revision", cfg.Revision), zap.String("pod", cfg.PodName))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	return queue.NewServer(cfg, log).Run(ctx, drainDelay)
}
