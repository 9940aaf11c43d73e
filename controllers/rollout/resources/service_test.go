package resources

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	rolloutsv1alpha1 "github.com/rampdev/ramp/apis/rollouts/v1alpha1"
	servingv1 "github.com/rampdev/ramp/apis/serving/v1"
)

// RolloutBuilder builds test Rollouts.
type RolloutBuilder struct{ ro *rolloutsv1alpha1.Rollout }

// MakeRollout starts a Rollout "web" in "ns" running image, with canary
// steps 20 and 100.
func MakeRollout(image string) *RolloutBuilder {
	return &RolloutBuilder{ro: &rolloutsv1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", UID: types.UID("uid-1")},
		Spec: rolloutsv1alpha1.RolloutSpec{
			Template: servingv1.RevisionTemplateSpec{Spec: servingv1.RevisionSpec{Containers: []servingv1.Container{{Image: image}}}},
			Strategy: rolloutsv1alpha1.Strategy{Canary: &rolloutsv1alpha1.CanaryStrategy{Steps: []rolloutsv1alpha1.CanaryStep{
				{Weight: ptr.To[int32](20)}, {Weight: ptr.To[int32](100)},
			}}},
		},
	}}
}

func (b *RolloutBuilder) Label(k, v string) *RolloutBuilder {
	if b.ro.Labels == nil {
		b.ro.Labels = map[string]string{}
	}
	b.ro.Labels[k] = v
	return b
}

func (b *RolloutBuilder) Annotation(k, v string) *RolloutBuilder {
	if b.ro.Annotations == nil {
		b.ro.Annotations = map[string]string{}
	}
	b.ro.Annotations[k] = v
	return b
}

func (b *RolloutBuilder) TemplateAnnotation(k, v string) *RolloutBuilder {
	if b.ro.Spec.Template.Metadata.Annotations == nil {
		b.ro.Spec.Template.Metadata.Annotations = map[string]string{}
	}
	b.ro.Spec.Template.Metadata.Annotations[k] = v
	return b
}

func (b *RolloutBuilder) BlueGreen(tag string) *RolloutBuilder {
	b.ro.Spec.Strategy = rolloutsv1alpha1.Strategy{BlueGreen: &rolloutsv1alpha1.BlueGreenStrategy{PreviewTag: tag}}
	return b
}

func (b *RolloutBuilder) Obj() *rolloutsv1alpha1.Rollout { return b.ro }

func owner() []metav1.OwnerReference {
	return []metav1.OwnerReference{{APIVersion: "rollouts.ramp.dev/v1alpha1", Kind: "Rollout", Name: "web", UID: "uid-1",
		Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true)}}
}

func pinned(rev string, pct int64, tag string) servingv1.TrafficTarget {
	return servingv1.TrafficTarget{RevisionName: rev, Percent: ptr.To(pct), Tag: tag}
}

func TestMakeService(t *testing.T) {
	v1 := MakeRollout("ramp/sampleapp:v1").Obj()
	hash := TemplateHash(&v1.Spec.Template)
	split := []servingv1.TrafficTarget{pinned("web-00001", 80, "stable"), pinned("web-00002", 20, "canary")}
	cases := map[string]struct {
		ro      *rolloutsv1alpha1.Rollout
		traffic []servingv1.TrafficTarget
		want    *servingv1.Service
	}{
		"template and traffic": {
			ro: v1, traffic: split,
			want: &servingv1.Service{
				ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", Labels: map[string]string{"rollouts.ramp.dev/rollout": "web"}, OwnerReferences: owner()},
				Spec: servingv1.ServiceSpec{
					ConfigurationSpec: servingv1.ConfigurationSpec{Template: servingv1.RevisionTemplateSpec{
						Metadata: servingv1.TemplateMeta{Annotations: map[string]string{"rollouts.ramp.dev/template-hash": hash}},
						Spec:     servingv1.RevisionSpec{Containers: []servingv1.Container{{Image: "ramp/sampleapp:v1"}}},
					}},
					RouteSpec: servingv1.RouteSpec{Traffic: split},
				},
			},
		},
		"no traffic yet, visibility, sticky sessions and template annotations kept": {
			ro: MakeRollout("ramp/sampleapp:v1").Label(servingv1.LabelVisibility, "cluster-local").Label("team", "a").
				Annotation(servingv1.AnnotationStickyMaxAge, "1h").Annotation("note", "x").
				TemplateAnnotation("autoscaling.ramp.dev/initial-scale", "2").Obj(),
			want: &servingv1.Service{
				ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", OwnerReferences: owner(),
					Labels:      map[string]string{"rollouts.ramp.dev/rollout": "web", servingv1.LabelVisibility: "cluster-local"},
					Annotations: map[string]string{servingv1.AnnotationStickyMaxAge: "1h"}},
				Spec: servingv1.ServiceSpec{
					ConfigurationSpec: servingv1.ConfigurationSpec{Template: servingv1.RevisionTemplateSpec{
						Metadata: servingv1.TemplateMeta{Annotations: map[string]string{
							"rollouts.ramp.dev/template-hash":    TemplateHash(&MakeRollout("ramp/sampleapp:v1").TemplateAnnotation("autoscaling.ramp.dev/initial-scale", "2").Obj().Spec.Template),
							"autoscaling.ramp.dev/initial-scale": "2",
						}},
						Spec: servingv1.RevisionSpec{Containers: []servingv1.Container{{Image: "ramp/sampleapp:v1"}}},
					}},
				},
			},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			before := tc.ro.DeepCopy()
			got := MakeService(tc.ro, tc.traffic)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("MakeService (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(before, tc.ro); diff != "" {
				t.Errorf("MakeService changed the Rollout (-before +after):\n%s", diff)
			}
		})
	}
}

func TestTemplateHash(t *testing.T) {
	v1, v2 := MakeRollout("ramp/sampleapp:v1").Obj(), MakeRollout("ramp/sampleapp:v2").Obj()
	again := MakeRollout("ramp/sampleapp:v1").Obj()
	if TemplateHash(&v1.Spec.Template) != TemplateHash(&again.Spec.Template) {
		t.Error("the same template hashes differently")
	}
	if TemplateHash(&v1.Spec.Template) == TemplateHash(&v2.Spec.Template) {
		t.Error("two templates hash the same")
	}
	if n := len(TemplateHash(&v1.Spec.Template)); n != 10 {
		t.Errorf("hash has %d characters, want 10", n)
	}
}

func TestTraffic(t *testing.T) {
	canary := &MakeRollout("x").Obj().Spec
	bg := &MakeRollout("x").BlueGreen("preview").Obj().Spec
	st := func(phase rolloutsv1alpha1.Phase, stable, canary string, step *int32, weight int32) *rolloutsv1alpha1.RolloutStatus {
		return &rolloutsv1alpha1.RolloutStatus{Phase: phase, StableRevision: stable, CanaryRevision: canary, CurrentStepIndex: step, CanaryWeight: weight}
	}
	cases := map[string]struct {
		spec *rolloutsv1alpha1.RolloutSpec
		st   *rolloutsv1alpha1.RolloutStatus
		want []servingv1.TrafficTarget
	}{
		"nothing ready yet":       {spec: canary, st: st(rolloutsv1alpha1.PhaseProgressing, "", "r1", nil, 0)},
		"first rollout promoting": {spec: canary, st: st(rolloutsv1alpha1.PhaseProgressing, "", "r1", ptr.To[int32](2), 100), want: []servingv1.TrafficTarget{pinned("r1", 100, "stable")}},
		"healthy":                 {spec: canary, st: st(rolloutsv1alpha1.PhaseHealthy, "r1", "", nil, 0), want: []servingv1.TrafficTarget{pinned("r1", 100, "stable")}},
		"waiting for the canary":  {spec: canary, st: st(rolloutsv1alpha1.PhaseProgressing, "r1", "r2", nil, 0), want: []servingv1.TrafficTarget{pinned("r1", 100, "stable")}},
		"canary step": {spec: canary, st: st(rolloutsv1alpha1.PhaseProgressing, "r1", "r2", ptr.To[int32](0), 20),
			want: []servingv1.TrafficTarget{pinned("r1", 80, "stable"), pinned("r2", 20, "canary")}},
		"canary at 0% keeps its tag": {spec: canary, st: st(rolloutsv1alpha1.PhaseProgressing, "r1", "r2", ptr.To[int32](0), 0),
			want: []servingv1.TrafficTarget{pinned("r1", 100, "stable"), pinned("r2", 0, "canary")}},
		"paused keeps the weight": {spec: canary, st: st(rolloutsv1alpha1.PhasePaused, "r1", "r2", ptr.To[int32](1), 50),
			want: []servingv1.TrafficTarget{pinned("r1", 50, "stable"), pinned("r2", 50, "canary")}},
		"promoting": {spec: canary, st: st(rolloutsv1alpha1.PhaseProgressing, "r1", "r2", ptr.To[int32](2), 100),
			want: []servingv1.TrafficTarget{pinned("r2", 100, "stable")}},
		"rolled back": {spec: canary, st: st(rolloutsv1alpha1.PhaseRolledBack, "r1", "r2", ptr.To[int32](1), 0), want: []servingv1.TrafficTarget{pinned("r1", 100, "stable")}},
		"aborted":     {spec: canary, st: st(rolloutsv1alpha1.PhaseAborted, "r1", "r2", ptr.To[int32](1), 0), want: []servingv1.TrafficTarget{pinned("r1", 100, "stable")}},
		"blue/green preview": {spec: bg, st: st(rolloutsv1alpha1.PhaseProgressing, "r1", "r2", ptr.To[int32](0), 0),
			want: []servingv1.TrafficTarget{pinned("r1", 100, "stable"), pinned("r2", 0, "preview")}},
		"blue/green promoting": {spec: bg, st: st(rolloutsv1alpha1.PhaseProgressing, "r1", "r2", ptr.To[int32](1), 100),
			want: []servingv1.TrafficTarget{pinned("r2", 100, "stable")}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, Traffic(tc.spec, tc.st)); diff != "" {
				t.Errorf("Traffic (-want +got):\n%s", diff)
			}
		})
	}
}

func TestApplied(t *testing.T) {
	status := func(rev string, pct int64, tag string) servingv1.TrafficTarget {
		return servingv1.TrafficTarget{RevisionName: rev, Percent: ptr.To(pct), Tag: tag, LatestRevision: ptr.To(false), URL: "http://" + tag + "-web.ns.example.com"}
	}
	want := []servingv1.TrafficTarget{pinned("r1", 80, "stable"), pinned("r2", 20, "canary")}
	cases := map[string]struct {
		resolved []servingv1.TrafficTarget
		want     bool
	}{
		"same":            {resolved: []servingv1.TrafficTarget{status("r1", 80, "stable"), status("r2", 20, "canary")}, want: true},
		"other order":     {resolved: []servingv1.TrafficTarget{status("r2", 20, "canary"), status("r1", 80, "stable")}, want: true},
		"other weight":    {resolved: []servingv1.TrafficTarget{status("r1", 95, "stable"), status("r2", 5, "canary")}},
		"other tag":       {resolved: []servingv1.TrafficTarget{status("r1", 80, "stable"), status("r2", 20, "preview")}},
		"missing canary":  {resolved: []servingv1.TrafficTarget{status("r1", 100, "stable")}},
		"nothing":         {},
		"duplicate entry": {resolved: []servingv1.TrafficTarget{status("r1", 80, "stable"), status("r1", 80, "stable")}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := Applied(want, tc.resolved); got != tc.want {
				t.Errorf("Applied = %v, want %v", got, tc.want)
			}
		})
	}
}
