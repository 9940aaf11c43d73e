//go:build tools

// Package tools pins the Kubernetes control-plane binaries that Ramp's local
// cluster and envtest run on. `make tools` builds them from this module.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
