package cli

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	rolloutsv1alpha1 "github.com/rampdev/ramp/apis/rollouts/v1alpha1"
)

// start runs a command in the background; its output can be read while
// it runs.
func (s *suite) start(t *testing.T, root *cobra.Command, args ...string) (*syncBuffer, <-chan result) {
	t.Helper()
	out := &syncBuffer{}
	done := make(chan result, 1)
	go func() { done <- s.runOn(t, root, out, args...) }()
	return out, done
}

func wait(t *testing.T, done <-chan result) result {
	t.Helper()
	select {
	case r := <-done:
		return r
	case <-time.After(time.Minute):
		t.Fatal("the command did not end")
		return result{}
	}
}

// stamped matches a watch line's time.
var stamped = regexp.MustCompile(`(?m)^\d\d:\d\d:\d\d  `)

func (s *suite) testWatch(t *testing.T) {
	ns := "watch"
	s.namespace(t, ns)

	t.Run("a new template rolls out to Healthy", func(t *testing.T) {
		// Given a Healthy rollout whose template just changed
		ro := s.create(t, makeRollout(ns, "web").analysis("error-rate").status(rolloutsv1alpha1.PhaseHealthy, nil, 0).message("Revision web-00001 has all the traffic"))
		s.changeTemplate(t, ro)

		// When watching it while the controller rolls the canary out
		out, done := s.start(t, newRootCommand("ramp"), "rollout", "watch", "web", "-n", ns)
		waitFor(t, out, "Healthy      stable web-00001 at 100% (generation 2 not observed yet)")
		s.setStatus(t, ro, func(st *rolloutsv1alpha1.RolloutStatus) {
			st.Phase, st.Message, st.CanaryRevision = rolloutsv1alpha1.PhaseProgressing, "", "web-00002"
		})
		waitFor(t, out, "waiting for the canary revision")
		s.setStatus(t, ro, func(st *rolloutsv1alpha1.RolloutStatus) { st.CurrentStepIndex, st.CanaryWeight = step(0), 20 })
		s.setStatus(t, ro, func(st *rolloutsv1alpha1.RolloutStatus) {
			st.Measurements = append(st.Measurements, rolloutsv1alpha1.Measurement{Time: metav1.Now(), Phase: "Pass", Step: step(0),
				Metrics: []rolloutsv1alpha1.MetricResult{{Name: "error-rate", Phase: "Pass", Canary: "0.1%", Stable: "0.3%"}}})
		})
		s.setStatus(t, ro, func(st *rolloutsv1alpha1.RolloutStatus) { st.ConsecutiveInconclusive = 1 }) // no line
		s.setStatus(t, ro, func(st *rolloutsv1alpha1.RolloutStatus) { st.CurrentStepIndex, st.CanaryWeight = step(1), 50 })
		s.setStatus(t, ro, func(st *rolloutsv1alpha1.RolloutStatus) {
			st.Phase, st.Message = rolloutsv1alpha1.PhaseHealthy, "Revision web-00002 has all the traffic"
			st.StableRevision, st.CanaryRevision, st.CurrentStepIndex, st.CanaryWeight = "web-00002", "", nil, 0
		})

		// Then it prints each change once, and ends with exit code 0
		r := wait(t, done)
		if r.code != 0 {
			t.Fatalf("exit code %d, error %v\n%s", r.code, r.err, r.out)
		}
		want := []string{
			"Healthy      stable web-00001 at 100% (generation 2 not observed yet): Revision web-00001 has all the traffic",
			"Progressing  waiting for the canary revision; canary web-00002 at 0%",
			"Progressing  step 1/4 (weight 20%); canary web-00002 at 20%",
			"measurement Pass: error-rate 0.1% vs 0.3%",
			"Progressing  step 2/4 (weight 50%, then pause 1m0s); canary web-00002 at 50%",
			"Healthy      stable web-00002 at 100%: Revision web-00002 has all the traffic",
			"Rollout web is Healthy: Revision web-00002 has all the traffic",
		}
		lines := strings.Split(strings.TrimSpace(r.out), "\n")
		if len(lines) != len(want) {
			t.Fatalf("got %d lines, want %d:\n%s", len(lines), len(want), r.out)
		}
		for i, w := range want {
			if !strings.Contains(lines[i], w) {
				t.Errorf("line %d is %q, want it to contain %q", i+1, lines[i], w)
			}
			if i < len(want)-1 && !stamped.MatchString(lines[i]) {
				t.Errorf("line %d has no time stamp: %q", i+1, lines[i])
			}
		}
	})

	t.Run("a rollback is followed until the traffic is back on the stable", func(t *testing.T) {
		// Given a rollout at its first step
		ro := s.create(t, makeRollout(ns, "rb").analysis("error-rate").status(rolloutsv1alpha1.PhaseProgressing, step(0), 20))
		out, done := s.start(t, newRootCommand("ramp"), "rollout", "watch", "rb", "-n", ns)
		waitFor(t, out, "step 1/4 (weight 20%)")

		// When the controller records a rollback, the traffic on its way back
		s.setStatus(t, ro, func(st *rolloutsv1alpha1.RolloutStatus) {
			now := metav1.Now()
			st.Phase, st.CanaryWeight, st.TransitionStartedAt = rolloutsv1alpha1.PhaseRollingBack, 0, &now
			st.Message = "Rolling back to rb-00001: at step 1/4 (weight 20%): error-rate 5% > 1%"
		})

		// Then watch says so, with how long it has lasted, and goes on watching
		waitFor(t, out, "Rolling back to rb-00001")
		select {
		case r := <-done:
			t.Fatalf("watch ended while rolling back: exit code %d, error %v\n%s", r.code, r.err, r.out)
		default:
		}

		// When the gateway serves the stable alone and the controller settles it
		s.setStatus(t, ro, func(st *rolloutsv1alpha1.RolloutStatus) {
			st.Phase, st.TransitionStartedAt = rolloutsv1alpha1.PhaseRolledBack, nil
			st.Message = "Rolled back to rb-00001: at step 1/4 (weight 20%): error-rate 5% > 1%"
		})

		// Then it ends with exit code 1, having printed both
		r := wait(t, done)
		if r.code != 1 || r.err == nil || r.err.Error() != "rollout rb is RolledBack: Rolled back to rb-00001: at step 1/4 (weight 20%): error-rate 5% > 1%" {
			t.Errorf("exit code %d, error %v, want 1 and the RolledBack message", r.code, r.err)
		}
		lines := strings.Split(strings.TrimSpace(r.out), "\n")
		rolling := regexp.MustCompile(`^\d\d:\d\d:\d\d  RollingBack \((\d+)s\)  canary rb-00002 at 0%: Rolling back to rb-00001: `)
		if len(lines) != 3 || !strings.Contains(lines[0], "Progressing  step 1/4 (weight 20%); canary rb-00002 at 20%") ||
			!rolling.MatchString(lines[1]) || !strings.Contains(lines[2], "RolledBack   canary rb-00002 at 0%: Rolled back to rb-00001: ") {
			t.Errorf("output, want the step, RollingBack (its duration), then RolledBack:\n%s", r.out)
		}
	})

	ends := map[string]struct {
		rollout  *rolloutBuilder
		args     []string
		wantCode int
		wantErr  string
	}{
		"paused exits 2 with the commands that continue": {
			rollout:  makeRollout(ns, "paused").status(rolloutsv1alpha1.PhasePaused, step(1), 50).message("12 inconclusive measurements"),
			args:     []string{"--context", "envtest"},
			wantCode: 2,
			wantErr:  "rollout paused is Paused: 12 inconclusive measurements; resume it with `ramp rollout approve paused -n watch --context envtest` or start over with `ramp rollout retry paused -n watch --context envtest`",
		},
		"rolled back exits 1": {
			rollout:  makeRollout(ns, "failed").status(rolloutsv1alpha1.PhaseRolledBack, step(0), 0).message("error-rate 5% > 1%"),
			wantCode: 1,
			wantErr:  "rollout failed is RolledBack: error-rate 5% > 1%",
		},
		"aborted exits 1": {
			rollout:  makeRollout(ns, "aborted").status(rolloutsv1alpha1.PhaseAborted, step(0), 0),
			wantCode: 1,
			wantErr:  "rollout aborted is Aborted: -",
		},
		"a timeout exits 1 and says where the rollout is": {
			rollout:  makeRollout(ns, "slow").status(rolloutsv1alpha1.PhaseProgressing, step(2), 50),
			args:     []string{"--timeout", "1s"},
			wantCode: 1,
			wantErr:  "timed out after 1s: rollout slow is still Progressing at step 3/4 (approval)",
		},
	}
	for name, tc := range ends {
		t.Run(name, func(t *testing.T) {
			ro := s.create(t, tc.rollout)
			r := s.run(t, append([]string{"rollout", "watch", ro.Name, "-n", ns}, tc.args...)...)
			if r.code != tc.wantCode || r.err == nil || r.err.Error() != tc.wantErr {
				t.Errorf("got exit code %d, error %v\nwant %d, %s", r.code, r.err, tc.wantCode, tc.wantErr)
			}
		})
	}

	t.Run("a missing rollout is named", func(t *testing.T) {
		r := s.run(t, "rollout", "watch", "nope", "-n", ns)
		if !errors.Is(r.err, errRolloutNotFound) || !strings.Contains(r.err.Error(), `"nope" in namespace "watch"`) {
			t.Errorf("got %v", r.err)
		}
	})
	t.Run("a deleted rollout ends the watch", func(t *testing.T) {
		ro := s.create(t, makeRollout(ns, "deleted").status(rolloutsv1alpha1.PhaseProgressing, step(0), 20))
		out, done := s.start(t, newRootCommand("ramp"), "rollout", "watch", "deleted", "-n", ns)
		waitFor(t, out, "step 1/4")
		if err := s.k8s.Delete(context.Background(), ro); err != nil {
			t.Fatal(err)
		}
		if r := wait(t, done); !errors.Is(r.err, errRolloutDeleted) {
			t.Errorf("got %v, want %v", r.err, errRolloutDeleted)
		}
	})
}

// testWatchPolling runs watch against an API that refuses watches: it
// polls instead, and still sees the rollout through.
func (s *suite) testWatchPolling(t *testing.T) {
	ns := "watch-poll"
	s.namespace(t, ns)
	ro := s.create(t, makeRollout(ns, "web").status(rolloutsv1alpha1.PhaseProgressing, step(0), 20))
	refuse := func(c client.WithWatch) client.WithWatch {
		return interceptor.NewClient(c, interceptor.Funcs{
			Watch: func(context.Context, client.WithWatch, client.ObjectList, ...client.ListOption) (watch.Interface, error) {
				return nil, errors.New("watch is forbidden")
			},
		})
	}
	root := &cobra.Command{Use: "ramp", SilenceErrors: true, SilenceUsage: true}
	root.AddCommand(newRolloutCommand(&kubeOptions{wrap: refuse}))

	out, done := s.start(t, root, "rollout", "watch", "web", "-n", ns)
	waitFor(t, out, "step 1/4 (weight 20%)")
	s.setStatus(t, ro, func(st *rolloutsv1alpha1.RolloutStatus) {
		st.Phase, st.Message, st.CanaryWeight = rolloutsv1alpha1.PhaseRolledBack, "deadline exceeded", 0
	})
	r := wait(t, done)
	if r.code != 1 || !strings.Contains(r.out, "RolledBack   canary web-00002 at 0%: deadline exceeded") {
		t.Errorf("exit code %d, error %v, output:\n%s", r.code, r.err, r.out)
	}
	wantContains(t, "stderr", r.errOut, "Cannot watch rollout watch-poll/web (watch is forbidden); polling every 2s")
}
