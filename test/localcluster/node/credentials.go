package node

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

const tokenLifetime = time.Hour

// automount reports whether the pod should get API credentials: the
// ServiceAccount admission plugin adds a projected token volume exactly when
// automounting is on for the pod and its ServiceAccount.
func (p *podRuntime) automount() bool {
	for _, v := range p.spec.Spec.Volumes {
		if v.Projected == nil {
			continue
		}
		for _, s := range v.Projected.Sources {
			if s.ServiceAccountToken != nil {
				return true
			}
		}
	}
	return false
}

func (p *podRuntime) saDir() string          { return filepath.Join(p.dir, "serviceaccount") }
func (p *podRuntime) kubeconfigPath() string { return filepath.Join(p.dir, "kubeconfig") }

// writeCredentials requests a pod-bound token for the pod's ServiceAccount
// and writes it, with the CA and namespace, the way the kubelet projects
// them, plus a kubeconfig that reads the token file (client-go re-reads it, so
// refreshed tokens are picked up).
func (p *podRuntime) writeCredentials(ctx context.Context) (time.Time, error) {
	sa := p.spec.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	tr := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		Audiences:         []string{"https://kubernetes.default.svc"},
		ExpirationSeconds: ptr.To(int64(tokenLifetime.Seconds())),
		BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: p.key.Name, UID: p.uid},
	}}
	obj := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: sa, Namespace: p.key.Namespace}}
	if err := p.agent.client.SubResource("token").Create(ctx, obj, tr); err != nil {
		return time.Time{}, fmt.Errorf("requesting a token for service account %s/%s: %w", p.key.Namespace, sa, err)
	}
	if err := os.MkdirAll(p.saDir(), 0o700); err != nil {
		return time.Time{}, err
	}
	files := map[string]string{
		"token":     tr.Status.Token,
		"ca.crt":    string(p.agent.caPEM),
		"namespace": p.key.Namespace,
	}
	for name, content := range files {
		if err := writeAtomic(filepath.Join(p.saDir(), name), []byte(content)); err != nil {
			return time.Time{}, err
		}
	}
	kc := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: local
  cluster:
    server: %s
    certificate-authority: %s
users:
- name: %s
  user:
    tokenFile: %s
contexts:
- name: local
  context: {cluster: local, user: %s, namespace: %s}
current-context: local
`, p.agent.apiServer, filepath.Join(p.saDir(), "ca.crt"), sa, filepath.Join(p.saDir(), "token"), sa, p.key.Namespace)
	if err := writeAtomic(p.kubeconfigPath(), []byte(kc)); err != nil {
		return time.Time{}, err
	}
	return tr.Status.ExpirationTimestamp.Time, nil
}

// refreshCredentials renews the token at 80% of its lifetime until ctx ends.
func (p *podRuntime) refreshCredentials(ctx context.Context, expiry time.Time) {
	for {
		wait := time.Until(expiry) * 4 / 5
		if !sleepCtx(ctx, max(wait, 5*time.Second)) {
			return
		}
		next, err := p.writeCredentials(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			p.agent.log.Info("Refreshing pod token failed", "pod", p.key, "error", err.Error())
			expiry = time.Now().Add(12 * time.Second) // retry in about 10s
			continue
		}
		expiry = next
	}
}

func writeAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
