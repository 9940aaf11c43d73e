package gateway

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap/zaptest"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"

	"github.com/rampdev/ramp/serving/apiauth"
	"github.com/rampdev/ramp/serving/gateway/routing"
)

// reviewer knows two tokens for the gateway's audience: the controller's,
// which may list routes/hashes, and another account's, which may not.
type reviewer struct{}

func (reviewer) ReviewToken(_ context.Context, spec authenticationv1.TokenReviewSpec) (authenticationv1.TokenReviewStatus, error) {
	users := map[string]string{"controller-token": "system:serviceaccount:ramp-system:ramp-controller",
		"other-token": "system:serviceaccount:default:other"}
	u, ok := users[spec.Token]
	if !ok || len(spec.Audiences) != 1 || spec.Audiences[0] != apiauth.GatewayAudience {
		return authenticationv1.TokenReviewStatus{Error: "invalid"}, nil
	}
	return authenticationv1.TokenReviewStatus{Authenticated: true, User: authenticationv1.UserInfo{Username: u}, Audiences: spec.Audiences}, nil
}

func (reviewer) ReviewAccess(_ context.Context, spec authorizationv1.SubjectAccessReviewSpec) (authorizationv1.SubjectAccessReviewStatus, error) {
	a := spec.ResourceAttributes
	ok := spec.User == "system:serviceaccount:ramp-system:ramp-controller" &&
		a.Verb == "list" && a.Group == "serving.ramp.dev" && a.Resource == "routes" && a.Subresource == "hashes"
	return authorizationv1.SubjectAccessReviewStatus{Allowed: ok}, nil
}

// The admin port answers probes and scrapes to anyone, and route hashes
// only to the controller.
func TestAdminAPIRequiresTheControllersToken(t *testing.T) {
	ip := fmt.Sprintf("127.94.%d.%d", rand.IntN(256), 1+rand.IntN(254))
	log := zaptest.NewLogger(t)
	auth, err := newAdminAuth(reviewer{}, log)
	if err != nil {
		t.Fatal(err)
	}
	rec := NewRecorder(prometheus.NewRegistry())
	router := routing.NewRouter(rec)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- serve(ctx, Options{IP: ip, DrainDelay: time.Millisecond}, log, servingState{
			router: router, activator: routing.NewActivator(router, routing.ActivatorConfig{}), recorder: rec,
			registry: prometheus.NewRegistry(), synced: func() bool { return true },
			hashes: func() map[string]string { return map[string]string{"ns/r": "h1"} }, adminAuth: auth,
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	base := fmt.Sprintf("http://%s:%d", ip, AdminPort)
	waitFor(t, "the admin port", func() bool {
		c, err := net.Dial("tcp", net.JoinHostPort(ip, fmt.Sprint(AdminPort)))
		if err == nil {
			_ = c.Close()
		}
		return err == nil
	})
	get := func(path, token string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, base+path, nil)
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
		path, token string
		want        int
		wantBody    string
	}{
		{"/ready", "", 200, "ready"},
		{"/metrics", "", 200, ""},
		{HashesPath, "", 401, "audience gateway.ramp.dev"},
		{HashesPath, "forged", 401, "invalid"},
		{HashesPath, "other-token", 403, "system:serviceaccount:default:other may not list serving.ramp.dev routes/hashes"},
		{HashesPath, "controller-token", 200, `{"ns/r":"h1"}`},
		{"/debug", "controller-token", 404, ""},
	} {
		code, body := get(tc.path, tc.token)
		if code != tc.want || !strings.Contains(body, tc.wantBody) {
			t.Errorf("GET %s with token %q: %d %q, want %d and %q", tc.path, tc.token, code, body, tc.want, tc.wantBody)
		}
	}
}

// Activation signals carry the gateway's token; without one the signal
// fails and says why.
func TestSignalSendsTheGatewaysToken(t *testing.T) {
	got := make(chan string, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Get("Authorization")
		if r.Header.Get("Authorization") != "Bearer gateway-token" {
			http.Error(w, "Unauthorized: no bearer token", http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	s := NewHTTPSignaller(StaticResolver{srv.URL}, zaptest.NewLogger(t))
	s.Token = apiauth.StaticToken("gateway-token")
	if err := s.signal(context.Background(), "ns", "rev"); err != nil {
		t.Fatalf("signal: %v", err)
	}
	if h := <-got; h != "Bearer gateway-token" {
		t.Errorf("Authorization %q", h)
	}
	s.Token = apiauth.StaticToken("stale")
	if err := s.signal(context.Background(), "ns", "rev"); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("a refused token: %v", err)
	}
	<-got
	s.Token = apiauth.NewTokenFile("/nonexistent/token")
	if err := s.signal(context.Background(), "ns", "rev"); err == nil || !strings.Contains(err.Error(), "the gateway's token for the autoscaler") {
		t.Errorf("an unreadable token file: %v", err)
	}
}

func TestRunNeedsATokenForTheAutoscaler(t *testing.T) {
	if _, err := autoscalerToken(Options{AutoscalerService: "ramp-system/ramp-autoscaler"}); err == nil ||
		!strings.Contains(err.Error(), "--autoscaler-token-file") {
		t.Errorf("got %v", err)
	}
	if src, err := autoscalerToken(Options{AutoscalerTokenFile: "/t"}); err != nil || src.(*apiauth.TokenFile).Path != "/t" {
		t.Errorf("got %v, %v", src, err)
	}
}
