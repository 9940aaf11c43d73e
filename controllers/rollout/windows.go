package rollout

import (
	"fmt"
	"time"

	"github.com/robfig/cron/v3"

	rolloutsv1alpha1 "github.com/rampdev/ramp/apis/rollouts/v1alpha1"
)

// windowState is whether promotion is allowed at a time.
type windowState struct {
	// Open is true when there are no windows or one is open.
	Open bool
	// Next is when the next window opens, when not Open.
	Next time.Time
	// Err names a window that cannot be understood.
	Err error
}

// promotionWindows evaluates the windows at now: open when any window's
// last opening is at most its duration ago; otherwise the next opening.
// It is pure; schedules are parsed each time (they are short, and the
// status, not memory, is the state).
func promotionWindows(ws []rolloutsv1alpha1.PromotionWindow, now time.Time) windowState {
	if len(ws) == 0 {
		return windowState{Open: true}
	}
	var next time.Time
	for i, w := range ws {
		loc := time.UTC
		if w.TimeZone != "" {
			l, err := time.LoadLocation(w.TimeZone)
			if err != nil {
				return windowState{Err: fmt.Errorf("spec.promotionWindows[%d].timeZone %q: unknown time zone", i, w.TimeZone)}
			}
			loc = l
		}
		sched, err := cron.ParseStandard(w.Schedule)
		if err != nil {
			return windowState{Err: fmt.Errorf("spec.promotionWindows[%d].schedule %q: %w", i, w.Schedule, err)}
		}
		local := now.In(loc)
		// The first opening after now-duration is at most now when the
		// window is open.
		if opened := sched.Next(local.Add(-w.Duration.Duration)); !opened.After(local) {
			return windowState{Open: true}
		}
		if n := sched.Next(local); !n.IsZero() && (next.IsZero() || n.Before(next)) {
			next = n
		}
	}
	if next.IsZero() {
		return windowState{Err: fmt.Errorf("spec.promotionWindows: no window ever opens")}
	}
	return windowState{Next: next.UTC()}
}
