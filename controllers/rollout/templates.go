package rollout

import (
	"context"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"

	rolloutsv1alpha1 "github.com/rampdev/ramp/apis/rollouts/v1alpha1"
	"github.com/rampdev/ramp/controllers/rollout/resources"
)

// +kubebuilder:rbac:groups=rollouts.ramp.dev,resources=analysistemplates;clusteranalysistemplates,verbs=get;list;watch

// resolveTemplates adds the metrics of the Rollout's analysis templates to
// its analysis, in memory, with their arguments filled in, and returns
// the templates used ("<Kind>/<name>@<generation>"). Templates are read at
// each look, so an edit affects the next look only. A missing template or
// argument, a metric name used twice or a metric invalid once filled in is
// an error naming it: the look is then an Error, never a pass.
func (r *Reconciler) resolveTemplates(ctx context.Context, ns string, a *rolloutsv1alpha1.Analysis) ([]string, error) {
	if a == nil || a.Disabled || len(a.Templates) == 0 {
		return nil, nil
	}
	fld := field.NewPath("spec", "analysis")
	owner := map[string]string{}
	for i, m := range a.Metrics {
		owner[m.Name] = fld.Child("metrics").Index(i).String()
	}
	var used []string
	var errs field.ErrorList
	for i, ref := range a.Templates {
		p := fld.Child("templates").Index(i)
		kind, spec, gen, err := r.getTemplate(ctx, ns, ref)
		if err != nil {
			return used, fmt.Errorf("%s: %w", p, err)
		}
		id := fmt.Sprintf("%s/%s", kind, ref.Name)
		used = append(used, fmt.Sprintf("%s@%d", id, gen))
		values, err := r.argValues(ctx, ns, a.Args, spec.Args)
		if err != nil {
			return used, fmt.Errorf("%s (%s): %w", p, id, err)
		}
		for j := range spec.Metrics {
			m, err := fillArgs(spec.Metrics[j], values)
			if err != nil {
				return used, fmt.Errorf("%s (%s) metric %q: %w", p, id, spec.Metrics[j].Name, err)
			}
			if prev, ok := owner[m.Name]; ok {
				return used, fmt.Errorf("%s (%s): metric %q is also defined by %s; metric names must be unique", p, id, m.Name, prev)
			}
			owner[m.Name] = fmt.Sprintf("%s (%s)", p, id)
			a.Metrics = append(a.Metrics, m)
		}
	}
	// The filled-in metrics must be as valid as inline ones.
	check := &rolloutsv1alpha1.RolloutSpec{Analysis: a}
	errs = append(errs, resources.ValidateSpec(check, r.Clock.Now())...)
	if len(errs) > 0 {
		return used, fmt.Errorf("with the templates' metrics: %w", errs.ToAggregate())
	}
	return used, nil
}

// getTemplate reads a referenced template.
func (r *Reconciler) getTemplate(ctx context.Context, ns string, ref rolloutsv1alpha1.AnalysisTemplateRef) (string, *rolloutsv1alpha1.AnalysisTemplateSpec, int64, error) {
	if ref.ClusterScope {
		t := &rolloutsv1alpha1.ClusterAnalysisTemplate{}
		if err := r.Client.Get(ctx, types.NamespacedName{Name: ref.Name}, t); err != nil {
			if apierrors.IsNotFound(err) {
				return "", nil, 0, fmt.Errorf("ClusterAnalysisTemplate %s not found", ref.Name)
			}
			return "", nil, 0, fmt.Errorf("reading ClusterAnalysisTemplate %s: %w", ref.Name, err)
		}
		return "ClusterAnalysisTemplate", &t.Spec, t.Generation, nil
	}
	t := &rolloutsv1alpha1.AnalysisTemplate{}
	if err := r.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: ref.Name}, t); err != nil {
		if apierrors.IsNotFound(err) {
			return "", nil, 0, fmt.Errorf("AnalysisTemplate %s not found in namespace %s (for a ClusterAnalysisTemplate set clusterScope: true)", ref.Name, ns)
		}
		return "", nil, 0, fmt.Errorf("reading AnalysisTemplate %s/%s: %w", ns, ref.Name, err)
	}
	return "AnalysisTemplate", &t.Spec, t.Generation, nil
}

// argValues gives each declared argument its value: the Rollout's (a
// value, or a Secret or ConfigMap key read now), else the template's
// default.
func (r *Reconciler) argValues(ctx context.Context, ns string, given []rolloutsv1alpha1.AnalysisArg, declared []rolloutsv1alpha1.TemplateArg) (map[string]string, error) {
	values := map[string]string{}
	for _, d := range declared {
		if d.Value != nil {
			values[d.Name] = *d.Value
		}
	}
	for _, g := range given {
		switch {
		case g.Value != nil:
			values[g.Name] = *g.Value
		case g.ValueFrom != nil && g.ValueFrom.SecretKeyRef != nil:
			v, err := r.secretValue(ctx, ns, g.ValueFrom.SecretKeyRef.Name, g.ValueFrom.SecretKeyRef.Key)
			if err != nil {
				return nil, fmt.Errorf("argument %s: %w", g.Name, err)
			}
			values[g.Name] = v
		case g.ValueFrom != nil && g.ValueFrom.ConfigMapKeyRef != nil:
			ref := g.ValueFrom.ConfigMapKeyRef
			cm := &corev1.ConfigMap{}
			if err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: ns, Name: ref.Name}, cm); err != nil {
				if apierrors.IsNotFound(err) {
					return nil, fmt.Errorf("argument %s: ConfigMap %s not found", g.Name, ref.Name)
				}
				return nil, fmt.Errorf("argument %s: reading ConfigMap %s: %w", g.Name, ref.Name, err)
			}
			v, ok := cm.Data[ref.Key]
			if !ok {
				return nil, fmt.Errorf("argument %s: ConfigMap %s has no key %q", g.Name, ref.Name, ref.Key)
			}
			values[g.Name] = v
		}
	}
	return values, nil
}

// fillArgs replaces {{args.<name>}} in a metric's strings.
func fillArgs(m rolloutsv1alpha1.Metric, values map[string]string) (rolloutsv1alpha1.Metric, error) {
	m = *m.DeepCopy()
	var missing []string
	fill := func(s string) string {
		return resources.ArgRef.ReplaceAllStringFunc(s, func(ref string) string {
			name := resources.ArgRef.FindStringSubmatch(ref)[1]
			v, ok := values[name]
			if !ok {
				if !slices.Contains(missing, name) {
					missing = append(missing, name)
				}
				return ref
			}
			return v
		})
	}
	fillThreshold := func(t *rolloutsv1alpha1.Threshold) {
		if t != nil {
			*t = rolloutsv1alpha1.Threshold(fill(string(*t)))
		}
	}
	for _, q := range resources.PrometheusQueries(m.Prometheus) {
		*q.Query = fill(*q.Query)
	}
	if m.Web != nil {
		fillWeb(m.Web, fill)
	}
	fillThreshold(m.Max)
	fillThreshold(m.Min)
	fillThreshold(m.MaxIncrease)
	if m.MaxRatio != nil {
		*m.MaxRatio = rolloutsv1alpha1.Ratio(fill(string(*m.MaxRatio)))
	}
	for _, mg := range []*rolloutsv1alpha1.MarginSpec{m.Margin, m.Tolerance} {
		if mg == nil {
			continue
		}
		if mg.Relative != nil {
			*mg.Relative = fill(*mg.Relative)
		}
		fillThreshold(mg.Absolute)
	}
	if len(missing) > 0 {
		return m, fmt.Errorf("argument %s has no value: give it in spec.analysis.args or a default in the template", strings.Join(missing, ", "))
	}
	return m, nil
}
