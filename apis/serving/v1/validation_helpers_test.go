package v1_test

import (
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	servingv1 "github.com/rampdev/ramp/apis/serving/v1"
)

const testImage = "ramp/sampleapp:v1"

// svcMutator changes a minimal valid Service into the case under test.
type svcMutator func(*servingv1.Service)

// service returns a minimal valid Service (one container running testImage,
// no traffic block) with the mutators applied. The name is left empty unless
// a mutator sets it: the table fills it in from the case's key.
func service(mutators ...svcMutator) *servingv1.Service {
	s := &servingv1.Service{
		Spec: servingv1.ServiceSpec{
			ConfigurationSpec: servingv1.ConfigurationSpec{
				Template: servingv1.RevisionTemplateSpec{
					Spec: revisionSpec(),
				},
			},
		},
	}
	for _, m := range mutators {
		m(s)
	}
	return s
}

func revisionSpec() servingv1.RevisionSpec {
	return servingv1.RevisionSpec{Containers: []servingv1.Container{{Image: testImage}}}
}

func named(name string) svcMutator {
	return func(s *servingv1.Service) { s.Name = name }
}

func withTraffic(targets ...servingv1.TrafficTarget) svcMutator {
	return func(s *servingv1.Service) { s.Spec.Traffic = targets }
}

func withAnnotation(key, value string) svcMutator {
	return func(s *servingv1.Service) {
		m := &s.Spec.Template.Metadata
		if m.Annotations == nil {
			m.Annotations = map[string]string{}
		}
		m.Annotations[key] = value
	}
}

func withTemplateName(name string) svcMutator {
	return func(s *servingv1.Service) { s.Spec.Template.Metadata.Name = name }
}

func withRevisionSpec(f func(*servingv1.RevisionSpec)) svcMutator {
	return func(s *servingv1.Service) { f(&s.Spec.Template.Spec) }
}

func withConcurrency(n int64) svcMutator {
	return withRevisionSpec(func(r *servingv1.RevisionSpec) { r.ContainerConcurrency = &n })
}

func withTimeout(n int64) svcMutator {
	return withRevisionSpec(func(r *servingv1.RevisionSpec) { r.TimeoutSeconds = &n })
}

func withContainers(cs ...servingv1.Container) svcMutator {
	return withRevisionSpec(func(r *servingv1.RevisionSpec) { r.Containers = cs })
}

func withPort(p int32) svcMutator {
	return withRevisionSpec(func(r *servingv1.RevisionSpec) {
		r.Containers[0].Ports = []servingv1.ContainerPort{{ContainerPort: p}}
	})
}

// latest is a target following the latest ready Revision.
func latest(percent int64) servingv1.TrafficTarget {
	return servingv1.TrafficTarget{LatestRevision: ptr(true), Percent: &percent}
}

// pinned is a target pinned to one Revision.
func pinned(revision string, percent int64) servingv1.TrafficTarget {
	return servingv1.TrafficTarget{RevisionName: revision, Percent: &percent}
}

func tagged(tag string, t servingv1.TrafficTarget) servingv1.TrafficTarget {
	t.Tag = tag
	return t
}

func ptr[T any](v T) *T { return &v }

// validTag returns a tag of n characters matching ^[a-z]([-a-z0-9]*[a-z0-9])?$.
func validTag(n int) string { return strings.Repeat("t", n) }

func route(name string, targets ...servingv1.TrafficTarget) *servingv1.Route {
	return &servingv1.Route{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       servingv1.RouteSpec{Traffic: targets},
	}
}

func configuration(name, templateName string) *servingv1.Configuration {
	return &servingv1.Configuration{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: servingv1.ConfigurationSpec{Template: servingv1.RevisionTemplateSpec{
			Metadata: servingv1.TemplateMeta{Name: templateName},
			Spec:     revisionSpec(),
		}},
	}
}

// knativeNotifications is the tutorial's notifications service, with only
// its apiVersion changed from serving.knative.dev/v1.
const knativeNotifications = `
apiVersion: serving.ramp.dev/v1
kind: Service
metadata:
  name: notifications-service
spec:
  template:
    metadata:
      annotations:
        autoscaling.knative.dev/initial-scale: "1"
    spec:
      containerConcurrency: 0
      timeoutSeconds: 300
      containers:
      - image: salaboy/notifications-service-0e27884e01429ab7e350cb5dff61b525:v1.0.0
        env:
        - name: KAFKA_URL
          value: kafka.default.svc.cluster.local
        ports:
        - containerPort: 8080
        readinessProbe:
          httpGet:
            path: /health/readiness
  traffic:
  - latestRevision: true
    percent: 100
`
