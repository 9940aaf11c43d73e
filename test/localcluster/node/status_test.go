package node

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func runningStatus(name string, ready bool) corev1.ContainerStatus {
	return corev1.ContainerStatus{Name: name, Ready: ready, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}
}

func waitingStatus(name, reason string) corev1.ContainerStatus {
	return corev1.ContainerStatus{Name: name, State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason}}}
}

func exitedStatus(name string, code int32) corev1.ContainerStatus {
	return corev1.ContainerStatus{Name: name, State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code}}}
}

func crashLoopStatus(name string, code int32) corev1.ContainerStatus {
	s := waitingStatus(name, "CrashLoopBackOff")
	s.LastTerminationState = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code}}
	return s
}

func TestPodPhase(t *testing.T) {
	cases := map[string]struct {
		policy corev1.RestartPolicy
		snap   podSnapshot
		want   corev1.PodPhase
	}{
		"no container started": {
			policy: corev1.RestartPolicyAlways,
			snap:   podSnapshot{initDone: true, containers: []corev1.ContainerStatus{waitingStatus("a", "ContainerCreating")}},
			want:   corev1.PodPending,
		},
		"init containers not done": {
			policy: corev1.RestartPolicyAlways,
			snap: podSnapshot{init: []corev1.ContainerStatus{runningStatus("i", false)},
				containers: []corev1.ContainerStatus{waitingStatus("a", "PodInitializing")}},
			want: corev1.PodPending,
		},
		"init container failed": {
			policy: corev1.RestartPolicyNever,
			snap: podSnapshot{initFailed: true, init: []corev1.ContainerStatus{exitedStatus("i", 1)},
				containers: []corev1.ContainerStatus{waitingStatus("a", "PodInitializing")}},
			want: corev1.PodFailed,
		},
		"one running": {
			policy: corev1.RestartPolicyNever,
			snap:   podSnapshot{initDone: true, containers: []corev1.ContainerStatus{runningStatus("a", true), exitedStatus("b", 0)}},
			want:   corev1.PodRunning,
		},
		"one still waiting while another runs": {
			policy: corev1.RestartPolicyAlways,
			snap:   podSnapshot{initDone: true, containers: []corev1.ContainerStatus{runningStatus("a", true), waitingStatus("b", "ContainerCreating")}},
			want:   corev1.PodPending,
		},
		"all exited 0 with Never": {
			policy: corev1.RestartPolicyNever,
			snap:   podSnapshot{initDone: true, containers: []corev1.ContainerStatus{exitedStatus("a", 0), exitedStatus("b", 0)}},
			want:   corev1.PodSucceeded,
		},
		"one exited 1 with Never": {
			policy: corev1.RestartPolicyNever,
			snap:   podSnapshot{initDone: true, containers: []corev1.ContainerStatus{exitedStatus("a", 0), exitedStatus("b", 1)}},
			want:   corev1.PodFailed,
		},
		"exited 1 with OnFailure": {
			policy: corev1.RestartPolicyOnFailure,
			snap:   podSnapshot{initDone: true, containers: []corev1.ContainerStatus{exitedStatus("a", 1)}},
			want:   corev1.PodRunning,
		},
		"all exited 0 with OnFailure": {
			policy: corev1.RestartPolicyOnFailure,
			snap:   podSnapshot{initDone: true, containers: []corev1.ContainerStatus{exitedStatus("a", 0)}},
			want:   corev1.PodSucceeded,
		},
		"all exited with Always": {
			policy: corev1.RestartPolicyAlways,
			snap:   podSnapshot{initDone: true, containers: []corev1.ContainerStatus{exitedStatus("a", 0), exitedStatus("b", 2)}},
			want:   corev1.PodRunning,
		},
		"all exited with default policy": {
			snap: podSnapshot{initDone: true, containers: []corev1.ContainerStatus{exitedStatus("a", 0)}},
			want: corev1.PodRunning,
		},
		"crash loop back-off": {
			policy: corev1.RestartPolicyAlways,
			snap:   podSnapshot{initDone: true, containers: []corev1.ContainerStatus{crashLoopStatus("a", 1)}},
			want:   corev1.PodRunning,
		},
		"crash loop back-off with OnFailure": {
			policy: corev1.RestartPolicyOnFailure,
			snap:   podSnapshot{initDone: true, containers: []corev1.ContainerStatus{crashLoopStatus("a", 1)}},
			want:   corev1.PodRunning,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, podPhase(tc.policy, tc.snap)); diff != "" {
				t.Errorf("podPhase (-want +got):\n%s", diff)
			}
		})
	}
}

var (
	statusNow = time.Date(2026, 3, 4, 5, 6, 7, 800_000_000, time.UTC)
	nowT      = metav1.NewTime(time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC))
	oldT      = metav1.NewTime(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	olderT    = metav1.NewTime(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC))
)

func condAt(t corev1.PodConditionType, status corev1.ConditionStatus, reason, msg string, at metav1.Time) corev1.PodCondition {
	return corev1.PodCondition{Type: t, Status: status, Reason: reason, Message: msg, LastTransitionTime: at}
}

// allTrue are the conditions of a ready pod, all changed at `at`.
func allTrue(at metav1.Time) []corev1.PodCondition {
	return []corev1.PodCondition{
		condAt(corev1.PodReadyToStartContainers, corev1.ConditionTrue, "", "", at),
		condAt(corev1.PodInitialized, corev1.ConditionTrue, "", "", at),
		condAt(corev1.ContainersReady, corev1.ConditionTrue, "", "", at),
		condAt(corev1.PodReady, corev1.ConditionTrue, "", "", at),
		condAt(corev1.PodScheduled, corev1.ConditionTrue, "", "", at),
	}
}

func TestBuildStatus(t *testing.T) {
	readySnap := podSnapshot{ip: "127.0.0.5", initDone: true, containers: []corev1.ContainerStatus{runningStatus("app", true)}}
	cases := map[string]struct {
		existing  []corev1.PodCondition
		snap      podSnapshot
		wantPhase corev1.PodPhase
		wantConds []corev1.PodCondition
	}{
		"running and ready": {
			snap:      readySnap,
			wantPhase: corev1.PodRunning,
			wantConds: allTrue(nowT),
		},
		"not ready lists the containers": {
			snap: podSnapshot{ip: "127.0.0.5", initDone: true, containers: []corev1.ContainerStatus{
				runningStatus("app", false), runningStatus("side", true), runningStatus("proxy", false)}},
			wantPhase: corev1.PodRunning,
			wantConds: []corev1.PodCondition{
				condAt(corev1.PodReadyToStartContainers, corev1.ConditionTrue, "", "", nowT),
				condAt(corev1.PodInitialized, corev1.ConditionTrue, "", "", nowT),
				condAt(corev1.ContainersReady, corev1.ConditionFalse, "ContainersNotReady", "containers with unready status: [app proxy]", nowT),
				condAt(corev1.PodReady, corev1.ConditionFalse, "ContainersNotReady", "containers with unready status: [app proxy]", nowT),
				condAt(corev1.PodScheduled, corev1.ConditionTrue, "", "", nowT),
			},
		},
		"transition time kept while status holds, reset when it changes": {
			existing: []corev1.PodCondition{
				condAt(corev1.PodScheduled, corev1.ConditionTrue, "", "", oldT),
				{Type: corev1.PodInitialized, Status: corev1.ConditionTrue, LastTransitionTime: olderT, LastProbeTime: oldT},
				condAt(corev1.PodReady, corev1.ConditionFalse, "ContainersNotReady", "containers with unready status: [app]", oldT),
				condAt(corev1.ContainersReady, corev1.ConditionFalse, "ContainersNotReady", "containers with unready status: [app]", oldT),
				condAt(corev1.PodReadyToStartContainers, corev1.ConditionTrue, "", "", olderT),
			},
			snap:      readySnap,
			wantPhase: corev1.PodRunning,
			wantConds: []corev1.PodCondition{
				condAt(corev1.PodReadyToStartContainers, corev1.ConditionTrue, "", "", olderT),
				{Type: corev1.PodInitialized, Status: corev1.ConditionTrue, LastTransitionTime: olderT, LastProbeTime: oldT},
				condAt(corev1.ContainersReady, corev1.ConditionTrue, "", "", nowT),
				condAt(corev1.PodReady, corev1.ConditionTrue, "", "", nowT),
				condAt(corev1.PodScheduled, corev1.ConditionTrue, "", "", oldT),
			},
		},
		"foreign condition is kept": {
			existing: []corev1.PodCondition{
				condAt("DisruptionTarget", corev1.ConditionTrue, "EvictionByEvictionAPI", "evicted", oldT),
			},
			snap:      readySnap,
			wantPhase: corev1.PodRunning,
			wantConds: append(allTrue(nowT), condAt("DisruptionTarget", corev1.ConditionTrue, "EvictionByEvictionAPI", "evicted", oldT)),
		},
		"stopped pod is not ready": {
			existing:  allTrue(oldT),
			snap:      podSnapshot{ip: "127.0.0.5", initDone: true, stopped: true, containers: []corev1.ContainerStatus{runningStatus("app", true)}},
			wantPhase: corev1.PodRunning,
			wantConds: []corev1.PodCondition{
				condAt(corev1.PodReadyToStartContainers, corev1.ConditionFalse, "", "", nowT),
				condAt(corev1.PodInitialized, corev1.ConditionTrue, "", "", oldT),
				condAt(corev1.ContainersReady, corev1.ConditionFalse, "ContainersNotReady", "", nowT),
				condAt(corev1.PodReady, corev1.ConditionFalse, "ContainersNotReady", "", nowT),
				condAt(corev1.PodScheduled, corev1.ConditionTrue, "", "", oldT),
			},
		},
		"sandbox error and init pending": {
			snap: podSnapshot{ip: "127.0.0.5", sandboxErr: "mkdir: permission denied",
				containers: []corev1.ContainerStatus{waitingStatus("app", "PodInitializing")}},
			wantPhase: corev1.PodPending,
			wantConds: []corev1.PodCondition{
				condAt(corev1.PodReadyToStartContainers, corev1.ConditionFalse, "", "mkdir: permission denied", nowT),
				condAt(corev1.PodInitialized, corev1.ConditionFalse, "ContainersNotInitialized", "containers with incomplete status: init containers", nowT),
				condAt(corev1.ContainersReady, corev1.ConditionFalse, "ContainersNotReady", "containers with unready status: [app]", nowT),
				condAt(corev1.PodReady, corev1.ConditionFalse, "ContainersNotReady", "containers with unready status: [app]", nowT),
				condAt(corev1.PodScheduled, corev1.ConditionTrue, "", "", nowT),
			},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			pod := &corev1.Pod{
				Spec:   corev1.PodSpec{RestartPolicy: corev1.RestartPolicyAlways},
				Status: corev1.PodStatus{Conditions: tc.existing},
			}
			got := buildStatus(pod, tc.snap, statusNow)
			if diff := cmp.Diff(tc.wantPhase, got.Phase); diff != "" {
				t.Errorf("phase (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantConds, got.Conditions); diff != "" {
				t.Errorf("conditions (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBuildStatusFields(t *testing.T) {
	start := metav1.NewTime(time.Date(2026, 3, 4, 5, 0, 0, 0, time.UTC))
	containers := []corev1.ContainerStatus{runningStatus("app", true)}
	inits := []corev1.ContainerStatus{exitedStatus("setup", 0)}
	pod := &corev1.Pod{
		Spec:   corev1.PodSpec{RestartPolicy: corev1.RestartPolicyAlways},
		Status: corev1.PodStatus{QOSClass: corev1.PodQOSBurstable, Phase: corev1.PodPending, PodIP: "127.0.0.9"},
	}
	snap := podSnapshot{ip: "127.0.0.5", startTime: start, initDone: true, init: inits, containers: containers}
	want := corev1.PodStatus{
		Phase:                 corev1.PodRunning,
		Conditions:            allTrue(nowT),
		HostIP:                "127.0.0.1",
		HostIPs:               []corev1.HostIP{{IP: "127.0.0.1"}},
		PodIP:                 "127.0.0.5",
		PodIPs:                []corev1.PodIP{{IP: "127.0.0.5"}},
		StartTime:             ptr.To(start),
		InitContainerStatuses: inits,
		ContainerStatuses:     containers,
		QOSClass:              corev1.PodQOSBurstable,
	}
	if diff := cmp.Diff(want, buildStatus(pod, snap, statusNow)); diff != "" {
		t.Errorf("buildStatus (-want +got):\n%s", diff)
	}
}
