// Package localcluster runs Ramp's embedded local Kubernetes cluster: a real
// etcd, kube-apiserver and kube-controller-manager, plus Ramp's node agent
// (package node) in place of the kubelet. Every component is a background
// process tracked by a PID file under the cluster directory, so `ramp local
// down` can stop a cluster that another process started.
package localcluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"time"
)

// ErrAlreadyRunning is returned by Up when every component is already up.
var ErrAlreadyRunning = errors.New("the local cluster is already running")

const (
	// A /16: every revision has a ClusterIP Service, and a /24 ran out of
	// addresses at 254 revisions (the controller bench makes 1,000).
	serviceCIDR = "10.0.0.0/16"
	serviceIP   = "10.0.0.1"

	// DefaultDir is where `ramp local up` keeps its state unless told otherwise.
	DefaultDir = ".ramp/local"
)

// Options configure a local cluster. Zero values take the value saved by the
// previous `up` in the same directory, then the defaults.
type Options struct {
	// Dir holds PKI, etcd data, logs, PID files, pod sandboxes and the kubeconfig.
	Dir string `json:"-"`
	// BinDir holds ramp-node and the binaries that images map to; the control
	// plane binaries live in BinDir/k8s.
	BinDir string `json:"binDir"`

	APIServerPort int `json:"apiServerPort"`
	EtcdPort      int `json:"etcdPort"`
	EtcdPeerPort  int `json:"etcdPeerPort"`
	// KubeletPort is where the node agent serves the kubelet API (logs).
	KubeletPort int    `json:"kubeletPort"`
	NodeName    string `json:"nodeName"`
	// PodCIDR is the loopback range pod IPs come from, for example 127.0.0.0/16.
	PodCIDR string `json:"podCIDR"`
	// Node is NodeProcess (the default) or NodeReal.
	Node string `json:"node"`
	// Images are OCI image layouts the real node imports into containerd
	// (one must hold the pause image).
	Images []string `json:"images,omitempty"`
	// GatewayPort is the host loopback port that reaches the real node's
	// gateway hostPort (the process node binds hostPorts on loopback itself).
	GatewayPort int `json:"gatewayPort"`

	// Out receives progress lines; nil discards them.
	Out io.Writer `json:"-"`
	// ReadyTimeout bounds the wait for each component; default 2 minutes.
	ReadyTimeout time.Duration `json:"-"`
}

// Defaults used when neither the caller nor a saved config sets a value.
var defaults = Options{
	APIServerPort: 6443,
	EtcdPort:      2379,
	EtcdPeerPort:  2380,
	KubeletPort:   10250,
	NodeName:      "ramp-node",
	PodCIDR:       "127.0.0.0/16",
	Node:          NodeProcess,
	GatewayPort:   GatewayNodePort,
}

// Cluster is a local cluster rooted at a directory.
type Cluster struct {
	opts Options
	pki  pki
}

// New resolves options against the saved config and defaults. It does not
// start anything.
func New(opts Options) (*Cluster, error) {
	if opts.Dir == "" {
		opts.Dir = DefaultDir
	}
	abs, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("resolving %s: %w", opts.Dir, err)
	}
	opts.Dir = abs
	var saved Options
	if b, err := os.ReadFile(filepath.Join(abs, "cluster.json")); err == nil {
		if err := json.Unmarshal(b, &saved); err != nil {
			return nil, fmt.Errorf("reading %s/cluster.json: %w", abs, err)
		}
	}
	fill(&opts, saved)
	fill(&opts, defaults)
	if opts.BinDir == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("locating binaries: %w", err)
		}
		opts.BinDir = filepath.Dir(exe)
	}
	if opts.BinDir, err = filepath.Abs(opts.BinDir); err != nil {
		return nil, err
	}
	if opts.Out == nil {
		opts.Out = io.Discard
	}
	if opts.ReadyTimeout == 0 {
		opts.ReadyTimeout = 2 * time.Minute
	}
	if opts.Node != NodeProcess && opts.Node != NodeReal {
		return nil, fmt.Errorf("node %q: want %s or %s", opts.Node, NodeProcess, NodeReal)
	}
	for i, d := range opts.Images {
		if opts.Images[i], err = filepath.Abs(d); err != nil {
			return nil, err
		}
	}
	ip, _, err := net.ParseCIDR(opts.PodCIDR)
	if err != nil {
		return nil, fmt.Errorf("pod CIDR %q: %w", opts.PodCIDR, err)
	}
	if !ip.IsLoopback() || ip.To4() == nil {
		return nil, fmt.Errorf("pod CIDR %q must be an IPv4 range inside 127.0.0.0/8: the local node binds loopback addresses only", opts.PodCIDR)
	}
	return &Cluster{opts: opts, pki: pki{dir: filepath.Join(abs, "pki")}}, nil
}

func fill(o *Options, from Options) {
	if o.BinDir == "" {
		o.BinDir = from.BinDir
	}
	if o.APIServerPort == 0 {
		o.APIServerPort = from.APIServerPort
	}
	if o.EtcdPort == 0 {
		o.EtcdPort = from.EtcdPort
	}
	if o.EtcdPeerPort == 0 {
		o.EtcdPeerPort = from.EtcdPeerPort
	}
	if o.KubeletPort == 0 {
		o.KubeletPort = from.KubeletPort
	}
	if o.NodeName == "" {
		o.NodeName = from.NodeName
	}
	if o.PodCIDR == "" {
		o.PodCIDR = from.PodCIDR
	}
	if o.Node == "" {
		o.Node = from.Node
	}
	if len(o.Images) == 0 {
		o.Images = from.Images
	}
	if o.GatewayPort == 0 {
		o.GatewayPort = from.GatewayPort
	}
}

// Dir is the cluster's absolute state directory.
func (c *Cluster) Dir() string { return c.opts.Dir }

// Kubeconfig is the path of the admin kubeconfig that Up writes.
func (c *Cluster) Kubeconfig() string { return filepath.Join(c.opts.Dir, "kubeconfig") }

// APIServerURL is where the API server listens.
func (c *Cluster) APIServerURL() string {
	return fmt.Sprintf("https://127.0.0.1:%d", c.opts.APIServerPort)
}

// PodCIDR is the loopback range pod IPs come from.
func (c *Cluster) PodCIDR() string { return c.opts.PodCIDR }

// GatewayPort is the host loopback port of the real node's gateway.
func (c *Cluster) GatewayPort() int { return c.opts.GatewayPort }

// NodeName is the name of the Node the agent registers.
func (c *Cluster) NodeName() string { return c.opts.NodeName }

func (c *Cluster) runDir() string  { return filepath.Join(c.opts.Dir, "run") }
func (c *Cluster) logDir() string  { return filepath.Join(c.opts.Dir, "logs") }
func (c *Cluster) podsDir() string { return filepath.Join(c.opts.Dir, "pods") }
func (c *Cluster) k8sBin(name string) string {
	return filepath.Join(c.opts.BinDir, "k8s", name)
}

// daemons lists the components in start order.
func (c *Cluster) daemons() []daemon {
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", c.opts.EtcdPort)
	var netns string
	bind, advertise := "127.0.0.1", "127.0.0.1"
	// The node agent manages its Node's taints; on a real node the node
	// lifecycle controller lifts the kubelet's not-ready taint.
	controllers := "*,-nodeipam,-nodelifecycle,-cloud-node-lifecycle"
	if c.Real() {
		controllers = "*,-nodeipam,-cloud-node-lifecycle"
		// The control plane runs in the node's namespace: pods reach the
		// API server at the node's address, the host through the forward.
		netns, bind, advertise = c.Netns(), "0.0.0.0", RealNodeIP
	}
	mk := func(name, bin string, stopFor time.Duration, args ...string) daemon {
		return daemon{name: name, binary: bin, args: args, runDir: c.runDir(), logDir: c.logDir(), stopFor: stopFor, netns: netns}
	}
	p := c.pki
	ds := []daemon{
		mk("etcd", c.k8sBin("etcd"), 10*time.Second,
			"--name=ramp-local",
			"--data-dir="+filepath.Join(c.opts.Dir, "etcd"),
			"--listen-client-urls="+etcdURL,
			"--advertise-client-urls="+etcdURL,
			fmt.Sprintf("--listen-peer-urls=http://127.0.0.1:%d", c.opts.EtcdPeerPort),
			fmt.Sprintf("--initial-advertise-peer-urls=http://127.0.0.1:%d", c.opts.EtcdPeerPort),
			fmt.Sprintf("--initial-cluster=ramp-local=http://127.0.0.1:%d", c.opts.EtcdPeerPort),
			"--listen-metrics-urls=",
			"--log-level=warn",
			"--unsafe-no-fsync", // a throwaway dev cluster: speed over durability
		),
		mk("kube-apiserver", c.k8sBin("kube-apiserver"), 15*time.Second,
			"--etcd-servers="+etcdURL,
			"--bind-address="+bind,
			"--advertise-address="+advertise,
			fmt.Sprintf("--secure-port=%d", c.opts.APIServerPort),
			"--tls-cert-file="+p.servingCert(),
			"--tls-private-key-file="+p.servingKey(),
			"--client-ca-file="+p.caCert(),
			"--service-account-issuer=https://kubernetes.default.svc",
			"--api-audiences=https://kubernetes.default.svc",
			"--service-account-key-file="+p.saPub(),
			"--service-account-signing-key-file="+p.saKey(),
			"--token-auth-file="+p.tokensFile(),
			"--authorization-mode=RBAC",
			// Webhooks and aggregated APIs are called at their endpoints: there
			// is no kube-proxy for Service IPs in process mode.
			"--enable-aggregator-routing=true",
			"--service-cluster-ip-range="+serviceCIDR,
			"--allow-privileged=true",
			"--profiling=false",
			"--kubelet-preferred-address-types=InternalIP",
			"--kubelet-client-certificate="+p.kubeletClientCert(),
			"--kubelet-client-key="+p.kubeletClientKey(),
			"--kubelet-certificate-authority="+p.caCert(),
		),
		mk("kube-controller-manager", c.k8sBin("kube-controller-manager"), 10*time.Second,
			"--kubeconfig="+c.componentKubeconfig("kube-controller-manager"),
			"--service-account-private-key-file="+p.saKey(),
			"--root-ca-file="+p.caCert(),
			"--use-service-account-credentials=true",
			"--cluster-signing-cert-file="+p.caCert(),
			"--cluster-signing-key-file="+p.caKey(),
			"--controllers="+controllers,
			"--leader-elect=false",
			"--bind-address=127.0.0.1",
			"--secure-port=0",
		),
	}
	if c.Real() {
		return append(append([]daemon{c.forwardDaemon()}, ds...), c.realDaemons()...)
	}
	return append(ds, daemon{name: "ramp-node", binary: filepath.Join(c.opts.BinDir, "ramp-node"), runDir: c.runDir(), logDir: c.logDir(), stopFor: 45 * time.Second, args: []string{
		"--kubeconfig=" + c.componentKubeconfig("ramp-node"),
		"--node-name=" + c.opts.NodeName,
		"--pods-dir=" + c.podsDir(),
		"--bin-dir=" + c.opts.BinDir,
		"--pod-cidr=" + c.opts.PodCIDR,
		fmt.Sprintf("--kubelet-port=%d", c.opts.KubeletPort),
		"--tls-cert-file=" + p.kubeletCert(),
		"--tls-private-key-file=" + p.kubeletKey(),
		"--client-ca-file=" + p.caCert(),
	}})
}

func (c *Cluster) componentKubeconfig(name string) string {
	return filepath.Join(c.pki.dir, name+".kubeconfig")
}

// Running reports, per component, whether its process is alive.
func (c *Cluster) Running() map[string]bool {
	out := map[string]bool{}
	for _, d := range c.daemons() {
		out[d.name] = d.pid() != 0
	}
	return out
}

func (c *Cluster) say(format string, args ...any) {
	fmt.Fprintf(c.opts.Out, format+"\n", args...)
}
