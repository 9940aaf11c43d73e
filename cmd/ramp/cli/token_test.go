package cli

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	autoscaling "github.com/rampdev/ramp/controllers/autoscaler"
	"github.com/rampdev/ramp/serving/apiauth"
)

// telemetryAccount creates what the chart does for the CLI: ServiceAccount
// ramp-telemetry in ramp-system, allowed to read telemetry.
func (s *suite) telemetryAccount(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	s.namespace(t, "ramp-system")
	for _, obj := range []client.Object{
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "ramp-system", Name: telemetryServiceAccount}},
		&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "ramp-telemetry"}, Rules: []rbacv1.PolicyRule{{
			APIGroups: []string{"serving.ramp.dev"}, Resources: []string{"revisions/telemetry"}, Verbs: []string{"get", "list"}}}},
		&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "ramp-telemetry"},
			RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "ramp-telemetry"},
			Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Namespace: "ramp-system", Name: telemetryServiceAccount}}},
	} {
		if err := s.k8s.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}
}

// guarded puts the autoscaler API's own authentication in front of h,
// reviewing tokens with the suite's API server.
func (s *suite) guarded(t *testing.T, h http.Handler) http.Handler {
	t.Helper()
	a, err := apiauth.New(apiauth.Options{Audience: apiauth.AutoscalerAudience, Reviewer: apiauth.ClientReviewer{Client: s.k8s}})
	if err != nil {
		t.Fatal(err)
	}
	return a.Handler(h, autoscaling.Access)
}

func (s *suite) testTelemetryTokens(t *testing.T) {
	queries := make(chan string, 10)
	srv := httptest.NewServer(s.guarded(t, fakeAutoscaler(queries)))
	defer srv.Close()

	t.Run("the API refuses a request without a token", func(t *testing.T) {
		resp, err := http.Get(srv.URL + autoscaling.RevisionsPath)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("status %d, want 401: the fake is not guarded", resp.StatusCode)
		}
	})
	t.Run("--token-file is sent instead", func(t *testing.T) {
		tr := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
			Audiences: []string{apiauth.AutoscalerAudience}, ExpirationSeconds: ptr.To[int64](600)}}
		sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "ramp-system", Name: telemetryServiceAccount}}
		if err := s.k8s.SubResource("token").Create(context.Background(), sa, tr); err != nil {
			t.Fatal(err)
		}
		good := filepath.Join(t.TempDir(), "token")
		bad := filepath.Join(t.TempDir(), "token")
		if os.WriteFile(good, []byte(tr.Status.Token+"\n"), 0o600) != nil || os.WriteFile(bad, []byte("forged"), 0o600) != nil {
			t.Fatal("writing token files")
		}
		// No kubeconfig is needed with --autoscaler-url and -n.
		home := t.TempDir()
		t.Setenv("KUBECONFIG", filepath.Join(home, "missing"))
		t.Setenv("HOME", home)
		t.Setenv("KUBERNETES_SERVICE_HOST", "")
		run := func(args ...string) error {
			return execute(context.Background(), newRootCommand("ramp"), args, &syncBuffer{}, &syncBuffer{})
		}
		if err := run("telemetry", "web-00002", "-n", "team-a", "--autoscaler-url", srv.URL, "--token-file", good); err != nil {
			t.Errorf("with a good token file: %v", err)
		} else if q := <-queries; !strings.HasPrefix(q, "/api/v1/telemetry/team-a/web-00002") {
			t.Errorf("query %s", q)
		}
		if err := run("telemetry", "web-00002", "-n", "team-a", "--autoscaler-url", srv.URL, "--token-file", bad); err == nil ||
			!strings.Contains(err.Error(), "401 Unauthorized") {
			t.Errorf("with a forged token: %v", err)
		}
		if err := run("telemetry", "web-00002", "-n", "team-a", "--autoscaler-url", srv.URL); !errors.Is(err, errNoTelemetryToken) ||
			!strings.Contains(err.Error(), "pass --token-file, or a kubeconfig") {
			t.Errorf("with neither a token file nor a kubeconfig: %v", err)
		}
	})
	t.Run("a namespace without the ServiceAccount", func(t *testing.T) {
		r := s.run(t, "telemetry", "web-00002", "--autoscaler-url", srv.URL, "--controller-namespace", "elsewhere")
		if !errors.Is(r.err, errNoTelemetryToken) || !strings.Contains(r.err.Error(), "no ServiceAccount ramp-telemetry in namespace elsewhere") {
			t.Errorf("got %v", r.err)
		}
	})
	t.Run("a user who may not request the token is told which permission", func(t *testing.T) {
		c := interceptor.NewClient(adminClient(t, s), interceptor.Funcs{
			SubResourceCreate: func(context.Context, client.Client, string, client.Object, client.Object, ...client.SubResourceCreateOption) error {
				return apierrors.NewForbidden(schema.GroupResource{Resource: "serviceaccounts/token"}, "ramp-telemetry", errors.New("RBAC: no"))
			}})
		_, err := requestTelemetryToken(context.Background(), c, "ramp-system")
		if !errors.Is(err, errNoTelemetryToken) || !strings.Contains(err.Error(), "create on serviceaccounts/token (resourceNames [ramp-telemetry]) in namespace ramp-system") ||
			!strings.Contains(err.Error(), "--role=ramp-telemetry-token") {
			t.Errorf("got %v", err)
		}
	})
}

func adminClient(t *testing.T, s *suite) client.WithWatch {
	t.Helper()
	k, err := (&kubeOptions{kubeconfig: s.kubeconfig}).connect(os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	return k.client
}
