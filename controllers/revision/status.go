package revision

import (
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	servingv1 "github.com/rampdev/ramp/apis/serving/v1"
	"github.com/rampdev/ramp/controllers/revision/resources"
)

// podProblem is the most telling thing wrong with a revision's pods.
type podProblem struct {
	condition string // which condition it falls under
	reason    string
	message   string
}

// diagnosePods looks at the pods' container states for a reason a user can
// act on: an image that cannot be fetched, a crash loop, a readiness probe
// that keeps failing, a pod that cannot be scheduled.
func diagnosePods(pods []corev1.Pod) *podProblem {
	var readiness *podProblem
	for i := range pods {
		p := &pods[i]
		if p.DeletionTimestamp != nil {
			continue
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
				return &podProblem{servingv1.RevisionConditionResourcesAvailable, servingv1.ReasonUnschedulable, c.Message}
			}
		}
		for _, cs := range p.Status.ContainerStatuses {
			if w := cs.State.Waiting; w != nil {
				switch w.Reason {
				case "ImagePullBackOff", "ErrImagePull", "InvalidImageName":
					return &podProblem{servingv1.RevisionConditionResourcesAvailable, servingv1.ReasonImagePullBackOff,
						fmt.Sprintf("Unable to fetch image %q: %s", cs.Image, w.Message)}
				case "CrashLoopBackOff":
					msg := fmt.Sprintf("Container %s is crash looping", cs.Name)
					if t := cs.LastTerminationState.Terminated; t != nil {
						msg = fmt.Sprintf("Container %s failed with exit code %d (%s) and is crash looping", cs.Name, t.ExitCode, t.Reason)
						if t.Message != "" {
							msg += ": " + t.Message
						}
					}
					return &podProblem{servingv1.RevisionConditionContainerHealthy, servingv1.ReasonCrashLoopBackOff, msg}
				case "CreateContainerConfigError", "CreateContainerError", "RunContainerError":
					return &podProblem{servingv1.RevisionConditionContainerHealthy, servingv1.ReasonContainerConfigError,
						fmt.Sprintf("Container %s cannot start: %s", cs.Name, w.Message)}
				}
			}
			if cs.State.Running != nil && !cs.Ready && readiness == nil {
				what := "its readiness probe is failing"
				if cs.Name == resources.QueueContainerName {
					what = "the queue-proxy reports the user container not ready (readiness probe failing)"
				}
				readiness = &podProblem{servingv1.RevisionConditionContainerHealthy, servingv1.ReasonReadinessFailing,
					fmt.Sprintf("Pod %s is running but not ready: %s", p.Name, what)}
			}
		}
	}
	return readiness
}

// observed is everything the status of a Revision is computed from.
type observed struct {
	deployment *appsv1.Deployment
	pods       []corev1.Pod
	desired    int32
	routed     bool
	// zeroStart: the Revision may start with no pod (initial scale 0,
	// allowed by the cluster), so it is available without one.
	zeroStart bool
}

// computeStatus sets the Revision's conditions and replica counts. It is a
// pure function of the Revision and what was observed.
func computeStatus(rev *servingv1.Revision, o observed) {
	st := &rev.Status
	st.ObservedGeneration = rev.Generation
	st.ServiceName = resources.ServiceName(rev)
	st.DesiredReplicas = ptr.To(o.desired)
	st.ContainerStatuses = nil
	for _, c := range rev.Spec.Containers {
		st.ContainerStatuses = append(st.ContainerStatuses, servingv1.ContainerStatus{Name: c.Name, Image: c.Image})
	}
	ready := int32(0)
	if o.deployment != nil {
		ready = o.deployment.Status.ReadyReplicas
	}
	st.ActualReplicas = ptr.To(ready)

	if o.routed {
		st.MarkTrue(servingv1.RevisionConditionActive, servingv1.ReasonActive, "")
	} else if c := st.GetCondition(servingv1.RevisionConditionActive); c == nil || c.Status != metav1.ConditionFalse {
		st.MarkFalse(servingv1.RevisionConditionActive, servingv1.ReasonNoTraffic, "No route sends traffic to this revision")
	}

	wasAvailable := isTrue(st.GetCondition(servingv1.RevisionConditionResourcesAvailable))
	problem := diagnosePods(o.pods)
	deadline := deadlineExceeded(o.deployment)
	switch {
	case deadline != "":
		st.MarkFalse(servingv1.RevisionConditionResourcesAvailable, servingv1.ReasonProgressDeadlineExceeded, deadline)
	case problem != nil && problem.condition == servingv1.RevisionConditionResourcesAvailable:
		st.MarkFalse(problem.condition, problem.reason, problem.message)
	case ready > 0:
		st.MarkTrue(servingv1.RevisionConditionResourcesAvailable, servingv1.ReasonReady, "")
	case o.desired == 0 && wasAvailable:
		// Scaled to zero after serving: still available, just inactive.
	case o.desired == 0 && o.zeroStart:
		// Knative's allow-zero-initial-scale: Ready with no pod; the
		// first request brings the first one.
		st.MarkTrue(servingv1.RevisionConditionResourcesAvailable, servingv1.ReasonZeroInitialScale,
			"Initial scale 0: no pod runs until the first request")
	default:
		st.MarkUnknown(servingv1.RevisionConditionResourcesAvailable, servingv1.ReasonDeploying, "Waiting for the revision's pods to become ready")
	}

	switch {
	case problem != nil && problem.condition == servingv1.RevisionConditionContainerHealthy:
		if problem.reason == servingv1.ReasonReadinessFailing && ready > 0 {
			st.MarkTrue(servingv1.RevisionConditionContainerHealthy, servingv1.ReasonReady, "")
		} else if problem.reason == servingv1.ReasonReadinessFailing {
			st.MarkUnknown(problem.condition, problem.reason, problem.message)
		} else {
			st.MarkFalse(problem.condition, problem.reason, problem.message)
		}
	case ready > 0 || (o.desired == 0 && (wasAvailable || o.zeroStart)):
		st.MarkTrue(servingv1.RevisionConditionContainerHealthy, servingv1.ReasonReady, "")
	case st.GetCondition(servingv1.RevisionConditionContainerHealthy) == nil || !isTrue(st.GetCondition(servingv1.RevisionConditionContainerHealthy)):
		st.MarkUnknown(servingv1.RevisionConditionContainerHealthy, servingv1.ReasonDeploying, "Waiting for the containers to start")
	}
	// A deadline overrides a transient diagnosis: the revision failed.
	if deadline != "" && !isTrue(st.GetCondition(servingv1.RevisionConditionContainerHealthy)) && problem != nil {
		st.MarkFalse(servingv1.RevisionConditionResourcesAvailable, servingv1.ReasonProgressDeadlineExceeded,
			deadline+": "+problem.message)
	}
	st.Summarize()
}

// deadlineExceeded returns a message when the Deployment has given up.
func deadlineExceeded(d *appsv1.Deployment) string {
	if d == nil {
		return ""
	}
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentProgressing && c.Status == corev1.ConditionFalse && c.Reason == "ProgressDeadlineExceeded" {
			return strings.TrimSpace("The revision did not become ready within its progress deadline. " + c.Message)
		}
	}
	return ""
}

func isTrue(c *metav1.Condition) bool { return c != nil && c.Status == metav1.ConditionTrue }
