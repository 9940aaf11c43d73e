package rollout_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	rolloutsv1alpha1 "github.com/rampdev/ramp/apis/rollouts/v1alpha1"
	servingv1 "github.com/rampdev/ramp/apis/serving/v1"
)

// testInvalidSpec: a spec that got past admission (envtest runs no
// webhook, as when the webhook is down or the object predates it) is not
// acted on: no new revision, no traffic change, a condition naming the
// field; fixing it resumes the rollout.
func testInvalidSpec(t *testing.T, h *harness) {
	cases := map[string]struct {
		mutate func(*rolloutsv1alpha1.Rollout)
		want   string
	}{
		"a window that never opens": {
			mutate: func(r *rolloutsv1alpha1.Rollout) {
				r.Spec.PromotionWindows = []rolloutsv1alpha1.PromotionWindow{{Schedule: "0 9 30 2 *", Duration: metav1.Duration{Duration: time.Hour}}}
			},
			want: `spec.promotionWindows[0].schedule: Invalid value: "0 9 30 2 *": never opens`,
		},
		"an error rate above 100%": {
			mutate: func(r *rolloutsv1alpha1.Rollout) {
				over := rolloutsv1alpha1.Threshold("150%")
				r.Spec.Analysis.Metrics[0].Max = &over
			},
			want: `spec.analysis.metrics[0].max: Invalid value: "150%"`,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			// Given a Healthy Rollout.
			ns := newNamespace(t)
			ro := MakeRollout(ns, "web", "v1").Steps("20", "100").Analysis().Obj()
			first := deployHealthy(t, ro)
			// When a new template arrives with an invalid field.
			update(t, ro, func(r *rolloutsv1alpha1.Rollout) {
				r.Spec.Template.Spec.Containers[0].Env[0].Value = "v2"
				tc.mutate(r)
			})
			// Then the Rollout says why it does not act.
			got := waitFor(t, ro, func(st *rolloutsv1alpha1.RolloutStatus) error {
				c := st.GetCondition(rolloutsv1alpha1.ConditionReady)
				if c == nil || c.Reason != rolloutsv1alpha1.ReasonInvalidSpec || !strings.Contains(c.Message, tc.want) {
					return fmt.Errorf("ready condition %+v, want reason %s naming %q", c, rolloutsv1alpha1.ReasonInvalidSpec, tc.want)
				}
				return nil
			})
			if got.Status.ObservedGeneration != got.Generation {
				t.Errorf("observedGeneration %d, want %d", got.Status.ObservedGeneration, got.Generation)
			}
			// And nothing changed: no new revision, the traffic where it was.
			for end := time.Now().Add(2 * time.Second); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
				got, err := getRollout(ro)
				must(t, err)
				if st := got.Status; st.StableRevision != first || (st.CanaryRevision != "" && st.CanaryRevision != first) || st.Phase != rolloutsv1alpha1.PhaseHealthy {
					t.Fatalf("status %s stable %s canary %s, want Healthy on %s", st.Phase, st.StableRevision, st.CanaryRevision, first)
				}
			}
			must(t, serviceTraffic(ro, pin(first, 100, "stable")))
			svc := &servingv1.Service{}
			must(t, k8s.Get(ctx, types.NamespacedName{Namespace: ro.Namespace, Name: ro.Name}, svc))
			if v := svc.Spec.Template.Spec.Containers[0].Env[0].Value; v != "v1" {
				t.Errorf("the Service's template has VERSION %s: the invalid spec reached it", v)
			}
			if n := count(h.events.reasons(ns, "web"), rolloutsv1alpha1.ReasonInvalidSpec); n != 1 {
				t.Errorf("%d InvalidSpec events, want 1: %v", n, h.events.reasons(ns, "web"))
			}
			// When the field is fixed, the rollout of v2 starts.
			update(t, ro, func(r *rolloutsv1alpha1.Rollout) {
				r.Spec.PromotionWindows = nil
				r.Spec.Analysis = MakeRollout(ns, "web", "v2").Analysis().Obj().Spec.Analysis
			})
			waitFor(t, ro, func(st *rolloutsv1alpha1.RolloutStatus) error {
				if st.CanaryRevision == first || st.CanaryRevision == "" {
					return fmt.Errorf("canary %q, want the revision of v2", st.CanaryRevision)
				}
				return nil
			})
		})
	}
}
