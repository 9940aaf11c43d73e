package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/rampdev/ramp/analysis"
	rolloutsv1alpha1 "github.com/rampdev/ramp/apis/rollouts/v1alpha1"
	"github.com/rampdev/ramp/test/framework"
)

// replayOutput is what `ramp analysis replay` printed for one run.
type replayOutput struct {
	looks   []analysis.LookRecord
	outcome analysis.RunRecord
}

func parseReplay(t *testing.T, out string) replayOutput {
	t.Helper()
	var r replayOutput
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var probe map[string]json.RawMessage
		if err := json.Unmarshal(line, &probe); err != nil {
			t.Fatalf("replay printed a line that is not JSON: %q: %v", line, err)
		}
		if _, ok := probe["outcome"]; ok {
			if err := json.Unmarshal(line, &r.outcome); err != nil {
				t.Fatal(err)
			}
			continue
		}
		var look analysis.LookRecord
		if err := json.Unmarshal(line, &look); err != nil {
			t.Fatal(err)
		}
		r.looks = append(r.looks, look)
	}
	if r.outcome.Outcome == "" {
		t.Fatalf("replay printed no outcome:\n%s", out)
	}
	return r
}

func TestRolloutAnalysisRecordAndReplayReachTheLiveVerdict(t *testing.T) {
	ns := cluster.Namespace(t)
	const name = "replay"
	host := name + "." + ns + ".example.com"
	// Given a Rollout with the default analysis at v1, under bounded load
	// (8 workers, at most 3 minutes or 100,000 requests)
	ro := canaryRollout(ns, name, sampleTemplate("v1", latency(storyLatency)), weight(20), weight(50))
	if err := cluster.Client.Create(context.Background(), ro); err != nil {
		t.Fatal(err)
	}
	waitPhase(t, ns, name, rolloutsv1alpha1.PhaseHealthy, 90*time.Second)
	waitProgrammed(t, ns, name)
	load := startVersionLoad(host, 8, 3*time.Minute)
	defer load.stop()

	// When v2, which answers 5% of its requests with a 500, starts its
	// first step
	setTemplate(t, ns, name, sampleTemplate("v2", latency(storyLatency), errorRate("0.05")))
	var readyAt time.Time
	framework.Eventually(t, 90*time.Second, func(ctx context.Context) error {
		ro, err := getRollout(ctx, ns, name)
		if err != nil {
			return err
		}
		if ro.Status.ObservedGeneration != ro.Generation || ro.Status.StepReadyAt == nil || ptr.Deref(ro.Status.CurrentStepIndex, -1) != 0 ||
			ro.Status.Phase != rolloutsv1alpha1.PhaseProgressing {
			return fmt.Errorf("phase %s step %v: %s", ro.Status.Phase, ro.Status.CurrentStepIndex, ro.Status.Message)
		}
		readyAt = ro.Status.StepReadyAt.Time
		return nil
	})
	// And `ramp analysis record` records that step (from its stepReadyAt)
	// while the controller judges it live
	const span = 30 * time.Second
	trace := filepath.Join(t.TempDir(), "trace.jsonl")
	recorded := make(chan error, 1)
	go func() {
		_, err := rampCLI(t, span+time.Minute, "analysis", "record", name, "-n", ns, "--for", span.String(), "-o", trace,
			"--autoscaler-url", cluster.AutoscalerURL())
		recorded <- err
	}()
	live := waitPhase(t, ns, name, rolloutsv1alpha1.PhaseRolledBack, time.Minute)
	liveLast := lastMeasurement(t, live)
	liveFail := failing(liveLast)
	liveSecond := liveLast.Time.Sub(readyAt).Seconds()
	t.Logf("live: rolled back at look %d, %.0f s after the step's traffic was applied: %s",
		len(live.Status.Measurements), liveSecond, live.Status.Message)
	if err := <-recorded; err != nil {
		t.Fatal(err)
	}

	// Then replaying the trace with the same Rollout manifest reaches the
	// same verdict on the same metric
	manifest := canaryRollout(ns, name, sampleTemplate("v2", latency(storyLatency), errorRate("0.05")), weight(20), weight(50))
	manifest.APIVersion, manifest.Kind = rolloutsv1alpha1.GroupVersion.String(), "Rollout"
	b, err := yaml.Marshal(manifest)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "rollout.yaml")
	if err := os.WriteFile(file, b, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := rampCLI(t, time.Minute, "analysis", "replay", "-f", file, "--telemetry", trace)
	if err != nil {
		t.Fatal(err)
	}
	rep := parseReplay(t, out)
	if rep.outcome.Outcome != "rollback" {
		t.Fatalf("replay outcome %q at second %d, live RolledBack (%s); replay looks:\n%s",
			rep.outcome.Outcome, rep.outcome.Second, live.Status.Message, out)
	}
	var firstFail *analysis.LookRecord
	looks := 0
	for i := range rep.looks {
		l := &rep.looks[i]
		looks++
		if l.Phase == analysis.Fail {
			firstFail = l
			break
		}
		if l.Phase == analysis.Pass {
			t.Errorf("replay look at second %d passed before the rollback", l.Second)
		}
	}
	if firstFail == nil || firstFail.Second != rep.outcome.Second {
		t.Fatalf("replay rolled back at second %d, but its first failing look is %+v", rep.outcome.Second, firstFail)
	}
	var replayFail []string
	for _, m := range firstFail.Metrics {
		if m.Phase == analysis.Fail {
			replayFail = append(replayFail, m.Name)
		}
	}
	if !slices.Equal(replayFail, liveFail) {
		t.Errorf("failing metrics: live %v, replay %v", liveFail, replayFail)
	}
	// And the live looks before the rollback were undecided, as the
	// replay's are
	for _, m := range live.Status.Measurements[:len(live.Status.Measurements)-1] {
		if m.Phase == "Pass" || m.Phase == "Fail" {
			t.Errorf("live look before the rollback was %s: %s", m.Phase, m.Message)
		}
	}
	// And both decide within a look or two of each other (the live looks
	// are not aligned with the trace's seconds, and telemetry arrives with
	// a scrape's delay)
	if d := float64(rep.outcome.Second) - liveSecond; d < -2*roInterval.Seconds() || d > 2*roInterval.Seconds() {
		t.Errorf("replay rolled back at second %d, live at %.0f s", rep.outcome.Second, liveSecond)
	}
	t.Logf("replay: rolled back at second %d (look %d): %s", rep.outcome.Second, looks, failMessage(firstFail))
}

func failMessage(l *analysis.LookRecord) string {
	for _, m := range l.Metrics {
		if m.Phase == analysis.Fail {
			return m.Message
		}
	}
	return ""
}
