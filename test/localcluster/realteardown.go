package localcluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// teardownNode removes what the real node leaves once its processes are
// stopped: containers (through runc, which works without containerd), shim
// processes, mounts under the cluster directory, IP leases, and the network
// namespace with the bridge and every iptables rule in it.
func (c *Cluster) teardownNode(ctx context.Context) error {
	var errs []error
	root := filepath.Join(c.runcRoot(), "k8s.io")
	podNetns := c.podNetns()
	// Containers get SIGTERM and up to 10 s, as a kubelet would give them;
	// then whatever is left is killed and deleted.
	if cs := runcContainers(ctx, root); len(cs) > 0 {
		for _, ct := range cs {
			_, _ = run(ctx, "runc", "--root", root, "kill", ct.ID, "TERM")
		}
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
			alive := 0
			for _, ct := range runcContainers(ctx, root) {
				if ct.Status == "running" {
					alive++
				}
			}
			if alive == 0 {
				break
			}
		}
		for _, ct := range cs {
			if _, err := run(ctx, "runc", "--root", root, "delete", "--force", ct.ID); err != nil {
				errs = append(errs, err)
			}
		}
		c.say("  removed %d containers", len(cs))
	}
	// containerd 1.6 keeps each pod's network namespace in /run/netns
	// (cni-<uuid>); without the CNI DEL of a running containerd, remove
	// those of this cluster's sandboxes here.
	for _, p := range podNetns {
		if _, err := os.Stat(p); err != nil {
			continue
		}
		if _, err := run(ctx, "ip", "netns", "delete", filepath.Base(p)); err != nil {
			errs = append(errs, err)
		}
	}
	if n := killShims(c.containerdSocket()); n > 0 {
		c.say("  stopped %d containerd shims", n)
	}
	if n, err := unmountUnder(c.opts.Dir); err != nil {
		errs = append(errs, err)
	} else if n > 0 {
		c.say("  unmounted %d mounts under %s", n, c.opts.Dir)
	}
	_ = os.RemoveAll(c.realDir("cni", "ipam"))
	if _, err := os.Stat(c.NetnsPath()); err == nil {
		if _, err := run(ctx, "ip", "netns", "delete", c.Netns()); err != nil {
			errs = append(errs, err)
		} else {
			c.say("  %-24s removed (with its bridge and iptables rules)", "network "+c.Netns())
		}
	}
	return errors.Join(errs...)
}

// podNetns are the network namespaces the cluster's sandboxes use, read
// from the OCI bundles containerd keeps in its state directory.
func (c *Cluster) podNetns() []string {
	bundles, _ := filepath.Glob(c.realDir("containerd", "state", "io.containerd.runtime.v2.task", "k8s.io", "*", "config.json"))
	seen := map[string]bool{}
	var out []string
	for _, b := range bundles {
		raw, err := os.ReadFile(b)
		if err != nil {
			continue
		}
		var spec struct {
			Linux struct {
				Namespaces []struct{ Type, Path string } `json:"namespaces"`
			} `json:"linux"`
		}
		if json.Unmarshal(raw, &spec) != nil {
			continue
		}
		for _, ns := range spec.Linux.Namespaces {
			if ns.Type == "network" && strings.HasPrefix(filepath.Base(ns.Path), "cni-") && !seen[ns.Path] {
				seen[ns.Path], out = true, append(out, ns.Path)
			}
		}
	}
	return out
}

type runcContainer struct {
	ID     string `json:"id"`
	Status string `json:"status"`
}

// runcContainers lists the containers runc knows under root.
func runcContainers(ctx context.Context, root string) []runcContainer {
	out, err := run(ctx, "runc", "--root", root, "list", "--format", "json")
	if err != nil || out == "" || out == "null" {
		return nil
	}
	var cs []runcContainer
	if err := json.Unmarshal([]byte(out), &cs); err != nil {
		return nil
	}
	return cs
}

// killShims SIGKILLs containerd-shim-runc-v2 processes of the containerd
// at socket.
func killShims(socket string) int {
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	n := 0
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		args := strings.Split(string(b), "\x00")
		if !strings.HasSuffix(args[0], "containerd-shim-runc-v2") || !strings.Contains(string(b), socket) {
			continue
		}
		pid, err := strconv.Atoi(filepath.Base(filepath.Dir(p)))
		if err == nil && pid > 1 {
			if proc, err := os.FindProcess(pid); err == nil && proc.Kill() == nil {
				n++
			}
		}
	}
	return n
}

// unmountUnder lazily unmounts every mount point below dir, deepest first.
func unmountUnder(dir string) (int, error) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return 0, err
	}
	var points []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		p := unescapeMount(f[4])
		if strings.HasPrefix(p, dir+"/") {
			points = append(points, p)
		}
	}
	n := 0
	var errs []error
	for i := len(points) - 1; i >= 0; i-- {
		if err := unmount(points[i]); err != nil {
			errs = append(errs, fmt.Errorf("unmounting %s: %w", points[i], err))
		} else {
			n++
		}
	}
	return n, errors.Join(errs...)
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
