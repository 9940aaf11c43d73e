package framework

import (
	"context"
	"fmt"
	"syscall"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/rampdev/ramp/test/localcluster/node"
)

// ContainerPID returns the PID of the process that runs a pod's container
// on the local node.
func (c *Cluster) ContainerPID(pod *corev1.Pod, container string) (int, error) {
	return node.ContainerPID(c.PodsDir(), pod, container)
}

// SignalContainer sends sig to the process of a pod's container behind the
// API's back, as the kernel (SIGKILL: the OOM killer, a crash) or a
// container runtime (SIGTERM) would: the pod object is untouched, and the
// node agent restarts the container per the pod's restart policy, in the
// same pod with the same IP. It returns the PID signalled.
func (c *Cluster) SignalContainer(pod *corev1.Pod, container string, sig syscall.Signal) (int, error) {
	pid, err := c.ContainerPID(pod, container)
	if err != nil {
		return 0, err
	}
	if err := syscall.Kill(pid, sig); err != nil {
		return 0, fmt.Errorf("sending %v to container %s of pod %s/%s (pid %d): %w", sig, container, pod.Namespace, pod.Name, pid, err)
	}
	return pid, nil
}

// RestartCount is the restart count of a pod's container (0 when the
// container has no status yet).
func RestartCount(p *corev1.Pod, container string) int32 {
	for _, cs := range p.Status.ContainerStatuses {
		if cs.Name == container {
			return cs.RestartCount
		}
	}
	return 0
}

// WatchPod watches one pod from resourceVersion rv (the version of a
// Get: no change is missed) until cond holds for a version of it, and
// returns that version. It is for moments a poll could miss, such as the
// instant a pod turns Ready. When the API server no longer has rv (it
// restarted, say), it lists the pod afresh and watches on from there:
// changes in between may be missed then, not the end state. Pass the
// version of a list (current) rather than the pod's own where a restart
// may have happened since the pod last changed.
func (c *Cluster) WatchPod(ctx context.Context, ns, name, rv string, cond func(*corev1.Pod) bool) (*corev1.Pod, error) {
	pods := c.Clientset.CoreV1().Pods(ns)
	byName := fields.OneTermEqualSelector("metadata.name", name).String()
	for {
		w, err := pods.Watch(ctx, metav1.ListOptions{FieldSelector: byName, ResourceVersion: rv})
		expired := expiredErr(err)
		if err != nil && !expired {
			return nil, fmt.Errorf("watching pod %s/%s: %w", ns, name, err)
		}
		if !expired {
			var p *corev1.Pod
			p, rv, expired, err = untilPod(ctx, w, rv, cond)
			w.Stop()
			if p != nil || err != nil {
				return p, err
			}
		}
		if expired {
			// A list's version is current even when the pod's own is
			// older than what a restarted API server can watch from.
			list, err := pods.List(ctx, metav1.ListOptions{FieldSelector: byName})
			if err != nil {
				return nil, fmt.Errorf("reading pod %s/%s: %w", ns, name, err)
			}
			if len(list.Items) == 0 {
				return nil, fmt.Errorf("pod %s/%s was deleted", ns, name)
			}
			if cond(&list.Items[0]) {
				return &list.Items[0], nil
			}
			rv = list.ResourceVersion
		}
	}
}

func expiredErr(err error) bool { return apierrors.IsResourceExpired(err) || apierrors.IsGone(err) }

// untilPod returns the first pod w delivers that passes cond. When w ends
// first, it returns the last version seen (rv when none was), and whether
// the watch ended because that version has expired.
func untilPod(ctx context.Context, w watch.Interface, rv string, cond func(*corev1.Pod) bool) (*corev1.Pod, string, bool, error) {
	for {
		select {
		case <-ctx.Done():
			return nil, rv, false, ctx.Err()
		case ev, ok := <-w.ResultChan():
			if !ok {
				return nil, rv, false, nil
			}
			p, isPod := ev.Object.(*corev1.Pod)
			switch {
			case ev.Type == watch.Error:
				err := apierrors.FromObject(ev.Object)
				if expiredErr(err) {
					return nil, rv, true, nil
				}
				return nil, rv, false, fmt.Errorf("watch error: %w", err)
			case !isPod:
			case ev.Type == watch.Deleted:
				return nil, rv, false, fmt.Errorf("pod %s/%s was deleted", p.Namespace, p.Name)
			case cond(p):
				return p, rv, false, nil
			default:
				rv = p.ResourceVersion
			}
		}
	}
}
