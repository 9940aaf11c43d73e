package manager

import (
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/config"
)

func ctrlConfig(o Options) config.Controller {
	if o.SkipNameValidation {
		return config.Controller{SkipNameValidation: ptr.To(true)}
	}
	return config.Controller{}
}
