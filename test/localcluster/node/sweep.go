package node

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// SweepProcesses kills every pod process recorded under podsDir that still
// runs: the leftovers of an agent that was killed without stopping its pods.
// It returns how many it stopped.
func SweepProcesses(podsDir string) (int, error) {
	files, err := filepath.Glob(filepath.Join(podsDir, "*", "*.pid"))
	if err != nil {
		return 0, err
	}
	n := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		pid, binary, ok := parsePIDFile(b)
		if !ok {
			_ = os.Remove(f) // not ours, or truncated: nothing to act on
			continue
		}
		if !Alive(pid, binary) {
			_ = os.Remove(f)
			continue
		}
		if err := Terminate(pid, binary, 5*time.Second); err != nil {
			return n, fmt.Errorf("pod process %d (%s): %w", pid, binary, err)
		}
		_ = os.Remove(f)
		n++
	}
	return n, nil
}

// Alive reports whether pid is a live (not zombie) process running binary,
// by its executable's path (the kernel's, with symbolic links resolved, so
// a binary reached through a linked directory such as bin/k8s matches);
// an empty binary matches any program.
func Alive(pid int, binary string) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	if i := strings.LastIndexByte(string(stat), ')'); i > 0 && i+2 < len(stat) && (stat[i+2] == 'Z' || stat[i+2] == 'X') {
		return false
	}
	if binary == "" {
		return true
	}
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	if err != nil {
		return false
	}
	exe = filepath.Clean(strings.TrimSuffix(exe, " (deleted)"))
	if exe == filepath.Clean(binary) {
		return true
	}
	resolved, err := filepath.EvalSymlinks(binary)
	return err == nil && exe == resolved
}

// Terminate stops pid (and its process group, if it leads one): SIGTERM,
// up to grace for it to exit, then SIGKILL. It returns once the process is
// gone, or an error if it survives SIGKILL.
func Terminate(pid int, binary string, grace time.Duration) error {
	_ = syscall.Kill(-pid, syscall.SIGTERM)
	_ = syscall.Kill(pid, syscall.SIGTERM)
	deadline := time.Now().Add(grace)
	for time.Now().Before(deadline) {
		if !Alive(pid, binary) {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return err
	}
	for i := 0; i < 100 && Alive(pid, binary); i++ {
		time.Sleep(20 * time.Millisecond)
	}
	if Alive(pid, binary) {
		return errors.New("still running after SIGKILL")
	}
	return nil
}
