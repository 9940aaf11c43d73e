package autoscaler

import (
	"net/http"
	"strings"

	authorizationv1 "k8s.io/api/authorization/v1"

	"github.com/rampdev/ramp/serving/apiauth"
)

// Access is what each endpoint of Handler requires of its caller, for
// apiauth.Authenticator: a ServiceAccount token for
// apiauth.AutoscalerAudience whose account RBAC allows
//
//   - POST ActivatePath<ns>/<rev>: create serving.ramp.dev revisions/activate
//     on that revision (the chart grants it to the gateway);
//   - GET RevisionsPath: list serving.ramp.dev revisions/telemetry in every
//     namespace;
//   - GET TelemetryPath and SeriesPath <ns>/<rev>: get serving.ramp.dev
//     revisions/telemetry on that revision (the chart grants both to
//     ServiceAccount ramp-telemetry, whose tokens `ramp telemetry` and
//     `ramp analysis record` request).
//
// /healthz is public. Any other request is no endpoint; the mapping mirrors
// Handler's patterns and refuses what they would not route.
func Access(r *http.Request) apiauth.Access {
	p := r.URL.Path
	get := r.Method == http.MethodGet || r.Method == http.MethodHead
	switch {
	case p == "/healthz" && get:
		return apiauth.Access{Public: true}
	case p == RevisionsPath && get:
		return access("list", apiauth.SubresourceTelemetry, "", "")
	case r.Method == http.MethodPost && strings.HasPrefix(p, ActivatePath):
		if ns, rev, ok := namespaceAndName(p[len(ActivatePath):]); ok {
			return access("create", apiauth.SubresourceActivate, ns, rev)
		}
	case get && strings.HasPrefix(p, TelemetryPath):
		if ns, rev, ok := namespaceAndName(p[len(TelemetryPath):]); ok {
			return access("get", apiauth.SubresourceTelemetry, ns, rev)
		}
	case get && strings.HasPrefix(p, SeriesPath):
		if ns, rev, ok := namespaceAndName(p[len(SeriesPath):]); ok {
			return access("get", apiauth.SubresourceTelemetry, ns, rev)
		}
	}
	return apiauth.Access{}
}

func access(verb, sub, ns, name string) apiauth.Access {
	return apiauth.Access{Attributes: &authorizationv1.ResourceAttributes{
		Verb: verb, Group: apiauth.Group, Resource: apiauth.Revisions, Subresource: sub, Namespace: ns, Name: name,
	}}
}

// namespaceAndName splits "<ns>/<name>", both non-empty and neither with
// another slash.
func namespaceAndName(s string) (string, string, bool) {
	ns, name, ok := strings.Cut(s, "/")
	if !ok || ns == "" || name == "" || strings.Contains(name, "/") {
		return "", "", false
	}
	return ns, name, true
}
