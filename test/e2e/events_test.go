package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	rolloutsv1alpha1 "github.com/rampdev/ramp/apis/rollouts/v1alpha1"
	"github.com/rampdev/ramp/controllers/notify"
	"github.com/rampdev/ramp/test/framework"
)

func TestRolloutSendsLifecycleCloudEvents(t *testing.T) {
	ns := cluster.Namespace(t)
	const name = "events"
	host := name + "." + ns + ".example.com"
	ctx := context.Background()
	subject := ns + "/" + name

	// Given a Healthy Rollout under load, and the controller's sink
	ro := canaryRollout(ns, name, sampleTemplate("v1", latency(quickLatency)), weight(50))
	ro.Spec.Analysis = stepTimes(5*time.Second, 3*time.Minute)
	if err := cluster.Client.Create(ctx, ro); err != nil {
		t.Fatal(err)
	}
	waitPhase(t, ns, name, rolloutsv1alpha1.PhaseHealthy, 90*time.Second)
	waitProgrammed(t, ns, name)
	load := startVersionLoad(host, 4, 3*time.Minute)
	defer load.stop()

	// When v2 rolls out and is promoted
	setTemplate(t, ns, name, sampleTemplate("v2", latency(quickLatency)))
	waitPhase(t, ns, name, rolloutsv1alpha1.PhaseHealthy, 3*time.Minute)
	if err := cluster.Events.WaitEvent(ctx, subject, notify.TypePromoted, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	framework.Eventually(t, 30*time.Second, func(context.Context) error {
		evs := cluster.Events.Events(subject)
		if n := len(evs); n == 0 || evs[n-1].Type != notify.TypePromoted || !strings.Contains(string(evs[n-1].Data), name+"-00002") {
			return fmt.Errorf("the last event is not v2's promotion: %s", framework.Types(evs))
		}
		return nil
	})

	// Then the sink got v2's lifecycle in order, in binary mode
	evs := cluster.Events.Events(subject)
	start := -1
	for i, e := range evs {
		var l notify.Lifecycle
		if err := json.Unmarshal(e.Data, &l); err != nil {
			t.Fatalf("event %s: data %q: %v", e.Type, e.Data, err)
		}
		if e.SpecVersion != "1.0" || e.ContentType != "application/json" || e.Source != "/apis/rollouts.ramp.dev/namespaces/"+ns+"/rollouts/"+name {
			t.Errorf("event %+v is not a binary-mode CloudEvent of the rollout", e)
		}
		if e.Type == notify.TypeStarted && l.CanaryRevision == name+"-00002" {
			start = i
		}
	}
	if start < 0 {
		t.Fatalf("no started event for %s-00002: %s", name, framework.Types(evs))
	}
	got := framework.Types(evs[start:])
	if !strings.HasPrefix(got, "started step.advanced analysis.look") || !strings.HasSuffix(got, "promoted") ||
		strings.Contains(got, "rolledback") || strings.Contains(got, "aborted") {
		t.Errorf("v2's events %q, want started, step.advanced, analysis looks, ..., promoted", got)
	}
	t.Logf("v2's lifecycle events: %s", got)
	t.Logf("the promotion's data: %s", evs[len(evs)-1].Data)
	for _, e := range evs[start:] {
		if e.Type == notify.TypeAnalysisLook {
			t.Logf("a look's data: %s", e.Data)
			break
		}
	}
	if _, bad, _ := load.snapshot(); len(bad) > 0 {
		t.Errorf("clients saw failures: %v", bad)
	}
}
