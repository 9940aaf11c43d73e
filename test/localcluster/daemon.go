package localcluster

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rampdev/ramp/test/localcluster/node"
)

// daemon is one background process of the local cluster, tracked by a PID
// file so that a later `ramp local down` (another process) can stop it.
type daemon struct {
	name    string // etcd, kube-apiserver, ...
	binary  string
	args    []string
	env     []string
	runDir  string
	logDir  string
	stopFor time.Duration // how long SIGTERM may take before SIGKILL
	netns   string        // run inside this network namespace (/run/netns/<netns>)
}

func (d daemon) pidFile() string { return filepath.Join(d.runDir, d.name+".pid") }
func (d daemon) logFile() string { return filepath.Join(d.logDir, d.name+".log") }

// start launches the daemon in its own session, detached from the caller's
// terminal, with output appended to its log file. The returned channel
// yields the process's exit while this process lives to see it.
func (d daemon) start() (<-chan error, error) {
	if _, err := os.Stat(d.binary); err != nil {
		return nil, fmt.Errorf("%s: binary %s not found (run `make tools build`): %w", d.name, d.binary, err)
	}
	for _, dir := range []string{d.runDir, d.logDir} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("creating %s: %w", dir, err)
		}
	}
	logf, err := os.OpenFile(d.logFile(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening log of %s: %w", d.name, err)
	}
	defer logf.Close()
	fmt.Fprintf(logf, "\n==== %s starting %s %s\n", time.Now().Format(time.RFC3339), d.binary, strings.Join(d.args, " "))
	cmd := exec.Command(d.binary, d.args...)
	if d.netns != "" {
		// nsenter enters the network namespace only (ip netns exec would
		// also mount a new /sys, hiding the cgroup mounts the kubelet
		// needs) and execs the binary, so the PID stays the daemon's.
		cmd = exec.Command("nsenter", append([]string{"--net=/run/netns/" + d.netns, "--", d.binary}, d.args...)...)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), d.env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", d.name, err)
	}
	// Reap the child while this process lives; once it exits, init adopts it.
	exited := make(chan error, 1)
	go func() {
		err := cmd.Wait()
		if err == nil {
			err = errors.New("exit status 0")
		}
		exited <- err
	}()
	if err := os.WriteFile(d.pidFile(), []byte(strconv.Itoa(cmd.Process.Pid)), 0o644); err != nil {
		_ = cmd.Process.Kill()
		return nil, fmt.Errorf("writing PID file of %s: %w", d.name, err)
	}
	return exited, nil
}

// pid returns the PID of the running daemon, or 0 when it is not running.
// A PID file whose process is gone, or now belongs to another program, counts
// as not running.
func (d daemon) pid() int {
	b, err := os.ReadFile(d.pidFile())
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0
	}
	if !node.Alive(pid, d.binary) {
		return 0
	}
	return pid
}

// stop sends SIGTERM, waits up to stopFor, then SIGKILLs. It removes the PID
// file once the process is gone.
func (d daemon) stop() error {
	pid := d.pid()
	if pid == 0 {
		_ = os.Remove(d.pidFile())
		return nil
	}
	if err := node.Terminate(pid, d.binary, d.stopFor); err != nil {
		return fmt.Errorf("stopping %s (pid %d): %w", d.name, pid, err)
	}
	_ = os.Remove(d.pidFile())
	return nil
}

// logTail returns the last n lines of the daemon's log, for error messages.
func (d daemon) logTail(n int) string {
	b, err := os.ReadFile(d.logFile())
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
