package node

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// TimelineFile is the file in a pod's sandbox where the agent appends the
// moments of the pod's start, one JSON object a line. The API's timestamps
// are whole seconds, so this is how a benchmark learns, in milliseconds,
// when the node bound a pod, started its processes and found it ready
// (make bench-coldstart reads it).
const TimelineFile = "timeline.jsonl"

// Stages of a pod's start that the agent records. Container stages are
// followed by ":<container name>".
const (
	// StageBound: the agent's Binding of the pod was accepted.
	StageBound = "bound"
	// StageSandbox: the pod's directory and credentials are ready.
	StageSandbox = "sandbox"
	// StageStarted: a container's process was started (fork and exec).
	StageStarted = "started"
	// StageContainerReady: a container passed its readiness probe (or has
	// none and runs).
	StageContainerReady = "ready"
	// StageReadyWritten: the pod's status with Ready=True was accepted by
	// the API server.
	StageReadyWritten = "readyWritten"
)

// TimelineEntry is one line of TimelineFile.
type TimelineEntry struct {
	Stage string `json:"stage"`
	// UnixNano is when the stage was reached, on the node's clock.
	UnixNano int64 `json:"unixNano"`
}

// At is the entry's time.
func (e TimelineEntry) At() time.Time { return time.Unix(0, e.UnixNano) }

// recordStage appends a stage of pod to its sandbox's timeline. The
// timeline is a measurement aid: a failure to write it is logged, never
// acted upon.
func (a *Agent) recordStage(pod *corev1.Pod, stage string, at time.Time) {
	dir := SandboxDir(a.opts.PodsDir, pod)
	line, _ := json.Marshal(TimelineEntry{Stage: stage, UnixNano: at.UnixNano()}) // strings and an int always encode
	err := os.MkdirAll(dir, 0o755)
	if err == nil {
		var f *os.File
		if f, err = os.OpenFile(filepath.Join(dir, TimelineFile), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err == nil {
			_, err = f.Write(append(line, '\n'))
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
	}
	if err != nil {
		a.log.V(1).Info("Recording a pod's timeline failed", "pod", pod.Namespace+"/"+pod.Name, "stage", stage, "error", err.Error())
	}
}

// ReadTimeline returns the stages the agent recorded for a pod, in the
// order they were written.
func ReadTimeline(podsDir string, pod *corev1.Pod) ([]TimelineEntry, error) {
	f, err := os.Open(filepath.Join(SandboxDir(podsDir, pod), TimelineFile))
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	var out []TimelineEntry
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var e TimelineEntry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return nil, fmt.Errorf("timeline of pod %s/%s: %w", pod.Namespace, pod.Name, err)
		}
		out = append(out, e)
	}
	return out, sc.Err()
}
