package rollout_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/rampdev/ramp/analysis"
	rolloutsv1alpha1 "github.com/rampdev/ramp/apis/rollouts/v1alpha1"
	"github.com/rampdev/ramp/controllers/rollout"
)

// okServer plays a metrics API on 127.0.0.1: /api/ok?rev=<revision>
// answers {"data":{"ok":<the revision's value>}} to requests with the
// right bearer token, and 401 to others.
type okServer struct {
	*httptest.Server
	mu     sync.Mutex
	values map[string]string
	asked  map[string]int
	denied int
}

func newOKServer(t *testing.T, token string) *okServer {
	t.Helper()
	s := &okServer{values: map[string]string{}, asked: map[string]int{}}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if r.Header.Get("Authorization") != "Bearer "+token {
			s.denied++
			http.Error(w, `{"error":"unauthorized"}`, http.StatusUnauthorized)
			return
		}
		rev := r.URL.Query().Get("rev")
		s.asked[rev]++
		v, ok := s.values[rev]
		if r.URL.Path != "/api/ok" || !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = fmt.Fprintf(w, `{"data":{"ok":%s}}`, v)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *okServer) set(rev, value string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.values[rev] = value
}

func (s *okServer) requests(rev string) (asked, denied int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.asked[rev], s.denied
}

// testWebMetric: a Rollout judged by a web metric (with a bearer token
// from a Secret) against a real HTTP server, measured by the controller's
// own providers: a good canary is promoted, a bad one rolls back after
// failureLimit failed looks.
func testWebMetric(t *testing.T, h *harness) {
	// Given a metrics API that knows the first two revisions' success
	// rates, and a Secret holding its token.
	ns := newNamespace(t)
	srv := newOKServer(t, "t0ken")
	srv.set("web-00001", "0.98")
	srv.set("web-00002", "0.99")
	must(t, k8s.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "metrics-api"},
		StringData: map[string]string{"token": "Bearer t0ken"}}))
	providers, err := rollout.Providers(nil, analysis.PrometheusConfig{})
	must(t, err)
	h.analyzer.measureWith(ns, rollout.ProviderAnalyzer{Providers: providers})

	// And a Rollout whose analysis is a web metric: at least 0.95, two
	// failed looks in a row roll back.
	ro := MakeRollout(ns, "web", "v1").Steps("50", "100").Analysis().Obj()
	ro.Spec.Analysis.FailureLimit = 2
	ro.Spec.Analysis.Metrics = []rolloutsv1alpha1.Metric{{
		Name: "checkout-ok",
		Min:  ptr.To(rolloutsv1alpha1.Threshold("0.95")),
		Web: &rolloutsv1alpha1.WebMetric{
			URL:      srv.URL + "/api/ok?rev={{.Revision}}",
			JSONPath: "$.data.ok",
			Headers: []rolloutsv1alpha1.WebHeader{{Name: "Authorization", ValueFrom: &rolloutsv1alpha1.WebHeaderSource{
				SecretKeyRef: rolloutsv1alpha1.KeyRef{Name: "metrics-api", Key: "token"}}}},
		},
	}}
	stable := deployHealthy(t, ro)

	// When a good revision rolls out, its looks pass on the metric, each
	// side measured with its own request, and it is promoted.
	good := newRevision(t, ro, "v2")
	promoted := waitFor(t, ro, healthyWith(good))
	passed := false
	for _, m := range promoted.Status.Measurements {
		passed = passed || (m.Phase == "Pass" && m.Message == "checkout-ok: canary 0.99 within min 0.95 (stable 0.98)")
	}
	if !passed {
		t.Errorf("no passing look on the web metric: %+v", promoted.Status.Measurements)
	}
	if asked, denied := srv.requests(good); asked == 0 || denied != 0 {
		t.Errorf("the API was asked %d times about %s and refused %d requests, want asked with the token", asked, good, denied)
	}
	if asked, _ := srv.requests(stable); asked == 0 {
		t.Errorf("the stable %s was never measured", stable)
	}

	// When a bad revision rolls out, each look fails, and the second in a
	// row rolls back.
	srv.set("web-00003", "0.5")
	bad := newRevision(t, ro, "v3")
	if bad != "web-00003" {
		t.Fatalf("canary %s, want web-00003", bad)
	}
	got := waitFor(t, ro, func(st *rolloutsv1alpha1.RolloutStatus) error {
		if st.Phase != rolloutsv1alpha1.PhaseRolledBack {
			return fmt.Errorf("phase %s (%s), want RolledBack", st.Phase, st.Message)
		}
		return nil
	})
	want := "2 consecutive failed measurements: checkout-ok: canary 0.5 < min 0.95 (stable 0.99)"
	if !strings.HasPrefix(got.Status.Message, "Rolled back to "+good) || !strings.HasSuffix(got.Status.Message, want) {
		t.Errorf("message %q, want a rollback to %s after %q", got.Status.Message, good, want)
	}

	// When the API cannot answer (an unknown revision), the look is an
	// Error naming the metric and the URL, never a pass.
	newRevision(t, ro, "v4")
	waitFor(t, ro, func(st *rolloutsv1alpha1.RolloutStatus) error {
		for _, m := range st.Measurements {
			if m.Phase == "Error" && strings.Contains(m.Message, "checkout-ok: measuring: canary: GET "+srv.URL+"/api/ok?rev=redacted: answered 404 Not Found, want 2xx") {
				return nil
			}
		}
		return fmt.Errorf("no Error look naming the metric and the URL (phase %s): %+v", st.Phase, st.Measurements)
	})
}
