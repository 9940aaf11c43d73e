package node

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// SandboxDir is the directory of a pod's sandbox under podsDir: its
// processes' working directory, logs and PID files.
func SandboxDir(podsDir string, pod *corev1.Pod) string {
	return filepath.Join(podsDir, fmt.Sprintf("%s_%s_%s", pod.Namespace, pod.Name, pod.UID))
}

// ContainerPID returns the PID of the running process of a pod's
// container, from the PID file the agent keeps in the pod's sandbox while
// the process runs, and checks that the process is alive and runs the
// binary the file names.
func ContainerPID(podsDir string, pod *corev1.Pod, container string) (int, error) {
	f := filepath.Join(SandboxDir(podsDir, pod), container+".pid")
	b, err := os.ReadFile(f)
	if err != nil {
		return 0, fmt.Errorf("container %s of pod %s/%s has no running process: %w", container, pod.Namespace, pod.Name, err)
	}
	pid, binary, ok := parsePIDFile(b)
	if !ok {
		return 0, fmt.Errorf("%s: want \"<pid>\\n<binary>\\n\", got %q", f, b)
	}
	if !Alive(pid, binary) {
		return 0, fmt.Errorf("container %s of pod %s/%s: process %d (%s) is gone", container, pod.Namespace, pod.Name, pid, binary)
	}
	return pid, nil
}

// parsePIDFile reads "<pid>\n<binary>\n" (the binary path may contain
// spaces).
func parsePIDFile(b []byte) (int, string, bool) {
	fields := strings.SplitN(strings.TrimSuffix(string(b), "\n"), "\n", 2)
	if len(fields) != 2 {
		return 0, "", false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(fields[0]))
	if err != nil || pid <= 0 {
		return 0, "", false
	}
	return pid, fields[1], true
}
