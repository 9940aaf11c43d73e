package node

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

const tokenLifetime = time.Hour

// automount reports whether the pod should get API credentials: the
// ServiceAccount admission plugin adds a projected token volume for the API
// server's audience exactly when automounting is on for the pod and its
// ServiceAccount.
func (p *podRuntime) automount() bool {
	for _, t := range p.projectedTokens() {
		if t.src.Audience == "" {
			return true
		}
	}
	return false
}

// projectedToken is one serviceAccountToken source of a projected volume.
type projectedToken struct {
	volume string
	src    corev1.ServiceAccountTokenProjection
}

// projectedTokens lists every serviceAccountToken source of the pod's
// projected volumes.
func (p *podRuntime) projectedTokens() []projectedToken {
	var out []projectedToken
	for _, v := range p.spec.Spec.Volumes {
		if v.Projected == nil {
			continue
		}
		for _, s := range v.Projected.Sources {
			if s.ServiceAccountToken != nil {
				out = append(out, projectedToken{volume: v.Name, src: *s.ServiceAccountToken})
			}
		}
	}
	return out
}

func (p *podRuntime) saDir() string          { return filepath.Join(p.dir, "serviceaccount") }
func (p *podRuntime) kubeconfigPath() string { return filepath.Join(p.dir, "kubeconfig") }

// volumeDir is where a projected volume's files are: processes have no
// mount namespace, so the container's mountPath is mapped here (mountPaths).
// The admission plugin's API credentials volume is the serviceaccount
// directory, with the kubelet's layout (token, ca.crt, namespace).
func (p *podRuntime) volumeDir(volume string) string {
	if isAPIAccessVolume(volume) {
		return p.saDir()
	}
	return filepath.Join(p.dir, "volumes", volume)
}

func isAPIAccessVolume(name string) bool { return strings.HasPrefix(name, "kube-api-access-") }

// needsCredentials reports whether the pod gets any token.
func (p *podRuntime) needsCredentials() bool { return len(p.projectedTokens()) > 0 }

// writeCredentials writes the pod's tokens and returns when the first of
// them expires: the API credentials when automounting is on (below), and
// each projected serviceAccountToken source as the kubelet does, a
// pod-bound token of the pod's ServiceAccount for the source's audience
// (the API server's when empty) and expirationSeconds (default 1h), in
// its volume at its path.
func (p *podRuntime) writeCredentials(ctx context.Context) (time.Time, error) {
	var first time.Time
	sooner := func(t time.Time) {
		if first.IsZero() || t.Before(first) {
			first = t
		}
	}
	if p.automount() {
		exp, err := p.writeAPICredentials(ctx)
		if err != nil {
			return time.Time{}, err
		}
		sooner(exp)
	}
	for _, t := range p.projectedTokens() {
		if t.src.Audience == "" && t.src.Path == "token" && isAPIAccessVolume(t.volume) {
			continue // the API credentials, written above
		}
		var auds []string
		if t.src.Audience != "" {
			auds = []string{t.src.Audience}
		}
		token, exp, err := p.requestToken(ctx, auds, ptr.Deref(t.src.ExpirationSeconds, int64(tokenLifetime.Seconds())))
		if err != nil {
			return time.Time{}, fmt.Errorf("volume %s: %w", t.volume, err)
		}
		file, err := volumeFile(p.volumeDir(t.volume), t.src.Path)
		if err != nil {
			return time.Time{}, fmt.Errorf("volume %s: %w", t.volume, err)
		}
		if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
			return time.Time{}, err
		}
		if err := writeAtomic(file, []byte(token)); err != nil {
			return time.Time{}, err
		}
		sooner(exp)
	}
	return first, nil
}

// volumeFile is path inside dir, refusing paths that leave it (the API
// server validates them too).
func volumeFile(dir, path string) (string, error) {
	clean := filepath.Clean(path)
	if path == "" || filepath.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, "../") {
		return "", fmt.Errorf("path %q is not inside the volume", path)
	}
	return filepath.Join(dir, clean), nil
}

// requestToken asks for a token of the pod's ServiceAccount, bound to the
// pod.
func (p *podRuntime) requestToken(ctx context.Context, audiences []string, seconds int64) (string, time.Time, error) {
	sa := p.spec.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	tr := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		Audiences:         audiences,
		ExpirationSeconds: ptr.To(seconds),
		BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: p.key.Name, UID: p.uid},
	}}
	obj := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: sa, Namespace: p.key.Namespace}}
	if err := p.agent.client.SubResource("token").Create(ctx, obj, tr); err != nil {
		return "", time.Time{}, fmt.Errorf("requesting a token for service account %s/%s: %w", p.key.Namespace, sa, err)
	}
	return tr.Status.Token, tr.Status.ExpirationTimestamp.Time, nil
}

// writeAPICredentials requests a pod-bound token for the pod's
// ServiceAccount and writes it, with the CA and namespace, the way the
// kubelet projects them, plus a kubeconfig that reads the token file
// (client-go re-reads it, so refreshed tokens are picked up).
func (p *podRuntime) writeAPICredentials(ctx context.Context) (time.Time, error) {
	sa := p.spec.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	token, expiry, err := p.requestToken(ctx, []string{"https://kubernetes.default.svc"}, int64(tokenLifetime.Seconds()))
	if err != nil {
		return time.Time{}, err
	}
	if err := os.MkdirAll(p.saDir(), 0o700); err != nil {
		return time.Time{}, err
	}
	files := map[string]string{
		"token":     token,
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
	return expiry, nil
}

// mountPaths rewrites the arguments of a container that name a file under
// the mountPath of one of the pod's projected volumes ("/var/run/x/token"
// or "--flag=/var/run/x/token") to the volume's directory on this node:
// processes share the host's filesystem, so this is how a container finds
// what the kubelet would have mounted.
func (p *podRuntime) mountPaths(c *corev1.Container, args []string) []string {
	projected := map[string]bool{}
	for _, v := range p.spec.Spec.Volumes {
		projected[v.Name] = v.Projected != nil
	}
	mapPath := func(s string) string {
		for _, m := range c.VolumeMounts {
			mp := strings.TrimSuffix(m.MountPath, "/")
			if !projected[m.Name] || mp == "" {
				continue
			}
			if rest, ok := strings.CutPrefix(s, mp); ok && (rest == "" || rest[0] == '/') {
				return filepath.Join(p.volumeDir(m.Name), m.SubPath) + rest
			}
		}
		return s
	}
	out := make([]string, len(args))
	for i, a := range args {
		if k, v, ok := strings.Cut(a, "="); ok && strings.HasPrefix(k, "-") {
			out[i] = k + "=" + mapPath(v)
			continue
		}
		out[i] = mapPath(a)
	}
	return out
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
