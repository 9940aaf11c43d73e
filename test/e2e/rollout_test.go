package e2e

import (
	"context"
	"fmt"
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

// Analysis settings of the rollout specs: short, so a spec takes seconds.
const (
	roInterval = 2 * time.Second
	roWindow   = 8 * time.Second
)

// sampleTemplate is a revision template of the sample app at version,
// with extra environment.
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

func threshold(s string) *rolloutsv1alpha1.Threshold {
	t := rolloutsv1alpha1.Threshold(s)
	return &t
}

// canaryRollout is a Rollout with the given steps and analysis on the
// error rate (max 1%) and p99 (max 250ms).
func canaryRollout(ns, name string, steps ...rolloutsv1alpha1.CanaryStep) *rolloutsv1alpha1.Rollout {
	return &rolloutsv1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: rolloutsv1alpha1.RolloutSpec{
			Template: sampleTemplate("v1"),
			Strategy: rolloutsv1alpha1.Strategy{Canary: &rolloutsv1alpha1.CanaryStrategy{Steps: steps}},
			Analysis: &rolloutsv1alpha1.Analysis{
				Interval: &metav1.Duration{Duration: roInterval}, Window: &metav1.Duration{Duration: roWindow},
				MinRequests: ptr.To[int64](20), FailureLimit: 2, InconclusiveLimit: 3,
				Metrics: []rolloutsv1alpha1.Metric{
					{Name: "error-rate", Builtin: "errorRate", Max: threshold("1%")},
					{Name: "p99", Builtin: "latencyP99", Max: threshold("250ms")},
				},
			},
		},
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

// versionLoad is bounded traffic (4 workers, at most 100,000 requests or
// the time limit, loopback only) that records what each version answered.
type versionLoad struct {
	mu        sync.Mutex
	ok, bad   map[string]int
	firstSeen map[string]time.Time
	sent      atomic.Int64
	cancel    context.CancelFunc
	wg        sync.WaitGroup
}

func startVersionLoad(host string, limit time.Duration) *versionLoad {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	l := &versionLoad{cancel: cancel, ok: map[string]int{}, bad: map[string]int{}, firstSeen: map[string]time.Time{}}
	for range 4 {
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
				time.Sleep(5 * time.Millisecond) // about 600 rps in all
			}
		})
	}
	return l
}

// snapshot returns copies of the counts and first-seen times.
func (l *versionLoad) snapshot() (ok, bad map[string]int, first map[string]time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ok, bad, first = map[string]int{}, map[string]int{}, map[string]time.Time{}
	for k, v := range l.ok {
		ok[k] = v
	}
	for k, v := range l.bad {
		bad[k] = v
	}
	for k, v := range l.firstSeen {
		first[k] = v
	}
	return ok, bad, first
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

func TestRolloutPromotesAGoodCanaryAndRollsBackBadOnes(t *testing.T) {
	ns := cluster.Namespace(t)
	const name = "shop"
	host := name + "." + ns + ".example.com"
	// Given a Rollout whose first revision goes straight to 100%
	ro := canaryRollout(ns, name, weight(20), weight(50), weight(100))
	if err := cluster.Client.Create(context.Background(), ro); err != nil {
		t.Fatal(err)
	}
	first := waitPhase(t, ns, name, rolloutsv1alpha1.PhaseHealthy, 90*time.Second)
	waitProgrammed(t, ns, name)
	t.Logf("v1 is stable as %s", first.Status.StableRevision)
	load := startVersionLoad(host, 5*time.Minute)
	defer load.stop()

	// When a good v2 rolls out under load
	setTemplate(t, ns, name, sampleTemplate("v2"))
	// Then it is Healthy after every step, and no client saw an error
	v2 := waitPhase(t, ns, name, rolloutsv1alpha1.PhaseHealthy, 2*time.Minute)
	ok, bad, _ := load.snapshot()
	if len(bad) > 0 || ok["v2"] == 0 {
		t.Fatalf("during the v2 rollout: answers %v, failures %v; want v2 answers and no failure", ok, bad)
	}
	if v2.Status.StableRevision != v2.Status.CanaryRevision && v2.Status.CanaryRevision != "" {
		t.Errorf("after promotion stable %q, canary %q", v2.Status.StableRevision, v2.Status.CanaryRevision)
	}
	t.Logf("v2 promoted: %d measurements recorded, %v answers", len(v2.Status.Measurements), ok)

	// When v3 answers 5% of its requests with a 5xx
	load.reset()
	setTemplate(t, ns, name, sampleTemplate("v3", corev1.EnvVar{Name: "ERROR_RATE", Value: "0.05"}))
	// Then it is RolledBack, within 2 intervals + 1 window of its first
	// canary traffic, with a reason naming the metric and the values
	rolled := waitPhase(t, ns, name, rolloutsv1alpha1.PhaseRolledBack, 2*time.Minute)
	rolledAt := time.Now()
	_, _, seen := load.snapshot()
	if took, limit := rolledAt.Sub(seen["v3"]), 2*roInterval+roWindow; seen["v3"].IsZero() || took > limit {
		t.Errorf("v3 rolled back %v after its first canary answer; want at most 2 intervals + 1 window = %v", took, limit)
	} else {
		t.Logf("v3 rolled back %v after its first canary answer (limit %v): %s", took.Round(100*time.Millisecond), limit, rolled.Status.Message)
	}
	for _, want := range []string{"error-rate", "canary", "stable", "max 1.00%"} {
		if !strings.Contains(rolled.Status.Message, want) {
			t.Errorf("rollback reason %q does not mention %q", rolled.Status.Message, want)
		}
	}
	// And afterwards clients get no 5xx from the canary: all v2
	waitProgrammed(t, ns, name)
	load.reset()
	time.Sleep(3 * time.Second)
	ok, bad, _ = load.snapshot()
	if len(bad) > 0 || ok["v3"] > 0 || ok["v2"] == 0 {
		t.Fatalf("after the rollback: answers %v, failures %v; want only v2", ok, bad)
	}

	// When v4 adds 300 ms to every answer
	load.reset()
	setTemplate(t, ns, name, sampleTemplate("v4", corev1.EnvVar{Name: "LATENCY", Value: "300ms"}))
	// Then it is RolledBack on p99
	slow := waitPhase(t, ns, name, rolloutsv1alpha1.PhaseRolledBack, 2*time.Minute)
	if !strings.Contains(slow.Status.Message, "p99") {
		t.Errorf("rollback reason %q does not name p99", slow.Status.Message)
	}
	t.Logf("v4: %s", slow.Status.Message)
	ok, bad, _ = load.snapshot()
	if len(bad) > 0 {
		t.Errorf("a slow canary made requests fail: %v (answers %v)", bad, ok)
	}
}

func TestRolloutWithoutTrafficPausesAndApprovalGatesWait(t *testing.T) {
	ns := cluster.Namespace(t)
	// Given a Rollout with an approval gate, at v1
	ro := canaryRollout(ns, "quiet", weight(20), rolloutsv1alpha1.CanaryStep{Approval: &rolloutsv1alpha1.Approval{}}, weight(100))
	if err := cluster.Client.Create(context.Background(), ro); err != nil {
		t.Fatal(err)
	}
	waitPhase(t, ns, "quiet", rolloutsv1alpha1.PhaseHealthy, 90*time.Second)
	waitProgrammed(t, ns, "quiet")

	// When v2 rolls out with no traffic at all
	setTemplate(t, ns, "quiet", sampleTemplate("v2"))
	// Then its measurements are Inconclusive and it pauses, never promoted
	paused := waitPhase(t, ns, "quiet", rolloutsv1alpha1.PhasePaused, 90*time.Second)
	inconclusive := 0
	for _, m := range paused.Status.Measurements {
		if m.Phase == "Inconclusive" {
			inconclusive++
		}
		if m.Phase == "Pass" {
			t.Errorf("a measurement without traffic passed: %+v", m)
		}
	}
	if inconclusive < 3 || paused.Status.CanaryWeight > 20 || ptr.Deref(paused.Status.CurrentStepIndex, 0) != 0 {
		t.Fatalf("paused with %d inconclusive measurements at weight %d step %v; want ≥ 3 at 20, step 0",
			inconclusive, paused.Status.CanaryWeight, paused.Status.CurrentStepIndex)
	}
	t.Logf("paused: %s", paused.Status.Message)

	// When traffic flows and the pause is lifted
	load := startVersionLoad("quiet."+ns+".example.com", 3*time.Minute)
	defer load.stop()
	act(t, ns, "quiet", "approve")
	// Then it reaches the approval gate and waits there
	framework.Eventually(t, 90*time.Second, func(ctx context.Context) error {
		ro, err := getRollout(ctx, ns, "quiet")
		if err != nil {
			return err
		}
		if ptr.Deref(ro.Status.CurrentStepIndex, -1) != 1 || ro.Status.Phase != rolloutsv1alpha1.PhaseProgressing {
			return fmt.Errorf("phase %s step %v: %s", ro.Status.Phase, ro.Status.CurrentStepIndex, ro.Status.Message)
		}
		return nil
	})
	time.Sleep(3 * roInterval)
	held, err := getRollout(context.Background(), ns, "quiet")
	if err != nil {
		t.Fatal(err)
	}
	if ptr.Deref(held.Status.CurrentStepIndex, -1) != 1 || held.Status.CanaryWeight != 20 {
		t.Fatalf("did not wait at the approval gate: phase %s step %v weight %d", held.Status.Phase,
			held.Status.CurrentStepIndex, held.Status.CanaryWeight)
	}
	// When it is approved, Then it is promoted
	act(t, ns, "quiet", "approve")
	waitPhase(t, ns, "quiet", rolloutsv1alpha1.PhaseHealthy, 90*time.Second)
	if _, bad, _ := load.snapshot(); len(bad) > 0 {
		t.Errorf("failures during the rollout: %v", bad)
	}
}

func TestRolloutRoutesABTestersByHeaderToTheCanary(t *testing.T) {
	ns := cluster.Namespace(t)
	// Given a Rollout whose new revisions first get 0% plus the beta
	// testers (header X-Beta: true), then wait for approval
	ro := canaryRollout(ns, "ab", weight(0), rolloutsv1alpha1.CanaryStep{Approval: &rolloutsv1alpha1.Approval{}}, weight(100))
	ro.Spec.Analysis = nil
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
	// Given a blue/green Rollout at v1
	ro := canaryRollout(ns, "bg")
	ro.Spec.Strategy = rolloutsv1alpha1.Strategy{BlueGreen: &rolloutsv1alpha1.BlueGreenStrategy{PreviewTag: "preview"}}
	ro.Spec.Analysis = nil
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
