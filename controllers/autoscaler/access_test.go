package autoscaler

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/google/go-cmp/cmp"
	authorizationv1 "k8s.io/api/authorization/v1"

	"github.com/rampdev/ramp/serving/apiauth"
)

func TestAccess(t *testing.T) {
	attrs := func(verb, sub, ns, name string) *authorizationv1.ResourceAttributes {
		return &authorizationv1.ResourceAttributes{Verb: verb, Group: "serving.ramp.dev", Resource: "revisions", Subresource: sub,
			Namespace: ns, Name: name}
	}
	tests := map[string]struct {
		method, path string
		want         apiauth.Access
	}{
		"activation":          {"POST", "/activate/default/web-00001", apiauth.Access{Attributes: attrs("create", "activate", "default", "web-00001")}},
		"every revision":      {"GET", "/api/v1/revisions", apiauth.Access{Attributes: attrs("list", "telemetry", "", "")}},
		"telemetry":           {"GET", "/api/v1/telemetry/team-a/web-00002", apiauth.Access{Attributes: attrs("get", "telemetry", "team-a", "web-00002")}},
		"series":              {"GET", "/api/v1/series/team-a/web-00002", apiauth.Access{Attributes: attrs("get", "telemetry", "team-a", "web-00002")}},
		"HEAD is a GET":       {"HEAD", "/api/v1/telemetry/a/b", apiauth.Access{Attributes: attrs("get", "telemetry", "a", "b")}},
		"health probe":        {"GET", "/healthz", apiauth.Access{Public: true}},
		"activation by GET":   {"GET", "/activate/default/web-00001", apiauth.Access{}},
		"telemetry by POST":   {"POST", "/api/v1/telemetry/a/b", apiauth.Access{}},
		"no revision":         {"POST", "/activate/default/", apiauth.Access{}},
		"no namespace":        {"POST", "/activate//web", apiauth.Access{}},
		"an escaped slash":    {"POST", "/activate/a%2Fb/c", apiauth.Access{}},
		"a third segment":     {"GET", "/api/v1/series/a/b/c", apiauth.Access{}},
		"an unknown path":     {"GET", "/debug/pprof/", apiauth.Access{}},
		"probe by POST":       {"POST", "/healthz", apiauth.Access{}},
		"revisions, a prefix": {"GET", "/api/v1/revisionsX", apiauth.Access{}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := Access(httptest.NewRequest(tc.method, tc.path, nil))
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("Access(%s %s) (-want +got):\n%s", tc.method, tc.path, d)
			}
		})
	}
}

// Every route of Handler has a rule: a request the rule calls no endpoint
// is one the mux does not serve either.
func TestAccessCoversEveryRoute(t *testing.T) {
	h := (&Autoscaler{}).Handler().(*http.ServeMux)
	for _, req := range []*http.Request{
		httptest.NewRequest(http.MethodPost, ActivatePath+"ns/rev", nil),
		httptest.NewRequest(http.MethodGet, RevisionsPath, nil),
		httptest.NewRequest(http.MethodGet, TelemetryPath+"ns/rev", nil),
		httptest.NewRequest(http.MethodGet, SeriesPath+"ns/rev", nil),
		httptest.NewRequest(http.MethodGet, "/healthz", nil),
	} {
		if _, pattern := h.Handler(req); pattern == "" {
			t.Errorf("%s %s: the mux has no route (the test is stale)", req.Method, req.URL.Path)
		}
		if acc := Access(req); !acc.Public && acc.Attributes == nil {
			t.Errorf("%s %s: routed, but Access has no rule for it", req.Method, req.URL.Path)
		}
	}
}
