package manager

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	rolloutsv1alpha1 "github.com/rampdev/ramp/apis/rollouts/v1alpha1"
	rampwebhook "github.com/rampdev/ramp/controllers/webhook"
)

// WebhookOptions configure the validating admission webhook. Every replica
// serves it (not only the leader), with a certificate the replicas share
// through a Secret in the controller's namespace.
type WebhookOptions struct {
	// Addr is host:port to serve on; "" or "0" serves no webhook.
	Addr string
	// Secret names the certificate Secret in the controller's namespace.
	Secret string
	// Configuration names the ValidatingWebhookConfiguration whose
	// caBundle the controller keeps; empty leaves it alone.
	Configuration string
	// Hosts are the names the API server reaches the webhook by: the
	// Service's DNS names, or an IP address (a webhook configured by URL).
	Hosts []string
}

// ServiceHosts are the DNS names of Service name in namespace ns.
func ServiceHosts(name, ns string) []string {
	return []string{name + "." + ns + ".svc", name + "." + ns + ".svc.cluster.local", name + "." + ns, name}
}

// newWebhookServer builds the webhook server and its certificate keeper,
// or nothing when the webhook is off.
func newWebhookServer(cfg *rest.Config, o Options) (*rampwebhook.Certs, webhook.Server, error) {
	w := o.Webhook
	if w.Addr == "" || w.Addr == "0" {
		return nil, nil, nil
	}
	host, portStr, err := net.SplitHostPort(w.Addr)
	if err != nil {
		return nil, nil, fmt.Errorf("webhook address %q: %w", w.Addr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port <= 0 || port > 65535 {
		return nil, nil, fmt.Errorf("webhook address %q: want host:port", w.Addr)
	}
	if w.Secret == "" || len(w.Hosts) == 0 {
		return nil, nil, errors.New("the webhook needs a certificate Secret name and at least one host")
	}
	// A direct client: the Secret and the configuration are read from the
	// API server, with no cache of every Secret in the cluster.
	c, err := client.New(cfg, client.Options{Scheme: Scheme()})
	if err != nil {
		return nil, nil, fmt.Errorf("webhook client: %w", err)
	}
	certs := &rampwebhook.Certs{Client: c, Reader: c, Secret: types.NamespacedName{Namespace: o.Namespace, Name: w.Secret},
		WebhookConfig: w.Configuration, Hosts: w.Hosts, Clock: clock.RealClock{}, Log: ctrl.Log.WithName("webhook")}
	srv := webhook.NewServer(webhook.Options{Host: host, Port: port, TLSOpts: []func(*tls.Config){certs.TLSOpt}})
	return certs, srv, nil
}

// addWebhook registers the validators and the certificate keeper, and
// makes the replica Ready only once it serves the webhook.
func addWebhook(mgr ctrl.Manager, certs *rampwebhook.Certs) error {
	if certs == nil {
		return nil
	}
	srv := mgr.GetWebhookServer()
	srv.Register(rampwebhook.RolloutPath,
		admission.WithValidator[*rolloutsv1alpha1.Rollout](mgr.GetScheme(), rampwebhook.RolloutValidator{Clock: clock.RealClock{}}))
	srv.Register(rampwebhook.AnalysisTemplatePath, admission.WithValidator[*rolloutsv1alpha1.AnalysisTemplate](mgr.GetScheme(),
		rampwebhook.TemplateValidator[*rolloutsv1alpha1.AnalysisTemplate]{}))
	srv.Register(rampwebhook.ClusterAnalysisTemplatePath, admission.WithValidator[*rolloutsv1alpha1.ClusterAnalysisTemplate](mgr.GetScheme(),
		rampwebhook.TemplateValidator[*rolloutsv1alpha1.ClusterAnalysisTemplate]{}))
	if err := mgr.Add(certs); err != nil {
		return err
	}
	started := srv.StartedChecker()
	return mgr.AddReadyzCheck("webhook", func(r *http.Request) error {
		if err := certs.Ready(); err != nil {
			return err
		}
		return started(r)
	})
}
