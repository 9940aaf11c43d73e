package localcluster

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Node modes of the local cluster.
const (
	// NodeProcess is Ramp's node agent: containers run as local processes on
	// loopback addresses. The default.
	NodeProcess = "process"
	// NodeReal is a real kubelet with containerd, runc, a bridge CNI and
	// kube-proxy, all inside a network namespace of the cluster's own, with
	// the control plane: pod traffic never touches the host's interfaces.
	NodeReal = "real"
)

// The real node's network: the node's address on a dummy interface inside
// the namespace, and the pods' bridge subnet. Each cluster has its own
// namespace, so these never collide.
const (
	RealNodeIP    = "10.200.0.1"
	realPodSubnet = "10.244.0.0/24"
	realPodCIDR   = "10.244.0.0/16"
	realBridge    = "cni0"
	// GatewayNodePort is the gateway's hostPort on the real node (the chart
	// value gateway.hostPort that `make up` sets).
	GatewayNodePort = 8080
)

// Packages the real node needs, by command, with the Debian package that
// has it.
var realNodeCommands = []struct{ path, pkg string }{
	{"ip", "iproute2"},
	{"nsenter", "util-linux"},
	{"iptables", "iptables"},
	{"conntrack", "conntrack"},
	{"containerd", "containerd"},
	{"containerd-shim-runc-v2", "containerd"},
	{"ctr", "containerd"},
	{"runc", "runc"},
	{"/usr/lib/cni/bridge", "containernetworking-plugins"},
	{"/usr/lib/cni/host-local", "containernetworking-plugins"},
	{"/usr/lib/cni/portmap", "containernetworking-plugins"},
	{"/usr/lib/cni/loopback", "containernetworking-plugins"},
}

// Netns is the name of the cluster's network namespace (real node only):
// "ramp-" and a hash of its directory.
func (c *Cluster) Netns() string {
	h := sha256.Sum256([]byte(c.opts.Dir))
	return "ramp-" + hex.EncodeToString(h[:4])
}

// NetnsPath is where `ip netns` keeps the namespace.
func (c *Cluster) NetnsPath() string { return "/run/netns/" + c.Netns() }

// Real reports whether the cluster runs a real node.
func (c *Cluster) Real() bool { return c.opts.Node == NodeReal }

func (c *Cluster) realDir(parts ...string) string {
	return filepath.Join(append([]string{c.opts.Dir, "node"}, parts...)...)
}

func (c *Cluster) containerdSocket() string { return c.realDir("containerd", "containerd.sock") }
func (c *Cluster) runcRoot() string         { return c.realDir("containerd", "runc") }

// CheckRealNode says exactly what this host lacks to run a real node
// (root, Debian packages, the kubelet binaries in binDir/k8s), or nil.
func CheckRealNode(binDir string) error {
	if os.Geteuid() != 0 {
		return errors.New("a real node needs root (network namespaces, containerd, kubelet): run `make up NODE=real` as root")
	}
	var missing, pkgs []string
	seen := map[string]bool{}
	for _, cmd := range realNodeCommands {
		if _, err := exec.LookPath(cmd.path); err != nil {
			missing = append(missing, cmd.path)
			if !seen[cmd.pkg] {
				seen[cmd.pkg], pkgs = true, append(pkgs, cmd.pkg)
			}
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("the real node needs %s: install them with `apt-get install -y %s` (make node-packages)",
			strings.Join(missing, ", "), strings.Join(pkgs, " "))
	}
	for _, b := range []string{"kubelet", "kube-proxy", "kube-scheduler"} {
		if _, err := os.Stat(filepath.Join(binDir, "k8s", b)); err != nil {
			return fmt.Errorf("%s is missing; build it with `make tools-node`", filepath.Join(binDir, "k8s", b))
		}
	}
	return nil
}

// realPreflight says exactly what is missing for a real node.
func (c *Cluster) realPreflight() error {
	if err := CheckRealNode(c.opts.BinDir); err != nil {
		return err
	}
	if len(c.opts.Images) == 0 {
		return errors.New("the real node needs Ramp's images: pass --images with the OCI layouts of `make images-node`")
	}
	for _, dir := range c.opts.Images {
		if _, err := os.Stat(filepath.Join(dir, "index.json")); err != nil {
			return fmt.Errorf("image layout %s: %w (build it with `make images-node`)", dir, err)
		}
	}
	return nil
}

// run runs a command and returns its trimmed output; the error carries the
// output.
func run(ctx context.Context, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return strings.TrimSpace(string(out)), nil
}

// ensureNetns creates the namespace with its loopback and the node's
// address. A namespace left by a crashed run, while nothing of the cluster
// runs, is torn down and made again.
func (c *Cluster) ensureNetns(ctx context.Context, anyRunning bool) error {
	ns := c.Netns()
	_, err := os.Stat(c.NetnsPath())
	exists := err == nil
	if exists && !anyRunning {
		c.say("  %-24s removing the namespace a previous run left", "network "+ns)
		if err := c.teardownNode(ctx); err != nil {
			return err
		}
		exists = false
	}
	if exists {
		return nil
	}
	steps := [][]string{
		{"netns", "add", ns},
		{"-n", ns, "link", "set", "lo", "up"},
		// The node's address lives on the namespace's loopback (no dummy
		// interfaces without the kernel module): pods reach it through the
		// bridge's gateway like any local address.
		{"-n", ns, "addr", "add", RealNodeIP + "/32", "dev", "lo"},
	}
	for _, s := range steps {
		if _, err := run(ctx, "ip", s...); err != nil {
			return fmt.Errorf("creating the node's network namespace: %w", err)
		}
	}
	if _, err := run(ctx, "ip", "netns", "exec", ns, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1"); err != nil {
		return err
	}
	c.say("  %-24s created (node address %s, pods %s)", "network "+ns, RealNodeIP, realPodSubnet)
	return nil
}

// writeNodeConfig writes the configuration of containerd, the CNI, the
// kubelet and kube-proxy.
func (c *Cluster) writeNodeConfig() error {
	for _, d := range []string{c.realDir("containerd"), c.realDir("cni", "net.d"), c.realDir("kubelet")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	sandbox, err := c.sandboxImage()
	if err != nil {
		return err
	}
	files := map[string]string{
		c.realDir("containerd", "config.toml"): fmt.Sprintf(containerdConfig,
			c.realDir("containerd", "root"), c.realDir("containerd", "state"), c.containerdSocket(),
			sandbox, c.runcRoot(), c.realDir("cni", "net.d"), c.realDir("containerd", "opt")),
		c.realDir("cni", "net.d", "10-ramp.conflist"): fmt.Sprintf(cniConfig, realBridge, realPodSubnet, c.realDir("cni", "ipam")),
		c.realDir("kubelet", "config.yaml"): fmt.Sprintf(kubeletConfig, RealNodeIP, c.opts.KubeletPort,
			c.pki.caCert(), c.pki.kubeletCert(), c.pki.kubeletKey(), c.containerdSocket()),
		c.realDir("kube-proxy.yaml"): fmt.Sprintf(kubeProxyConfig, c.componentKubeconfig("ramp-node"), c.opts.NodeName, realPodCIDR),
	}
	for path, body := range files {
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			return fmt.Errorf("writing %s: %w", path, err)
		}
	}
	return nil
}

const containerdConfig = `# Written by ramp local up --node real.
version = 2
root = %q
state = %q

[grpc]
  address = %q

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %q
  # This machine may not lower oom_score_adj: without this every sandbox fails.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = %q
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = %q

[plugins."io.containerd.internal.v1.opt"]
  path = %q
`

const cniConfig = `{
  "cniVersion": "0.4.0",
  "name": "ramp",
  "plugins": [
    {"type": "bridge", "bridge": %q, "isGateway": true, "ipMasq": true, "hairpinMode": true,
     "ipam": {"type": "host-local", "ranges": [[{"subnet": %q}]], "routes": [{"dst": "0.0.0.0/0"}], "dataDir": %q}},
    {"type": "portmap", "capabilities": {"portMappings": true}},
    {"type": "loopback"}
  ]
}
`

const kubeletConfig = `# Written by ramp local up --node real.
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: %s
port: %d
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
  x509: {clientCAFile: %q}
authorization: {mode: AlwaysAllow}
tlsCertFile: %q
tlsPrivateKeyFile: %q
containerRuntimeEndpoint: unix://%s
# This machine has hybrid cgroup v1 and no systemd.
cgroupDriver: cgroupfs
failCgroupV1: false
cgroupsPerQOS: false
enforceNodeAllocatable: []
failSwapOn: false
evictionHard: {}
serializeImagePulls: false
resolvConf: ""
`

const kubeProxyConfig = `# Written by ramp local up --node real.
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: %q}
hostnameOverride: %s
mode: iptables
clusterCIDR: %s
bindAddress: 127.0.0.1
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
# Service traffic between pods on the one bridge returns through the node
# without br_netfilter.
iptables: {masqueradeAll: true}
# nf_conntrack_max is global to the host: leave it alone.
conntrack: {maxPerCore: 0}
`

// sandboxImage is the pause image among the layouts to import.
func (c *Cluster) sandboxImage() (string, error) {
	for _, dir := range c.opts.Images {
		refs, err := layoutRefs(dir)
		if err != nil {
			return "", err
		}
		for _, r := range refs {
			repo, _, _ := strings.Cut(r[strings.LastIndex(r, "/")+1:], ":")
			if repo == "pause" {
				return r, nil
			}
		}
	}
	return "", fmt.Errorf("no pause image in %s: build it with `make images-node`", strings.Join(c.opts.Images, ", "))
}

// realDaemons are the node's components, after the control plane.
func (c *Cluster) realDaemons() []daemon {
	mk := func(name, bin string, stopFor time.Duration, args ...string) daemon {
		return daemon{name: name, binary: bin, args: args, runDir: c.runDir(), logDir: c.logDir(), stopFor: stopFor, netns: c.Netns()}
	}
	return []daemon{
		mk("kube-scheduler", c.k8sBin("kube-scheduler"), 10*time.Second,
			"--kubeconfig="+c.componentKubeconfig("ramp-node"),
			"--leader-elect=false", "--bind-address=127.0.0.1"),
		mk("containerd", mustLook("containerd"), 20*time.Second,
			"--config="+c.realDir("containerd", "config.toml"), "--log-level=warn"),
		mk("kubelet", c.k8sBin("kubelet"), 30*time.Second,
			"--config="+c.realDir("kubelet", "config.yaml"),
			"--kubeconfig="+c.componentKubeconfig("ramp-node"),
			"--root-dir="+c.realDir("kubelet", "root"),
			"--cert-dir="+c.realDir("kubelet", "pki"),
			"--hostname-override="+c.opts.NodeName,
			"--node-ip="+RealNodeIP,
			"--v=1"),
		mk("kube-proxy", c.k8sBin("kube-proxy"), 10*time.Second,
			"--config="+c.realDir("kube-proxy.yaml")),
	}
}

// forwardDaemon carries the host's loopback ports of the API server, etcd
// and the gateway into the namespace.
func (c *Cluster) forwardDaemon() daemon {
	args := []string{"local", "forward", "--netns", c.NetnsPath()}
	for _, p := range []int{c.opts.APIServerPort, c.opts.EtcdPort} {
		args = append(args, "--map", fmt.Sprintf("127.0.0.1:%d=127.0.0.1:%d", p, p))
	}
	args = append(args, "--map", fmt.Sprintf("127.0.0.1:%d=%s:%d", c.opts.GatewayPort, RealNodeIP, GatewayNodePort))
	return daemon{name: "forward", binary: filepath.Join(c.opts.BinDir, "ramp"), args: args,
		runDir: c.runDir(), logDir: c.logDir(), stopFor: 5 * time.Second}
}

// mustLook resolves a command on PATH (realPreflight has checked it).
func mustLook(name string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	return name
}

// listening waits until addr accepts connections on the host.
func listening(addr string) func(context.Context) error {
	return func(ctx context.Context) error {
		d := net.Dialer{Timeout: time.Second}
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return err
		}
		return conn.Close()
	}
}

// inNetns checks a URL served inside the namespace (a component's healthz).
func (c *Cluster) inNetns(url string) func(context.Context) error {
	return func(ctx context.Context) error {
		host := strings.TrimPrefix(url, "http://")
		host, path, _ := strings.Cut(host, "/")
		conn, err := DialInNetns(c.NetnsPath(), host)
		if err != nil {
			return err
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(3 * time.Second))
		if _, err := fmt.Fprintf(conn, "GET /%s HTTP/1.0\r\nHost: %s\r\n\r\n", path, host); err != nil {
			return err
		}
		buf := make([]byte, 64)
		n, _ := conn.Read(buf)
		if status := string(buf[:n]); !strings.HasPrefix(status, "HTTP/1.0 200") && !strings.HasPrefix(status, "HTTP/1.1 200") {
			first, _, _ := strings.Cut(status, "\r\n")
			return fmt.Errorf("GET %s: %q", url, first)
		}
		return nil
	}
}

// containerdReady checks that containerd answers on its socket, then
// imports the images.
func (c *Cluster) containerdReady() func(context.Context) error {
	imported := false
	return func(ctx context.Context) error {
		if _, err := run(ctx, "ctr", "--address", c.containerdSocket(), "version"); err != nil {
			return err
		}
		if imported {
			return nil
		}
		if err := c.importImages(ctx); err != nil {
			return fmt.Errorf("%w: %w", errExited, err) // not worth retrying
		}
		imported = true
		return nil
	}
}

// importImages imports every image of the OCI layouts into containerd's
// k8s.io namespace, where the kubelet finds them, and checks each name.
func (c *Cluster) importImages(ctx context.Context) error {
	for _, dir := range c.opts.Images {
		refs, err := layoutRefs(dir)
		if err != nil {
			return err
		}
		archive := filepath.Join(c.realDir(), "import-"+filepath.Base(dir)+".tar")
		if err := tarDir(dir, archive); err != nil {
			return fmt.Errorf("packing %s for containerd: %w", dir, err)
		}
		start := time.Now()
		if _, err := run(ctx, "ctr", "--address", c.containerdSocket(), "--namespace", "k8s.io", "images", "import", "--digests", archive); err != nil {
			return fmt.Errorf("importing the images of %s into containerd: %w", dir, err)
		}
		_ = os.Remove(archive)
		have, err := run(ctx, "ctr", "--address", c.containerdSocket(), "--namespace", "k8s.io", "images", "ls", "--quiet")
		if err != nil {
			return err
		}
		for _, r := range refs {
			if !strings.Contains("\n"+have+"\n", "\n"+r+"\n") {
				return fmt.Errorf("image %s from %s is not in containerd after the import (images there: %s)", r, dir, strings.ReplaceAll(have, "\n", ", "))
			}
		}
		c.say("  %-24s imported %d images from %s in %s", "containerd", len(refs), dir, time.Since(start).Round(100*time.Millisecond))
	}
	return nil
}
