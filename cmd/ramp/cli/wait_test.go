package cli

import (
	"strings"
	"testing"

	rolloutsv1alpha1 "github.com/rampdev/ramp/apis/rollouts/v1alpha1"
)

func (s *suite) testWait(t *testing.T) {
	ns := "wait"
	s.namespace(t, ns)
	promote := func(st *rolloutsv1alpha1.RolloutStatus) {
		st.Phase, st.Message = rolloutsv1alpha1.PhaseHealthy, "Revision web-00002 has all the traffic"
		st.StableRevision, st.CanaryRevision, st.CurrentStepIndex, st.CanaryWeight = st.CanaryRevision, "", nil, 0
	}
	rollBack := func(st *rolloutsv1alpha1.RolloutStatus) {
		st.Phase, st.CanaryWeight, st.Message = rolloutsv1alpha1.PhaseRolledBack, 0, "Rolled back to web-00001: error-rate 5% > 1%"
	}
	abort := func(st *rolloutsv1alpha1.RolloutStatus) {
		st.Phase, st.CanaryWeight, st.Message = rolloutsv1alpha1.PhaseAborted, 0, "Aborted by alice"
	}
	cases := map[string]struct {
		cond     string
		end      func(*rolloutsv1alpha1.RolloutStatus)
		wantCode int
		wantOut  string
	}{
		"Promoted, promoted":      {forPromoted, promote, 0, "Rollout web is Promoted: web-00002 has all the traffic"},
		"Healthy, promoted":       {forHealthy, promote, 0, "Rollout web is Healthy: web-00002 has all the traffic"},
		"Promoted, rolled back":   {forPromoted, rollBack, 1, "rollout web is RolledBack: Rolled back to web-00001"},
		"Healthy, aborted":        {forHealthy, abort, 1, "rollout web is Aborted: Aborted by alice"},
		"RolledBack, rolled back": {forRolledBack, rollBack, 0, "Rollout web is RolledBack: Rolled back to web-00001"},
		"RolledBack, promoted":    {forRolledBack, promote, 1, "rollout web is Healthy (web-00002 has all the traffic), not RolledBack"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			ns := "wait-" + strings.ToLower(strings.NewReplacer(" ", "", ",", "-").Replace(name))
			s.namespace(t, ns)
			// Given a Healthy rollout whose template just changed
			ro := s.create(t, makeRollout(ns, "web").analysis("error-rate").status(rolloutsv1alpha1.PhaseHealthy, nil, 0))
			s.changeTemplate(t, ro)

			// When waiting while the controller rolls the canary out,
			// pauses it, and ends it
			out, done := s.start(t, newRootCommand("ramp"), "wait", "rollout", "web", "-n", ns, "--for="+tc.cond)
			waitFor(t, out, "(generation 2 not observed yet)")
			s.setStatus(t, ro, func(st *rolloutsv1alpha1.RolloutStatus) {
				st.Phase, st.CanaryRevision, st.CurrentStepIndex, st.CanaryWeight = rolloutsv1alpha1.PhaseProgressing, "web-00002", step(0), 20
			})
			waitFor(t, out, "step 1/4 (weight 20%)")
			s.setStatus(t, ro, func(st *rolloutsv1alpha1.RolloutStatus) {
				st.Phase, st.Message = rolloutsv1alpha1.PhasePaused, "no verdict within maxStepTime"
			})
			waitFor(t, out, "Rollout web is Paused, still waiting: resume it with `ramp rollout approve web -n "+ns+"`")
			select {
			case r := <-done:
				t.Fatalf("wait ended on a pause: %d %v\n%s", r.code, r.err, r.out)
			default:
			}
			s.setStatus(t, ro, func(st *rolloutsv1alpha1.RolloutStatus) { st.Phase, st.Message = rolloutsv1alpha1.PhaseProgressing, "" })
			s.setStatus(t, ro, tc.end)

			// Then it exits with the wanted code, saying why
			r := wait(t, done)
			msg := r.out
			if r.err != nil {
				msg += r.err.Error()
			}
			if r.code != tc.wantCode || !strings.Contains(msg, tc.wantOut) {
				t.Errorf("exit code %d, output and error %q; want %d and %q", r.code, msg, tc.wantCode, tc.wantOut)
			}
		})
	}

	t.Run("a timeout exits 2", func(t *testing.T) {
		s.create(t, makeRollout(ns, "slow").analysis("error-rate").status(rolloutsv1alpha1.PhaseProgressing, step(1), 50))
		r := s.run(t, "wait", "rollout", "slow", "-n", ns, "--for=Healthy", "--timeout", "1s")
		if r.code != waitTimeout || r.err == nil || !strings.Contains(r.err.Error(), "timed out after 1s waiting for rollout slow to be Healthy: it is Progressing at step 2/4") {
			t.Errorf("exit code %d, error %v", r.code, r.err)
		}
	})

	t.Run("an already Healthy rollout is Promoted", func(t *testing.T) {
		s.create(t, makeRollout(ns, "done").analysis("error-rate").status(rolloutsv1alpha1.PhaseHealthy, nil, 0))
		r := s.run(t, "wait", "rollout", "done", "-n", ns, "--for=Promoted")
		if r.code != 0 || r.err != nil || !strings.Contains(r.out, "Rollout done is Promoted") {
			t.Errorf("exit code %d, error %v\n%s", r.code, r.err, r.out)
		}
	})

	t.Run("bad input", func(t *testing.T) {
		for args, want := range map[string]string{
			"wait rollout web":                            "--for is required",
			"wait rollout web --for=Done":                 "--for=Done: must be Healthy, Promoted or RolledBack",
			"wait pod web --for=Healthy":                  "usage: wait rollout NAME",
			"wait rollout --for=Healthy":                  "usage: wait rollout NAME",
			"wait rollout nope --for=Healthy":             "nope",
			"wait rollout web --for=Healthy --timeout 0s": "--timeout 0s: must be positive",
		} {
			r := s.run(t, append(strings.Fields(args), "-n", ns)...)
			if r.err == nil || !strings.Contains(r.err.Error(), want) {
				t.Errorf("ramp %s: error %v, want %q", args, r.err, want)
			}
		}
	})
}
