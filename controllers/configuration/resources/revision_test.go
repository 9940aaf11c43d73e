package resources

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	servingv1 "github.com/rampdev/ramp/apis/serving/v1"
)

var configurationOwner = metav1.OwnerReference{
	APIVersion: "serving.ramp.dev/v1", Kind: "Configuration", Name: "hello", UID: "cfg-uid",
	Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true),
}

func testConfiguration(mutators ...func(*servingv1.Configuration)) *servingv1.Configuration {
	cfg := &servingv1.Configuration{
		ObjectMeta: metav1.ObjectMeta{Name: "hello", Namespace: "ns", UID: "cfg-uid", Generation: 3},
		Spec: servingv1.ConfigurationSpec{Template: servingv1.RevisionTemplateSpec{
			Spec: servingv1.RevisionSpec{Containers: []servingv1.Container{{Image: "ramp/sampleapp:v1"}}},
		}},
	}
	for _, m := range mutators {
		m(cfg)
	}
	return cfg
}

func TestRevisionName(t *testing.T) {
	cases := map[string]struct {
		cfg  *servingv1.Configuration
		want string
	}{
		"from the generation": {cfg: testConfiguration(), want: "hello-00003"},
		"five digits, zero-padded": {
			cfg:  testConfiguration(func(c *servingv1.Configuration) { c.Generation = 12345 }),
			want: "hello-12345",
		},
		"the template's name": {
			cfg:  testConfiguration(func(c *servingv1.Configuration) { c.Spec.Template.Metadata.Name = "hello-blue" }),
			want: "hello-blue",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := RevisionName(tc.cfg); got != tc.want {
				t.Errorf("RevisionName() = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestMakeRevision(t *testing.T) {
	cases := map[string]struct {
		cfg  *servingv1.Configuration
		want *servingv1.Revision
	}{
		"minimal configuration": {
			cfg: testConfiguration(),
			want: &servingv1.Revision{
				ObjectMeta: metav1.ObjectMeta{
					Name: "hello-00003", Namespace: "ns",
					Labels: map[string]string{
						"serving.ramp.dev/configuration":           "hello",
						"serving.ramp.dev/configurationGeneration": "3",
					},
					OwnerReferences: []metav1.OwnerReference{configurationOwner},
				},
				Spec: servingv1.RevisionSpec{Containers: []servingv1.Container{{Image: "ramp/sampleapp:v1"}}},
			},
		},
		"template metadata, service label and full spec": {
			cfg: testConfiguration(func(c *servingv1.Configuration) {
				c.Labels = map[string]string{"serving.ramp.dev/service": "hello", "team": "not-copied"}
				c.Annotations = map[string]string{"note": "not-copied"}
				c.Spec.Template.Metadata = servingv1.TemplateMeta{
					Name:   "hello-blue",
					Labels: map[string]string{"app": "web", "serving.ramp.dev/configuration": "overridden"},
					Annotations: map[string]string{
						"autoscaling.ramp.dev/initial-scale": "2",
						"serving.ramp.dev/progress-deadline": "90s",
					},
				}
				c.Spec.Template.Spec = servingv1.RevisionSpec{
					Containers: []servingv1.Container{{
						Image: "ramp/sampleapp:v2",
						Env:   []corev1.EnvVar{{Name: "TARGET", Value: "world"}},
						Ports: []servingv1.ContainerPort{{ContainerPort: 9000}},
					}},
					ServiceAccountName:   "sa",
					ContainerConcurrency: ptr.To[int64](10),
					TimeoutSeconds:       ptr.To[int64](60),
				}
			}),
			want: &servingv1.Revision{
				ObjectMeta: metav1.ObjectMeta{
					Name: "hello-blue", Namespace: "ns",
					Labels: map[string]string{
						"app":                            "web",
						"serving.ramp.dev/configuration": "hello",
						"serving.ramp.dev/configurationGeneration": "3",
						"serving.ramp.dev/service":                 "hello",
					},
					Annotations: map[string]string{
						"autoscaling.ramp.dev/initial-scale": "2",
						"serving.ramp.dev/progress-deadline": "90s",
					},
					OwnerReferences: []metav1.OwnerReference{configurationOwner},
				},
				Spec: servingv1.RevisionSpec{
					Containers: []servingv1.Container{{
						Image: "ramp/sampleapp:v2",
						Env:   []corev1.EnvVar{{Name: "TARGET", Value: "world"}},
						Ports: []servingv1.ContainerPort{{ContainerPort: 9000}},
					}},
					ServiceAccountName:   "sa",
					ContainerConcurrency: ptr.To[int64](10),
					TimeoutSeconds:       ptr.To[int64](60),
				},
			},
		},
		"empty service label is not copied": {
			cfg: testConfiguration(func(c *servingv1.Configuration) {
				c.Labels = map[string]string{"serving.ramp.dev/service": ""}
			}),
			want: &servingv1.Revision{
				ObjectMeta: metav1.ObjectMeta{
					Name: "hello-00003", Namespace: "ns",
					Labels: map[string]string{
						"serving.ramp.dev/configuration":           "hello",
						"serving.ramp.dev/configurationGeneration": "3",
					},
					OwnerReferences: []metav1.OwnerReference{configurationOwner},
				},
				Spec: servingv1.RevisionSpec{Containers: []servingv1.Container{{Image: "ramp/sampleapp:v1"}}},
			},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, MakeRevision(tc.cfg)); diff != "" {
				t.Errorf("MakeRevision() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// The Revision is a snapshot: changing the Configuration's template after
// MakeRevision must not reach it.
func TestMakeRevisionCopiesTheTemplate(t *testing.T) {
	cfg := testConfiguration(func(c *servingv1.Configuration) {
		c.Spec.Template.Metadata.Labels = map[string]string{"app": "web"}
		c.Spec.Template.Metadata.Annotations = map[string]string{"a": "1"}
		c.Spec.Template.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "TARGET", Value: "world"}}
		c.Spec.Template.Spec.Containers[0].Args = []string{"--v1"}
		c.Spec.Template.Spec.Containers[0].ReadinessProbe = &servingv1.Probe{HTTPGet: &servingv1.HTTPGetAction{Path: "/healthz"}}
		c.Spec.Template.Spec.ContainerConcurrency = ptr.To[int64](10)
	})
	rev := MakeRevision(cfg)
	want := rev.DeepCopy()

	tmpl := &cfg.Spec.Template
	tmpl.Metadata.Labels["app"] = "changed"
	tmpl.Metadata.Annotations["a"] = "changed"
	tmpl.Spec.Containers[0].Image = "ramp/sampleapp:changed"
	tmpl.Spec.Containers[0].Env[0].Value = "changed"
	tmpl.Spec.Containers[0].Args[0] = "--changed"
	tmpl.Spec.Containers[0].ReadinessProbe.HTTPGet.Path = "/changed"
	*tmpl.Spec.ContainerConcurrency = 99
	tmpl.Spec.Containers = append(tmpl.Spec.Containers, servingv1.Container{Image: "extra"})

	if diff := cmp.Diff(want, rev); diff != "" {
		t.Errorf("Revision changed with its Configuration's template (-before +after):\n%s", diff)
	}
	if got := rev.Spec.Containers[0].Image; got != "ramp/sampleapp:v1" {
		t.Errorf("revision image = %q, want ramp/sampleapp:v1", got)
	}
}
