package framework

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/rand"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/rampdev/ramp/test/localcluster/node"
)

// Namespace creates a fresh namespace for one test (deleted when it ends)
// and waits until its default ServiceAccount exists.
func (c *Cluster) Namespace(t testing.TB) string {
	t.Helper()
	name := "e2e-" + strings.ToLower(rand.String(6))
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := c.Client.Create(context.Background(), ns); err != nil {
		t.Fatalf("creating namespace: %v", err)
	}
	t.Cleanup(func() { _ = c.Client.Delete(context.Background(), ns) })
	Eventually(t, 30*time.Second, func(ctx context.Context) error {
		return c.Client.Get(ctx, types.NamespacedName{Namespace: name, Name: "default"}, &corev1.ServiceAccount{})
	})
	return name
}

// Pods lists the pods of ns matching labels.
func (c *Cluster) Pods(ctx context.Context, ns string, labels map[string]string) ([]corev1.Pod, error) {
	var list corev1.PodList
	if err := c.Client.List(ctx, &list, client.InNamespace(ns), client.MatchingLabels(labels)); err != nil {
		return nil, err
	}
	return list.Items, nil
}

// PodReady reports whether the pod's Ready condition is True.
func PodReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// Processes lists the PIDs of live processes running bin/<name> for pods of
// this cluster (their working directory is a pod sandbox).
func (c *Cluster) Processes(name string) ([]int, error) {
	want := filepath.Join(c.BinDir, name)
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if !node.Alive(pid, want) {
			continue
		}
		cwd, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid))
		if err != nil || !strings.HasPrefix(cwd, c.PodsDir()+"/") {
			continue
		}
		pids = append(pids, pid)
	}
	return pids, nil
}

var httpClient = &http.Client{Timeout: 5 * time.Second}

// Get fetches url, which must be on loopback, and returns status and body.
func Get(ctx context.Context, url string) (int, string, error) {
	if !strings.HasPrefix(url, "http://127.") {
		return 0, "", fmt.Errorf("refusing to send test traffic to %s: tests only target 127.0.0.0/8", url)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(b), err
}
