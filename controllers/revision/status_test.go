package revision

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	servingv1 "github.com/rampdev/ramp/apis/serving/v1"
)

func waiting(name, image, reason, msg string) corev1.ContainerStatus {
	return corev1.ContainerStatus{Name: name, Image: image,
		State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: msg}}}
}

func crashLooping(name string, exitCode int32) corev1.ContainerStatus {
	cs := waiting(name, "ramp/sampleapp:v1", "CrashLoopBackOff", "back-off 10s restarting failed container")
	cs.LastTerminationState.Terminated = &corev1.ContainerStateTerminated{ExitCode: exitCode, Reason: "Error"}
	return cs
}

func running(name string, ready bool) corev1.ContainerStatus {
	return corev1.ContainerStatus{Name: name, Ready: ready,
		State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}
}

func pod(name string, statuses ...corev1.ContainerStatus) corev1.Pod {
	return corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: corev1.PodStatus{ContainerStatuses: statuses}}
}

func TestDiagnosePods(t *testing.T) {
	terminating := pod("old", waiting("user-container", "ramp/bad:v0", "ImagePullBackOff", ""))
	terminating.DeletionTimestamp = &metav1.Time{Time: time.Now()}
	unschedulable := pod("pending")
	unschedulable.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse,
		Reason: corev1.PodReasonUnschedulable, Message: "0/1 nodes are available: insufficient cpu"}}
	cases := []struct {
		name string
		pods []corev1.Pod
		want *podProblem
	}{
		{name: "no pods", want: nil},
		{name: "healthy pod", pods: []corev1.Pod{pod("p", running("user-container", true), running("queue-proxy", true))}},
		{name: "image pull back-off names the image",
			pods: []corev1.Pod{pod("p", waiting("user-container", "ramp/nope:v9", "ImagePullBackOff", "Back-off pulling image"))},
			want: &podProblem{servingv1.RevisionConditionResourcesAvailable, servingv1.ReasonImagePullBackOff,
				`Unable to fetch image "ramp/nope:v9": Back-off pulling image`}},
		{name: "ErrImagePull counts as image pull back-off",
			pods: []corev1.Pod{pod("p", waiting("user-container", "ramp/nope:v9", "ErrImagePull", "not found"))},
			want: &podProblem{servingv1.RevisionConditionResourcesAvailable, servingv1.ReasonImagePullBackOff,
				`Unable to fetch image "ramp/nope:v9": not found`}},
		{name: "crash loop reports the last exit code",
			pods: []corev1.Pod{pod("p", crashLooping("user-container", 1), running("queue-proxy", false))},
			want: &podProblem{servingv1.RevisionConditionContainerHealthy, servingv1.ReasonCrashLoopBackOff,
				"Container user-container failed with exit code 1 (Error) and is crash looping"}},
		{name: "running but not ready queue-proxy",
			pods: []corev1.Pod{pod("p", running("user-container", true), running("queue-proxy", false))},
			want: &podProblem{servingv1.RevisionConditionContainerHealthy, servingv1.ReasonReadinessFailing,
				"Pod p is running but not ready: the queue-proxy reports the user container not ready (readiness probe failing)"}},
		{name: "a hard failure on a later pod beats a readiness failure on an earlier one",
			pods: []corev1.Pod{pod("a", running("queue-proxy", false)), pod("b", crashLooping("user-container", 2))},
			want: &podProblem{servingv1.RevisionConditionContainerHealthy, servingv1.ReasonCrashLoopBackOff,
				"Container user-container failed with exit code 2 (Error) and is crash looping"}},
		{name: "unschedulable pod",
			pods: []corev1.Pod{unschedulable},
			want: &podProblem{servingv1.RevisionConditionResourcesAvailable, servingv1.ReasonUnschedulable,
				"0/1 nodes are available: insufficient cpu"}},
		{name: "terminating pods are ignored", pods: []corev1.Pod{terminating}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := diagnosePods(tc.pods)
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(podProblem{})); diff != "" {
				t.Errorf("diagnosePods() (-want +got):\n%s", diff)
			}
		})
	}
}

func testRevision(annotations map[string]string, conds ...metav1.Condition) *servingv1.Revision {
	rev := &servingv1.Revision{
		ObjectMeta: metav1.ObjectMeta{Name: "hello-00001", Namespace: "ns", Generation: 3, Annotations: annotations},
		Spec:       servingv1.RevisionSpec{Containers: []servingv1.Container{{Image: "ramp/sampleapp:v1"}}},
	}
	rev.Status.Conditions = conds
	return rev
}

func deployment(ready int32, conds ...appsv1.DeploymentCondition) *appsv1.Deployment {
	return &appsv1.Deployment{Status: appsv1.DeploymentStatus{ReadyReplicas: ready, Conditions: conds}}
}

// summary maps condition type to "Status/Reason".
func summary(st *servingv1.RevisionStatus) map[string]string {
	out := map[string]string{}
	for _, c := range st.Conditions {
		out[c.Type] = string(c.Status) + "/" + c.Reason
	}
	return out
}

func cond(t string, s metav1.ConditionStatus, reason string, at time.Time) metav1.Condition {
	return metav1.Condition{Type: t, Status: s, Reason: reason, LastTransitionTime: metav1.NewTime(at)}
}

func TestComputeStatus(t *testing.T) {
	longAgo := time.Now().Add(-time.Hour).Truncate(time.Second)
	wasServing := []metav1.Condition{
		cond(servingv1.RevisionConditionResourcesAvailable, metav1.ConditionTrue, servingv1.ReasonReady, longAgo),
		cond(servingv1.RevisionConditionContainerHealthy, metav1.ConditionTrue, servingv1.ReasonReady, longAgo),
		cond(servingv1.RevisionConditionActive, metav1.ConditionFalse, servingv1.ReasonNoTraffic, longAgo),
	}
	deadline := appsv1.DeploymentCondition{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionFalse,
		Reason: "ProgressDeadlineExceeded", Message: `ReplicaSet "hello-00001-deployment-abc" has timed out progressing.`}
	cases := []struct {
		name        string
		rev         *servingv1.Revision
		o           observed
		want        map[string]string
		wantMessage map[string]string // condition type -> substring of its message
	}{{
		name: "deploying, not routed",
		rev:  testRevision(nil),
		o:    observed{deployment: deployment(0), desired: 1},
		want: map[string]string{"Ready": "Unknown/Deploying", "ResourcesAvailable": "Unknown/Deploying",
			"ContainerHealthy": "Unknown/Deploying", "Active": "False/NoTraffic"},
	}, {
		name: "image pull back-off",
		rev:  testRevision(nil),
		o: observed{deployment: deployment(0), desired: 1, pods: []corev1.Pod{
			pod("p", waiting("user-container", "ramp/nope:v9", "ImagePullBackOff", "Back-off pulling image"))}},
		want: map[string]string{"Ready": "False/ImagePullBackOff", "ResourcesAvailable": "False/ImagePullBackOff",
			"ContainerHealthy": "Unknown/Deploying", "Active": "False/NoTraffic"},
		wantMessage: map[string]string{"ResourcesAvailable": `"ramp/nope:v9"`, "Ready": `"ramp/nope:v9"`},
	}, {
		name: "crash loop",
		rev:  testRevision(nil),
		o:    observed{deployment: deployment(0), desired: 1, routed: true, pods: []corev1.Pod{pod("p", crashLooping("user-container", 1))}},
		want: map[string]string{"Ready": "False/CrashLoopBackOff", "ResourcesAvailable": "Unknown/Deploying",
			"ContainerHealthy": "False/CrashLoopBackOff", "Active": "True/Active"},
		wantMessage: map[string]string{"ContainerHealthy": "exit code 1"},
	}, {
		name: "queue-proxy running but not ready",
		rev:  testRevision(nil),
		o: observed{deployment: deployment(0), desired: 1, pods: []corev1.Pod{
			pod("p", running("user-container", true), running("queue-proxy", false))}},
		want: map[string]string{"Ready": "Unknown/Deploying", "ResourcesAvailable": "Unknown/Deploying",
			"ContainerHealthy": "Unknown/ReadinessProbeFailing", "Active": "False/NoTraffic"},
	}, {
		name: "progress deadline exceeded",
		rev:  testRevision(nil),
		o:    observed{deployment: deployment(0, deadline), desired: 1},
		want: map[string]string{"Ready": "False/ProgressDeadlineExceeded", "ResourcesAvailable": "False/ProgressDeadlineExceeded",
			"ContainerHealthy": "Unknown/Deploying", "Active": "False/NoTraffic"},
		wantMessage: map[string]string{"Ready": "progress deadline"},
	}, {
		name: "progress deadline exceeded while the readiness probe fails names the probe",
		rev:  testRevision(nil),
		o: observed{deployment: deployment(0, deadline), desired: 1, pods: []corev1.Pod{
			pod("p", running("user-container", true), running("queue-proxy", false))}},
		want: map[string]string{"Ready": "False/ProgressDeadlineExceeded", "ResourcesAvailable": "False/ProgressDeadlineExceeded",
			"ContainerHealthy": "Unknown/ReadinessProbeFailing", "Active": "False/NoTraffic"},
		wantMessage: map[string]string{"Ready": "readiness probe failing"},
	}, {
		name: "one ready replica, routed",
		rev:  testRevision(nil),
		o:    observed{deployment: deployment(1), desired: 1, routed: true},
		want: map[string]string{"Ready": "True/Ready", "ResourcesAvailable": "True/Ready",
			"ContainerHealthy": "True/Ready", "Active": "True/Active"},
	}, {
		name: "initial scale 0, allowed: ready with no pod",
		rev:  testRevision(nil),
		o:    observed{deployment: deployment(0), desired: 0, zeroStart: true},
		want: map[string]string{"Ready": "True/Ready", "ResourcesAvailable": "True/ZeroInitialScale",
			"ContainerHealthy": "True/Ready", "Active": "False/NoTraffic"},
	}, {
		name: "initial scale 0, allowed, scaled up for a request: waits for the pod",
		rev:  testRevision(nil),
		o:    observed{deployment: deployment(0), desired: 1, zeroStart: true, routed: true},
		want: map[string]string{"Ready": "Unknown/Deploying", "ResourcesAvailable": "Unknown/Deploying",
			"ContainerHealthy": "Unknown/Deploying", "Active": "True/Active"},
	}, {
		name: "scaled to zero after serving stays ready and inactive",
		rev:  testRevision(nil, wasServing...),
		o:    observed{deployment: deployment(0), desired: 0},
		want: map[string]string{"Ready": "True/Ready", "ResourcesAvailable": "True/Ready",
			"ContainerHealthy": "True/Ready", "Active": "False/NoTraffic"},
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rev := tc.rev.DeepCopy()
			computeStatus(rev, tc.o)
			if diff := cmp.Diff(tc.want, summary(&rev.Status)); diff != "" {
				t.Errorf("conditions (-want +got):\n%s", diff)
			}
			for typ, sub := range tc.wantMessage {
				if c := rev.Status.GetCondition(typ); c == nil || !strings.Contains(c.Message, sub) {
					t.Errorf("%s message = %+v; want it to contain %q", typ, c, sub)
				}
			}
			wantCounts := []any{int64(3), "hello-00001", tc.o.desired, tc.o.deployment.Status.ReadyReplicas,
				[]servingv1.ContainerStatus{{Image: "ramp/sampleapp:v1"}}}
			gotCounts := []any{rev.Status.ObservedGeneration, rev.Status.ServiceName, ptr.Deref(rev.Status.DesiredReplicas, -1),
				ptr.Deref(rev.Status.ActualReplicas, -1), rev.Status.ContainerStatuses}
			if diff := cmp.Diff(wantCounts, gotCounts); diff != "" {
				t.Errorf("observedGeneration, serviceName, desired, actual, containers (-want +got):\n%s", diff)
			}
		})
	}
}

// TestComputeStatusKeepsInactiveSince checks that an unrouted Revision's
// Active=False keeps its transition time: the scale-to-zero grace counts
// from it.
func TestComputeStatusKeepsInactiveSince(t *testing.T) {
	longAgo := time.Now().Add(-time.Hour).Truncate(time.Second)
	rev := testRevision(nil, cond(servingv1.RevisionConditionActive, metav1.ConditionFalse, servingv1.ReasonNoTraffic, longAgo))
	computeStatus(rev, observed{deployment: deployment(1), desired: 1})
	if got := rev.Status.GetCondition(servingv1.RevisionConditionActive).LastTransitionTime.Time; !got.Equal(longAgo) {
		t.Errorf("Active lastTransitionTime = %s; want it kept at %s", got, longAgo)
	}
}

func TestDesiredReplicas(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	const grace = 30 * time.Second
	available := cond(servingv1.RevisionConditionResourcesAvailable, metav1.ConditionTrue, servingv1.ReasonReady, now.Add(-time.Hour))
	inactiveSince := func(d time.Duration) metav1.Condition {
		return cond(servingv1.RevisionConditionActive, metav1.ConditionFalse, servingv1.ReasonNoTraffic, now.Add(-d))
	}
	active := cond(servingv1.RevisionConditionActive, metav1.ConditionTrue, servingv1.ReasonActive, now.Add(-time.Hour))
	cases := []struct {
		name        string
		rev         *servingv1.Revision
		routed      bool
		want        int32
		wantRequeue time.Duration
	}{
		{name: "initial-scale 0 counts as 1 without the autoscaler", rev: testRevision(map[string]string{servingv1.AnnotationInitialScale: "0"}),
			want: 1},
		{name: "routed: default initial scale", rev: testRevision(nil, available), routed: true, want: 1},
		{name: "routed: ramp initial-scale", rev: testRevision(map[string]string{servingv1.AnnotationInitialScale: "3"}, available),
			routed: true, want: 3},
		{name: "routed: knative initial-scale", rev: testRevision(map[string]string{servingv1.AnnotationInitialScaleKn: "2"}),
			routed: true, want: 2},
		{name: "routed: ramp annotation wins over knative's", rev: testRevision(map[string]string{
			servingv1.AnnotationInitialScale: "3", servingv1.AnnotationInitialScaleKn: "5"}), routed: true, want: 3},
		{name: "unparsable initial-scale falls back to 1", rev: testRevision(map[string]string{servingv1.AnnotationInitialScale: "lots"}),
			routed: true, want: 1},
		{name: "not yet available, unrouted: initial scale",
			rev: testRevision(map[string]string{servingv1.AnnotationInitialScale: "3"}, inactiveSince(time.Hour)), want: 3},
		{name: "just lost its route: initial scale, look again after the grace",
			rev: testRevision(nil, available, active), want: 1, wantRequeue: grace},
		{name: "unrouted for 10s of 30s: initial scale, look again in 20s",
			rev: testRevision(nil, available, inactiveSince(10*time.Second)), want: 1, wantRequeue: 20 * time.Second},
		{name: "unrouted for 31s of 30s: zero",
			rev: testRevision(nil, available, inactiveSince(31*time.Second)), want: 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, requeue := desiredReplicas(tc.rev, tc.routed, now, grace, max(InitialScale(tc.rev), 1))
			if got != tc.want || requeue != tc.wantRequeue {
				t.Errorf("desiredReplicas() = %d, %s; want %d, %s", got, requeue, tc.want, tc.wantRequeue)
			}
		})
	}
}

// TestDesiredReplicasGraceStartsWhenAvailable: a new Revision is unrouted
// from its creation (Active=False since then) until its route picks it up,
// which happens only after it becomes Ready. If it took longer than the grace
// to become available, it must still get the grace from that moment, or it is
// scaled to zero just before the route sends it traffic.
func TestDesiredReplicasGraceStartsWhenAvailable(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	rev := testRevision(nil,
		cond(servingv1.RevisionConditionActive, metav1.ConditionFalse, servingv1.ReasonNoTraffic, now.Add(-time.Minute)),
		cond(servingv1.RevisionConditionResourcesAvailable, metav1.ConditionTrue, servingv1.ReasonReady, now.Add(-time.Second)))
	got, requeue := desiredReplicas(rev, false, now, 30*time.Second, 1)
	if got != 1 || requeue <= 0 {
		t.Errorf("desiredReplicas() of a never-routed revision available for 1s = %d, %s; "+
			"want 1 and a requeue (the 30s grace has not passed since it became available)", got, requeue)
	}
}
