package node

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

const leaseDuration = 40 * time.Second

func nodeLabels(name string) map[string]string {
	return map[string]string{
		"kubernetes.io/hostname": name,
		"kubernetes.io/os":       runtime.GOOS,
		"kubernetes.io/arch":     runtime.GOARCH,
		"ramp.dev/local-node":    "true",
	}
}

// nodeCapacity is what the machine offers: its CPUs, memory, and 250 pods.
func nodeCapacity() corev1.ResourceList {
	return corev1.ResourceList{
		corev1.ResourceCPU:    *resource.NewQuantity(int64(runtime.NumCPU()), resource.DecimalSI),
		corev1.ResourceMemory: *resource.NewQuantity(memTotal(), resource.BinarySI),
		corev1.ResourcePods:   *resource.NewQuantity(250, resource.DecimalSI),
	}
}

func memTotal() int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 4 << 30
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), "MemTotal:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err == nil {
				return kb << 10
			}
		}
	}
	return 4 << 30
}

// heartbeat registers the Node and keeps its Lease and Ready condition fresh
// until ctx ends; then it marks the node not ready.
func (a *Agent) heartbeat(ctx context.Context) error {
	for attempt := 1; ; attempt++ {
		err := a.registerNode(ctx, true, "ramp-node is posting ready status")
		if err == nil {
			break
		}
		a.log.Info("Registering node failed; retrying", "attempt", attempt, "error", err.Error())
		if !sleepCtx(ctx, time.Second) {
			return nil
		}
	}
	a.log.Info("Registered node", "node", a.opts.NodeName)
	tick := time.NewTicker(10 * time.Second)
	defer tick.Stop()
	lastStatus := time.Now()
	for {
		select {
		case <-ctx.Done():
			stopCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := a.registerNode(stopCtx, false, "ramp-node stopped"); err != nil {
				a.log.Info("Marking node not ready failed", "error", err.Error())
			}
			return nil
		case <-tick.C:
		}
		if err := a.renewLease(ctx); err != nil {
			a.log.Info("Renewing node lease failed", "error", err.Error())
		}
		if time.Since(lastStatus) > time.Minute {
			if err := a.registerNode(ctx, true, "ramp-node is posting ready status"); err != nil {
				a.log.Info("Updating node status failed", "error", err.Error())
			} else {
				lastStatus = time.Now()
			}
		}
	}
}

// registerNode creates or updates the Node and its status.
func (a *Agent) registerNode(ctx context.Context, ready bool, msg string) error {
	// Read through the API, not the cache: right after a create the cache
	// may not have the object yet.
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: a.opts.NodeName}}
	err := a.reader.Get(ctx, client.ObjectKeyFromObject(node), node)
	if apierrors.IsNotFound(err) {
		node.Labels = nodeLabels(a.opts.NodeName)
		err = a.client.Create(ctx, node) // fills node from the response
	}
	if err != nil {
		return fmt.Errorf("reading node %s: %w", a.opts.NodeName, err)
	}
	now := metav1.NewTime(time.Now().Truncate(time.Second))
	status, reason := corev1.ConditionTrue, "KubeletReady"
	if !ready {
		status, reason = corev1.ConditionUnknown, "NodeStatusUnknown"
	}
	readyCond := corev1.NodeCondition{Type: corev1.NodeReady, Status: status, Reason: reason, Message: msg,
		LastHeartbeatTime: now, LastTransitionTime: now}
	for _, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady && c.Status == status {
			readyCond.LastTransitionTime = c.LastTransitionTime
		}
	}
	conds := []corev1.NodeCondition{readyCond}
	for _, t := range []corev1.NodeConditionType{corev1.NodeMemoryPressure, corev1.NodeDiskPressure, corev1.NodePIDPressure} {
		conds = append(conds, corev1.NodeCondition{Type: t, Status: corev1.ConditionFalse, Reason: "KubeletHasSufficient" + strings.TrimPrefix(string(t), "Node"),
			LastHeartbeatTime: now, LastTransitionTime: now})
	}
	capacity := nodeCapacity()
	node.Status = corev1.NodeStatus{
		Capacity:    capacity,
		Allocatable: capacity,
		Conditions:  conds,
		Addresses: []corev1.NodeAddress{
			{Type: corev1.NodeInternalIP, Address: hostIP},
			{Type: corev1.NodeHostName, Address: a.opts.NodeName},
		},
		DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: int32(a.opts.KubeletPort)}},
		NodeInfo: corev1.NodeSystemInfo{
			KubeletVersion:          "v1.36.3-ramp-node",
			OperatingSystem:         runtime.GOOS,
			Architecture:            runtime.GOARCH,
			ContainerRuntimeVersion: "ramp-local://processes",
		},
	}
	if err := a.client.Status().Update(ctx, node); err != nil {
		return fmt.Errorf("updating status of node %s: %w", a.opts.NodeName, err)
	}
	return a.renewLease(ctx)
}

func (a *Agent) renewLease(ctx context.Context) error {
	lease := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: a.opts.NodeName, Namespace: corev1.NamespaceNodeLease}}
	now := metav1.NewMicroTime(time.Now())
	err := a.reader.Get(ctx, client.ObjectKeyFromObject(lease), lease)
	lease.Spec.HolderIdentity = ptr.To(a.opts.NodeName)
	lease.Spec.LeaseDurationSeconds = ptr.To(int32(leaseDuration.Seconds()))
	lease.Spec.RenewTime = &now
	if apierrors.IsNotFound(err) {
		return client.IgnoreAlreadyExists(a.client.Create(ctx, lease))
	}
	if err != nil {
		return err
	}
	return a.client.Update(ctx, lease)
}
