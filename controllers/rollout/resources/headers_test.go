package resources

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	rolloutsv1alpha1 "github.com/rampdev/ramp/apis/rollouts/v1alpha1"
	servingv1 "github.com/rampdev/ramp/apis/serving/v1"
)

func TestHeaderRoutesFollowTheRevisionBeingRolledOut(t *testing.T) {
	beta := []rolloutsv1alpha1.HeaderMatch{{Name: "X-Beta", Value: "true"}}
	canary := func() *rolloutsv1alpha1.Rollout {
		ro := &rolloutsv1alpha1.Rollout{}
		ro.Spec.Strategy.Canary = &rolloutsv1alpha1.CanaryStrategy{}
		ro.Spec.Strategy.HeaderRoutes = beta
		return ro
	}
	blueGreen := &rolloutsv1alpha1.Rollout{}
	blueGreen.Spec.Strategy.BlueGreen = &rolloutsv1alpha1.BlueGreenStrategy{PreviewTag: "preview"}
	blueGreen.Spec.Strategy.HeaderRoutes = beta
	cases := map[string]struct {
		ro      *rolloutsv1alpha1.Rollout
		traffic []servingv1.TrafficTarget
		want    []servingv1.HeaderRoute
	}{
		"canary step": {ro: canary(), traffic: []servingv1.TrafficTarget{target("r1", 100, "stable"), target("r2", 0, "canary")},
			want: []servingv1.HeaderRoute{{Name: "X-Beta", Value: "true", Tag: "canary"}}},
		"blue/green preview": {ro: blueGreen, traffic: []servingv1.TrafficTarget{target("r1", 100, "stable"), target("r2", 0, "preview")},
			want: []servingv1.HeaderRoute{{Name: "X-Beta", Value: "true", Tag: "preview"}}},
		"no rollout running": {ro: canary(), traffic: []servingv1.TrafficTarget{target("r1", 100, "stable")}},
		"no header routes":   {ro: &rolloutsv1alpha1.Rollout{}, traffic: []servingv1.TrafficTarget{target("r2", 5, "canary")}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if d := cmp.Diff(tc.want, MakeService(tc.ro, tc.traffic).Spec.HeaderRoutes); d != "" {
				t.Errorf("header routes (-want +got):\n%s", d)
			}
		})
	}
}
