package framework

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

// PodBuilder builds a pod running the sample app, ready for the local node:
// it listens on $POD_IP:8080 and has a readiness probe on /healthz.
type PodBuilder struct{ pod *corev1.Pod }

// MakePod starts a sample-app pod.
func MakePod(ns, name string) *PodBuilder {
	return &PodBuilder{pod: &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{"app": name}},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: ptr.To(int64(10)),
			Containers: []corev1.Container{{
				Name:  "app",
				Image: "ramp/sampleapp:e2e",
				Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
				Env: []corev1.EnvVar{
					fieldEnv("POD_NAME", "metadata.name"),
					fieldEnv("POD_NAMESPACE", "metadata.namespace"),
					fieldEnv("NODE_NAME", "spec.nodeName"),
					fieldEnv("POD_SERVICE_ACCOUNT", "spec.serviceAccountName"),
				},
				ReadinessProbe: &corev1.Probe{
					ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("http")}},
					PeriodSeconds: 1, FailureThreshold: 1,
				},
			}},
		},
	}}
}

func fieldEnv(name, path string) corev1.EnvVar {
	return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: path}}}
}

// Image sets the container image.
func (b *PodBuilder) Image(image string) *PodBuilder {
	b.pod.Spec.Containers[0].Image = image
	return b
}

// Env adds a literal variable.
func (b *PodBuilder) Env(name, value string) *PodBuilder {
	c := &b.pod.Spec.Containers[0]
	c.Env = append(c.Env, corev1.EnvVar{Name: name, Value: value})
	return b
}

// EnvFrom adds a variable with a valueFrom source.
func (b *PodBuilder) EnvFrom(name string, src *corev1.EnvVarSource) *PodBuilder {
	c := &b.pod.Spec.Containers[0]
	c.Env = append(c.Env, corev1.EnvVar{Name: name, ValueFrom: src})
	return b
}

// HostPort exposes the container port on 127.0.0.1:port.
func (b *PodBuilder) HostPort(port int32) *PodBuilder {
	b.pod.Spec.Containers[0].Ports[0].HostPort = port
	return b
}

// ServiceAccount sets the pod's service account.
func (b *PodBuilder) ServiceAccount(name string) *PodBuilder {
	b.pod.Spec.ServiceAccountName = name
	return b
}

// RestartPolicy sets the pod's restart policy.
func (b *PodBuilder) RestartPolicy(p corev1.RestartPolicy) *PodBuilder {
	b.pod.Spec.RestartPolicy = p
	return b
}

// NoReadinessProbe removes the readiness probe.
func (b *PodBuilder) NoReadinessProbe() *PodBuilder {
	b.pod.Spec.Containers[0].ReadinessProbe = nil
	return b
}

// Obj returns the pod.
func (b *PodBuilder) Obj() *corev1.Pod { return b.pod.DeepCopy() }

// Deployment wraps the pod template in a Deployment with the given replicas.
func (b *PodBuilder) Deployment(replicas int32) *appsv1.Deployment {
	p := b.Obj()
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: p.Namespace, Name: p.Name},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: p.Labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: p.Labels}, Spec: p.Spec},
		},
	}
}

// Service returns a ClusterIP Service selecting the pods on port 80 -> http.
func (b *PodBuilder) Service() *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: b.pod.Namespace, Name: b.pod.Name},
		Spec: corev1.ServiceSpec{
			Selector: b.pod.Labels,
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}},
		},
	}
}
