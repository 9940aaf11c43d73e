package e2e

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rolloutsv1alpha1 "github.com/rampdev/ramp/apis/rollouts/v1alpha1"
	servingv1 "github.com/rampdev/ramp/apis/serving/v1"
	"github.com/rampdev/ramp/test/framework"
)

// Latencies of the sample app in the rollout specs, uniform in
// [BASE-JITTER, BASE+JITTER]: jittered, so that the latency test has a
// distribution to compare, canary against stable. The jitter is as wide
// as the base: the latency test counts requests above a threshold fixed
// at the end of the histogram bucket holding the stable's p90, and a
// narrower jitter (such as 40ms+-20ms) can put that threshold past almost
// all of the stable's requests, leaving the test little to count.
const (
	// storyLatency is the acceptance story's app; slowLatency is 30%
	// slower on every request (base and jitter).
	storyLatency = "30ms+-30ms"
	slowLatency  = "39ms+-39ms"
	// quickLatency is the app of the specs that are not about latency.
	quickLatency = "15ms+-15ms"
)

// roInterval is the default analysis interval (a look every 5 s).
const roInterval = 5 * time.Second

// sampleTemplate is a revision template of the sample app at version,
// with extra environment (see latency and errorRate).
func sampleTemplate(version string, env ...corev1.EnvVar) servingv1.RevisionTemplateSpec {
	return servingv1.RevisionTemplateSpec{Spec: servingv1.RevisionSpec{Containers: []servingv1.Container{{
		Image: "ramp/sampleapp:" + version,
		Env: append([]corev1.EnvVar{
			{Name: "NAME", Value: "shop"}, {Name: "VERSION", Value: version},
		}, env...),
		Ports:          []servingv1.ContainerPort{{ContainerPort: 8080}},
		ReadinessProbe: &servingv1.Probe{HTTPGet: &servingv1.HTTPGetAction{Path: "/healthz"}, PeriodSeconds: 1},
	}}}}
}

// latency is the sample app's LATENCY: "BASE" or "BASE+-JITTER".
func latency(l string) corev1.EnvVar { return corev1.EnvVar{Name: "LATENCY", Value: l} }

// errorRate is the sample app's ERROR_RATE: the fraction of requests
// answered with a 500.
func errorRate(f string) corev1.EnvVar { return corev1.EnvVar{Name: "ERROR_RATE", Value: f} }

// canaryRollout is a Rollout of tpl with the given steps and no analysis
// block: the default analysis (error-rate and p90 latency, canary against
// stable, sequential tests; a step runs at least 30 s and at most 10 m,
// then rolls back).
func canaryRollout(ns, name string, tpl servingv1.RevisionTemplateSpec, steps ...rolloutsv1alpha1.CanaryStep) *rolloutsv1alpha1.Rollout {
	return &rolloutsv1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: rolloutsv1alpha1.RolloutSpec{
			Template: tpl,
			Strategy: rolloutsv1alpha1.Strategy{Canary: &rolloutsv1alpha1.CanaryStrategy{Steps: steps}},
		},
	}
}

// stepTimes is the default analysis (its metrics and settings) with the
// given step times, for specs that need steps to decide quickly.
func stepTimes(minStep, maxStep time.Duration) *rolloutsv1alpha1.Analysis {
	return &rolloutsv1alpha1.Analysis{
		MinStepTime: &metav1.Duration{Duration: minStep}, MaxStepTime: &metav1.Duration{Duration: maxStep},
	}
}

func weight(w int32) rolloutsv1alpha1.CanaryStep {
	return rolloutsv1alpha1.CanaryStep{Weight: ptr.To(w)}
}

func getRollout(ctx context.Context, ns, name string) (*rolloutsv1alpha1.Rollout, error) {
	ro := &rolloutsv1alpha1.Rollout{}
	return ro, cluster.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, ro)
}

// waitPhase waits until the Rollout of the current template reaches phase.
func waitPhase(t *testing.T, ns, name string, phase rolloutsv1alpha1.Phase, within time.Duration) *rolloutsv1alpha1.Rollout {
	t.Helper()
	var ro *rolloutsv1alpha1.Rollout
	framework.Eventually(t, within, func(ctx context.Context) error {
		var err error
		if ro, err = getRollout(ctx, ns, name); err != nil {
			return err
		}
		if ro.Status.ObservedGeneration != ro.Generation || ro.Status.Phase != phase {
			return fmt.Errorf("phase %s (generation %d observed %d), want %s: %s", ro.Status.Phase,
				ro.Generation, ro.Status.ObservedGeneration, phase, ro.Status.Message)
		}
		return nil
	})
	return ro
}

// setTemplate changes the Rollout's template, which starts a new rollout.
func setTemplate(t *testing.T, ns, name string, tpl servingv1.RevisionTemplateSpec) {
	t.Helper()
	framework.Eventually(t, 30*time.Second, func(ctx context.Context) error {
		ro, err := getRollout(ctx, ns, name)
		if err != nil {
			return err
		}
		ro.Spec.Template = tpl
		return cluster.Client.Update(ctx, ro)
	})
}

// act sets an action annotation with a fresh id, as the CLI does.
func act(t *testing.T, ns, name, action string) {
	t.Helper()
	framework.Eventually(t, 30*time.Second, func(ctx context.Context) error {
		ro, err := getRollout(ctx, ns, name)
		if err != nil {
			return err
		}
		patch := client.MergeFrom(ro.DeepCopy())
		if ro.Annotations == nil {
			ro.Annotations = map[string]string{}
		}
		ro.Annotations[rolloutsv1alpha1.AnnotationAction] = action
		ro.Annotations[rolloutsv1alpha1.AnnotationActionID] = rand.String(10)
		ro.Annotations[rolloutsv1alpha1.AnnotationActionBy] = "e2e"
		return cluster.Client.Patch(ctx, ro, patch)
	})
}

// versionLoad is bounded traffic (a few workers, at most 100,000 requests
// or the time limit, loopback only) that records what each version
// answered.
type versionLoad struct {
	mu        sync.Mutex
	ok, bad   map[string]int
	firstSeen map[string]time.Time
	sent      atomic.Int64
	cancel    context.CancelFunc
	wg        sync.WaitGroup
}

// startVersionLoad sends GET / to host through the gateway from workers
// workers, each pausing 5 ms between requests, until limit.
func startVersionLoad(host string, workers int, limit time.Duration) *versionLoad {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	l := &versionLoad{cancel: cancel, ok: map[string]int{}, bad: map[string]int{}, firstSeen: map[string]time.Time{}}
	for range workers {
		l.wg.Go(func() {
			for ctx.Err() == nil && l.sent.Add(1) <= 100000 {
				code, version, err := viaGateway(ctx, host, "/", nil)
				if ctx.Err() != nil {
					return
				}
				l.mu.Lock()
				if _, seen := l.firstSeen[version]; !seen && version != "" {
					l.firstSeen[version] = time.Now()
				}
				if err != nil || code/100 != 2 {
					l.bad[version+" "+strconv.Itoa(code)]++
				} else {
					l.ok[version]++
				}
				l.mu.Unlock()
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
	return l
}

// snapshot returns copies of the counts and first-seen times.
func (l *versionLoad) snapshot() (ok, bad map[string]int, first map[string]time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return maps.Clone(l.ok), maps.Clone(l.bad), maps.Clone(l.firstSeen)
}

func (l *versionLoad) reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ok, l.bad, l.firstSeen = map[string]int{}, map[string]int{}, map[string]time.Time{}
}

func (l *versionLoad) stop() {
	l.cancel()
	l.wg.Wait()
}

// rampCLI runs the built CLI (RAMP_BIN_DIR/ramp) against the cluster's
// admin kubeconfig for at most timeout and returns its standard output;
// a failure's error holds its standard error.
func rampCLI(t *testing.T, timeout time.Duration, args ...string) (string, error) {
	t.Helper()
	bin := filepath.Join(cluster.BinDir, "ramp")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("the ramp CLI is not built (make build): %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+cluster.Kubeconfig())
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("ramp %s: %w\n%s", strings.Join(args, " "), err, errOut.String())
	}
	return out.String(), nil
}

// evidenceOf runs `ramp rollout get` and returns its "Evidence of the
// last measurement" section, failing the test if it has none or lacks a
// line for metric with phase.
func evidenceOf(t *testing.T, ns, name, metric, phase string) string {
	t.Helper()
	out, err := rampCLI(t, 30*time.Second, "rollout", "get", name, "-n", ns)
	if err != nil {
		t.Fatal(err)
	}
	_, section, found := strings.Cut(out, "Evidence of the last measurement:")
	if !found {
		t.Fatalf("`ramp rollout get %s` shows no evidence of the last measurement:\n%s", name, out)
	}
	section, _, _ = strings.Cut(section, "\nConditions:")
	if want := "    " + metric + " " + phase + ": "; !strings.Contains(section, want) {
		t.Errorf("`ramp rollout get %s` evidence has no line %q:\n%s", name, want, out)
	}
	return strings.TrimSpace(section)
}

// lastMeasurement is the Rollout's last measurement; it fails the test if
// there is none.
func lastMeasurement(t *testing.T, ro *rolloutsv1alpha1.Rollout) rolloutsv1alpha1.Measurement {
	t.Helper()
	ms := ro.Status.Measurements
	if len(ms) == 0 {
		t.Fatalf("no measurement recorded: phase %s: %s", ro.Status.Phase, ro.Status.Message)
	}
	return ms[len(ms)-1]
}

// failing lists the metrics of m that failed.
func failing(m rolloutsv1alpha1.Measurement) []string {
	var names []string
	for _, r := range m.Metrics {
		if r.Phase == "Fail" {
			names = append(names, r.Name)
		}
	}
	return names
}

func TestRolloutPromotesAGoodCanaryAndRollsBackBadOnes(t *testing.T) {
	ns := cluster.Namespace(t)
	const name = "shop"
	host := name + "." + ns + ".example.com"
	// Given a Rollout without an analysis block (the default analysis:
	// error-rate and p90 latency, canary against stable; a step runs at
	// least 30 s), whose first revision goes straight to 100%
	ro := canaryRollout(ns, name, sampleTemplate("v1", latency(storyLatency)), weight(20), weight(50))
	if err := cluster.Client.Create(context.Background(), ro); err != nil {
		t.Fatal(err)
	}
	first := waitPhase(t, ns, name, rolloutsv1alpha1.PhaseHealthy, 90*time.Second)
	waitProgrammed(t, ns, name)
	t.Logf("v1 is stable as %s", first.Status.StableRevision)
	// And bounded load: 8 workers, at most 6 minutes or 100,000 requests
	load := startVersionLoad(host, 8, 6*time.Minute)
	defer load.stop()
	watchSteps(ns, name, "").logOnFailure(t)

	// When a good v2 rolls out under load
	started := time.Now()
	setTemplate(t, ns, name, sampleTemplate("v2", latency(storyLatency)))
	// Then it is promoted, each step on evidence of non-regression after
	// its minimum time, and no client saw an error
	v2 := waitPhase(t, ns, name, rolloutsv1alpha1.PhaseHealthy, 4*time.Minute)
	took := time.Since(started)
	ok, bad, _ := load.snapshot()
	if len(bad) > 0 || ok["v2"] == 0 {
		t.Fatalf("during the v2 rollout: answers %v, failures %v; want v2 answers and no failure", ok, bad)
	}
	if v2.Status.CanaryRevision != "" {
		t.Errorf("after promotion stable %q, canary %q", v2.Status.StableRevision, v2.Status.CanaryRevision)
	}
	if took < 2*30*time.Second {
		t.Errorf("v2 was promoted %v after its template change: two steps of at least 30 s each cannot pass so soon", took)
	}
	last := lastMeasurement(t, v2)
	if last.Phase != "Pass" || ptr.Deref(last.Step, -1) != 1 {
		t.Errorf("the last measurement before promotion is %s at step %v, want Pass at step index 1: %s", last.Phase, last.Step, last.Message)
	}
	for _, m := range last.Metrics {
		if m.Phase != "Pass" || m.Evidence == nil || m.Evidence.CanaryRequests == 0 || !strings.Contains(m.Message, "evidence of non-regression") {
			t.Errorf("metric %s of the passing measurement: %s (evidence %+v)", m.Name, m.Message, m.Evidence)
		}
	}
	t.Logf("v2 promoted %v after its template change; %v answers; last look: %s", took.Round(time.Second), ok, last.Message)

	// When v3 answers 5% of its requests with a 500
	load.reset()
	setTemplate(t, ns, name, sampleTemplate("v3", latency(storyLatency), errorRate("0.05")))
	// Then it is RolledBack within 30 s of its first canary answer, with
	// the evidence in the reason
	rolled := waitPhase(t, ns, name, rolloutsv1alpha1.PhaseRolledBack, 2*time.Minute)
	rolledAt := time.Now()
	_, _, seen := load.snapshot()
	if took := rolledAt.Sub(seen["v3"]); seen["v3"].IsZero() || took > 30*time.Second {
		t.Errorf("v3 rolled back %v after its first canary answer; want at most 30s", took)
	} else {
		t.Logf("v3 rolled back %v after its first canary answer: %s", took.Round(100*time.Millisecond), rolled.Status.Message)
	}
	for _, want := range []string{"Rolled back to " + v2.Status.StableRevision + ": at step 1/2", "error-rate: canary 5xx", "vs stable", "evidence of regression", "e="} {
		if !strings.Contains(rolled.Status.Message, want) {
			t.Errorf("rollback reason %q does not contain %q", rolled.Status.Message, want)
		}
	}
	if f := failing(lastMeasurement(t, rolled)); !slices.Contains(f, "error-rate") {
		t.Errorf("metrics failed by the last measurement: %v, want error-rate", f)
	}
	// And `ramp rollout get` shows the evidence
	t.Logf("ramp rollout get %s: evidence of the last measurement:\n%s", name, evidenceOf(t, ns, name, "error-rate", "Fail"))
	// And afterwards clients get no 5xx from the canary: all v2
	waitProgrammed(t, ns, name)
	load.reset()
	time.Sleep(3 * time.Second)
	ok, bad, _ = load.snapshot()
	if len(bad) > 0 || ok["v3"] > 0 || ok["v2"] == 0 {
		t.Fatalf("after the rollback: answers %v, failures %v; want only v2", ok, bad)
	}

	// When v4 is 30% slower on every request
	load.reset()
	setTemplate(t, ns, name, sampleTemplate("v4", latency(slowLatency)))
	// Then it is RolledBack on latency, with the evidence in the reason
	slow := waitPhase(t, ns, name, rolloutsv1alpha1.PhaseRolledBack, 2*time.Minute)
	slowAt := time.Now()
	for _, want := range []string{"latency: canary p90", "vs stable", "evidence of regression", "e="} {
		if !strings.Contains(slow.Status.Message, want) {
			t.Errorf("rollback reason %q does not contain %q", slow.Status.Message, want)
		}
	}
	_, _, seen = load.snapshot()
	t.Logf("v4 rolled back %v after its first canary answer: %s", slowAt.Sub(seen["v4"]).Round(100*time.Millisecond), slow.Status.Message)
	t.Logf("ramp rollout get %s: evidence of the last measurement:\n%s", name, evidenceOf(t, ns, name, "latency", "Fail"))
	ok, bad, _ = load.snapshot()
	if len(bad) > 0 {
		t.Errorf("a slow canary made requests fail: %v (answers %v)", bad, ok)
	}
	t.Logf("%d requests sent in all", load.sent.Load())
}

// stepWatch follows a Rollout's status while one canary (or, for "",
// any) is rolled out and keeps the furthest it got and the messages it
// showed.
type stepWatch struct {
	mu       sync.Mutex
	maxStep  int32
	maxW     int32
	passes   []string
	timeline []string
	cancel   context.CancelFunc
	done     chan struct{}
}

func watchSteps(ns, name, canary string) *stepWatch {
	ctx, cancel := context.WithCancel(context.Background())
	w := &stepWatch{maxStep: -1, cancel: cancel, done: make(chan struct{})}
	start, last := time.Now(), ""
	go func() {
		defer close(w.done)
		for ctx.Err() == nil {
			if ro, err := getRollout(ctx, ns, name); err == nil && (canary == "" || ro.Status.CanaryRevision == canary) {
				w.mu.Lock()
				w.maxStep = max(w.maxStep, ptr.Deref(ro.Status.CurrentStepIndex, -1))
				w.maxW = max(w.maxW, ro.Status.CanaryWeight)
				for _, m := range ro.Status.Measurements {
					if m.Phase == "Pass" && !slices.Contains(w.passes, m.Message) {
						w.passes = append(w.passes, m.Message)
					}
				}
				// The elapsed time in the message changes every second:
				// keep a line per other change.
				if key := elapsedTime.ReplaceAllString(ro.Status.Message, "("); key != last {
					last = key
					w.timeline = append(w.timeline, fmt.Sprintf("%6.1fs %s %s", time.Since(start).Seconds(), ro.Status.Phase, ro.Status.Message))
				}
				w.mu.Unlock()
			}
			select {
			case <-ctx.Done():
			case <-time.After(250 * time.Millisecond):
			}
		}
	}()
	return w
}

// elapsedTime is the step's elapsed time in a Progressing message.
var elapsedTime = regexp.MustCompile(`\([0-9hms.]+ of at least `)

func (w *stepWatch) stop() (maxStep, maxWeight int32, passes []string) {
	w.cancel()
	<-w.done
	return w.maxStep, w.maxW, w.passes
}

// logOnFailure logs the status messages w saw if t has failed.
func (w *stepWatch) logOnFailure(t *testing.T) {
	t.Cleanup(func() {
		w.stop()
		if t.Failed() {
			t.Logf("status messages of the rollout, by time since the watch started:\n%s", strings.Join(w.timeline, "\n"))
		}
	})
}

func TestRolloutWithoutTrafficIsNeverPromotedAndApprovalGatesWait(t *testing.T) {
	ns := cluster.Namespace(t)
	const name = "quiet"
	host := name + "." + ns + ".example.com"
	// Given a Rollout at v1 with the default metrics, steps of 5 s to 20 s
	// and an approval gate
	ro := canaryRollout(ns, name, sampleTemplate("v1", latency(quickLatency)),
		weight(20), rolloutsv1alpha1.CanaryStep{Approval: &rolloutsv1alpha1.Approval{}}, weight(50))
	ro.Spec.Analysis = stepTimes(5*time.Second, 20*time.Second)
	if err := cluster.Client.Create(context.Background(), ro); err != nil {
		t.Fatal(err)
	}
	waitPhase(t, ns, name, rolloutsv1alpha1.PhaseHealthy, 90*time.Second)
	waitProgrammed(t, ns, name)

	// When v2 rolls out with no traffic at all
	setTemplate(t, ns, name, sampleTemplate("v2", latency(quickLatency)))
	var canary string
	framework.Eventually(t, 90*time.Second, func(ctx context.Context) error {
		ro, err := getRollout(ctx, ns, name)
		if err != nil {
			return err
		}
		if ro.Status.ObservedGeneration != ro.Generation || ro.Status.StepReadyAt == nil || ptr.Deref(ro.Status.CurrentStepIndex, -1) != 0 {
			return fmt.Errorf("phase %s step %v: %s", ro.Status.Phase, ro.Status.CurrentStepIndex, ro.Status.Message)
		}
		canary = ro.Status.CanaryRevision
		return nil
	})
	watch := watchSteps(ns, name, canary)
	watch.logOnFailure(t)
	// Then its status says that it gathers evidence and has no canary
	// requests, which is never a pass
	framework.Eventually(t, 30*time.Second, func(ctx context.Context) error {
		ro, err := getRollout(ctx, ns, name)
		if err != nil {
			return err
		}
		for _, want := range []string{"At step 1/3 (weight 20%) of " + canary + ": gathering evidence of non-regression (", "at most 20s, then rollback)", "no canary requests yet", "no data is never a pass"} {
			if !strings.Contains(ro.Status.Message, want) {
				return fmt.Errorf("phase %s, message %q does not contain %q", ro.Status.Phase, ro.Status.Message, want)
			}
		}
		t.Logf("without traffic: %s", ro.Status.Message)
		return nil
	})

	// When a trickle of traffic starts (one worker: its canary share is far
	// from what a verdict needs in 20 s)
	trickle := startVersionLoad(host, 1, 90*time.Second)
	defer trickle.stop()
	// Then its status says how many more canary requests a verdict needs
	framework.Eventually(t, 30*time.Second, func(ctx context.Context) error {
		ro, err := getRollout(ctx, ns, name)
		if err != nil {
			return err
		}
		if !strings.Contains(ro.Status.Message, "more canary requests needed (~") {
			return fmt.Errorf("phase %s: %s", ro.Status.Phase, ro.Status.Message)
		}
		t.Logf("with a trickle: %s", ro.Status.Message)
		return nil
	})
	// And at its maximum step time it is rolled back, never having reached
	// a later step
	rolled := waitPhase(t, ns, name, rolloutsv1alpha1.PhaseRolledBack, 60*time.Second)
	trickle.stop()
	maxStep, maxWeight, passes := watch.stop()
	for _, want := range []string{": at step 1/3 (weight 20%): no evidence of non-regression within the maximum step time 20s: ", "more canary requests needed"} {
		if !strings.Contains(rolled.Status.Message, want) {
			t.Errorf("rollback reason %q does not contain %q", rolled.Status.Message, want)
		}
	}
	if maxStep != 0 || maxWeight != 20 || len(passes) > 0 {
		t.Fatalf("without enough traffic the canary reached step index %d, weight %d%%, passing measurements %q; want step 0, 20%%, none",
			maxStep, maxWeight, passes)
	}
	ms := rolled.Status.Measurements
	t.Logf("rolled back after %d inconclusive looks: %s", len(ms), rolled.Status.Message)

	// When its steps may take longer, traffic flows and it is retried
	framework.Eventually(t, 30*time.Second, func(ctx context.Context) error {
		ro, err := getRollout(ctx, ns, name)
		if err != nil {
			return err
		}
		ro.Spec.Analysis = stepTimes(5*time.Second, 2*time.Minute)
		return cluster.Client.Update(ctx, ro)
	})
	load := startVersionLoad(host, 8, 3*time.Minute)
	defer load.stop()
	act(t, ns, name, "retry")
	// Then step 1 passes on evidence and it waits at the approval gate
	framework.Eventually(t, 2*time.Minute, func(ctx context.Context) error {
		ro, err := getRollout(ctx, ns, name)
		if err != nil {
			return err
		}
		if ptr.Deref(ro.Status.CurrentStepIndex, -1) != 1 || ro.Status.Phase != rolloutsv1alpha1.PhaseProgressing {
			return fmt.Errorf("phase %s step %v: %s", ro.Status.Phase, ro.Status.CurrentStepIndex, ro.Status.Message)
		}
		return nil
	})
	time.Sleep(3 * roInterval)
	held, err := getRollout(context.Background(), ns, name)
	if err != nil {
		t.Fatal(err)
	}
	if ptr.Deref(held.Status.CurrentStepIndex, -1) != 1 || held.Status.CanaryWeight != 20 || held.Status.Phase != rolloutsv1alpha1.PhaseProgressing {
		t.Fatalf("did not wait at the approval gate: phase %s step %v weight %d: %s", held.Status.Phase,
			held.Status.CurrentStepIndex, held.Status.CanaryWeight, held.Status.Message)
	}
	// And the analysis keeps watching the canary there
	if m := lastMeasurement(t, held); ptr.Deref(m.Step, -1) != 1 {
		t.Errorf("no measurement at the approval gate; the last is at step %v: %s", m.Step, m.Message)
	}
	// When it is approved, Then it is promoted
	act(t, ns, name, "approve")
	waitPhase(t, ns, name, rolloutsv1alpha1.PhaseHealthy, 2*time.Minute)
	if _, bad, _ := load.snapshot(); len(bad) > 0 {
		t.Errorf("failures during the rollout: %v", bad)
	}
}

func TestRolloutRoutesABTestersByHeaderToTheCanary(t *testing.T) {
	ns := cluster.Namespace(t)
	// Given a Rollout without analysis whose new revisions first get 0%
	// plus the beta testers (header X-Beta: true), then wait for approval
	ro := canaryRollout(ns, "ab", sampleTemplate("v1"), weight(0), rolloutsv1alpha1.CanaryStep{Approval: &rolloutsv1alpha1.Approval{}}, weight(100))
	ro.Spec.Analysis = &rolloutsv1alpha1.Analysis{Disabled: true}
	ro.Spec.Strategy.HeaderRoutes = []rolloutsv1alpha1.HeaderMatch{{Name: "X-Beta", Value: "true"}}
	if err := cluster.Client.Create(context.Background(), ro); err != nil {
		t.Fatal(err)
	}
	waitPhase(t, ns, "ab", rolloutsv1alpha1.PhaseHealthy, 90*time.Second)
	// When v2 rolls out and reaches the approval gate
	setTemplate(t, ns, "ab", sampleTemplate("v2"))
	framework.Eventually(t, 90*time.Second, func(ctx context.Context) error {
		ro, err := getRollout(ctx, ns, "ab")
		if err != nil {
			return err
		}
		if ro.Status.ObservedGeneration != ro.Generation || ptr.Deref(ro.Status.CurrentStepIndex, -1) != 1 {
			return fmt.Errorf("phase %s step %v: %s", ro.Status.Phase, ro.Status.CurrentStepIndex, ro.Status.Message)
		}
		return nil
	})
	waitProgrammed(t, ns, "ab")
	// Then beta testers get v2 and everyone else v1
	host := "ab." + ns + ".example.com"
	expectVersions(t, host, map[string]string{"X-Beta": "true"}, map[string]int{"v2": 20})
	expectVersions(t, host, nil, map[string]int{"v1": 20})
	expectVersions(t, host, map[string]string{"X-Beta": "false"}, map[string]int{"v1": 20})
	// When it is approved, Then everyone gets v2
	act(t, ns, "ab", "approve")
	waitPhase(t, ns, "ab", rolloutsv1alpha1.PhaseHealthy, 90*time.Second)
	waitProgrammed(t, ns, "ab")
	expectVersions(t, host, nil, map[string]int{"v2": 20})
}

func TestBlueGreenPreviewsOnATagThenFlips(t *testing.T) {
	ns := cluster.Namespace(t)
	// Given a blue/green Rollout without analysis at v1
	ro := canaryRollout(ns, "bg", sampleTemplate("v1"))
	ro.Spec.Strategy = rolloutsv1alpha1.Strategy{BlueGreen: &rolloutsv1alpha1.BlueGreenStrategy{PreviewTag: "preview"}}
	ro.Spec.Analysis = &rolloutsv1alpha1.Analysis{Disabled: true}
	if err := cluster.Client.Create(context.Background(), ro); err != nil {
		t.Fatal(err)
	}
	waitPhase(t, ns, "bg", rolloutsv1alpha1.PhaseHealthy, 90*time.Second)
	// When v2 is deployed
	setTemplate(t, ns, "bg", sampleTemplate("v2"))
	framework.Eventually(t, 90*time.Second, func(ctx context.Context) error {
		ro, err := getRollout(ctx, ns, "bg")
		if err != nil {
			return err
		}
		if ro.Status.ObservedGeneration != ro.Generation || ro.Status.StepReadyAt == nil || ptr.Deref(ro.Status.CurrentStepIndex, -1) != 0 {
			return fmt.Errorf("phase %s step %v: %s", ro.Status.Phase, ro.Status.CurrentStepIndex, ro.Status.Message)
		}
		return nil
	})
	waitProgrammed(t, ns, "bg")
	// Then the preview URL serves v2 while users still get v1
	host := "bg." + ns + ".example.com"
	expectVersions(t, "preview-"+host, nil, map[string]int{"v2": 10})
	expectVersions(t, host, nil, map[string]int{"v1": 20})
	// When it is promoted, Then everyone gets v2
	act(t, ns, "bg", "promote")
	waitPhase(t, ns, "bg", rolloutsv1alpha1.PhaseHealthy, 90*time.Second)
	waitProgrammed(t, ns, "bg")
	expectVersions(t, host, nil, map[string]int{"v2": 20})
}
