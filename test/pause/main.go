// Command pause is the sandbox ("pause") container of the local cluster's
// real node: it holds a pod's namespaces and waits until it is told to
// stop. containerd needs one as its sandbox image, and no registry is
// reachable, so `ramp local up --node real` builds it as an OCI image
// (ramp-images build --only pause) and imports it.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	go reap()
	<-sig
}

// reap collects orphaned children, as the pause process is PID 1 of the
// pod when the PID namespace is shared.
func reap() {
	child := make(chan os.Signal, 1)
	signal.Notify(child, syscall.SIGCHLD)
	for range child {
		for {
			var ws syscall.WaitStatus
			if pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil); pid <= 0 || err != nil {
				break
			}
		}
	}
}
