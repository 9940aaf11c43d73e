package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/pflag"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/rampdev/ramp/serving/apiauth"
)

// The autoscaler API authenticates its callers (serving/apiauth): the CLI
// sends a short-lived token of the chart's ServiceAccount ramp-telemetry,
// which may read telemetry and nothing else.
const (
	telemetryServiceAccount = "ramp-telemetry"
	// telemetryTokenSeconds is the tokens' lifetime: the API server's
	// least, enough for `ramp analysis record --for 15m`'s reads, which
	// all happen at its end.
	telemetryTokenSeconds = 600
)

// tokenHelp is the commands' help on authentication.
const tokenHelp = `The autoscaler API authenticates its callers: the command requests a
10-minute token of ServiceAccount ramp-telemetry in --controller-namespace
(audience autoscaler.ramp.dev) with your kubeconfig, which needs create on
serviceaccounts/token there (the chart's Role ramp-telemetry-token grants
it). --token-file sends a token you got otherwise instead.`

// addAPIFlags adds the flags that find and authenticate to the autoscaler
// API.
func (o *telemetryOptions) addAPIFlags(f *pflag.FlagSet) {
	f.StringVar(&o.controllerNamespace, "controller-namespace", "ramp-system", "namespace of the Ramp controller")
	f.StringVar(&o.autoscalerURL, "autoscaler-url", "", "base URL of the autoscaler API, instead of finding the leader")
	f.StringVar(&o.tokenFile, "token-file", "", "file of a ServiceAccount token for audience autoscaler.ramp.dev, instead of requesting one of ramp-telemetry")
}

// errNoTelemetryToken: the CLI could not get a token for the autoscaler
// API.
var errNoTelemetryToken = errors.New("cannot get a token for the autoscaler API")

// telemetryToken is --token-file's token, or else a new one of
// ServiceAccount ramp-telemetry in the controller's namespace, requested
// with the user's kubeconfig (kc nil: there is none).
func (o *telemetryOptions) telemetryToken(ctx context.Context, kc *kube) (string, error) {
	if o.tokenFile != "" {
		b, err := os.ReadFile(o.tokenFile)
		if err != nil {
			return "", fmt.Errorf("%w: --token-file: %w", errNoTelemetryToken, err)
		}
		token := strings.TrimSpace(string(b))
		if token == "" {
			return "", fmt.Errorf("%w: --token-file %s is empty", errNoTelemetryToken, o.tokenFile)
		}
		return token, nil
	}
	if kc == nil {
		return "", fmt.Errorf("%w: it needs a ServiceAccount token for audience %s; pass --token-file, or a kubeconfig to request one of ServiceAccount %s/%s",
			errNoTelemetryToken, apiauth.AutoscalerAudience, o.controllerNamespace, telemetryServiceAccount)
	}
	return requestTelemetryToken(ctx, kc.client, o.controllerNamespace)
}

// requestTelemetryToken asks the TokenRequest API for a token of
// ServiceAccount ramp-telemetry in ns, for the autoscaler's audience only.
func requestTelemetryToken(ctx context.Context, c client.Client, ns string) (string, error) {
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: telemetryServiceAccount}}
	tr := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		Audiences: []string{apiauth.AutoscalerAudience}, ExpirationSeconds: ptr.To[int64](telemetryTokenSeconds),
	}}
	err := c.SubResource("token").Create(ctx, sa, tr)
	switch {
	case apierrors.IsForbidden(err):
		return "", fmt.Errorf("%w: your kubeconfig's user may not request a token of ServiceAccount %s/%s: it needs RBAC permission "+
			"create on serviceaccounts/token (resourceNames [%s]) in namespace %s, which the chart's Role ramp-telemetry-token grants "+
			"(kubectl -n %s create rolebinding <name> --role=ramp-telemetry-token --user=<you>); or pass --token-file",
			errNoTelemetryToken, ns, telemetryServiceAccount, telemetryServiceAccount, ns, ns)
	case apierrors.IsNotFound(err):
		return "", fmt.Errorf("%w: there is no ServiceAccount %s in namespace %s; is Ramp installed there (see --controller-namespace)? Or pass --token-file",
			errNoTelemetryToken, telemetryServiceAccount, ns)
	case err != nil:
		return "", fmt.Errorf("%w: requesting a token of ServiceAccount %s/%s: %w", errNoTelemetryToken, ns, telemetryServiceAccount, err)
	case tr.Status.Token == "":
		return "", fmt.Errorf("%w: the TokenRequest for ServiceAccount %s/%s returned no token", errNoTelemetryToken, ns, telemetryServiceAccount)
	}
	return tr.Status.Token, nil
}
