package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/go-logr/logr"
	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rolloutsv1alpha1 "github.com/rampdev/ramp/apis/rollouts/v1alpha1"
	servingv1 "github.com/rampdev/ramp/apis/serving/v1"
	"github.com/rampdev/ramp/test/localcluster"
)

// kubeOptions are kubectl's connection flags.
type kubeOptions struct {
	kubeconfig string
	context    string
	namespace  string

	// wrap, when set, wraps the client; tests inject failures with it.
	wrap func(client.WithWatch) client.WithWatch
}

func (o *kubeOptions) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "path to the kubeconfig file (default $KUBECONFIG, then ~/.kube/config)")
	fs.StringVar(&o.context, "context", "", "kubeconfig context to use (default the current context)")
	fs.StringVarP(&o.namespace, "namespace", "n", "", `namespace (default the context's namespace, else "default")`)
}

// kube is a connection to the API server.
type kube struct {
	client    client.WithWatch
	namespace string
	// user is the context's user (AuthInfo) name, "" when it has none.
	user string
}

// newScheme holds the types the CLI reads: client-go's (Pods, Leases),
// serving v1 and rollouts v1alpha1.
func newScheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		clientgoscheme.AddToScheme, servingv1.AddToScheme, rolloutsv1alpha1.AddToScheme,
	} {
		if err := add(s); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func (o *kubeOptions) clientConfig() clientcmd.ClientConfig {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = o.kubeconfig
	overrides := &clientcmd.ConfigOverrides{CurrentContext: o.context}
	overrides.Context.Namespace = o.namespace
	return clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides)
}

// connect loads the kubeconfig and builds a client. API warnings go to
// errOut, like kubectl's.
func (o *kubeOptions) connect(errOut io.Writer) (*kube, error) {
	cc := o.clientConfig()
	cfg, err := cc.ClientConfig()
	if err != nil {
		if clientcmd.IsEmptyConfig(err) {
			return nil, noKubeconfigError()
		}
		return nil, fmt.Errorf("loading the kubeconfig: %w", err)
	}
	ns, _, err := cc.Namespace()
	if err != nil {
		return nil, fmt.Errorf("reading the namespace from the kubeconfig: %w", err)
	}
	cfg = rest.CopyConfig(cfg)
	cfg.UserAgent = "ramp-cli"
	cfg.WarningHandler = rest.NewWarningWriter(errOut, rest.WarningWriterOptions{Deduplicate: true})
	scheme, err := newScheme()
	if err != nil {
		return nil, err
	}
	c, err := client.NewWithWatch(cfg, client.Options{Scheme: scheme, Log: logr.Discard()})
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", cfg.Host, err)
	}
	if o.wrap != nil {
		c = o.wrap(c)
	}
	return &kube{client: c, namespace: ns, user: o.contextUser(cc)}, nil
}

// contextUser is the AuthInfo name of the context in use.
func (o *kubeOptions) contextUser(cc clientcmd.ClientConfig) string {
	raw, err := cc.RawConfig()
	if err != nil {
		return ""
	}
	name := raw.CurrentContext
	if o.context != "" {
		name = o.context
	}
	if c := raw.Contexts[name]; c != nil {
		return c.AuthInfo
	}
	return ""
}

// actor names who asks for an action: the kubeconfig user, else $USER.
func (k *kube) actor() string {
	if k.user != "" {
		return k.user
	}
	return os.Getenv("USER")
}

// errNoKubeconfig is returned when neither a flag, $KUBECONFIG nor
// ~/.kube/config gives a cluster.
var errNoKubeconfig = errors.New("no kubeconfig found: pass --kubeconfig, or set $KUBECONFIG")

func noKubeconfigError() error {
	local := filepath.Join(localcluster.DefaultDir, "kubeconfig")
	if _, err := os.Stat(local); err == nil {
		return fmt.Errorf("%w; `ramp local up` wrote %s: use --kubeconfig %s", errNoKubeconfig, local, local)
	}
	return fmt.Errorf("%w; for a local cluster, `ramp local up` writes %s", errNoKubeconfig, local)
}
