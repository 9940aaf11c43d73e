package resources

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	servingv1 "github.com/rampdev/ramp/apis/serving/v1"
)

var serviceOwner = metav1.OwnerReference{
	APIVersion: "serving.ramp.dev/v1", Kind: "Service", Name: "hello", UID: "svc-uid",
	Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true),
}

func testService(mutators ...func(*servingv1.Service)) *servingv1.Service {
	svc := &servingv1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "hello", Namespace: "ns", UID: "svc-uid", Generation: 2},
		Spec: servingv1.ServiceSpec{
			ConfigurationSpec: servingv1.ConfigurationSpec{Template: servingv1.RevisionTemplateSpec{
				Metadata: servingv1.TemplateMeta{Annotations: map[string]string{"autoscaling.ramp.dev/initial-scale": "2"}},
				Spec: servingv1.RevisionSpec{Containers: []servingv1.Container{{
					Image: "ramp/sampleapp:v1",
					Env:   []corev1.EnvVar{{Name: "TARGET", Value: "world"}},
				}}},
			}},
			RouteSpec: servingv1.RouteSpec{Traffic: servingv1.TrafficList{
				{LatestRevision: ptr.To(true), Percent: ptr.To[int64](90)},
				{RevisionName: "hello-00001", Percent: ptr.To[int64](10), Tag: "old"},
			}},
		},
	}
	for _, m := range mutators {
		m(svc)
	}
	return svc
}

func childMetaWant(labels map[string]string) metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Name: "hello", Namespace: "ns", Labels: labels,
		OwnerReferences: []metav1.OwnerReference{serviceOwner},
	}
}

func wantConfigurationSpec() servingv1.ConfigurationSpec {
	return servingv1.ConfigurationSpec{Template: servingv1.RevisionTemplateSpec{
		Metadata: servingv1.TemplateMeta{Annotations: map[string]string{"autoscaling.ramp.dev/initial-scale": "2"}},
		Spec: servingv1.RevisionSpec{Containers: []servingv1.Container{{
			Image: "ramp/sampleapp:v1",
			Env:   []corev1.EnvVar{{Name: "TARGET", Value: "world"}},
		}}},
	}}
}

func wantRouteSpec() servingv1.RouteSpec {
	return servingv1.RouteSpec{Traffic: servingv1.TrafficList{
		{LatestRevision: ptr.To(true), Percent: ptr.To[int64](90)},
		{RevisionName: "hello-00001", Percent: ptr.To[int64](10), Tag: "old"},
	}}
}

func TestMakeConfigurationAndRoute(t *testing.T) {
	cases := map[string]struct {
		svc       *servingv1.Service
		wantCfg   *servingv1.Configuration
		wantRoute *servingv1.Route
	}{
		"external service": {
			svc: testService(func(s *servingv1.Service) {
				s.Labels = map[string]string{"team": "not-copied"}
				s.Annotations = map[string]string{"note": "not-copied"}
			}),
			wantCfg: &servingv1.Configuration{
				ObjectMeta: childMetaWant(map[string]string{"serving.ramp.dev/service": "hello"}),
				Spec:       wantConfigurationSpec(),
			},
			wantRoute: &servingv1.Route{
				ObjectMeta: childMetaWant(map[string]string{"serving.ramp.dev/service": "hello"}),
				Spec:       wantRouteSpec(),
			},
		},
		"cluster-local service": {
			svc: testService(func(s *servingv1.Service) {
				s.Labels = map[string]string{"networking.ramp.dev/visibility": "cluster-local"}
			}),
			wantCfg: &servingv1.Configuration{
				ObjectMeta: childMetaWant(map[string]string{
					"serving.ramp.dev/service":       "hello",
					"networking.ramp.dev/visibility": "cluster-local",
				}),
				Spec: wantConfigurationSpec(),
			},
			wantRoute: &servingv1.Route{
				ObjectMeta: childMetaWant(map[string]string{
					"serving.ramp.dev/service":       "hello",
					"networking.ramp.dev/visibility": "cluster-local",
				}),
				Spec: wantRouteSpec(),
			},
		},
		"no traffic block": {
			svc: testService(func(s *servingv1.Service) { s.Spec.Traffic = nil }),
			wantCfg: &servingv1.Configuration{
				ObjectMeta: childMetaWant(map[string]string{"serving.ramp.dev/service": "hello"}),
				Spec:       wantConfigurationSpec(),
			},
			wantRoute: &servingv1.Route{
				ObjectMeta: childMetaWant(map[string]string{"serving.ramp.dev/service": "hello"}),
			},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(tc.wantCfg, MakeConfiguration(tc.svc)); diff != "" {
				t.Errorf("MakeConfiguration() mismatch (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantRoute, MakeRoute(tc.svc)); diff != "" {
				t.Errorf("MakeRoute() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// The children own copies of the Service's spec: changing the Service after
// building them must not reach them.
func TestChildrenCopyTheSpec(t *testing.T) {
	svc := testService(func(s *servingv1.Service) {
		s.Labels = map[string]string{"networking.ramp.dev/visibility": "cluster-local"}
	})
	cfg, route := MakeConfiguration(svc), MakeRoute(svc)
	wantCfg, wantRoute := cfg.DeepCopy(), route.DeepCopy()

	svc.Labels["networking.ramp.dev/visibility"] = "changed"
	svc.Spec.Template.Metadata.Annotations["autoscaling.ramp.dev/initial-scale"] = "9"
	svc.Spec.Template.Spec.Containers[0].Image = "ramp/sampleapp:changed"
	svc.Spec.Template.Spec.Containers[0].Env[0].Value = "changed"
	*svc.Spec.Traffic[0].Percent = 50
	svc.Spec.Traffic[1].RevisionName = "changed"

	if diff := cmp.Diff(wantCfg, cfg); diff != "" {
		t.Errorf("Configuration changed with its Service (-before +after):\n%s", diff)
	}
	if diff := cmp.Diff(wantRoute, route); diff != "" {
		t.Errorf("Route changed with its Service (-before +after):\n%s", diff)
	}
	if got := cfg.Spec.Template.Spec.Containers[0].Image; got != "ramp/sampleapp:v1" {
		t.Errorf("configuration image = %q, want ramp/sampleapp:v1", got)
	}
}
