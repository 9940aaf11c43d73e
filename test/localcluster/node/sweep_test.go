package node

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func resolvedBinary(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s not found: %v", name, err)
	}
	p, err = filepath.EvalSymlinks(p)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func copyBinary(t *testing.T, from, to string) string {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return to
}

func TestSweepProcesses(t *testing.T) {
	sleepBin := resolvedBinary(t, "sleep")
	trueBin := resolvedBinary(t, "true")
	dead := exec.Command(trueBin)
	if err := dead.Run(); err != nil {
		t.Fatalf("running %s: %v", trueBin, err)
	}
	deadPid := dead.Process.Pid

	cases := map[string]struct {
		spaceInPath bool // run sleep from a directory whose name has a space
		pidFile     func(livePid int, bin string) string
		wantSwept   int
		wantKilled  bool
		wantPidFile bool
	}{
		"running pod process is stopped": {
			pidFile:    func(pid int, bin string) string { return fmt.Sprintf("%d\n%s\n", pid, bin) },
			wantSwept:  1,
			wantKilled: true,
		},
		"dead pid is forgotten": {
			pidFile: func(int, string) string { return fmt.Sprintf("%d\n%s\n", deadPid, trueBin) },
		},
		"pid running another binary is left alone": {
			pidFile: func(pid int, _ string) string { return fmt.Sprintf("%d\n%s\n", pid, trueBin) },
		},
		// The agent writes "<pid>\n<binary>\n" and BinDir may contain a space.
		"binary path with a space is stopped": {
			spaceInPath: true,
			pidFile:     func(pid int, bin string) string { return fmt.Sprintf("%d\n%s\n", pid, bin) },
			wantSwept:   1,
			wantKilled:  true,
		},
		"unparsable pid is forgotten": {
			pidFile: func(int, string) string { return fmt.Sprintf("nope\n%s\n", sleepBin) },
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			bin := sleepBin
			if tc.spaceInPath {
				bin = copyBinary(t, sleepBin, filepath.Join(t.TempDir(), "bin dir", "sleep"))
			}
			cmd := exec.Command(bin, "30")
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			if err := cmd.Start(); err != nil {
				t.Fatalf("starting sleep: %v", err)
			}
			waited := false
			t.Cleanup(func() {
				if !waited {
					_ = cmd.Process.Kill()
					_ = cmd.Wait()
				}
			})
			podsDir := t.TempDir()
			pidPath := filepath.Join(podsDir, "p1", "c.pid")
			if err := os.MkdirAll(filepath.Dir(pidPath), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(pidPath, []byte(tc.pidFile(cmd.Process.Pid, bin)), 0o644); err != nil {
				t.Fatal(err)
			}

			n, err := SweepProcesses(podsDir)
			if err != nil {
				t.Fatalf("SweepProcesses: %v", err)
			}
			if diff := cmp.Diff(tc.wantSwept, n); diff != "" {
				t.Errorf("swept (-want +got):\n%s", diff)
			}
			_, statErr := os.Stat(pidPath)
			if diff := cmp.Diff(tc.wantPidFile, statErr == nil); diff != "" {
				t.Errorf("pid file exists (-want +got):\n%s", diff)
			}
			gotAlive := Alive(cmd.Process.Pid, bin)
			if diff := cmp.Diff(!tc.wantKilled, gotAlive); diff != "" {
				t.Errorf("sleep alive (-want +got):\n%s", diff)
			}
			if tc.wantKilled && !gotAlive { // a live sleep is killed by the cleanup
				waitErr := cmd.Wait()
				waited = true
				if diff := cmp.Diff(128+int(syscall.SIGTERM), exitCode(cmd.ProcessState, waitErr)); diff != "" {
					t.Errorf("sleep exit code (-want +got):\n%s", diff)
				}
			}
		})
	}
}

// TestAliveThroughALinkedDirectory checks that a process started through a
// symbolic link (bin/k8s linked to a shared build, say) is recognised:
// the kernel reports its executable with the link resolved.
func TestAliveThroughALinkedDirectory(t *testing.T) {
	dir := t.TempDir()
	real := copyBinary(t, resolvedBinary(t, "sleep"), filepath.Join(dir, "real", "sleep"))
	if err := os.Symlink(filepath.Join(dir, "real"), filepath.Join(dir, "linked")); err != nil {
		t.Fatal(err)
	}
	linked := filepath.Join(dir, "linked", "sleep")
	cmd := exec.Command(linked, "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	for name, bin := range map[string]string{"the linked path": linked, "the real path": real} {
		if !Alive(cmd.Process.Pid, bin) {
			t.Errorf("process started as %s not alive by %s (%s)", linked, name, bin)
		}
	}
	if Alive(cmd.Process.Pid, resolvedBinary(t, "true")) {
		t.Error("alive as another program")
	}
}
