package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	rolloutsv1alpha1 "github.com/rampdev/ramp/apis/rollouts/v1alpha1"
)

// TestDescribeTransition checks the Phase line of `rollout get` while the
// traffic is on its way back to the stable revision: how long it has been
// moving, and where to; and that no other phase gets a duration.
func TestDescribeTransition(t *testing.T) {
	now := time.Date(2026, 12, 3, 14, 0, 0, 0, time.UTC)
	ago := func(d time.Duration) *metav1.Time {
		at := metav1.NewTime(now.Add(-d))
		return &at
	}
	cases := map[string]struct {
		phase   rolloutsv1alpha1.Phase
		started *metav1.Time
		stale   bool
		want    string
	}{
		"rolling back": {
			phase: rolloutsv1alpha1.PhaseRollingBack, started: ago(3 * time.Second),
			want: "Phase:        RollingBack (for 3s: the traffic is on its way back to web-00001)\n",
		},
		"aborting, for a while, rounded to the second": {
			phase: rolloutsv1alpha1.PhaseAborting, started: ago(2*time.Minute + 400*time.Millisecond),
			want: "Phase:        Aborting (for 2m0s: the traffic is on its way back to web-00001)\n",
		},
		"rolling back, the controller seeing an older spec": {
			phase: rolloutsv1alpha1.PhaseRollingBack, started: ago(3 * time.Second), stale: true,
			want: "Phase:        RollingBack (for 3s: the traffic is on its way back to web-00001) (the controller has not seen generation 2 yet)\n",
		},
		"rolling back, no start recorded": {
			phase: rolloutsv1alpha1.PhaseRollingBack,
			want:  "Phase:        RollingBack\n",
		},
		"rolled back: no duration, whatever the status holds": {
			phase: rolloutsv1alpha1.PhaseRolledBack, started: ago(3 * time.Second),
			want: "Phase:        RolledBack\n",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			ro := makeRollout("ns", "web").status(tc.phase, step(1), 0).message("Rolling back to web-00001: error-rate 5% > 1%").Obj()
			ro.Status.CanaryRevision = "web-00002"
			ro.Status.TransitionStartedAt = tc.started
			ro.Generation, ro.Status.ObservedGeneration = 1, 1
			if tc.stale {
				ro.Generation = 2
			}
			var out bytes.Buffer
			if err := describe(&out, ro, nil, now); err != nil {
				t.Fatal(err)
			}
			wantContains(t, "output", out.String(), tc.want, "Traffic:      stable 100%, canary 0%\n")
			if strings.Contains(out.String(), "Step:") {
				t.Errorf("a %s rollout shows a step:\n%s", tc.phase, out.String())
			}
		})
	}
}
