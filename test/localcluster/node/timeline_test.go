package node

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestTimelineRoundTrip(t *testing.T) {
	dir := t.TempDir()
	a := &Agent{opts: Options{PodsDir: dir}, log: logr.Discard()}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p", UID: "u1"}}
	t0 := time.Unix(1_700_000_000, 123_456_789)
	a.recordStage(pod, StageBound, t0)
	a.recordStage(pod, StageStarted+":app", t0.Add(3*time.Millisecond))
	a.recordStage(pod, StageContainerReady+":app", t0.Add(40*time.Millisecond))

	got, err := ReadTimeline(dir, pod)
	if err != nil {
		t.Fatal(err)
	}
	want := []TimelineEntry{
		{Stage: StageBound, UnixNano: t0.UnixNano()},
		{Stage: "started:app", UnixNano: t0.Add(3 * time.Millisecond).UnixNano()},
		{Stage: "ready:app", UnixNano: t0.Add(40 * time.Millisecond).UnixNano()},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("timeline (-want +got):\n%s", diff)
	}
	if !got[2].At().Equal(t0.Add(40 * time.Millisecond)) {
		t.Errorf("At() = %v, want %v", got[2].At(), t0.Add(40*time.Millisecond))
	}

	// A pod of another UID has its own sandbox, and no timeline yet.
	other := pod.DeepCopy()
	other.UID = "u2"
	if _, err := ReadTimeline(dir, other); !os.IsNotExist(err) {
		t.Errorf("ReadTimeline of a pod without one: %v, want not exist", err)
	}
	// A corrupt line is an error, not a silent gap.
	f := filepath.Join(SandboxDir(dir, pod), TimelineFile)
	if err := os.WriteFile(f, []byte("{not json\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadTimeline(dir, pod); err == nil {
		t.Error("ReadTimeline of a corrupt file: no error")
	}
}
