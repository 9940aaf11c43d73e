package node

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
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
		// "<pid>\n<binary>\n": the binary path may contain spaces.
		fields := strings.SplitN(strings.TrimSuffix(string(b), "\n"), "\n", 2)
		if len(fields) != 2 {
			_ = os.Remove(f) // not ours, or truncated: nothing to act on
			continue
		}
		fields[0] = strings.TrimSpace(fields[0])
		pid, err := strconv.Atoi(fields[0])
		if err != nil || !Alive(pid, fields[1]) {
			_ = os.Remove(f)
			continue
		}
		if err := Terminate(pid, fields[1], 5*time.Second); err != nil {
			return n, fmt.Errorf("pod process %d (%s): %w", pid, fields[1], err)
		}
		_ = os.Remove(f)
		n++
	}
	return n, nil
}

// Alive reports whether pid is a live (not zombie) process running binary,
// by its executable's path; an empty binary matches any program.
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
	return filepath.Clean(strings.TrimSuffix(exe, " (deleted)")) == filepath.Clean(binary)
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
