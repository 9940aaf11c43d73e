package images

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// podman runs podman with its own storage under a test directory (the vfs
// driver: no mounts to leave behind), the runc runtime (crun fails on this
// machine's hybrid cgroups) and the host network, where the components
// bind loopback addresses only.
type podman struct {
	t      *testing.T
	global []string
}

// newPodman returns a podman with storage in a fresh directory, or skips
// the test when no OCI runtime is installed.
func newPodman(t *testing.T) *podman {
	t.Helper()
	for _, tool := range []string{"podman", "runc"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("no OCI runtime: %s is not installed (as root: apt-get install -y podman runc); the image tests need it", tool)
		}
	}
	dir, err := os.MkdirTemp("", "ramp-podman-")
	if err != nil {
		t.Fatal(err)
	}
	p := &podman{t: t, global: []string{
		"--root", filepath.Join(dir, "root"), "--runroot", filepath.Join(dir, "run"),
		"--tmpdir", filepath.Join(dir, "tmp"), "--storage-driver", "vfs", "--runtime", "runc",
		"--cgroup-manager", "cgroupfs", "--events-backend", "none",
	}}
	t.Cleanup(func() {
		_, _ = p.exec(context.Background(), "rm", "--all", "--force", "--time", "2")
		_, _ = p.exec(context.Background(), "rmi", "--all", "--force")
		_ = os.RemoveAll(dir)
	})
	return p
}

func (p *podman) exec(ctx context.Context, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "podman", append(append([]string{}, p.global...), args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if err != nil {
		return out.String(), fmt.Errorf("podman %s: %w\n%s", strings.Join(args, " "), err, out.String())
	}
	return strings.TrimSpace(out.String()), nil
}

func (p *podman) must(ctx context.Context, args ...string) string {
	p.t.Helper()
	out, err := p.exec(ctx, args...)
	if err != nil {
		p.t.Fatal(err)
	}
	return out
}

// restricted are the run flags of the chart's securityContext: the
// image's own user (never --user), a read-only root filesystem, no
// capabilities, no privilege escalation; plus this machine's limits.
var restricted = []string{
	"--read-only", "--cap-drop=ALL", "--security-opt", "no-new-privileges",
	"--network", "host", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024",
}

// start runs image detached as container name with env and args, and
// registers its logs to be printed if the test fails.
func (p *podman) start(ctx context.Context, name, image string, env map[string]string, mounts []string, args ...string) {
	p.t.Helper()
	run := append([]string{"run", "--detach", "--name", name}, restricted...)
	for k, v := range env {
		run = append(run, "--env", k+"="+v)
	}
	for _, m := range mounts {
		run = append(run, "--volume", m)
	}
	run = append(append(run, image), args...)
	p.must(ctx, run...)
	p.t.Cleanup(func() {
		if p.t.Failed() {
			logs, _ := p.exec(context.Background(), "logs", "--tail", "40", name)
			p.t.Logf("logs of %s:\n%s", name, logs)
		}
		_, _ = p.exec(context.Background(), "rm", "--force", "--time", "2", name)
	})
}

// checkRestricted checks, from the host's /proc, that container name's
// process runs as 65532 with no capabilities, and that podman mounted its
// root filesystem read-only.
func (p *podman) checkRestricted(ctx context.Context, name string) {
	p.t.Helper()
	pid := p.must(ctx, "inspect", "--format", "{{.State.Pid}}", name)
	status, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		p.t.Fatalf("%s: reading its process status: %v", name, err)
	}
	fields := map[string]string{}
	for _, line := range strings.Split(string(status), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			fields[k] = strings.Join(strings.Fields(v), " ")
		}
	}
	if fields["Uid"] != "65532 65532 65532 65532" || fields["Gid"] != "65532 65532 65532 65532" {
		p.t.Errorf("%s runs as uid %q gid %q, want 65532 (the image's non-root user)", name, fields["Uid"], fields["Gid"])
	}
	for _, c := range []string{"CapEff", "CapPrm", "CapBnd"} {
		if n, err := strconv.ParseUint(fields[c], 16, 64); err != nil || n != 0 {
			p.t.Errorf("%s has %s %q, want no capabilities", name, c, fields[c])
		}
	}
	if ro := p.must(ctx, "inspect", "--format", "{{.HostConfig.ReadonlyRootfs}}", name); ro != "true" {
		p.t.Errorf("%s: read-only root filesystem %s", name, ro)
	}
	if fields["NoNewPrivs"] != "1" {
		p.t.Errorf("%s: NoNewPrivs %q, want 1", name, fields["NoNewPrivs"])
	}
}
