package framework

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"go.uber.org/zap"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crzap "sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/yaml"

	"github.com/rampdev/ramp/controllers/manager"
	"github.com/rampdev/ramp/controllers/notify"
	"github.com/rampdev/ramp/serving/apiauth"
	"github.com/rampdev/ramp/serving/gateway"
)

// CRDDir is where `make manifests` writes Ramp's CRDs.
func CRDDir() (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, "charts", "ramp", "templates", "crds"), nil
}

// InstallCRDs creates (or updates) Ramp's CRDs and waits until they are
// established.
func (c *Cluster) InstallCRDs(ctx context.Context) error {
	dir, err := CRDDir()
	if err != nil {
		return err
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(files) == 0 {
		return fmt.Errorf("no CRDs in %s (run make manifests): %w", dir, err)
	}
	s := runtime.NewScheme()
	_ = apiextensionsv1.AddToScheme(s)
	cl, err := client.New(c.Config, client.Options{Scheme: s})
	if err != nil {
		return err
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := yaml.Unmarshal(b, crd); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		if err := cl.Create(ctx, crd); err != nil && !strings.Contains(err.Error(), "already exists") {
			return fmt.Errorf("creating CRD %s: %w", crd.Name, err)
		}
		err = Poll(ctx, 30*time.Second, 200*time.Millisecond, func(ctx context.Context) error {
			got := &apiextensionsv1.CustomResourceDefinition{}
			if err := cl.Get(ctx, client.ObjectKeyFromObject(crd), got); err != nil {
				return err
			}
			for _, cond := range got.Status.Conditions {
				if cond.Type == apiextensionsv1.Established && cond.Status == apiextensionsv1.ConditionTrue {
					return nil
				}
			}
			return fmt.Errorf("CRD %s not established", crd.Name)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// StartController runs Ramp's controller in this process against the
// cluster until ctx ends. Its queue-proxy image maps to bin/queue.
func (c *Cluster) StartController(ctx context.Context) error {
	setTestLogger()
	// The chart's accounts, so the components' tokens are authorized as
	// in an install (the internal APIs authenticate their callers).
	if err := c.installAccounts(ctx); err != nil {
		return err
	}
	var err error
	if c.hashesToken, err = c.tokenFile(ctx, "ramp-controller", apiauth.GatewayAudience); err != nil {
		return err
	}
	if c.Events, err = StartEventSink(ctx); err != nil {
		return err
	}
	mgr, err := manager.New(c.Config, manager.Options{
		CloudEvents: notify.CloudEventsConfig{Sinks: []string{c.Events.URL}},
		Namespace:   "ramp-system", MetricsAddr: "0", HealthAddr: "0",
		QueueImage: "ramp/queue:e2e", ProgressDeadline: 2 * time.Minute, ScaleToZeroGrace: 30 * time.Second,
		AutoscalerAddr: net.JoinHostPort(c.AutoscalerIP(), "8099"),
	})
	if err != nil {
		return err
	}
	c.Client, err = client.New(c.Config, client.Options{Scheme: manager.Scheme()})
	if err != nil {
		return err
	}
	go func() {
		if err := mgr.Start(ctx); err != nil {
			fmt.Fprintf(os.Stderr, "controller stopped: %v\n", err)
		}
	}()
	return nil
}

// AutoscalerIP is the loopback address the in-process controller's
// autoscaler API binds (next to GatewayIP).
func (c *Cluster) AutoscalerIP() string { return c.reservedIP(253) }

// AutoscalerURL is the base URL of the in-process autoscaler API.
func (c *Cluster) AutoscalerURL() string {
	return "http://" + net.JoinHostPort(c.AutoscalerIP(), "8099")
}

// GatewayIP is the loopback address the in-process gateway of this cluster
// binds: the last address of the cluster's own pod range, so two test
// clusters never collide.
func (c *Cluster) GatewayIP() string { return c.reservedIP(254) }

// reservedIP is address x.y.255.last of the cluster's pod /16, which the
// node agent never hands to a pod.
func (c *Cluster) reservedIP(last byte) string {
	_, n, err := net.ParseCIDR(c.PodCIDR())
	if err != nil {
		return "127.0.0.1"
	}
	ip := n.IP.To4()
	return fmt.Sprintf("%d.%d.255.%d", ip[0], ip[1], last)
}

// StartGateway runs Ramp's gateway in this process against the cluster, on
// GatewayIP, until ctx ends, and waits until it serves a routing table.
func (c *Cluster) StartGateway(ctx context.Context) error {
	setTestLogger()
	log := zap.NewNop()
	if os.Getenv("RAMP_TEST_LOG") != "" {
		log, _ = zap.NewDevelopment()
	}
	if err := c.installAccounts(ctx); err != nil {
		return err
	}
	token, err := c.tokenFile(ctx, "ramp-gateway", apiauth.AutoscalerAudience)
	if err != nil {
		return err
	}
	errc := make(chan error, 1)
	go func() {
		errc <- gateway.Run(ctx, c.Config, gateway.Options{IP: c.GatewayIP(), DrainDelay: 100 * time.Millisecond,
			ActivationTimeout: 30 * time.Second, AutoscalerURLs: []string{c.AutoscalerURL()}, AutoscalerTokenFile: token}, log.Named("gateway"))
	}()
	ready := fmt.Sprintf("http://%s:%d/ready", c.GatewayIP(), gateway.AdminPort)
	return Poll(ctx, 60*time.Second, 100*time.Millisecond, func(ctx context.Context) error {
		select {
		case err := <-errc:
			return fmt.Errorf("gateway stopped: %w", err)
		default:
		}
		code, body, err := Get(ctx, ready)
		if err != nil {
			return err
		}
		if code != 200 {
			return fmt.Errorf("gateway not ready: %d %s", code, body)
		}
		return nil
	})
}

// GatewayHash returns the routing-table hash the in-process gateway has
// applied for a route, read with the controller's token as the controller
// reads it.
func (c *Cluster) GatewayHash(ctx context.Context, ns, name string) (string, error) {
	token, err := os.ReadFile(c.hashesToken)
	if err != nil {
		return "", fmt.Errorf("the controller's token for the gateway (StartController writes it): %w", err)
	}
	code, body, err := Request(ctx, http.MethodGet, fmt.Sprintf("http://%s:%d%s", c.GatewayIP(), gateway.AdminPort, gateway.HashesPath), string(token))
	if err != nil {
		return "", err
	}
	if code != http.StatusOK {
		return "", fmt.Errorf("GET %s: %d %s", gateway.HashesPath, code, body)
	}
	var hashes map[string]string
	if err := json.Unmarshal([]byte(body), &hashes); err != nil {
		return "", err
	}
	return hashes[ns+"/"+name], nil
}

var loggerOnce sync.Once

// setTestLogger routes controller-runtime's logs to stderr when
// RAMP_TEST_LOG is set, and discards them otherwise.
func setTestLogger() {
	loggerOnce.Do(func() {
		if os.Getenv("RAMP_TEST_LOG") != "" {
			ctrl.SetLogger(crzap.New(crzap.UseDevMode(true)))
			return
		}
		ctrl.SetLogger(logr.Discard())
	})
}
