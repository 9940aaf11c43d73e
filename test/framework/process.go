package framework

import (
	"context"
	"fmt"
	"syscall"

	corev1 "k8s.io/api/core/v1"
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
// instant a pod turns Ready.
func (c *Cluster) WatchPod(ctx context.Context, ns, name, rv string, cond func(*corev1.Pod) bool) (*corev1.Pod, error) {
	for {
		w, err := c.Clientset.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{
			FieldSelector: fields.OneTermEqualSelector("metadata.name", name).String(), ResourceVersion: rv,
		})
		if err != nil {
			return nil, fmt.Errorf("watching pod %s/%s: %w", ns, name, err)
		}
		p, next, err := untilPod(ctx, w, cond)
		w.Stop()
		if p != nil || err != nil {
			return p, err
		}
		if next != "" {
			rv = next // the watch ended (a timeout): resume where it was
		}
	}
}

func untilPod(ctx context.Context, w watch.Interface, cond func(*corev1.Pod) bool) (*corev1.Pod, string, error) {
	rv := ""
	for {
		select {
		case <-ctx.Done():
			return nil, "", ctx.Err()
		case ev, ok := <-w.ResultChan():
			if !ok {
				return nil, rv, nil
			}
			p, isPod := ev.Object.(*corev1.Pod)
			switch {
			case ev.Type == watch.Error:
				return nil, "", fmt.Errorf("watch error: %v", ev.Object)
			case !isPod:
			case ev.Type == watch.Deleted:
				return nil, "", fmt.Errorf("pod %s/%s was deleted", p.Namespace, p.Name)
			case cond(p):
				return p, "", nil
			default:
				rv = p.ResourceVersion
			}
		}
	}
}
