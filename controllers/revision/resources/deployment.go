// Package resources builds the children of a Revision: pure functions of the
// Revision and options, tested as tables.
package resources

import (
	"encoding/json"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	servingv1 "github.com/rampdev/ramp/apis/serving/v1"
	"github.com/rampdev/ramp/serving/queue"
)

const (
	// UserContainerName is the default name of the serving container.
	UserContainerName = "user-container"
	// QueueContainerName is the injected sidecar's name.
	QueueContainerName = "queue-proxy"
	// DefaultUserPort is the serving container's default port.
	DefaultUserPort = 8080
	// DefaultTimeoutSeconds is a revision's default request timeout.
	DefaultTimeoutSeconds = 300
)

// DeploymentName is the name of a Revision's Deployment.
func DeploymentName(rev *servingv1.Revision) string { return rev.Name + "-deployment" }

// ServiceName is the name of a Revision's Kubernetes Service.
func ServiceName(rev *servingv1.Revision) string { return rev.Name }

// Selector selects a Revision's pods.
func Selector(rev *servingv1.Revision) map[string]string {
	return map[string]string{servingv1.LabelRevision: rev.Name}
}

// DeploymentOptions are the cluster-level inputs of MakeDeployment.
type DeploymentOptions struct {
	QueueImage       string
	Replicas         int32
	ProgressDeadline time.Duration
}

// ServingContainerIndex picks the serving container: the one with a port,
// else the first.
func ServingContainerIndex(spec *servingv1.RevisionSpec) int {
	for i, c := range spec.Containers {
		if len(c.Ports) > 0 {
			return i
		}
	}
	return 0
}

// UserPort is the serving container's port.
func UserPort(spec *servingv1.RevisionSpec) int32 {
	c := spec.Containers[ServingContainerIndex(spec)]
	if len(c.Ports) > 0 && c.Ports[0].ContainerPort != 0 {
		return c.Ports[0].ContainerPort
	}
	return DefaultUserPort
}

// MakeDeployment builds the Deployment that runs a Revision: its containers,
// with the serving container's readiness probe moved into the queue-proxy,
// which fronts it.
func MakeDeployment(rev *servingv1.Revision, o DeploymentOptions) *appsv1.Deployment {
	labels := podLabels(rev)
	pod := corev1.PodSpec{
		ServiceAccountName:            rev.Spec.ServiceAccountName,
		EnableServiceLinks:            rev.Spec.EnableServiceLinks,
		TerminationGracePeriodSeconds: ptr.To(timeoutSeconds(rev)),
	}
	serving := ServingContainerIndex(&rev.Spec)
	for i := range rev.Spec.Containers {
		pod.Containers = append(pod.Containers, makeContainer(rev, i, i == serving))
	}
	pod.Containers = append(pod.Containers, makeQueueContainer(rev, o.QueueImage))
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{
			Name:            DeploymentName(rev),
			Namespace:       rev.Namespace,
			Labels:          labels,
			Annotations:     copyMap(rev.Annotations),
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(rev, servingv1.GroupVersion.WithKind("Revision"))},
		},
		Spec: appsv1.DeploymentSpec{
			Replicas:                ptr.To(o.Replicas),
			Selector:                &metav1.LabelSelector{MatchLabels: Selector(rev)},
			ProgressDeadlineSeconds: ptr.To(int32(o.ProgressDeadline / time.Second)),
			Strategy: appsv1.DeploymentStrategy{
				Type: appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{
					MaxUnavailable: ptr.To(intstr.FromInt32(0)),
					MaxSurge:       ptr.To(intstr.FromString("25%")),
				},
			},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: copyMap(labels), Annotations: copyMap(rev.Annotations)},
				Spec:       pod,
			},
		},
	}
}

func podLabels(rev *servingv1.Revision) map[string]string {
	l := copyMap(rev.Labels)
	if l == nil {
		l = map[string]string{}
	}
	l[servingv1.LabelRevision] = rev.Name
	l["app"] = rev.Name
	return l
}

func timeoutSeconds(rev *servingv1.Revision) int64 {
	if rev.Spec.TimeoutSeconds != nil {
		return *rev.Spec.TimeoutSeconds
	}
	return DefaultTimeoutSeconds
}

func makeContainer(rev *servingv1.Revision, i int, serving bool) corev1.Container {
	src := rev.Spec.Containers[i]
	c := corev1.Container{
		Name:            src.Name,
		Image:           src.Image,
		Command:         src.Command,
		Args:            src.Args,
		WorkingDir:      src.WorkingDir,
		Env:             append([]corev1.EnvVar(nil), src.Env...),
		EnvFrom:         src.EnvFrom,
		Resources:       src.Resources,
		ImagePullPolicy: src.ImagePullPolicy,
		SecurityContext: src.SecurityContext,
	}
	defaultPort := int32(0) // a sidecar's probes must name their port
	if serving {
		defaultPort = UserPort(&rev.Spec)
	}
	c.LivenessProbe = ToCoreProbe(src.LivenessProbe, defaultPort)
	c.ReadinessProbe = ToCoreProbe(src.ReadinessProbe, defaultPort)
	if c.Name == "" {
		c.Name = UserContainerName
		if !serving {
			c.Name = "sidecar-" + strconv.Itoa(i)
		}
	}
	if !serving {
		return c
	}
	port := UserPort(&rev.Spec)
	c.Ports = []corev1.ContainerPort{{Name: "user-port", ContainerPort: port, Protocol: corev1.ProtocolTCP}}
	c.ReadinessProbe = nil // the queue-proxy probes the user container
	// Keep serving until the queue-proxy has drained its requests in flight.
	c.Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{HTTPGet: &corev1.HTTPGetAction{
		Path: queue.DrainPath, Port: intstr.FromInt32(queue.AdminPort), Scheme: corev1.URISchemeHTTP,
	}}}
	c.Env = append(c.Env,
		corev1.EnvVar{Name: "PORT", Value: strconv.Itoa(int(port))},
		corev1.EnvVar{Name: "K_REVISION", Value: rev.Name},
		corev1.EnvVar{Name: "K_CONFIGURATION", Value: rev.Labels[servingv1.LabelConfiguration]},
		corev1.EnvVar{Name: "K_SERVICE", Value: rev.Labels[servingv1.LabelService]},
	)
	// The queue-proxy reaches the serving container at POD_IP:PORT (on the
	// local process node, pods share the host's network and "localhost"
	// would be ambiguous), so the container is told its address.
	if !hasEnv(c.Env, "POD_IP") {
		c.Env = append(c.Env, corev1.EnvVar{Name: "POD_IP", ValueFrom: &corev1.EnvVarSource{
			FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "status.podIP"}}})
	}
	return c
}

func hasEnv(env []corev1.EnvVar, name string) bool {
	for _, e := range env {
		if e.Name == name {
			return true
		}
	}
	return false
}

// userProbe turns the serving container's readiness probe into the
// queue-proxy's probe of it.
func userProbe(rev *servingv1.Revision) queue.ProbeSpec {
	c := rev.Spec.Containers[ServingContainerIndex(&rev.Spec)]
	p := queue.ProbeSpec{Port: int(UserPort(&rev.Spec))}
	if c.ReadinessProbe == nil {
		return p
	}
	if c.ReadinessProbe.TimeoutSeconds > 0 {
		p.TimeoutSeconds = int(c.ReadinessProbe.TimeoutSeconds)
	}
	if g := c.ReadinessProbe.HTTPGet; g != nil {
		p.HTTPPath = g.Path
		if p.HTTPPath == "" {
			p.HTTPPath = "/"
		}
		if g.Port.Type == intstr.Int && g.Port.IntValue() != 0 {
			p.Port = g.Port.IntValue()
		}
		for _, h := range g.HTTPHeaders {
			if p.HTTPHeaders == nil {
				p.HTTPHeaders = map[string]string{}
			}
			p.HTTPHeaders[h.Name] = h.Value
		}
	} else if t := c.ReadinessProbe.TCPSocket; t != nil && t.Port.Type == intstr.Int && t.Port.IntValue() != 0 {
		p.Port = t.Port.IntValue()
	}
	return p
}

func makeQueueContainer(rev *servingv1.Revision, image string) corev1.Container {
	probe, _ := json.Marshal(userProbe(rev)) // a struct of strings and ints always encodes
	cc := int64(0)
	if rev.Spec.ContainerConcurrency != nil {
		cc = *rev.Spec.ContainerConcurrency
	}
	field := func(name, path string) corev1.EnvVar {
		return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: path}}}
	}
	return corev1.Container{
		Name:  QueueContainerName,
		Image: image,
		Ports: []corev1.ContainerPort{
			{Name: "http", ContainerPort: queue.ServingPort, Protocol: corev1.ProtocolTCP},
			{Name: "admin", ContainerPort: queue.AdminPort, Protocol: corev1.ProtocolTCP},
			{Name: "metrics", ContainerPort: queue.MetricsPort, Protocol: corev1.ProtocolTCP},
		},
		Env: []corev1.EnvVar{
			{Name: queue.EnvServingPort, Value: strconv.Itoa(queue.ServingPort)},
			{Name: queue.EnvAdminPort, Value: strconv.Itoa(queue.AdminPort)},
			{Name: queue.EnvMetricsPort, Value: strconv.Itoa(queue.MetricsPort)},
			{Name: queue.EnvUserPort, Value: strconv.Itoa(int(UserPort(&rev.Spec)))},
			{Name: queue.EnvUserProtocol, Value: userProtocol(&rev.Spec)},
			{Name: queue.EnvContainerConcurrency, Value: strconv.FormatInt(cc, 10)},
			{Name: queue.EnvRevisionTimeout, Value: strconv.FormatInt(timeoutSeconds(rev), 10)},
			{Name: queue.EnvUserProbe, Value: string(probe)},
			{Name: queue.EnvRevision, Value: rev.Name},
			{Name: queue.EnvConfiguration, Value: rev.Labels[servingv1.LabelConfiguration]},
			{Name: queue.EnvService, Value: rev.Labels[servingv1.LabelService]},
			field(queue.EnvNamespace, "metadata.namespace"),
			field(queue.EnvPod, "metadata.name"),
			field(queue.EnvPodIP, "status.podIP"),
		},
		ReadinessProbe: &corev1.Probe{
			ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
				Path: queue.ReadyPath, Port: intstr.FromInt32(queue.AdminPort),
			}},
			PeriodSeconds:    1,
			FailureThreshold: 1,
			TimeoutSeconds:   1,
			SuccessThreshold: 1,
		},
		Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{
				corev1.ResourceCPU:    resource.MustParse("25m"),
				corev1.ResourceMemory: resource.MustParse("32Mi"),
			},
		},
		SecurityContext: &corev1.SecurityContext{
			AllowPrivilegeEscalation: ptr.To(false),
			ReadOnlyRootFilesystem:   ptr.To(true),
			RunAsNonRoot:             ptr.To(true),
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
			// The restricted Pod Security profile, whatever the user's
			// container does.
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
	}
}

// MakeService builds the Kubernetes Service whose EndpointSlices list the
// Revision's ready pods (on the queue-proxy's ports).
func MakeService(rev *servingv1.Revision) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{
			Name:            ServiceName(rev),
			Namespace:       rev.Namespace,
			Labels:          podLabels(rev),
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(rev, servingv1.GroupVersion.WithKind("Revision"))},
		},
		Spec: corev1.ServiceSpec{
			Selector: Selector(rev),
			Ports: []corev1.ServicePort{
				{Name: "http", Port: 80, TargetPort: intstr.FromInt32(queue.ServingPort), Protocol: corev1.ProtocolTCP},
				{Name: "admin", Port: queue.AdminPort, TargetPort: intstr.FromInt32(queue.AdminPort), Protocol: corev1.ProtocolTCP},
			},
		},
	}
}

func copyMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// ToCoreProbe converts a Revision probe, filling in an unset port.
func ToCoreProbe(p *servingv1.Probe, defaultPort int32) *corev1.Probe {
	if p == nil {
		return nil
	}
	port := func(v intstr.IntOrString) intstr.IntOrString {
		if v.Type == intstr.Int && v.IntVal == 0 && defaultPort != 0 {
			return intstr.FromInt32(defaultPort)
		}
		return v
	}
	// The API server's defaults, set here so that drift detection (which
	// compares numbers exactly) sees the object as it is stored.
	orDefault := func(v, def int32) int32 {
		if v == 0 {
			return def
		}
		return v
	}
	out := &corev1.Probe{
		InitialDelaySeconds: p.InitialDelaySeconds,
		TimeoutSeconds:      orDefault(p.TimeoutSeconds, 1),
		PeriodSeconds:       orDefault(p.PeriodSeconds, 10),
		SuccessThreshold:    orDefault(p.SuccessThreshold, 1),
		FailureThreshold:    orDefault(p.FailureThreshold, 3),
	}
	switch {
	case p.HTTPGet != nil:
		out.HTTPGet = &corev1.HTTPGetAction{Path: p.HTTPGet.Path, Port: port(p.HTTPGet.Port), Host: p.HTTPGet.Host,
			Scheme: p.HTTPGet.Scheme, HTTPHeaders: p.HTTPGet.HTTPHeaders}
	case p.TCPSocket != nil:
		out.TCPSocket = &corev1.TCPSocketAction{Port: port(p.TCPSocket.Port), Host: p.TCPSocket.Host}
	case p.Exec != nil:
		out.Exec = p.Exec.DeepCopy()
	default:
		out.TCPSocket = &corev1.TCPSocketAction{Port: port(intstr.IntOrString{})}
	}
	return out
}

// userProtocol is what the serving container speaks: h2c when its port is
// named so, HTTP/1.1 otherwise.
func userProtocol(spec *servingv1.RevisionSpec) string {
	c := spec.Containers[ServingContainerIndex(spec)]
	if len(c.Ports) > 0 && c.Ports[0].Name == queue.UserProtocolH2C {
		return queue.UserProtocolH2C
	}
	return queue.UserProtocolHTTP1
}
