package resources

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	servingv1 "github.com/rampdev/ramp/apis/serving/v1"
)

var testOpts = DeploymentOptions{QueueImage: "ramp/queue:v", Replicas: 1, ProgressDeadline: 10 * time.Minute}

var revisionOwner = metav1.OwnerReference{
	APIVersion: "serving.ramp.dev/v1", Kind: "Revision", Name: "hello-00001", UID: "rev-uid",
	Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true),
}

func testRevision(mutators ...func(*servingv1.Revision)) *servingv1.Revision {
	rev := &servingv1.Revision{
		ObjectMeta: metav1.ObjectMeta{
			Name: "hello-00001", Namespace: "ns", UID: "rev-uid",
			Labels: map[string]string{"serving.ramp.dev/configuration": "hello", "serving.ramp.dev/service": "hello"},
		},
		Spec: servingv1.RevisionSpec{Containers: []servingv1.Container{{Image: "ramp/sampleapp:v1"}}},
	}
	for _, m := range mutators {
		m(rev)
	}
	return rev
}

func withServing(f func(*servingv1.Container)) func(*servingv1.Revision) {
	return func(r *servingv1.Revision) { f(&r.Spec.Containers[ServingContainerIndex(&r.Spec)]) }
}

func revisionLabels() map[string]string {
	return map[string]string{
		"serving.ramp.dev/configuration": "hello", "serving.ramp.dev/service": "hello",
		"serving.ramp.dev/revision": "hello-00001", "app": "hello-00001",
	}
}

// wantDeployment is the Deployment of testRevision() with testOpts, written
// out in full; mutators adjust it per case.
func wantDeployment(mutators ...func(*appsv1.Deployment)) *appsv1.Deployment {
	field := func(name, path string) corev1.EnvVar {
		return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: path}}}
	}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{
			Name: "hello-00001-deployment", Namespace: "ns", Labels: revisionLabels(),
			OwnerReferences: []metav1.OwnerReference{revisionOwner},
		},
		Spec: appsv1.DeploymentSpec{
			Replicas:                ptr.To[int32](1),
			Selector:                &metav1.LabelSelector{MatchLabels: map[string]string{"serving.ramp.dev/revision": "hello-00001"}},
			ProgressDeadlineSeconds: ptr.To[int32](600),
			Strategy: appsv1.DeploymentStrategy{
				Type: appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{
					MaxUnavailable: ptr.To(intstr.FromInt32(0)),
					MaxSurge:       ptr.To(intstr.FromString("25%")),
				},
			},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: revisionLabels()},
				Spec: corev1.PodSpec{
					TerminationGracePeriodSeconds: ptr.To[int64](300),
					Containers: []corev1.Container{{
						Name:  "user-container",
						Image: "ramp/sampleapp:v1",
						Ports: []corev1.ContainerPort{{Name: "user-port", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}},
						Env: []corev1.EnvVar{
							{Name: "PORT", Value: "8080"},
							{Name: "K_REVISION", Value: "hello-00001"},
							{Name: "K_CONFIGURATION", Value: "hello"},
							{Name: "K_SERVICE", Value: "hello"},
							{Name: "POD_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "status.podIP"}}},
						},
						Lifecycle: &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{HTTPGet: &corev1.HTTPGetAction{
							Path: "/wait-for-drain", Port: intstr.FromInt32(8022), Scheme: corev1.URISchemeHTTP,
						}}},
					}, {
						Name:  "queue-proxy",
						Image: "ramp/queue:v",
						Ports: []corev1.ContainerPort{
							{Name: "http", ContainerPort: 8012, Protocol: corev1.ProtocolTCP},
							{Name: "admin", ContainerPort: 8022, Protocol: corev1.ProtocolTCP},
							{Name: "metrics", ContainerPort: 9091, Protocol: corev1.ProtocolTCP},
						},
						Env: []corev1.EnvVar{
							{Name: "QUEUE_SERVING_PORT", Value: "8012"},
							{Name: "QUEUE_ADMIN_PORT", Value: "8022"},
							{Name: "QUEUE_METRICS_PORT", Value: "9091"},
							{Name: "USER_PORT", Value: "8080"},
							{Name: "USER_PROTOCOL", Value: "http1"},
							{Name: "CONTAINER_CONCURRENCY", Value: "0"},
							{Name: "REVISION_TIMEOUT_SECONDS", Value: "300"},
							{Name: "SERVING_READINESS_PROBE", Value: `{"port":8080}`},
							{Name: "SERVING_REVISION", Value: "hello-00001"},
							{Name: "SERVING_CONFIGURATION", Value: "hello"},
							{Name: "SERVING_SERVICE", Value: "hello"},
							field("SERVING_NAMESPACE", "metadata.namespace"),
							field("SERVING_POD", "metadata.name"),
							field("POD_IP", "status.podIP"),
						},
						ReadinessProbe: &corev1.Probe{
							ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/ready", Port: intstr.FromInt32(8022)}},
							PeriodSeconds: 1, FailureThreshold: 1, TimeoutSeconds: 1, SuccessThreshold: 1,
						},
						Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
							corev1.ResourceCPU:    resource.MustParse("25m"),
							corev1.ResourceMemory: resource.MustParse("32Mi"),
						}},
						SecurityContext: &corev1.SecurityContext{
							AllowPrivilegeEscalation: ptr.To(false),
							ReadOnlyRootFilesystem:   ptr.To(true),
							RunAsNonRoot:             ptr.To(true),
							Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
							SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
						},
					}},
				},
			},
		},
	}
	for _, m := range mutators {
		m(d)
	}
	return d
}

// withEnv sets the value of an existing variable of a named container.
func withEnv(container, name, value string) func(*appsv1.Deployment) {
	return func(d *appsv1.Deployment) {
		for i, c := range d.Spec.Template.Spec.Containers {
			for j, e := range c.Env {
				if c.Name == container && e.Name == name {
					d.Spec.Template.Spec.Containers[i].Env[j].Value = value
					return
				}
			}
		}
		panic("no env " + name + " in container " + container)
	}
}

// probeWithDefaults is a probe with the API server's defaults, as
// ToCoreProbe fills them in.
func probeWithDefaults(h corev1.ProbeHandler) *corev1.Probe {
	return &corev1.Probe{ProbeHandler: h, TimeoutSeconds: 1, PeriodSeconds: 10, SuccessThreshold: 1, FailureThreshold: 3}
}

func TestMakeDeployment(t *testing.T) {
	cases := map[string]struct {
		rev  *servingv1.Revision
		want *appsv1.Deployment
	}{
		"minimal revision": {
			rev:  testRevision(),
			want: wantDeployment(),
		},
		"an h2c port makes the queue-proxy speak h2c to the user container": {
			rev: testRevision(func(r *servingv1.Revision) {
				r.Spec.Containers[0].Ports = []servingv1.ContainerPort{{Name: "h2c", ContainerPort: 8080}}
			}),
			want: wantDeployment(withEnv("queue-proxy", "USER_PROTOCOL", "h2c")),
		},
		"declared port, concurrency and timeout": {
			rev: testRevision(func(r *servingv1.Revision) {
				r.Spec.Containers[0].Ports = []servingv1.ContainerPort{{ContainerPort: 9000}}
				r.Spec.ContainerConcurrency = ptr.To[int64](10)
				r.Spec.TimeoutSeconds = ptr.To[int64](60)
			}),
			want: wantDeployment(
				withEnv("user-container", "PORT", "9000"),
				withEnv("queue-proxy", "USER_PORT", "9000"),
				withEnv("queue-proxy", "CONTAINER_CONCURRENCY", "10"),
				withEnv("queue-proxy", "REVISION_TIMEOUT_SECONDS", "60"),
				withEnv("queue-proxy", "SERVING_READINESS_PROBE", `{"port":9000}`),
				func(d *appsv1.Deployment) {
					d.Spec.Template.Spec.Containers[0].Ports[0].ContainerPort = 9000
					d.Spec.Template.Spec.TerminationGracePeriodSeconds = ptr.To[int64](60)
				}),
		},
		"readiness probe without a port moves to the queue-proxy": {
			rev: testRevision(withServing(func(c *servingv1.Container) {
				c.ReadinessProbe = &servingv1.Probe{HTTPGet: &servingv1.HTTPGetAction{Path: "/healthz"}}
			})),
			want: wantDeployment(withEnv("queue-proxy", "SERVING_READINESS_PROBE", `{"httpPath":"/healthz","port":8080}`)),
		},
		"readiness probe headers and timeout reach the queue-proxy": {
			rev: testRevision(withServing(func(c *servingv1.Container) {
				c.ReadinessProbe = &servingv1.Probe{TimeoutSeconds: 3, HTTPGet: &servingv1.HTTPGetAction{
					Path: "/healthz", HTTPHeaders: []corev1.HTTPHeader{{Name: "X-Probe", Value: "1"}},
				}}
			})),
			want: wantDeployment(withEnv("queue-proxy", "SERVING_READINESS_PROBE",
				`{"httpPath":"/healthz","port":8080,"timeoutSeconds":3,"httpHeaders":{"X-Probe":"1"}}`)),
		},
		"tcp readiness probe with an explicit port": {
			rev: testRevision(withServing(func(c *servingv1.Container) {
				c.ReadinessProbe = &servingv1.Probe{TCPSocket: &servingv1.TCPSocketAction{Port: intstr.FromInt32(8081)}}
			})),
			want: wantDeployment(withEnv("queue-proxy", "SERVING_READINESS_PROBE", `{"port":8081}`)),
		},
		"unnamed sidecar before the serving container": {
			rev: testRevision(func(r *servingv1.Revision) {
				r.Spec.Containers = []servingv1.Container{{
					Image:          "ramp/sidecar:v1",
					ReadinessProbe: &servingv1.Probe{TCPSocket: &servingv1.TCPSocketAction{Port: intstr.FromInt32(9100)}},
				}, {
					Image: "ramp/sampleapp:v1",
					Ports: []servingv1.ContainerPort{{ContainerPort: 8080}},
				}}
			}),
			want: wantDeployment(func(d *appsv1.Deployment) {
				sidecar := corev1.Container{
					Name:  "sidecar-0",
					Image: "ramp/sidecar:v1",
					ReadinessProbe: probeWithDefaults(corev1.ProbeHandler{
						TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(9100)}}),
				}
				d.Spec.Template.Spec.Containers = append([]corev1.Container{sidecar}, d.Spec.Template.Spec.Containers...)
			}),
		},
		"annotations, service account and service links are passed on": {
			rev: testRevision(func(r *servingv1.Revision) {
				r.Annotations = map[string]string{"autoscaling.ramp.dev/initial-scale": "2"}
				r.Spec.ServiceAccountName = "sa"
				r.Spec.EnableServiceLinks = ptr.To(false)
			}),
			want: wantDeployment(func(d *appsv1.Deployment) {
				d.Annotations = map[string]string{"autoscaling.ramp.dev/initial-scale": "2"}
				d.Spec.Template.Annotations = map[string]string{"autoscaling.ramp.dev/initial-scale": "2"}
				d.Spec.Template.Spec.ServiceAccountName = "sa"
				d.Spec.Template.Spec.EnableServiceLinks = ptr.To(false)
			}),
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got := MakeDeployment(tc.rev, testOpts)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("MakeDeployment() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// The serving container's liveness probe port defaults to the user port
// (template_types.go: "Port defaults to the container's port", and the
// container's port defaults to 8080).
func TestMakeDeploymentLivenessProbePort(t *testing.T) {
	cases := map[string]struct {
		container servingv1.Container
		want      *corev1.Probe
	}{
		"declared port": {
			container: servingv1.Container{Image: "ramp/sampleapp:v1", Ports: []servingv1.ContainerPort{{ContainerPort: 9000}},
				LivenessProbe: &servingv1.Probe{HTTPGet: &servingv1.HTTPGetAction{Path: "/healthz"}}},
			want: probeWithDefaults(corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromInt32(9000)}}),
		},
		"no declared port: the default user port": {
			container: servingv1.Container{Image: "ramp/sampleapp:v1",
				LivenessProbe: &servingv1.Probe{TCPSocket: &servingv1.TCPSocketAction{}}},
			want: probeWithDefaults(corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(8080)}}),
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			rev := testRevision(func(r *servingv1.Revision) { r.Spec.Containers = []servingv1.Container{tc.container} })
			got := MakeDeployment(rev, testOpts).Spec.Template.Spec.Containers[0].LivenessProbe
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("user-container livenessProbe mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMakeDeploymentKeepsTheUsersPodIP(t *testing.T) {
	rev := testRevision(func(r *servingv1.Revision) {
		r.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "POD_IP", Value: "0.0.0.0"}}
	})
	var got []corev1.EnvVar
	for _, e := range MakeDeployment(rev, testOpts).Spec.Template.Spec.Containers[0].Env {
		if e.Name == "POD_IP" {
			got = append(got, e)
		}
	}
	if want := []corev1.EnvVar{{Name: "POD_IP", Value: "0.0.0.0"}}; !cmp.Equal(want, got) {
		t.Errorf("POD_IP of the serving container: %+v, want only the user's %+v", got, want)
	}
}

func TestToCoreProbe(t *testing.T) {
	cases := map[string]struct {
		in          *servingv1.Probe
		defaultPort int32
		want        *corev1.Probe
	}{
		"nil": {in: nil, defaultPort: 8080, want: nil},
		"httpGet without a port: default port and API-server defaults": {
			in: &servingv1.Probe{HTTPGet: &servingv1.HTTPGetAction{Path: "/healthz", Host: "h", Scheme: corev1.URISchemeHTTPS,
				HTTPHeaders: []corev1.HTTPHeader{{Name: "X", Value: "y"}}}},
			defaultPort: 8080,
			want: probeWithDefaults(corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromInt32(8080),
				Host: "h", Scheme: corev1.URISchemeHTTPS, HTTPHeaders: []corev1.HTTPHeader{{Name: "X", Value: "y"}}}}),
		},
		"explicit values are kept": {
			in: &servingv1.Probe{TCPSocket: &servingv1.TCPSocketAction{Port: intstr.FromInt32(9000), Host: "h"},
				InitialDelaySeconds: 5, TimeoutSeconds: 2, PeriodSeconds: 3, SuccessThreshold: 4, FailureThreshold: 6},
			defaultPort: 8080,
			want: &corev1.Probe{
				ProbeHandler:        corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(9000), Host: "h"}},
				InitialDelaySeconds: 5, TimeoutSeconds: 2, PeriodSeconds: 3, SuccessThreshold: 4, FailureThreshold: 6,
			},
		},
		"named port is kept": {
			in:          &servingv1.Probe{HTTPGet: &servingv1.HTTPGetAction{Port: intstr.FromString("user-port")}},
			defaultPort: 8080,
			want:        probeWithDefaults(corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Port: intstr.FromString("user-port")}}),
		},
		"exec": {
			in:          &servingv1.Probe{Exec: &corev1.ExecAction{Command: []string{"true"}}},
			defaultPort: 8080,
			want:        probeWithDefaults(corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}}),
		},
		"no handler: tcpSocket on the default port": {
			in:          &servingv1.Probe{},
			defaultPort: 9000,
			want:        probeWithDefaults(corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(9000)}}),
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, ToCoreProbe(tc.in, tc.defaultPort)); diff != "" {
				t.Errorf("ToCoreProbe() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestServingContainerIndexAndUserPort(t *testing.T) {
	cases := map[string]struct {
		containers []servingv1.Container
		wantIndex  int
		wantPort   int32
	}{
		"one container, no ports":     {containers: []servingv1.Container{{Image: "a"}}, wantIndex: 0, wantPort: 8080},
		"one container, port 9000":    {containers: []servingv1.Container{{Image: "a", Ports: []servingv1.ContainerPort{{ContainerPort: 9000}}}}, wantIndex: 0, wantPort: 9000},
		"port entry without a number": {containers: []servingv1.Container{{Image: "a", Ports: []servingv1.ContainerPort{{Name: "h2c"}}}}, wantIndex: 0, wantPort: 8080},
		"sidecar first, serving second": {
			containers: []servingv1.Container{{Image: "sidecar"}, {Image: "a", Ports: []servingv1.ContainerPort{{ContainerPort: 8081}}}},
			wantIndex:  1, wantPort: 8081,
		},
		"two containers without ports": {containers: []servingv1.Container{{Image: "a"}, {Image: "b"}}, wantIndex: 0, wantPort: 8080},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			spec := &servingv1.RevisionSpec{Containers: tc.containers}
			if got := ServingContainerIndex(spec); got != tc.wantIndex {
				t.Errorf("ServingContainerIndex() = %d, want %d", got, tc.wantIndex)
			}
			if got := UserPort(spec); got != tc.wantPort {
				t.Errorf("UserPort() = %d, want %d", got, tc.wantPort)
			}
		})
	}
}

func TestMakeService(t *testing.T) {
	want := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{
			Name: "hello-00001", Namespace: "ns", Labels: revisionLabels(),
			OwnerReferences: []metav1.OwnerReference{revisionOwner},
		},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"serving.ramp.dev/revision": "hello-00001"},
			Ports: []corev1.ServicePort{
				{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8012), Protocol: corev1.ProtocolTCP},
				{Name: "admin", Port: 8022, TargetPort: intstr.FromInt32(8022), Protocol: corev1.ProtocolTCP},
			},
		},
	}
	if diff := cmp.Diff(want, MakeService(testRevision())); diff != "" {
		t.Errorf("MakeService() mismatch (-want +got):\n%s", diff)
	}
}
