//go:build tools

// Package tools pins Knative Serving's queue-proxy, the baseline that
// `make bench` measures Ramp's data plane against. The Makefile builds it
// from this module; Ramp's own code never imports Knative.
package tools

import _ "knative.dev/serving/cmd/queue"
