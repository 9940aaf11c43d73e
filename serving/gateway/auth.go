package gateway

import (
	"fmt"
	"net/http"

	"github.com/go-logr/zapr"
	"go.uber.org/zap"
	authorizationv1 "k8s.io/api/authorization/v1"

	"github.com/rampdev/ramp/serving/apiauth"
)

// The gateway's admin API reviews its callers' tokens and access, and the
// gateway asks the autoscaler to activate revisions.
//
// +kubebuilder:rbac:groups=authentication.k8s.io,resources=tokenreviews,verbs=create
// +kubebuilder:rbac:groups=authorization.k8s.io,resources=subjectaccessreviews,verbs=create
// +kubebuilder:rbac:groups=serving.ramp.dev,resources=revisions/activate,verbs=create

// adminAccess is what each endpoint of the admin port requires of its
// caller (serving/apiauth): /ready (the kubelet's probe, which sends no
// token) and /metrics (Prometheus scrapes; gate it with the chart's
// NetworkPolicy and metricsFrom) are public; HashesPath, which lists every
// route's applied routing table, needs a ServiceAccount token for
// apiauth.GatewayAudience whose account may list serving.ramp.dev
// routes/hashes (the chart grants it to the controller).
func adminAccess(r *http.Request) apiauth.Access {
	get := r.Method == http.MethodGet || r.Method == http.MethodHead
	switch {
	case get && (r.URL.Path == "/ready" || r.URL.Path == "/metrics"):
		return apiauth.Access{Public: true}
	case get && r.URL.Path == HashesPath:
		return apiauth.Access{Attributes: &authorizationv1.ResourceAttributes{
			Verb: "list", Group: apiauth.Group, Resource: apiauth.Routes, Subresource: apiauth.SubresourceHashes,
		}}
	}
	return apiauth.Access{}
}

// newAdminAuth wraps the admin API in an authenticator that reviews
// through reviewer.
func newAdminAuth(reviewer apiauth.Reviewer, log *zap.Logger) (func(http.Handler) http.Handler, error) {
	a, err := apiauth.New(apiauth.Options{Audience: apiauth.GatewayAudience, Reviewer: reviewer, Log: zapr.NewLogger(log)})
	if err != nil {
		return nil, err
	}
	return func(h http.Handler) http.Handler { return a.Handler(h, adminAccess) }, nil
}

// autoscalerToken is the gateway's token for the autoscaler API.
func autoscalerToken(o Options) (apiauth.TokenSource, error) {
	if o.AutoscalerToken != nil {
		return o.AutoscalerToken, nil
	}
	if o.AutoscalerTokenFile == "" {
		return nil, fmt.Errorf("an autoscaler is configured but no token for it: set --autoscaler-token-file (Options.AutoscalerTokenFile)")
	}
	return apiauth.NewTokenFile(o.AutoscalerTokenFile), nil
}
