// Package resources builds what a Rollout owns and asks for: the serving
// Service with its traffic block, and the analysis spec of a measurement.
// Pure functions, tested as tables.
package resources

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"maps"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	rolloutsv1alpha1 "github.com/rampdev/ramp/apis/rollouts/v1alpha1"
	servingv1 "github.com/rampdev/ramp/apis/serving/v1"
)

// TemplateHash identifies a Rollout's template: a new hash is a new
// rollout. It is copied onto the Service's template, and so onto each
// Revision, as the rollouts.ramp.dev/template-hash annotation.
func TemplateHash(t *servingv1.RevisionTemplateSpec) string {
	b, _ := json.Marshal(t) // plain data: cannot fail
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:5])
}

// MakeService builds the serving Service a Rollout owns: the Rollout's
// template (with its hash annotation) and the given traffic block. The
// visibility label and the sticky-session annotation are carried over, as
// a Service's own would be to its Route.
func MakeService(ro *rolloutsv1alpha1.Rollout, traffic []servingv1.TrafficTarget) *servingv1.Service {
	labels := map[string]string{rolloutsv1alpha1.LabelRollout: ro.Name}
	if v, ok := ro.Labels[servingv1.LabelVisibility]; ok {
		labels[servingv1.LabelVisibility] = v
	}
	var annotations map[string]string
	if v, ok := ro.Annotations[servingv1.AnnotationStickyMaxAge]; ok {
		annotations = map[string]string{servingv1.AnnotationStickyMaxAge: v}
	}
	tmpl := *ro.Spec.Template.DeepCopy()
	tmplAnnotations := make(map[string]string, len(tmpl.Metadata.Annotations)+1)
	maps.Copy(tmplAnnotations, tmpl.Metadata.Annotations)
	tmplAnnotations[rolloutsv1alpha1.AnnotationTemplateHash] = TemplateHash(&ro.Spec.Template)
	tmpl.Metadata.Annotations = tmplAnnotations
	return &servingv1.Service{
		ObjectMeta: metav1.ObjectMeta{
			Name:            ro.Name,
			Namespace:       ro.Namespace,
			Labels:          labels,
			Annotations:     annotations,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(ro, rolloutsv1alpha1.GroupVersion.WithKind("Rollout"))},
		},
		Spec: servingv1.ServiceSpec{
			ConfigurationSpec: servingv1.ConfigurationSpec{Template: tmpl},
			RouteSpec:         servingv1.RouteSpec{Traffic: traffic, HeaderRoutes: headerRoutes(ro, traffic)},
		},
	}
}

// headerRoutes sends the Rollout's header matches to the revision being
// rolled out (the canary or preview tag), while traffic has that tag.
func headerRoutes(ro *rolloutsv1alpha1.Rollout, traffic []servingv1.TrafficTarget) []servingv1.HeaderRoute {
	if len(ro.Spec.Strategy.HeaderRoutes) == 0 {
		return nil
	}
	tag := rolloutsv1alpha1.TagCanary
	if !ro.Spec.IsCanary() {
		tag = ro.Spec.PreviewTag()
	}
	for _, t := range traffic {
		if t.Tag != tag {
			continue
		}
		out := make([]servingv1.HeaderRoute, 0, len(ro.Spec.Strategy.HeaderRoutes))
		for _, h := range ro.Spec.Strategy.HeaderRoutes {
			out = append(out, servingv1.HeaderRoute{Name: h.Name, Value: h.Value, Tag: tag})
		}
		return out
	}
	return nil
}

// Traffic is the traffic block a Rollout's status calls for, naming
// revisions explicitly, each with a tag so it has a URL of its own:
//
//   - while a canary step runs: the stable (tag stable) and the canary (tag
//     canary) at the step's weight;
//   - while a blue/green preview runs: the stable at 100% and the new
//     revision at 0% with the preview tag;
//   - while promoting, or on the first rollout: the canary at 100%, tagged
//     stable as it is about to become the stable;
//   - otherwise (Healthy, RolledBack, Aborted, waiting for a canary to be
//     Ready): the stable at 100%.
//
// Nil (follow the latest ready revision) only before any revision was ever
// Ready: there is nothing to pin yet.
func Traffic(spec *rolloutsv1alpha1.RolloutSpec, st *rolloutsv1alpha1.RolloutStatus) []servingv1.TrafficTarget {
	active := st.Phase == rolloutsv1alpha1.PhaseProgressing || st.Phase == rolloutsv1alpha1.PhasePaused
	if active && st.CurrentStepIndex != nil && st.CanaryRevision != "" {
		switch {
		case *st.CurrentStepIndex >= spec.NumSteps() || st.StableRevision == "":
			return []servingv1.TrafficTarget{target(st.CanaryRevision, 100, rolloutsv1alpha1.TagStable)}
		case spec.IsCanary():
			w := int64(st.CanaryWeight)
			return []servingv1.TrafficTarget{
				target(st.StableRevision, 100-w, rolloutsv1alpha1.TagStable),
				target(st.CanaryRevision, w, rolloutsv1alpha1.TagCanary),
			}
		default:
			return []servingv1.TrafficTarget{
				target(st.StableRevision, 100, rolloutsv1alpha1.TagStable),
				target(st.CanaryRevision, 0, spec.PreviewTag()),
			}
		}
	}
	if st.StableRevision == "" {
		return nil
	}
	return []servingv1.TrafficTarget{target(st.StableRevision, 100, rolloutsv1alpha1.TagStable)}
}

func target(rev string, percent int64, tag string) servingv1.TrafficTarget {
	return servingv1.TrafficTarget{RevisionName: rev, Percent: ptr.To(percent), Tag: tag}
}

// Applied reports whether a Route's resolved traffic (its status.traffic)
// is want: the same revisions, percents and tags, in any order.
func Applied(want, resolved []servingv1.TrafficTarget) bool {
	if len(want) != len(resolved) {
		return false
	}
	type key struct {
		rev, tag string
		pct      int64
	}
	count := map[key]int{}
	for _, t := range want {
		count[key{t.RevisionName, t.Tag, t.PercentOf()}]++
	}
	for _, t := range resolved {
		k := key{t.RevisionName, t.Tag, t.PercentOf()}
		if count[k] == 0 {
			return false
		}
		count[k]--
	}
	return true
}
