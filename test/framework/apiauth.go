package framework

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"
)

// SystemNamespace is where the in-process controller and gateway run, as
// the chart's release namespace.
const SystemNamespace = "ramp-system"

// accountKinds are the objects of the chart that installAccounts applies.
var accountKinds = map[string]bool{"ServiceAccount": true, "ClusterRole": true, "ClusterRoleBinding": true, "Role": true, "RoleBinding": true}

// installAccounts creates the chart's ServiceAccounts and RBAC (rendered
// with bin/helm, release namespace SystemNamespace), so that the tokens the
// in-process components send are authorized exactly as in an install.
func (c *Cluster) installAccounts(ctx context.Context) error {
	root, err := RepoRoot()
	if err != nil {
		return err
	}
	if err := requireBinaries(c.BinDir, "helm"); err != nil {
		return err
	}
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, filepath.Join(c.BinDir, "helm"), "template", "ramp", filepath.Join(root, "charts", "ramp"),
		"--namespace", SystemNamespace)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("helm template: %w: %s", err, stderr.String())
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: SystemNamespace}}
	if err := c.Client.Create(ctx, ns); client.IgnoreAlreadyExists(err) != nil {
		return err
	}
	n := 0
	for _, doc := range strings.Split("\n"+string(out), "\n---\n") {
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
			return fmt.Errorf("the chart's rendering: %w", err)
		}
		if !accountKinds[u.GetKind()] {
			continue
		}
		if err := c.Client.Create(ctx, u); client.IgnoreAlreadyExists(err) != nil {
			return fmt.Errorf("creating %s %s: %w", u.GetKind(), u.GetName(), err)
		}
		n++
	}
	if n == 0 {
		return fmt.Errorf("the chart rendered no ServiceAccount or RBAC")
	}
	return nil
}

// ServiceAccountToken requests a token of ServiceAccount ns/name for
// audience (none: the API server's), valid for an hour.
func (c *Cluster) ServiceAccountToken(ctx context.Context, ns, name, audience string) (string, error) {
	tr := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}}
	if audience != "" {
		tr.Spec.Audiences = []string{audience}
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	if err := c.Client.SubResource("token").Create(ctx, sa, tr); err != nil {
		return "", fmt.Errorf("requesting a token of %s/%s: %w", ns, name, err)
	}
	return tr.Status.Token, nil
}

// tokenFile writes a token of the chart's ServiceAccount sa for audience
// into the cluster's directory and renews it every 20 minutes until ctx
// ends, as the kubelet renews a projected token; it returns the file.
// (The in-process components run in no pod, so the token is not
// pod-bound.)
func (c *Cluster) tokenFile(ctx context.Context, sa, audience string) (string, error) {
	path := filepath.Join(c.Dir(), "tokens", sa+"-"+audience, "token")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", err
	}
	write := func(ctx context.Context) error {
		token, err := c.ServiceAccountToken(ctx, SystemNamespace, sa, audience)
		if err != nil {
			return err
		}
		if err := os.WriteFile(path+".tmp", []byte(token), 0o600); err != nil {
			return err
		}
		return os.Rename(path+".tmp", path)
	}
	if err := write(ctx); err != nil {
		return "", err
	}
	go func() {
		t := time.NewTicker(20 * time.Minute)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if err := write(ctx); err != nil && ctx.Err() == nil {
					fmt.Fprintf(os.Stderr, "renewing the token of %s for %s: %v\n", sa, audience, err)
				}
			}
		}
	}()
	return path, nil
}

// Request sends method to url, which must be on loopback, with a bearer
// token (none when empty), and returns status and body.
func Request(ctx context.Context, method, url, token string) (int, string, error) {
	if !strings.HasPrefix(url, "http://127.") {
		return 0, "", fmt.Errorf("refusing to send test traffic to %s: tests only target 127.0.0.0/8", url)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		return 0, "", err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(b), err
}
