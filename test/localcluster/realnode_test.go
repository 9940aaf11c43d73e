package localcluster

import (
	"archive/tar"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

func TestParseForward(t *testing.T) {
	f, err := ParseForward("127.0.0.1:6443=10.200.0.1:8080")
	if err != nil || f.Listen != "127.0.0.1:6443" || f.Target != "10.200.0.1:8080" {
		t.Fatalf("ParseForward = %+v, %v", f, err)
	}
	for in, want := range map[string]string{
		"127.0.0.1:6443":                 "LISTEN=TARGET",
		"0.0.0.0:6443=127.0.0.1:6443":    "loopback",
		"192.168.1.2:80=127.0.0.1:80":    "loopback",
		"127.0.0.1=127.0.0.1:6443":       "missing port",
		"127.0.0.1:6443=10.200.0.1":      "missing port",
		"localhost:6443=10.200.0.1:6443": "loopback",
	} {
		if _, err := ParseForward(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseForward(%q) = %v, want an error about %s", in, err, want)
		}
	}
}

func TestNewRefusesAnUnknownNode(t *testing.T) {
	_, err := New(Options{Dir: t.TempDir(), BinDir: t.TempDir(), Node: "vm"})
	if err == nil || !strings.Contains(err.Error(), `node "vm": want process or real`) {
		t.Fatalf("New(node vm) = %v", err)
	}
}

func TestNetnsIsPerDirectory(t *testing.T) {
	a, _ := New(Options{Dir: filepath.Join(t.TempDir(), "a"), BinDir: t.TempDir(), Node: NodeReal})
	b, _ := New(Options{Dir: filepath.Join(t.TempDir(), "b"), BinDir: t.TempDir(), Node: NodeReal})
	if a.Netns() == b.Netns() || !strings.HasPrefix(a.Netns(), "ramp-") || len(a.Netns()) > 15 {
		t.Fatalf("namespaces %q and %q: want distinct ramp-<hash> names that fit an interface name", a.Netns(), b.Netns())
	}
}

func TestRealModeDaemons(t *testing.T) {
	c, err := New(Options{Dir: t.TempDir(), BinDir: t.TempDir(), Node: NodeReal, APIServerPort: 7443, EtcdPort: 7379, GatewayPort: 7080})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range c.daemons() {
		names = append(names, d.name)
		if d.name == "forward" {
			if d.netns != "" || !strings.Contains(strings.Join(d.args, " "), "--map 127.0.0.1:7080=10.200.0.1:8080") {
				t.Errorf("forward runs on the host and carries the gateway port: netns %q args %v", d.netns, d.args)
			}
			continue
		}
		if d.netns != c.Netns() {
			t.Errorf("%s runs in namespace %q, want %q", d.name, d.netns, c.Netns())
		}
		if d.name == "kube-apiserver" && !strings.Contains(strings.Join(d.args, " "), "--advertise-address="+RealNodeIP) {
			t.Errorf("kube-apiserver must advertise the node's address to pods: %v", d.args)
		}
	}
	want := "forward etcd kube-apiserver kube-controller-manager kube-scheduler containerd kubelet kube-proxy"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("daemons %s, want %s", got, want)
	}
	proc, _ := New(Options{Dir: t.TempDir(), BinDir: t.TempDir()})
	for _, d := range proc.daemons() {
		if d.netns != "" {
			t.Errorf("process mode: %s runs in namespace %q", d.name, d.netns)
		}
	}
}

func TestLayoutRefsAndSandboxImage(t *testing.T) {
	dir := t.TempDir()
	index := `{"manifests": [
	  {"annotations": {"org.opencontainers.image.ref.name": "ghcr.io/rampdev/queue:0.1.0"}},
	  {"annotations": {"org.opencontainers.image.ref.name": "ghcr.io/rampdev/pause:0.1.0"}}]}`
	if err := os.WriteFile(filepath.Join(dir, "index.json"), []byte(index), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := New(Options{Dir: t.TempDir(), BinDir: t.TempDir(), Node: NodeReal, Images: []string{dir}})
	if err != nil {
		t.Fatal(err)
	}
	if img, err := c.sandboxImage(); err != nil || img != "ghcr.io/rampdev/pause:0.1.0" {
		t.Errorf("sandboxImage = %q, %v", img, err)
	}
	empty := t.TempDir()
	_ = os.WriteFile(filepath.Join(empty, "index.json"), []byte(`{"manifests": []}`), 0o644)
	if _, err := layoutRefs(empty); err == nil || !strings.Contains(err.Error(), "names no image") {
		t.Errorf("an empty layout: %v", err)
	}
	if _, err := layoutRefs(filepath.Join(dir, "nope")); err == nil || !strings.Contains(err.Error(), "make images-node") {
		t.Errorf("a missing layout: %v, want a hint to build it", err)
	}
	noPause, _ := New(Options{Dir: t.TempDir(), BinDir: t.TempDir(), Node: NodeReal, Images: []string{empty}})
	if _, err := noPause.sandboxImage(); err == nil {
		t.Error("a layout without a pause image gave a sandbox image")
	}
}

func TestTarDirKeepsTheLayout(t *testing.T) {
	dir := t.TempDir()
	_ = os.MkdirAll(filepath.Join(dir, "blobs", "sha256"), 0o755)
	_ = os.WriteFile(filepath.Join(dir, "index.json"), []byte("{}"), 0o644)
	_ = os.WriteFile(filepath.Join(dir, "blobs", "sha256", "abc"), []byte("blob"), 0o644)
	out := filepath.Join(t.TempDir(), "a.tar")
	if err := tarDir(dir, out); err != nil {
		t.Fatal(err)
	}
	f, _ := os.Open(out)
	defer f.Close()
	tr := tar.NewReader(f)
	var names []string
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
	}
	sort.Strings(names)
	if got := strings.Join(names, " "); got != "blobs/ blobs/sha256/ blobs/sha256/abc index.json" {
		t.Errorf("archive entries: %s", got)
	}
}

func TestPodNetnsReadsTheSandboxBundles(t *testing.T) {
	c, _ := New(Options{Dir: t.TempDir(), BinDir: t.TempDir(), Node: NodeReal})
	for id, ns := range map[string]string{"a": "/var/run/netns/cni-1234", "b": "/var/run/netns/cni-1234", "c": "/proc/1/ns/net"} {
		d := c.realDir("containerd", "state", "io.containerd.runtime.v2.task", "k8s.io", id)
		_ = os.MkdirAll(d, 0o755)
		spec := `{"linux": {"namespaces": [{"type": "pid"}, {"type": "network", "path": "` + ns + `"}]}}`
		_ = os.WriteFile(filepath.Join(d, "config.json"), []byte(spec), 0o644)
	}
	if got := c.podNetns(); len(got) != 1 || got[0] != "/var/run/netns/cni-1234" {
		t.Errorf("podNetns = %v, want the one cni- namespace once", got)
	}
}

func TestUnescapeMount(t *testing.T) {
	if got := unescapeMount(`/a\040b/c`); got != "/a b/c" {
		t.Errorf("unescapeMount = %q", got)
	}
}
