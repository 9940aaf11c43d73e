package cli

import (
	"context"
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rolloutsv1alpha1 "github.com/rampdev/ramp/apis/rollouts/v1alpha1"
	servingv1 "github.com/rampdev/ramp/apis/serving/v1"
)

func (s *suite) testList(t *testing.T) {
	s.namespace(t, "list-b")
	s.namespace(t, "list-empty")
	s.create(t, makeRollout(s.defaultNS, "web").status(rolloutsv1alpha1.PhaseProgressing, step(1), 50))
	s.create(t, makeRollout(s.defaultNS, "api").status(rolloutsv1alpha1.PhaseHealthy, nil, 0))
	s.create(t, makeRollout("list-b", "shop").status(rolloutsv1alpha1.PhaseProgressing, step(4), 100))

	cases := map[string]struct {
		args        []string
		wantLines   []string
		wantMissing []string
		wantErrOut  string
	}{
		"the context's namespace": {
			args: []string{"rollout", "list"},
			wantLines: []string{
				"NAME   PHASE         STEP   CANARY WEIGHT   STABLE      CANARY      AGE",
				"api    Healthy       -      0%              api-00001   -",
				"web    Progressing   2/4    50%             web-00001   web-00002",
			},
			wantMissing: []string{"NAMESPACE", "shop"},
		},
		"-n": {
			args:        []string{"rollout", "list", "-n", "list-b"},
			wantLines:   []string{"shop   Progressing   promoting   100%"},
			wantMissing: []string{"web"},
		},
		"-A adds the namespace column": {
			args:      []string{"ro", "ls", "-A"},
			wantLines: []string{"NAMESPACE", "list-b      shop", "team-a      api", "team-a      web"},
		},
		"an empty namespace says so": {
			args:       []string{"rollout", "list", "-n", "list-empty"},
			wantErrOut: "No rollouts found in namespace list-empty.",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			r := s.run(t, tc.args...)
			if r.err != nil {
				t.Fatalf("error: %v\n%s", r.err, r.errOut)
			}
			wantContains(t, "output", r.out, tc.wantLines...)
			for _, m := range tc.wantMissing {
				if strings.Contains(r.out, m) {
					t.Errorf("output contains %q:\n%s", m, r.out)
				}
			}
			wantContains(t, "stderr", r.errOut, tc.wantErrOut)
		})
	}
}

func (s *suite) testGet(t *testing.T) {
	ctx := context.Background()
	now := metav1.NewTime(time.Now().Truncate(time.Second))
	ro := makeRollout(s.defaultNS, "cart").analysis("error-rate", "p99").status(rolloutsv1alpha1.PhaseProgressing, step(1), 50).Obj()
	ro.Status.Message = "measuring the canary"
	ro.Status.ConsecutiveFailures = 1
	ro.Status.Measurements = []rolloutsv1alpha1.Measurement{
		{Time: metav1.NewTime(now.Add(-20 * time.Second)), Phase: "Pass", Step: step(0), Metrics: []rolloutsv1alpha1.MetricResult{
			{Name: "error-rate", Phase: "Pass", Canary: "0.1%", Stable: "0.2%"},
			{Name: "p99", Phase: "Pass", Canary: "120ms", Stable: "110ms"},
		}},
		{Time: now, Phase: "Fail", Step: step(1), Message: "error-rate above 1%", Metrics: []rolloutsv1alpha1.MetricResult{
			{Name: "error-rate", Phase: "Fail", Canary: "1.2%", Stable: "0.4%"},
			{Name: "queue-depth", Phase: "Fail", Message: "queue-depth: canary 9 > max 5", DryRun: true},
		}, Templates: []string{"ClusterAnalysisTemplate/queues@3"}},
	}
	ro.Spec.Analysis.Templates = []rolloutsv1alpha1.AnalysisTemplateRef{{Name: "queues", ClusterScope: true}}
	ro.Status.MarkUnknown(rolloutsv1alpha1.ConditionReady, rolloutsv1alpha1.ReasonMeasuring, "measuring the canary")
	ro.Status.MarkFalse(rolloutsv1alpha1.ConditionAnalysis, rolloutsv1alpha1.ReasonFailed, "error-rate above 1%")
	ro.Status.LastAction = &rolloutsv1alpha1.ActionRecord{ID: "abc123", Action: "approve", By: "bob", Time: now, Result: "approved step 3/4 (approval)"}
	s.create(t, &rolloutBuilder{ro: ro})

	rev := &servingv1.Revision{
		ObjectMeta: metav1.ObjectMeta{Namespace: s.defaultNS, Name: "cart-00001"},
		Spec:       servingv1.RevisionSpec{Containers: []servingv1.Container{{Image: "ramp/sampleapp:v1"}}},
	}
	if err := s.k8s.Create(ctx, rev); err != nil {
		t.Fatal(err)
	}
	rev.Status.MarkTrue(servingv1.ConditionReady, "Ready", "")
	two := int32(2)
	rev.Status.ActualReplicas = &two
	if err := s.k8s.Status().Update(ctx, rev); err != nil {
		t.Fatal(err)
	}

	t.Run("human-readable", func(t *testing.T) {
		r := s.run(t, "rollout", "get", "cart")
		if r.err != nil {
			t.Fatalf("error: %v", r.err)
		}
		wantContains(t, "output", r.out,
			"Namespace:    team-a",
			"Phase:        Progressing\n",
			"Message:      measuring the canary",
			"Step:         step 2/4 (weight 50%, then pause 1m0s)",
			"Strategy:     canary, 4 steps; progress deadline 10m0s",
			"    1. weight 20%\n  > 2. weight 50%, then pause 1m0s\n    3. approval\n    4. weight 100%\n       promotion to 100%\n",
			"Traffic:      stable 50%, canary 50%",
			"Stable:  cart-00001 (Ready True, 2 pods)",
			"Canary:  cart-00002\n",
			"Analysis:     interval 10s; alpha (controller default), beta (controller default); step at least (controller default), at most (controller default), then (controller default); errors 0 of (controller default)",
			"Evidence of the last measurement:",
			"  Templates: ClusterAnalysisTemplate/queues\n",
			"    judged with ClusterAnalysisTemplate/queues@3\n",
			"    queue-depth Fail (dry run, does not decide): canary 9 > max 5\n",
			"Measurements (canary vs stable), oldest first:",
			"ERROR-RATE", "P99",
			"0.1% vs 0.2%", "120ms vs 110ms",
			"1.2% vs 0.4% (Fail)", "Fail    1.2%",
			"Ready      Unknown   Measuring",
			"Analysis   False     Failed",
			"Last action:  approve (id abc123) by bob,",
			"Result:  approved step 3/4 (approval)",
		)
	})
	t.Run("rolling back: how long the traffic has been on its way back", func(t *testing.T) {
		started := metav1.NewTime(time.Now().Add(-3 * time.Second))
		rb := makeRollout(s.defaultNS, "cart-rb").status(rolloutsv1alpha1.PhaseRollingBack, step(1), 0).
			message("Rolling back to cart-rb-00001: at step 2/4 (weight 50%, then pause 1m0s): error-rate above 1%").Obj()
		rb.Status.CanaryRevision, rb.Status.TransitionStartedAt = "cart-rb-00002", &started
		s.create(t, &rolloutBuilder{ro: rb})

		r := s.run(t, "rollout", "get", "cart-rb")
		if r.err != nil {
			t.Fatalf("error: %v", r.err)
		}
		m := regexp.MustCompile(`(?m)^Phase: +RollingBack \(for (\S+): the traffic is on its way back to cart-rb-00001\)$`).FindStringSubmatch(r.out)
		if m == nil {
			t.Fatalf("no RollingBack phase line with its duration:\n%s", r.out)
		}
		// The API server keeps whole seconds: 3s, or a little more on a slow machine.
		if d, err := time.ParseDuration(m[1]); err != nil || d < 3*time.Second || d > time.Minute {
			t.Errorf("rolling back for %s, want about 3s", m[1])
		}
		wantContains(t, "output", r.out,
			"Message:      Rolling back to cart-rb-00001: at step 2/4 (weight 50%, then pause 1m0s): error-rate above 1%",
			"Traffic:      stable 100%, canary 0%")
	})
	t.Run("yaml", func(t *testing.T) {
		r := s.run(t, "rollout", "get", "cart", "-o", "yaml")
		if r.err != nil {
			t.Fatalf("error: %v", r.err)
		}
		wantContains(t, "output", r.out, "apiVersion: rollouts.ramp.dev/v1alpha1\nkind: Rollout\n", "name: cart\n", "canaryWeight: 50")
		if strings.Contains(r.out, "managedFields") {
			t.Errorf("output has managed fields:\n%s", r.out)
		}
	})
	t.Run("json", func(t *testing.T) {
		r := s.run(t, "rollout", "get", "cart", "-o", "json")
		var got rolloutsv1alpha1.Rollout
		if err := json.Unmarshal([]byte(r.out), &got); err != nil {
			t.Fatalf("output is not a Rollout: %v\n%s", err, r.out)
		}
		if got.Kind != "Rollout" || got.Name != "cart" || got.Status.CanaryWeight != 50 {
			t.Errorf("got kind %q, name %q, weight %d", got.Kind, got.Name, got.Status.CanaryWeight)
		}
	})
	t.Run("errors", func(t *testing.T) {
		r := s.run(t, "rollout", "get", "nope")
		if !errors.Is(r.err, errRolloutNotFound) || !strings.Contains(r.err.Error(), `there is no Rollout "nope" in namespace "team-a"`) {
			t.Errorf("got %v, want not found naming the namespace", r.err)
		}
		r = s.run(t, "rollout", "get", "cart", "-o", "wide")
		if r.err == nil || !strings.Contains(r.err.Error(), `unknown output format "wide"`) {
			t.Errorf("got %v, want an unknown format error", r.err)
		}
	})
}

func (s *suite) testStatus(t *testing.T) {
	ns := "status"
	s.namespace(t, ns)
	cases := map[string]struct {
		rollout  *rolloutBuilder
		stale    bool
		wantOut  string
		wantCode int
	}{
		"healthy": {
			rollout: makeRollout(ns, "healthy").status(rolloutsv1alpha1.PhaseHealthy, nil, 0),
			wantOut: "healthy Healthy step=- weight=0% canary=- stable=healthy-00001\n", wantCode: 0,
		},
		"rolled back": {
			rollout: makeRollout(ns, "rolledback").status(rolloutsv1alpha1.PhaseRolledBack, step(1), 0),
			wantOut: "rolledback RolledBack step=2/4 weight=0%", wantCode: 1,
		},
		"aborted": {
			rollout: makeRollout(ns, "aborted").status(rolloutsv1alpha1.PhaseAborted, step(0), 0),
			wantOut: "aborted Aborted step=1/4", wantCode: 1,
		},
		"paused": {
			rollout: makeRollout(ns, "paused").status(rolloutsv1alpha1.PhasePaused, step(2), 50),
			wantOut: "paused Paused step=3/4 weight=50% canary=paused-00002 stable=paused-00001\n", wantCode: 2,
		},
		"progressing": {
			rollout: makeRollout(ns, "progressing").status(rolloutsv1alpha1.PhaseProgressing, step(0), 20),
			wantOut: "progressing Progressing step=1/4 weight=20%", wantCode: 3,
		},
		// Not over until the gateway sends all the traffic to the stable.
		"rolling back": {
			rollout: makeRollout(ns, "rollingback").status(rolloutsv1alpha1.PhaseRollingBack, step(1), 0),
			wantOut: "rollingback RollingBack step=2/4 weight=0%", wantCode: 3,
		},
		"aborting": {
			rollout: makeRollout(ns, "aborting").status(rolloutsv1alpha1.PhaseAborting, step(0), 0),
			wantOut: "aborting Aborting step=1/4 weight=0%", wantCode: 3,
		},
		"healthy but for an older spec": {
			rollout: makeRollout(ns, "stale").status(rolloutsv1alpha1.PhaseHealthy, nil, 0),
			stale:   true,
			wantOut: "stale Healthy step=- weight=0% canary=- stable=stale-00001 (generation 2 not observed yet)", wantCode: 3,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			ro := s.create(t, tc.rollout)
			if tc.stale {
				s.changeTemplate(t, ro)
			}
			r := s.run(t, "rollout", "status", ro.Name, "-n", ns)
			wantContains(t, "output", r.out, tc.wantOut)
			if r.code != tc.wantCode {
				t.Errorf("exit code %d (error %v), want %d", r.code, r.err, tc.wantCode)
			}
		})
	}
}

// changeTemplate bumps the Rollout's generation, as a new template does.
func (s *suite) changeTemplate(t *testing.T, ro *rolloutsv1alpha1.Rollout) {
	t.Helper()
	patch := client.RawPatch(types.MergePatchType,
		[]byte(`{"spec":{"template":{"spec":{"containers":[{"image":"ramp/sampleapp:v2"}]}}}}`))
	if err := s.k8s.Patch(context.Background(), ro, patch); err != nil {
		t.Fatal(err)
	}
}
