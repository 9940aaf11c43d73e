package e2e

import (
	"strings"
	"testing"
	"time"

	rolloutsv1alpha1 "github.com/rampdev/ramp/apis/rollouts/v1alpha1"
)

func TestRolloutUndoRollsAnEarlierRevisionOut(t *testing.T) {
	ns := cluster.Namespace(t)
	const name = "undo"
	host := name + "." + ns + ".example.com"

	// Given v2 promoted over v1, under load
	ro := canaryRollout(ns, name, sampleTemplate("v1", latency(quickLatency)), weight(50))
	ro.Spec.Analysis = stepTimes(5*time.Second, 3*time.Minute)
	if err := cluster.Client.Create(t.Context(), ro); err != nil {
		t.Fatal(err)
	}
	waitPhase(t, ns, name, rolloutsv1alpha1.PhaseHealthy, 90*time.Second)
	waitProgrammed(t, ns, name)
	load := startVersionLoad(host, 4, 4*time.Minute)
	defer load.stop()
	setTemplate(t, ns, name, sampleTemplate("v2", latency(quickLatency)))
	if v2 := waitPhase(t, ns, name, rolloutsv1alpha1.PhaseHealthy, 3*time.Minute); v2.Status.StableRevision != name+"-00002" {
		t.Fatalf("v2 is not stable: %+v", v2.Status)
	}

	// When the rollout is undone with the CLI
	out, err := rampCLI(t, 30*time.Second, "rollout", "undo", name, "-n", ns)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "template set to "+name+"-00001's") {
		t.Fatalf("undo printed %q", out)
	}
	load.reset()

	// Then ramp wait --for=Promoted, a CI gate, sees it through
	out, err = rampCLI(t, 4*time.Minute, "wait", "rollout", name, "-n", ns, "--for=Promoted", "--timeout", "3m")
	if err != nil || !strings.Contains(out, "Rollout "+name+" is Promoted: "+name+"-00003 has all the traffic") {
		t.Fatalf("ramp wait: %v\n%s", err, out)
	}
	t.Logf("ramp wait printed:\n%s", out)

	// And v1's template rolled out, through the steps, as revision 3, and
	// serves again with no failed request
	back := waitPhase(t, ns, name, rolloutsv1alpha1.PhaseHealthy, 3*time.Minute)
	if back.Status.StableRevision != name+"-00003" || back.Spec.Template.Spec.Containers[0].Image != "ramp/sampleapp:v1" {
		t.Errorf("after undo: stable %s, image %s", back.Status.StableRevision, back.Spec.Template.Spec.Containers[0].Image)
	}
	if len(back.Status.Measurements) == 0 {
		t.Error("the undo skipped the analysis")
	}
	if ok, bad, _ := load.snapshot(); len(bad) > 0 || ok["v1"] == 0 {
		t.Errorf("during the undo: ok %v, bad %v", ok, bad)
	}
	time.Sleep(time.Second) // the gateway's table, then only v1
	load.reset()
	time.Sleep(2 * time.Second)
	ok, bad, _ := load.snapshot()
	if len(bad) > 0 || ok["v1"] == 0 || ok["v2"] > 0 {
		t.Errorf("after the undo: ok %v, bad %v; want only v1", ok, bad)
	}
}
