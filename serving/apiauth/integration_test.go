package apiauth_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/rampdev/ramp/serving/apiauth"
	"github.com/rampdev/ramp/test/framework"
)

// Against a real API server (TokenReview, SubjectAccessReview, RBAC): an
// anonymous request and one with a token of the API server's audience are
// refused with 401, another account's token with 403, all three logged
// without the token; the gateway's pod-bound token is let through, until
// its pod is gone.
func TestAgainstTheAPIServer(t *testing.T) {
	env := framework.StartEnvtest(t, nil)
	ctx := context.Background()
	c := env.Client
	ns := "ramp-system"
	for _, obj := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "ramp-gateway"}},
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "intruder"}},
		&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "activator"}, Rules: []rbacv1.PolicyRule{{
			APIGroups: []string{apiauth.Group}, Resources: []string{"revisions/activate"}, Verbs: []string{"create"}}}},
		&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "activator"},
			RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "activator"},
			Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Namespace: ns, Name: "ramp-gateway"}}},
	} {
		if err := c.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "ramp-gateway-0"},
		Spec: corev1.PodSpec{ServiceAccountName: "ramp-gateway", Containers: []corev1.Container{{Name: "gateway", Image: "ramp/gateway"}}}}
	if err := c.Create(ctx, pod); err != nil {
		t.Fatal(err)
	}
	token := func(sa string, audiences []string, bound *corev1.Pod) string {
		tr := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{Audiences: audiences, ExpirationSeconds: ptr.To[int64](600)}}
		if bound != nil {
			tr.Spec.BoundObjectRef = &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: bound.Name, UID: bound.UID}
		}
		if err := c.SubResource("token").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: sa}}, tr); err != nil {
			t.Fatal(err)
		}
		return tr.Status.Token
	}
	gateway := token("ramp-gateway", []string{apiauth.AutoscalerAudience}, pod)
	apiServer := token("ramp-gateway", nil, pod) // the API server's audience
	otherAPI := token("ramp-gateway", []string{apiauth.GatewayAudience}, pod)
	intruder := token("intruder", []string{apiauth.AutoscalerAudience}, nil)

	var mu sync.Mutex
	var logs []string
	log := funcr.New(func(_, args string) { mu.Lock(); logs = append(logs, args); mu.Unlock() }, funcr.Options{})
	clk := clocktesting.NewFakeClock(time.Now())
	auth, err := apiauth.New(apiauth.Options{Audience: apiauth.AutoscalerAudience, Reviewer: apiauth.ClientReviewer{Client: c}, Clock: clk, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(auth.Handler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusAccepted)
	}), func(*http.Request) apiauth.Access {
		return apiauth.Access{Attributes: &authorizationv1.ResourceAttributes{Namespace: "default", Name: "web-00001", Verb: "create",
			Group: apiauth.Group, Resource: apiauth.Revisions, Subresource: apiauth.SubresourceActivate}}
	}))
	defer srv.Close()
	post := func(token string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/activate/default/web-00001", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	for _, tc := range []struct {
		name, token string
		want        int
		wantBody    string
	}{
		{"no token", "", 401, "no bearer token"},
		{"the API server's audience", apiServer, 401, "invalid token"},
		{"another Ramp API's audience", otherAPI, 401, "invalid token"},
		{"an account without the role", intruder, 403, "system:serviceaccount:ramp-system:intruder may not create serving.ramp.dev revisions/activate default/web-00001"},
		{"the gateway's pod-bound token", gateway, 202, ""},
	} {
		if code, body := post(tc.token); code != tc.want || !strings.Contains(body, tc.wantBody) {
			t.Errorf("%s: %d %q, want %d and %q", tc.name, code, body, tc.want, tc.wantBody)
		}
	}
	mu.Lock()
	all := strings.Join(logs, "\n")
	mu.Unlock()
	for _, want := range []string{`"msg"="Refused an unauthenticated request" "reason"="no bearer token"`,
		`"msg"="Refused an unauthorized request" "user"="system:serviceaccount:ramp-system:intruder"`} {
		if !strings.Contains(all, want) {
			t.Errorf("logs lack %s:\n%s", want, all)
		}
	}
	for _, tok := range []string{gateway, apiServer, intruder} {
		if strings.Contains(all, tok) {
			t.Error("a token is in the log")
		}
	}

	// When the gateway's pod is deleted, its token stops working once the
	// cached answer expires.
	if err := c.Delete(ctx, pod, client.GracePeriodSeconds(0)); err != nil {
		t.Fatal(err)
	}
	if err := framework.Poll(ctx, 30*time.Second, 100*time.Millisecond, func(ctx context.Context) error {
		return client.IgnoreNotFound(c.Get(ctx, client.ObjectKeyFromObject(pod), &corev1.Pod{}))
	}); err != nil {
		t.Logf("pod still present: %v", err)
	}
	if code, _ := post(gateway); code != 202 {
		t.Errorf("within the cache's minute: %d, want the cached 202", code)
	}
	// (The API server trusts a token it checked for 10 s of real time.)
	err = framework.Poll(ctx, 30*time.Second, time.Second, func(context.Context) error {
		clk.Step(time.Minute)
		if code, body := post(gateway); code != 401 {
			return fmt.Errorf("%d %q, want 401", code, body)
		}
		return nil
	})
	if err != nil {
		t.Errorf("after the pod was deleted and the cache expired: %v", err)
	}
}
