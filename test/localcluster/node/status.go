package node

import (
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

const hostIP = "127.0.0.1"

// podSnapshot is what the runtime knows about a pod at one instant.
type podSnapshot struct {
	ip         string
	startTime  metav1.Time
	init       []corev1.ContainerStatus
	containers []corev1.ContainerStatus
	initDone   bool
	initFailed bool
	stopped    bool
	sandboxErr string
}

func (p *podRuntime) snapshot() podSnapshot {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := podSnapshot{ip: p.ip, startTime: p.startTime, initDone: p.initDone || len(p.init) == 0,
		initFailed: p.initFailed, stopped: p.stopped, sandboxErr: p.sandboxErr}
	for _, c := range p.init {
		s.init = append(s.init, c.status())
	}
	for _, c := range p.containers {
		s.containers = append(s.containers, c.status())
	}
	return s
}

// status renders the container's status; the caller holds pod.mu.
func (c *container) status() corev1.ContainerStatus {
	return corev1.ContainerStatus{
		Name:                 c.spec.Name,
		State:                *c.state.DeepCopy(),
		LastTerminationState: *c.lastState.DeepCopy(),
		Ready:                c.ready,
		RestartCount:         c.restartCount,
		Image:                c.spec.Image,
		ImageID:              c.imageID,
		ContainerID:          c.containerID,
		Started:              ptr.To(c.started && c.state.Running != nil),
	}
}

// buildStatus computes a pod's status from a runtime snapshot. Conditions keep
// their transition time while their status holds.
func buildStatus(pod *corev1.Pod, s podSnapshot, now time.Time) corev1.PodStatus {
	st := corev1.PodStatus{
		Phase:                 podPhase(pod.Spec.RestartPolicy, s),
		HostIP:                hostIP,
		HostIPs:               []corev1.HostIP{{IP: hostIP}},
		PodIP:                 s.ip,
		PodIPs:                []corev1.PodIP{{IP: s.ip}},
		StartTime:             ptr.To(s.startTime),
		InitContainerStatuses: s.init,
		ContainerStatuses:     s.containers,
		QOSClass:              pod.Status.QOSClass,
	}
	var unready []string
	for _, c := range s.containers {
		if !c.Ready {
			unready = append(unready, c.Name)
		}
	}
	ready := len(unready) == 0 && !s.stopped && st.Phase == corev1.PodRunning
	notReadyReason, notReadyMsg := "ContainersNotReady", ""
	if len(unready) > 0 {
		notReadyMsg = fmt.Sprintf("containers with unready status: [%s]", strings.Join(unready, " "))
	}
	if st.Phase == corev1.PodSucceeded || st.Phase == corev1.PodFailed {
		notReadyReason = "PodCompleted"
	}
	conds := []corev1.PodCondition{
		cond(corev1.PodReadyToStartContainers, s.sandboxErr == "" && !s.stopped, "", s.sandboxErr),
		cond(corev1.PodInitialized, s.initDone, "ContainersNotInitialized", "containers with incomplete status: init containers"),
		cond(corev1.ContainersReady, ready, notReadyReason, notReadyMsg),
		cond(corev1.PodReady, ready, notReadyReason, notReadyMsg),
		cond(corev1.PodScheduled, true, "", ""),
	}
	// Keep conditions owned by others (DisruptionTarget, readiness gates).
	ours := map[corev1.PodConditionType]bool{}
	for _, c := range conds {
		ours[c.Type] = true
	}
	for _, c := range pod.Status.Conditions {
		if !ours[c.Type] {
			conds = append(conds, c)
		}
	}
	for i := range conds {
		conds[i].LastTransitionTime = metav1.NewTime(now.Truncate(time.Second))
		for _, old := range pod.Status.Conditions {
			if old.Type == conds[i].Type && old.Status == conds[i].Status {
				conds[i].LastTransitionTime = old.LastTransitionTime
				conds[i].LastProbeTime = old.LastProbeTime
			}
		}
	}
	st.Conditions = conds
	return st
}

func cond(t corev1.PodConditionType, ok bool, reason, msg string) corev1.PodCondition {
	if ok {
		return corev1.PodCondition{Type: t, Status: corev1.ConditionTrue}
	}
	return corev1.PodCondition{Type: t, Status: corev1.ConditionFalse, Reason: reason, Message: msg}
}

// podPhase follows the kubelet: Pending while any container has never run,
// Running while any runs or will restart, else Succeeded or Failed.
func podPhase(policy corev1.RestartPolicy, s podSnapshot) corev1.PodPhase {
	if s.initFailed {
		return corev1.PodFailed
	}
	if !s.initDone {
		return corev1.PodPending
	}
	pending, running, succeeded, failed := 0, 0, 0, 0
	for _, c := range s.containers {
		switch {
		case c.State.Running != nil:
			running++
		case c.State.Terminated != nil:
			if c.State.Terminated.ExitCode == 0 {
				succeeded++
			} else {
				failed++
			}
		case c.State.Waiting != nil && c.LastTerminationState.Terminated != nil:
			failed++ // restarting after a crash
		default:
			pending++
		}
	}
	switch {
	case pending > 0:
		return corev1.PodPending
	case running > 0:
		return corev1.PodRunning
	case policy == corev1.RestartPolicyAlways || policy == "":
		return corev1.PodRunning
	case failed == 0:
		return corev1.PodSucceeded
	case policy == corev1.RestartPolicyOnFailure:
		return corev1.PodRunning
	default:
		return corev1.PodFailed
	}
}
