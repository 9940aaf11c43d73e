package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/rampdev/ramp/test/framework"
)

// apiStatus asks an apicheck pod which HTTP status its last API call got.
func apiStatus(ctx context.Context, ip string) (int, error) {
	code, body, err := framework.Get(ctx, "http://"+ip+":8080/")
	if err != nil {
		return 0, err
	}
	if code != 200 {
		return 0, fmt.Errorf("apicheck answered %d", code)
	}
	var r struct {
		Status int    `json:"status"`
		Error  string `json:"error"`
	}
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		return 0, err
	}
	return r.Status, nil
}

func TestPodsReachTheAPIServerWithTheirServiceAccountAndRealRBAC(t *testing.T) {
	ns := cluster.Namespace(t)
	ctx := context.Background()

	// Given a ServiceAccount with no RBAC and a pod running as it that lists pods
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "checker"}}
	if err := cluster.Client.Create(ctx, sa); err != nil {
		t.Fatal(err)
	}
	pod := framework.MakePod(ns, "apicheck").Image("ramp/apicheck:e2e").ServiceAccount("checker").NoReadinessProbe().Obj()
	if err := cluster.Client.Create(ctx, pod); err != nil {
		t.Fatal(err)
	}
	var ip string
	framework.Eventually(t, 60*time.Second, func(ctx context.Context) error {
		if err := cluster.Client.Get(ctx, client.ObjectKeyFromObject(pod), pod); err != nil {
			return err
		}
		if !framework.PodReady(pod) {
			return fmt.Errorf("pod not ready: %+v", pod.Status.ContainerStatuses)
		}
		ip = pod.Status.PodIP
		return nil
	})

	// Then the API server answers 403 Forbidden
	framework.Eventually(t, 30*time.Second, func(ctx context.Context) error {
		s, err := apiStatus(ctx, ip)
		if err != nil {
			return err
		}
		if s != 403 {
			return fmt.Errorf("status %d, want 403", s)
		}
		return nil
	})

	// When a Role that allows listing pods is bound to the ServiceAccount
	role := &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "pod-reader"},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"list"}}},
	}
	rb := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "checker-reads-pods"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: sa.Name}},
	}
	for _, obj := range []client.Object{role, rb} {
		if err := cluster.Client.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}

	// Then the same call, from the same pod, succeeds
	framework.Eventually(t, 30*time.Second, func(ctx context.Context) error {
		s, err := apiStatus(ctx, ip)
		if err != nil {
			return err
		}
		if s != 200 {
			return fmt.Errorf("status %d, want 200", s)
		}
		return nil
	})

}
