package manager

import (
	"sigs.k8s.io/controller-runtime/pkg/config"
)

// ctrlConfig is every reconciler's controller configuration: how many
// objects of a kind it reconciles at once (controller-runtime's default,
// 1, queues a burst of hundreds of changes behind one object's API round
// trips; a workqueue never hands the same object to two workers).
func ctrlConfig(o Options) config.Controller {
	c := config.Controller{MaxConcurrentReconciles: o.MaxConcurrentReconciles}
	if o.SkipNameValidation {
		t := true
		c.SkipNameValidation = &t
	}
	return c
}
