package v1

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// RevisionTemplateSpec describes the Revisions a Configuration stamps out.
type RevisionTemplateSpec struct {
	// Metadata of the Revisions: labels and annotations are copied onto them
	// (and their pods); a name, if set, names the next Revision.
	// +optional
	Metadata TemplateMeta `json:"metadata,omitempty"`
	// +required
	Spec RevisionSpec `json:"spec"`
}

// TemplateMeta is the part of ObjectMeta a template may set.
// +kubebuilder:validation:XValidation:rule="!has(self.annotations) || !('autoscaling.ramp.dev/initial-scale' in self.annotations) || self.annotations['autoscaling.ramp.dev/initial-scale'].matches('^[0-9]+$')",message="annotation autoscaling.ramp.dev/initial-scale must be a non-negative integer",fieldPath=".annotations"
// +kubebuilder:validation:XValidation:rule="!has(self.annotations) || !('autoscaling.knative.dev/initial-scale' in self.annotations) || self.annotations['autoscaling.knative.dev/initial-scale'].matches('^[0-9]+$')",message="annotation autoscaling.knative.dev/initial-scale must be a non-negative integer",fieldPath=".annotations"
// +kubebuilder:validation:XValidation:rule="!has(self.annotations) || !('autoscaling.ramp.dev/min-scale' in self.annotations) || self.annotations['autoscaling.ramp.dev/min-scale'].matches('^[0-9]+$')",message="annotation autoscaling.ramp.dev/min-scale must be a non-negative integer",fieldPath=".annotations"
// +kubebuilder:validation:XValidation:rule="!has(self.annotations) || !('autoscaling.ramp.dev/max-scale' in self.annotations) || self.annotations['autoscaling.ramp.dev/max-scale'].matches('^[0-9]+$')",message="annotation autoscaling.ramp.dev/max-scale must be a non-negative integer",fieldPath=".annotations"
// +kubebuilder:validation:XValidation:rule="!has(self.annotations) || !('autoscaling.ramp.dev/target' in self.annotations) || self.annotations['autoscaling.ramp.dev/target'].matches('^[0-9]+(\\\\.[0-9]+)?$')",message="annotation autoscaling.ramp.dev/target must be a positive number such as 10 or 0.5",fieldPath=".annotations"
// +kubebuilder:validation:XValidation:rule="!has(self.annotations) || !('autoscaling.ramp.dev/window' in self.annotations) || self.annotations['autoscaling.ramp.dev/window'].matches('^[0-9]+(s|m)$')",message="annotation autoscaling.ramp.dev/window must be a duration in whole seconds or minutes, from 6s to 5m",fieldPath=".annotations"
// +kubebuilder:validation:XValidation:rule="!has(self.annotations) || !('autoscaling.knative.dev/min-scale' in self.annotations) || self.annotations['autoscaling.knative.dev/min-scale'].matches('^[0-9]+$')",message="annotation autoscaling.knative.dev/min-scale must be a non-negative integer",fieldPath=".annotations"
// +kubebuilder:validation:XValidation:rule="!has(self.annotations) || !('autoscaling.knative.dev/max-scale' in self.annotations) || self.annotations['autoscaling.knative.dev/max-scale'].matches('^[0-9]+$')",message="annotation autoscaling.knative.dev/max-scale must be a non-negative integer",fieldPath=".annotations"
// +kubebuilder:validation:XValidation:rule="!has(self.annotations) || !('autoscaling.knative.dev/target' in self.annotations) || self.annotations['autoscaling.knative.dev/target'].matches('^[0-9]+(\\\\.[0-9]+)?$')",message="annotation autoscaling.knative.dev/target must be a positive number such as 10 or 0.5",fieldPath=".annotations"
// +kubebuilder:validation:XValidation:rule="!has(self.annotations) || !('autoscaling.knative.dev/window' in self.annotations) || self.annotations['autoscaling.knative.dev/window'].matches('^[0-9]+(s|m)$')",message="annotation autoscaling.knative.dev/window must be a duration in whole seconds or minutes, from 6s to 5m",fieldPath=".annotations"
// +kubebuilder:validation:XValidation:rule="!has(self.annotations) || !('serving.ramp.dev/progress-deadline' in self.annotations) || self.annotations['serving.ramp.dev/progress-deadline'].matches('^([0-9]+(\\\\.[0-9]+)?(ms|s|m|h))+$')",message="annotation serving.ramp.dev/progress-deadline must be a duration such as 90s or 10m",fieldPath=".annotations"
type TemplateMeta struct {
	// Name of the Revision to create; it must start with "<configuration>-".
	// +optional
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Name string `json:"name,omitempty"`
	// +optional
	// +kubebuilder:validation:MaxProperties=64
	Labels map[string]string `json:"labels,omitempty"`
	// +optional
	// +kubebuilder:validation:MaxProperties=64
	Annotations map[string]string `json:"annotations,omitempty"`
}

// RevisionSpec is an immutable snapshot of code and configuration.
// +kubebuilder:validation:XValidation:rule="self.containers.filter(c, has(c.ports) && size(c.ports) > 0).size() <= 1",message="at most one container may declare ports: it is the serving container",fieldPath=".containers"
type RevisionSpec struct {
	// Containers: one serving container, plus optional sidecars. The serving
	// container is the one with a port, or the first.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=8
	// +listType=atomic
	Containers []Container `json:"containers"`

	// ServiceAccountName is the identity the Revision's pods run as.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	ServiceAccountName string `json:"serviceAccountName,omitempty"`

	// ContainerConcurrency is the most requests one pod serves at once; 0
	// means no limit.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1000
	ContainerConcurrency *int64 `json:"containerConcurrency,omitempty"`

	// TimeoutSeconds bounds how long a request may take; default 300.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=3600
	TimeoutSeconds *int64 `json:"timeoutSeconds,omitempty"`

	// EnableServiceLinks is accepted for compatibility with Knative manifests.
	// +optional
	EnableServiceLinks *bool `json:"enableServiceLinks,omitempty"`
}

// Container is the subset of a Kubernetes container that a Revision runs.
type Container struct {
	// +optional
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name,omitempty"`
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=512
	Image string `json:"image"`
	// +optional
	// +kubebuilder:validation:MaxItems=64
	// +listType=atomic
	Command []string `json:"command,omitempty"`
	// +optional
	// +kubebuilder:validation:MaxItems=64
	// +listType=atomic
	Args []string `json:"args,omitempty"`
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	WorkingDir string `json:"workingDir,omitempty"`
	// +optional
	// +kubebuilder:validation:MaxItems=128
	// +listType=atomic
	Env []corev1.EnvVar `json:"env,omitempty"`
	// +optional
	// +kubebuilder:validation:MaxItems=16
	// +listType=atomic
	EnvFrom []corev1.EnvFromSource `json:"envFrom,omitempty"`
	// Ports: the serving container declares at most one; its containerPort
	// defaults to 8080.
	// +optional
	// +kubebuilder:validation:MaxItems=1
	// +listType=atomic
	Ports []ContainerPort `json:"ports,omitempty"`
	// ReadinessProbe of the serving container is run by the queue-proxy.
	// +optional
	ReadinessProbe *Probe `json:"readinessProbe,omitempty"`
	// +optional
	LivenessProbe *Probe `json:"livenessProbe,omitempty"`
	// +optional
	Resources corev1.ResourceRequirements `json:"resources,omitempty"`
	// +optional
	ImagePullPolicy corev1.PullPolicy `json:"imagePullPolicy,omitempty"`
	// +optional
	SecurityContext *corev1.SecurityContext `json:"securityContext,omitempty"`
}

// ContainerPort is the port the serving container listens on.
type ContainerPort struct {
	// Name selects the protocol: "http1" (default) or "h2c".
	// +optional
	// +kubebuilder:validation:Enum=http1;h2c;""
	Name string `json:"name,omitempty"`
	// +optional
	// +kubebuilder:default=8080
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	// +kubebuilder:validation:XValidation:rule="!(self in [8012, 8013, 8022, 9090, 9091])",message="ports 8012, 8013, 8022, 9090 and 9091 are reserved for the queue-proxy"
	ContainerPort int32 `json:"containerPort,omitempty"`
	// +optional
	// +kubebuilder:validation:Enum=TCP;""
	Protocol corev1.Protocol `json:"protocol,omitempty"`
}

// Probe is a Kubernetes probe whose port may be left out: it then defaults
// to the container's port, as in Knative.
type Probe struct {
	// +optional
	HTTPGet *HTTPGetAction `json:"httpGet,omitempty"`
	// +optional
	TCPSocket *TCPSocketAction `json:"tcpSocket,omitempty"`
	// +optional
	Exec *corev1.ExecAction `json:"exec,omitempty"`
	// +optional
	// +kubebuilder:validation:Minimum=0
	InitialDelaySeconds int32 `json:"initialDelaySeconds,omitempty"`
	// +optional
	// +kubebuilder:validation:Minimum=0
	TimeoutSeconds int32 `json:"timeoutSeconds,omitempty"`
	// +optional
	// +kubebuilder:validation:Minimum=0
	PeriodSeconds int32 `json:"periodSeconds,omitempty"`
	// +optional
	// +kubebuilder:validation:Minimum=0
	SuccessThreshold int32 `json:"successThreshold,omitempty"`
	// +optional
	// +kubebuilder:validation:Minimum=0
	FailureThreshold int32 `json:"failureThreshold,omitempty"`
}

// HTTPGetAction probes with an HTTP GET.
type HTTPGetAction struct {
	// +optional
	Path string `json:"path,omitempty"`
	// Port defaults to the container's port.
	// +optional
	Port intstr.IntOrString `json:"port,omitempty"`
	// +optional
	Host string `json:"host,omitempty"`
	// +optional
	Scheme corev1.URIScheme `json:"scheme,omitempty"`
	// +optional
	// +listType=atomic
	HTTPHeaders []corev1.HTTPHeader `json:"httpHeaders,omitempty"`
}

// TCPSocketAction probes by opening a TCP connection.
type TCPSocketAction struct {
	// Port defaults to the container's port.
	// +optional
	Port intstr.IntOrString `json:"port,omitempty"`
	// +optional
	Host string `json:"host,omitempty"`
}
