package manager

import (
	"errors"
	"net/http"

	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"

	autoscaling "github.com/rampdev/ramp/controllers/autoscaler"
	"github.com/rampdev/ramp/serving/apiauth"
)

// AuthOptions configure the authentication of Ramp's internal APIs
// (serving/apiauth, docs/security.md): the autoscaler API lets through
// only ServiceAccount tokens for apiauth.AutoscalerAudience whose account
// RBAC allows the endpoint, and the controller sends its own token to the
// gateway's admin API.
type AuthOptions struct {
	// GatewayTokenFile holds the controller's ServiceAccount token for
	// apiauth.GatewayAudience (a projected serviceAccountToken volume),
	// sent when it reads the gateway's route hashes; re-read when it
	// changes. Required with GatewayService.
	GatewayTokenFile string
	// Clock expires the cached reviews (default the real clock).
	Clock clock.PassiveClock
}

// The autoscaler API reviews its callers' tokens and access.
//
// +kubebuilder:rbac:groups=authentication.k8s.io,resources=tokenreviews,verbs=create
// +kubebuilder:rbac:groups=authorization.k8s.io,resources=subjectaccessreviews,verbs=create

// protectAutoscaler wraps the autoscaler API in its authenticator.
func protectAutoscaler(mgr ctrl.Manager, o Options, h http.Handler) (http.Handler, error) {
	a, err := apiauth.New(apiauth.Options{
		Audience: apiauth.AutoscalerAudience,
		Reviewer: apiauth.ClientReviewer{Client: mgr.GetClient()},
		Clock:    o.Auth.Clock,
		Log:      mgr.GetLogger().WithName("autoscaler-auth"),
	})
	if err != nil {
		return nil, err
	}
	return a.Handler(h, autoscaling.Access), nil
}

// gatewayToken is the controller's token for the gateway's admin API.
func gatewayToken(o Options) (apiauth.TokenSource, error) {
	if o.Auth.GatewayTokenFile == "" {
		return nil, errors.New("gateway service set but no token for the gateway's admin API: set --gateway-token-file (Options.Auth.GatewayTokenFile)")
	}
	return apiauth.NewTokenFile(o.Auth.GatewayTokenFile), nil
}
