package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	autoscaling "github.com/rampdev/ramp/controllers/autoscaler"
	"github.com/rampdev/ramp/serving/apiauth"
	"github.com/rampdev/ramp/serving/gateway"
	"github.com/rampdev/ramp/test/framework"
)

func TestInternalAPIsAuthenticateTheirCallers(t *testing.T) {
	ctx := context.Background()
	ns := cluster.Namespace(t)
	// Given an account that is no Ramp component, and tokens of every kind
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "intruder"}}
	if err := cluster.Client.Create(ctx, sa); err != nil {
		t.Fatal(err)
	}
	token := func(ns, name, audience string) string {
		tok, err := cluster.ServiceAccountToken(ctx, ns, name, audience)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	sys := framework.SystemNamespace
	var (
		intruder         = token(ns, "intruder", apiauth.AutoscalerAudience)
		intruderGateway  = token(ns, "intruder", apiauth.GatewayAudience)
		telemetry        = token(sys, "ramp-telemetry", apiauth.AutoscalerAudience)
		telemetryAPI     = token(sys, "ramp-telemetry", "") // the API server's audience
		telemetryGateway = token(sys, "ramp-telemetry", apiauth.GatewayAudience)
		gatewaySA        = token(sys, "ramp-gateway", apiauth.AutoscalerAudience)
		controllerSA     = token(sys, "ramp-controller", apiauth.GatewayAudience)
	)
	scaler := cluster.AutoscalerURL()
	admin := fmt.Sprintf("http://%s:%d", cluster.GatewayIP(), gateway.AdminPort)
	activate := scaler + autoscaling.ActivatePath + ns + "/no-such-revision"

	for _, tc := range []struct {
		name, method, url, token string
		want                     int
		wantBody                 string
	}{
		// When the autoscaler API is called
		{"telemetry, anonymous", "GET", scaler + autoscaling.RevisionsPath, "", 401, "no bearer token"},
		{"telemetry, API server's audience", "GET", scaler + autoscaling.RevisionsPath, telemetryAPI, 401, "invalid token"},
		{"telemetry, the gateway's audience", "GET", scaler + autoscaling.RevisionsPath, telemetryGateway, 401, "invalid token"},
		{"telemetry, another account", "GET", scaler + autoscaling.TelemetryPath + ns + "/web-00001", intruder, 403,
			"system:serviceaccount:" + ns + ":intruder may not get serving.ramp.dev revisions/telemetry " + ns + "/web-00001"},
		{"telemetry, ramp-telemetry", "GET", scaler + autoscaling.RevisionsPath, telemetry, 200, "["},
		{"activation, ramp-telemetry", "POST", activate, telemetry, 403, "may not create serving.ramp.dev revisions/activate"},
		{"activation, another account", "POST", activate, intruder, 403, "intruder may not create"},
		{"activation, the gateway", "POST", activate, gatewaySA, 404, "no-such-revision"}, // let through: no such revision
		{"the autoscaler's probe", "GET", scaler + "/healthz", "", 200, "ok"},
		// When the gateway's admin API is called
		{"hashes, anonymous", "GET", admin + gateway.HashesPath, "", 401, "audience gateway.ramp.dev"},
		{"hashes, the autoscaler's audience", "GET", admin + gateway.HashesPath, gatewaySA, 401, "invalid token"},
		{"hashes, another account", "GET", admin + gateway.HashesPath, intruderGateway, 403, "may not list serving.ramp.dev routes/hashes"},
		{"hashes, ramp-telemetry", "GET", admin + gateway.HashesPath, telemetryGateway, 403, "ramp-telemetry may not list"},
		{"hashes, the controller", "GET", admin + gateway.HashesPath, controllerSA, 200, "{"},
		{"the gateway's probe", "GET", admin + "/ready", "", 200, "ready"},
	} {
		// Then only the chart's own accounts are let through, each to its
		// own endpoints
		framework.Eventually(t, 30*time.Second, func(ctx context.Context) error {
			code, body, err := framework.Request(ctx, tc.method, tc.url, tc.token)
			if err != nil {
				return err
			}
			if code != tc.want || !strings.Contains(body, tc.wantBody) {
				return fmt.Errorf("%s: %s %s: %d %q, want %d and %q", tc.name, tc.method, tc.url, code, body, tc.want, tc.wantBody)
			}
			return nil
		})
	}
}
