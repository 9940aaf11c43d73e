// Command sampleapp is the demo workload for the ramp progressive-delivery
// controller. It mimics the Knative tutorial's "notifications-service" and
// runs as a plain local process whose environment is set by the node agent.
//
// Endpoints:
//
//	GET /              200 "Hello <TARGET>!\n"
//	GET /service/info  200 JSON: name, version, source, podName, podNamespace,
//	                   podNodeName, podIp, podServiceAccount
//	GET /healthz       200 "ok" (503 "not ready" while READY_FILE is missing);
//	                   never affected by ERROR_RATE or LATENCY
//
// Every response except /healthz carries the header X-Sampleapp-Version.
//
// Environment knobs (an empty value means unset):
//
//	POD_IP               listen IP and podIp (listen default 127.0.0.1)
//	PORT                 listen port (default 8080)
//	TARGET               greeting target (default "World")
//	NAME                 service name (default "sampleapp")
//	VERSION              service version (default "0.0.0")
//	SOURCE               reported as "source" (default "")
//	POD_NAME, POD_NAMESPACE, NODE_NAME, POD_SERVICE_ACCOUNT
//	                     reported by /service/info (default "")
//	STARTUP_DELAY        Go duration to wait before listening (e.g. 2s)
//	CRASH_AFTER          Go duration after start at which the process exits 1;
//	                     0s crashes immediately
//	ERROR_RATE           fraction in [0,1] or percent (5%) of requests to / and
//	                     /service/info answered with 500 "injected error\n"
//	LATENCY              extra delay for / and /service/info: 50ms or
//	                     50ms+-10ms (uniform jitter, never below 0)
//	SEED                 int64 seed for error selection and jitter
//	                     (default: time-based, logged at startup)
//	READY_FILE           if set, /healthz is 503 while this file does not exist
//	SIGNAL_FILE          if set, "SIGTERM <POD_NAME>\n" (or SIGINT) is appended
//	                     to this file when the signal is received
//
// Invalid knobs make the process exit 1 before listening. On SIGTERM or
// SIGINT the server logs "received SIGTERM", finishes in-flight requests
// (bounded by 10s) and exits 0.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	logger := log.New(os.Stderr, "", log.LstdFlags)
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(),
			"usage: %s\n\nsampleapp takes no arguments; it is configured through environment\nvariables (see `go doc github.com/rampdev/ramp/test/sampleapp`).\n", os.Args[0])
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}

	cfg, err := LoadConfig(os.Getenv)
	if err != nil {
		logger.Printf("invalid configuration: %v", err)
		os.Exit(1)
	}

	ctx, stop := newSignalContext(context.Background())
	err = run(ctx, cfg, logger)
	stop()
	if err != nil {
		logger.Printf("fatal: %v", err)
		os.Exit(1)
	}
}

// newSignalContext is canceled, with the signal as its cause, on SIGTERM or
// SIGINT.
func newSignalContext(parent context.Context) (context.Context, context.CancelFunc) {
	return signal.NotifyContext(parent, syscall.SIGTERM, syscall.SIGINT)
}
