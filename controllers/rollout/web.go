package rollout

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"

	"github.com/rampdev/ramp/analysis"
	rolloutsv1alpha1 "github.com/rampdev/ramp/apis/rollouts/v1alpha1"
)

// loadWebSecrets reads the values of the web metrics' Secret headers into
// spec, from Secrets in the Rollout's namespace, at each look (so a
// rotated Secret is used at the next look). A Secret the controller may
// not read, or that is missing, is an error naming the metric and the
// header: the look is then an Error, never a request without its header.
func (r *Reconciler) loadWebSecrets(ctx context.Context, ns string, spec *analysis.Spec) error {
	read := map[[2]string]string{} // each Secret key once per look
	for i := range spec.Metrics {
		m := &spec.Metrics[i]
		if m.Web == nil {
			continue
		}
		for j := range m.Web.Headers {
			h := &m.Web.Headers[j]
			if h.Secret == nil {
				continue
			}
			k := [2]string{h.Secret.Name, h.Secret.Key}
			v, ok := read[k]
			if !ok {
				var err error
				if v, err = r.secretValue(ctx, ns, h.Secret.Name, h.Secret.Key); err != nil {
					return fmt.Errorf("metric %q: web.headers[%d] (%s): %w", m.Name, j, h.Name, err)
				}
				read[k] = v
			}
			h.Secret.Value, h.Secret.Loaded = v, true
		}
	}
	return nil
}

// secretValue reads a key of a Secret in ns, uncached. The controller may
// read Secrets only when the chart grants it (analysis.secretArgs=true).
func (r *Reconciler) secretValue(ctx context.Context, ns, name, key string) (string, error) {
	s := &corev1.Secret{}
	if err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, s); err != nil {
		if apierrors.IsForbidden(err) {
			return "", fmt.Errorf("the controller may not read Secret %s (install the chart with analysis.secretArgs=true to let it read Secret arguments and headers)", name)
		}
		if apierrors.IsNotFound(err) {
			return "", fmt.Errorf("Secret %s not found", name) //nolint:staticcheck // ST1005: Secret is a Kind
		}
		return "", fmt.Errorf("reading Secret %s: %w", name, err)
	}
	v, ok := s.Data[key]
	if !ok {
		return "", fmt.Errorf("Secret %s has no key %q", name, key) //nolint:staticcheck // ST1005: Secret is a Kind
	}
	return string(v), nil
}

// fillWeb replaces {{args.<name>}} in a web metric's url, body and header
// values (a Secret header's value is read at each look, not filled).
func fillWeb(w *rolloutsv1alpha1.WebMetric, fill func(string) string) {
	w.URL = fill(w.URL)
	w.Body = fill(w.Body)
	for i := range w.Headers {
		if v := w.Headers[i].Value; v != nil {
			*v = fill(*v)
		}
	}
}
