package rollout

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/rampdev/ramp/analysis"
	rolloutsv1alpha1 "github.com/rampdev/ramp/apis/rollouts/v1alpha1"
)

// weekdays9to5 opens at 09:00 on weekdays for 8 hours.
func weekdays9to5(tz string) []rolloutsv1alpha1.PromotionWindow {
	return []rolloutsv1alpha1.PromotionWindow{{Schedule: "0 9 * * 1-5", Duration: metav1.Duration{Duration: 8 * time.Hour}, TimeZone: tz}}
}

func TestPromotionWindows(t *testing.T) {
	// 2026-03-02 is a Monday.
	mon := func(h, m int) time.Time { return time.Date(2026, 3, 2, h, m, 0, 0, time.UTC) }
	cases := map[string]struct {
		windows  []rolloutsv1alpha1.PromotionWindow
		now      time.Time
		wantOpen bool
		wantNext time.Time
		wantErr  string
	}{
		"no windows: always open":    {now: mon(3, 0), wantOpen: true},
		"inside":                     {windows: weekdays9to5(""), now: mon(12, 0), wantOpen: true},
		"at the opening":             {windows: weekdays9to5(""), now: mon(9, 0), wantOpen: true},
		"before: next is 09:00":      {windows: weekdays9to5(""), now: mon(8, 59), wantNext: mon(9, 0)},
		"at the closing: next day":   {windows: weekdays9to5(""), now: mon(17, 0), wantNext: time.Date(2026, 3, 3, 9, 0, 0, 0, time.UTC)},
		"friday night: next monday":  {windows: weekdays9to5(""), now: time.Date(2026, 3, 6, 20, 0, 0, 0, time.UTC), wantNext: time.Date(2026, 3, 9, 9, 0, 0, 0, time.UTC)},
		"time zone: 09:00 in Tokyo":  {windows: weekdays9to5("Asia/Tokyo"), now: mon(1, 0), wantOpen: true},
		"time zone: closed in Tokyo": {windows: weekdays9to5("Asia/Tokyo"), now: mon(9, 0), wantNext: time.Date(2026, 3, 3, 0, 0, 0, 0, time.UTC)},
		"the earliest of two windows": {windows: append(weekdays9to5(""),
			rolloutsv1alpha1.PromotionWindow{Schedule: "30 7 * * *", Duration: metav1.Duration{Duration: time.Hour}}),
			now: mon(6, 0), wantNext: mon(7, 30)},
		"bad schedule": {windows: []rolloutsv1alpha1.PromotionWindow{{Schedule: "0 25 * * *", Duration: metav1.Duration{Duration: time.Hour}}},
			now: mon(6, 0), wantErr: `spec.promotionWindows[0].schedule: Invalid value: "0 25 * * *": not a cron schedule`},
		"bad time zone": {windows: weekdays9to5("Mars/Olympus"), now: mon(6, 0), wantErr: `spec.promotionWindows[0].timeZone: Invalid value: "Mars/Olympus": unknown time zone`},
		// 30 February never comes: closed (and refused at admission), never
		// open, so that a new revision cannot go straight to 100%.
		"a schedule that never fires is closed": {windows: []rolloutsv1alpha1.PromotionWindow{{Schedule: "0 9 30 2 *", Duration: metav1.Duration{Duration: 8 * time.Hour}}},
			now: mon(12, 0), wantErr: "no window ever opens"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			w := promotionWindows(tc.windows, tc.now)
			if tc.wantErr != "" {
				if w.Err == nil || !strings.Contains(w.Err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", w.Err, tc.wantErr)
				}
				return
			}
			if w.Err != nil || w.Open != tc.wantOpen || !w.Next.Equal(tc.wantNext) {
				t.Errorf("= {open %v, next %v, err %v}; want {open %v, next %v}", w.Open, w.Next, w.Err, tc.wantOpen, tc.wantNext)
			}
		})
	}
}

func TestClosedPromotionWindowHoldsTheNextStep(t *testing.T) {
	// t0 is Sunday 2026-03-01 12:00 UTC: outside the weekday window.
	spec := canarySpec(func(s *rolloutsv1alpha1.RolloutSpec) { s.PromotionWindows = weekdays9to5("") })
	monday9 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	st := status(waiting("r1", "r2", -time.Minute), step(0, 5, -time.Minute), ready(-50*time.Second), nextMeasurement(0))

	// Given step 1 at 5% whose measurement passes while the window is closed
	in := Input{Spec: spec, Status: st, Report: report(analysis.Pass, "ok"), Kinds: map[string]string{"error-rate": "errorRate"}, Now: t0,
		Observed: Observed{TemplateHash: "h2", Revision: revision("r2", true), Route: routeFor(spec, st)}}
	p := Run(in)
	// Then it holds at 5% until Monday 09:00, and says so
	if got := ptr.Deref(p.Status.CurrentStepIndex, -1); got != 0 || p.Status.CanaryWeight != 5 {
		t.Fatalf("step %d weight %d; want to hold step 0 at 5%%", got, p.Status.CanaryWeight)
	}
	if p.Status.PauseUntil == nil || !p.Status.PauseUntil.Time.Equal(monday9) {
		t.Fatalf("pauseUntil %v, want %v", p.Status.PauseUntil, monday9)
	}
	if !strings.Contains(strings.Join(reasons(p.Events), ","), "WaitingForWindow") {
		t.Errorf("events %v, want WaitingForWindow", reasons(p.Events))
	}
	SetConditions(spec, &p.Status, in.Observed, t0)
	if !strings.Contains(p.Status.Message, "promotion window opens at 2026-03-02T09:00:00Z") {
		t.Errorf("message %q does not say when the window opens", p.Status.Message)
	}
	if d := NextWake(spec, &p.Status, t0); d <= 0 || d > monday9.Sub(t0) {
		t.Errorf("next wake in %v, want by the opening (%v)", d, monday9.Sub(t0))
	}

	// When the window opens, Then step 2 starts
	st2 := p.Status.DeepCopy()
	in = Input{Spec: spec, Status: st2, Kinds: in.Kinds, Now: monday9,
		Observed: Observed{TemplateHash: "h2", Revision: revision("r2", true), Route: routeFor(spec, st2)}}
	p = Run(in)
	if got := ptr.Deref(p.Status.CurrentStepIndex, -1); got != 1 || p.Status.CanaryWeight != 20 {
		t.Fatalf("at the opening: step %d weight %d; want step 1 at 20%%", got, p.Status.CanaryWeight)
	}
}
