package localcluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rampdev/ramp/test/localcluster/node"
)

// Up starts every component that is not running and waits until the cluster
// can run pods. It returns ErrAlreadyRunning when everything already runs.
func (c *Cluster) Up(ctx context.Context) error {
	running := c.Running()
	all := true
	for _, up := range running {
		all = all && up
	}
	if all {
		return fmt.Errorf("%w in %s (kubeconfig %s); stop it with `ramp local down`",
			ErrAlreadyRunning, c.opts.Dir, c.Kubeconfig())
	}
	if err := c.preflight(running); err != nil {
		return err
	}
	if err := os.MkdirAll(c.opts.Dir, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", c.opts.Dir, err)
	}
	if err := c.saveConfig(); err != nil {
		return err
	}
	if err := c.pki.ensure(); err != nil {
		return fmt.Errorf("preparing certificates: %w", err)
	}
	if err := c.writeKubeconfigs(); err != nil {
		return err
	}
	if c.Real() {
		anyRunning := false
		for _, up := range running {
			anyRunning = anyRunning || up
		}
		if err := c.ensureNetns(ctx, anyRunning); err != nil {
			return err
		}
		if err := c.writeNodeConfig(); err != nil {
			return err
		}
	}
	client, err := c.httpClient()
	if err != nil {
		return err
	}
	ready := c.readiness(client)
	for _, d := range c.daemons() {
		if err := c.startAndWait(ctx, d, running[d.name], ready); err != nil {
			return err
		}
	}
	return nil
}

// startAndWait starts d unless it is already running, then waits until it
// is ready.
func (c *Cluster) startAndWait(ctx context.Context, d daemon, running bool, ready map[string]readinessCheck) error {
	var exited <-chan error
	if running {
		c.say("  %-24s already running", d.name)
	} else {
		c.say("  %-24s starting (log %s)", d.name, d.logFile())
		var err error
		if exited, err = d.start(); err != nil {
			return err
		}
	}
	start := time.Now()
	check := func(ctx context.Context) error {
		if exited != nil {
			// Started here: the reaper is authoritative (right after a
			// start, /proc may still show the pre-exec image).
			select {
			case err := <-exited:
				return fmt.Errorf("%w: %w", errExited, err)
			default:
			}
		} else if d.pid() == 0 {
			return errExited
		}
		if r := ready[d.name]; r.check != nil {
			return r.check(ctx)
		}
		return nil
	}
	if err := poll(ctx, c.opts.ReadyTimeout, check); err != nil {
		return fmt.Errorf("waiting for %s: %w\n--- last lines of %s ---\n%s",
			ready[d.name].what, err, d.logFile(), d.logTail(15))
	}
	if !running {
		c.say("  %-24s ready in %s", d.name, time.Since(start).Round(100*time.Millisecond))
	}
	return nil
}

// readinessCheck is what Up waits for after starting a component.
type readinessCheck struct {
	check func(context.Context) error
	what  string
}

// readiness is what Up waits for after starting each component.
func (c *Cluster) readiness(a *apiClient) map[string]readinessCheck {
	type r = readinessCheck
	node := r{c.nodeReady(a), "node " + c.opts.NodeName + " to be Ready"}
	return map[string]r{
		"forward":                 {listening(fmt.Sprintf("127.0.0.1:%d", c.opts.APIServerPort)), "the forward of the node's ports to listen"},
		"etcd":                    {c.etcdHealthy(a), "etcd to be healthy"},
		"kube-apiserver":          {c.apiReady(a), "kube-apiserver to be ready"},
		"kube-controller-manager": {c.defaultServiceAccount(a), "kube-controller-manager to create service accounts"},
		"kube-scheduler":          {nil, "kube-scheduler"},
		"containerd":              {c.containerdReady(), "containerd to answer and import the images"},
		"kubelet":                 node,
		"kube-proxy":              {c.inNetns("http://127.0.0.1:10256/healthz"), "kube-proxy to sync the Service rules"},
		"ramp-node":               node,
	}
}

// preflight fails early, with a useful message, when a port is taken or a
// binary is missing.
func (c *Cluster) preflight(running map[string]bool) error {
	if c.Real() {
		if err := c.realPreflight(); err != nil {
			return err
		}
	}
	for _, d := range c.daemons() {
		if running[d.name] {
			continue
		}
		if _, err := os.Stat(d.binary); err != nil {
			return fmt.Errorf("%s: %s is missing; build it with `make tools build`", d.name, d.binary)
		}
	}
	ports := map[string]int{"etcd": c.opts.EtcdPort, "etcd (peer)": c.opts.EtcdPeerPort,
		"kube-apiserver": c.opts.APIServerPort, "ramp-node (kubelet API)": c.opts.KubeletPort}
	if c.Real() {
		// Only the forward listens on the host; the rest is in the namespace.
		ports = map[string]int{"forward (kube-apiserver)": c.opts.APIServerPort, "forward (etcd)": c.opts.EtcdPort,
			"forward (gateway)": c.opts.GatewayPort}
	}
	for what, port := range ports {
		name, _, _ := strings.Cut(what, " (")
		if running[name] {
			continue
		}
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			return fmt.Errorf("%s: port 127.0.0.1:%d is in use by another program; free it or pick another port: %w", what, port, err)
		}
		_ = l.Close()
	}
	return nil
}

func (c *Cluster) saveConfig() error {
	b, err := json.MarshalIndent(c.opts, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(c.opts.Dir, "cluster.json"), b, 0o644)
}

// writeKubeconfigs writes the admin kubeconfig and one per component.
func (c *Cluster) writeKubeconfigs() error {
	ca, err := os.ReadFile(c.pki.caCert())
	if err != nil {
		return fmt.Errorf("reading CA: %w", err)
	}
	files := map[string]string{
		c.Kubeconfig():                                   "admin",
		c.componentKubeconfig("ramp-node"):               "ramp-node",
		c.componentKubeconfig("kube-controller-manager"): "system:kube-controller-manager",
	}
	for path, user := range files {
		tok, err := c.pki.token(user)
		if err != nil {
			return err
		}
		if err := os.WriteFile(path, Kubeconfig(c.APIServerURL(), ca, user, tok), 0o600); err != nil {
			return fmt.Errorf("writing %s: %w", path, err)
		}
	}
	return nil
}

// Kubeconfig renders a single-context kubeconfig with a bearer token.
func Kubeconfig(server string, caPEM []byte, user, token string) []byte {
	return []byte(fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: ramp-local
  cluster:
    server: %s
    certificate-authority-data: %s
users:
- name: %s
  user:
    token: %s
contexts:
- name: ramp-local
  context:
    cluster: ramp-local
    user: %s
    namespace: default
current-context: ramp-local
`, server, base64.StdEncoding.EncodeToString(caPEM), user, token, user))
}

// apiClient talks to the API server as admin with plain HTTP, which is all
// the readiness checks need.
type apiClient struct {
	http  *http.Client
	base  string
	token string
}

func (c *Cluster) httpClient() (*apiClient, error) {
	ca, err := os.ReadFile(c.pki.caCert())
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	tok, err := c.pki.token("admin")
	if err != nil {
		return nil, err
	}
	return &apiClient{
		http: &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		}},
		base:  c.APIServerURL(),
		token: tok,
	}, nil
}

func (a *apiClient) get(ctx context.Context, url string, into any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	if strings.HasPrefix(url, a.base) {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	resp, err := a.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", url, resp.Status, strings.TrimSpace(string(body)))
	}
	if into == nil {
		return nil
	}
	return json.Unmarshal(body, into)
}

func (c *Cluster) etcdHealthy(a *apiClient) func(context.Context) error {
	return func(ctx context.Context) error {
		var h struct {
			Health string `json:"health"`
		}
		if err := a.get(ctx, fmt.Sprintf("http://127.0.0.1:%d/health", c.opts.EtcdPort), &h); err != nil {
			return err
		}
		if h.Health != "true" {
			return fmt.Errorf("etcd reports health %q", h.Health)
		}
		return nil
	}
}

func (c *Cluster) apiReady(a *apiClient) func(context.Context) error {
	return func(ctx context.Context) error { return a.get(ctx, a.base+"/readyz", nil) }
}

func (c *Cluster) defaultServiceAccount(a *apiClient) func(context.Context) error {
	return func(ctx context.Context) error {
		return a.get(ctx, a.base+"/api/v1/namespaces/default/serviceaccounts/default", nil)
	}
}

func (c *Cluster) nodeReady(a *apiClient) func(context.Context) error {
	return func(ctx context.Context) error {
		var node struct {
			Status struct {
				Conditions []struct{ Type, Status, Message string }
			}
		}
		if err := a.get(ctx, a.base+"/api/v1/nodes/"+c.opts.NodeName, &node); err != nil {
			return err
		}
		for _, cond := range node.Status.Conditions {
			if cond.Type == "Ready" {
				if cond.Status == "True" {
					return nil
				}
				return fmt.Errorf("node not ready: %s", cond.Message)
			}
		}
		return fmt.Errorf("node has no Ready condition yet")
	}
}

var errExited = errors.New("the process exited")

// poll calls check until it succeeds, the timeout passes or ctx ends, and
// returns the last error seen.
func poll(ctx context.Context, timeout time.Duration, check func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		if last = check(ctx); last == nil {
			return nil
		} else if errors.Is(last, errExited) {
			return last
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %w)", ctx.Err(), last)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// Down stops every component, agent first so that pods stop gracefully, then
// removes any pod process a crashed agent left behind. With purge, the state
// directory is removed as well.
func (c *Cluster) Down(purge bool) error {
	ds := c.daemons()
	var errs []error
	for i := len(ds) - 1; i >= 0; i-- {
		d := ds[i]
		if d.pid() == 0 {
			continue
		}
		c.say("  %-24s stopping", d.name)
		if err := d.stop(); err != nil {
			errs = append(errs, err)
		}
	}
	if n, err := node.SweepProcesses(c.podsDir()); err != nil {
		errs = append(errs, err)
	} else if n > 0 {
		c.say("  stopped %d leftover pod processes", n)
	}
	if c.Real() {
		if err := c.teardownNode(context.Background()); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("stopping the local cluster: %v", errs)
	}
	if _, err := os.Stat(c.opts.Dir); purge && err == nil {
		if err := os.RemoveAll(c.opts.Dir); err != nil {
			return fmt.Errorf("removing %s: %w", c.opts.Dir, err)
		}
		c.say("  removed %s", c.opts.Dir)
	}
	return nil
}
