//go:build tools

// Package tools pins the etcd server that Ramp's local cluster and envtest
// run on. `make tools` builds it from this module.
package tools

import _ "go.etcd.io/etcd/server/v3"
