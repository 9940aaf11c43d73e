package resources

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	rolloutsv1alpha1 "github.com/rampdev/ramp/apis/rollouts/v1alpha1"
)

func TestApplyDefaults(t *testing.T) {
	dur := func(d time.Duration) *metav1.Duration { return &metav1.Duration{Duration: d} }
	cases := map[string]struct {
		in   rolloutsv1alpha1.Analysis
		d    Defaults
		want rolloutsv1alpha1.Analysis
	}{
		"package defaults": {
			want: rolloutsv1alpha1.Analysis{Interval: dur(10 * time.Second), Window: dur(time.Minute),
				MinRequests: ptr.To[int64](50), FailureLimit: 2, InconclusiveLimit: 12},
		},
		"the controller's defaults": {
			d: Defaults{Interval: 5 * time.Second, Window: 30 * time.Second, MinRequests: 10, FailureLimit: 3, InconclusiveLimit: 4},
			want: rolloutsv1alpha1.Analysis{Interval: dur(5 * time.Second), Window: dur(30 * time.Second),
				MinRequests: ptr.To[int64](10), FailureLimit: 3, InconclusiveLimit: 4},
		},
		"the Rollout's own settings win, minRequests 0 included": {
			in: rolloutsv1alpha1.Analysis{Interval: dur(2 * time.Second), Window: dur(8 * time.Second),
				MinRequests: ptr.To[int64](0), FailureLimit: 1, InconclusiveLimit: 1},
			d: Defaults{Interval: 5 * time.Second, Window: 30 * time.Second, MinRequests: 10, FailureLimit: 3, InconclusiveLimit: 4},
			want: rolloutsv1alpha1.Analysis{Interval: dur(2 * time.Second), Window: dur(8 * time.Second),
				MinRequests: ptr.To[int64](0), FailureLimit: 1, InconclusiveLimit: 1},
		},
		"a default window shorter than the interval is raised to it": {
			in: rolloutsv1alpha1.Analysis{Interval: dur(2 * time.Minute)},
			want: rolloutsv1alpha1.Analysis{Interval: dur(2 * time.Minute), Window: dur(2 * time.Minute),
				MinRequests: ptr.To[int64](50), FailureLimit: 2, InconclusiveLimit: 12},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got := tc.in.DeepCopy()
			ApplyDefaults(got, tc.d)
			if d := cmp.Diff(&tc.want, got); d != "" {
				t.Errorf("ApplyDefaults (-want +got):\n%s", d)
			}
		})
	}
}
