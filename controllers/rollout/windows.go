package rollout

import (
	"errors"
	"time"

	"k8s.io/apimachinery/pkg/util/validation/field"

	rolloutsv1alpha1 "github.com/rampdev/ramp/apis/rollouts/v1alpha1"
	"github.com/rampdev/ramp/controllers/rollout/resources"
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
	for i := range ws {
		w, ferr := resources.ParseWindow(&ws[i], field.NewPath("spec", "promotionWindows").Index(i))
		if ferr != nil {
			return windowState{Err: ferr}
		}
		local := now.In(w.Location)
		// The first opening after now-duration is at most now when the
		// window is open. A zero time is "never within five years": a
		// schedule that cannot fire is closed, never open.
		if opened := w.Schedule.Next(local.Add(-w.Duration)); !opened.IsZero() && !opened.After(local) {
			return windowState{Open: true}
		}
		if n := w.Schedule.Next(local); !n.IsZero() && (next.IsZero() || n.Before(next)) {
			next = n
		}
	}
	if next.IsZero() {
		return windowState{Err: errors.New("spec.promotionWindows: no window ever opens")}
	}
	return windowState{Next: next.UTC()}
}
