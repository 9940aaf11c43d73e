package rollout

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	rolloutsv1alpha1 "github.com/rampdev/ramp/apis/rollouts/v1alpha1"
	"github.com/rampdev/ramp/controllers/rollout/resources"
)

// FuzzPromotionWindows: any schedule, time zone and duration a user writes
// is evaluated without a panic (robfig/cron parses the schedule), and a
// closed window says when it opens next, after now.
func FuzzPromotionWindows(f *testing.F) {
	for _, s := range []string{"0 9 * * 1-5", "30 7 * * *", "0 0 30 2 *", "garbage", "99 * * * *", "@every 1h", "@daily",
		"TZ=Europe/Paris 0 9 * * *", "CRON_TZ=../../etc 0 9 * * *", "*/0 * * * *", "0-59/70 * * * *", ""} {
		for _, tz := range []string{"", "Europe/Paris", "../../etc/passwd", "Nowhere/City"} {
			f.Add(s, tz, int64(3600), int64(1796300000))
		}
	}
	f.Fuzz(func(t *testing.T, schedule, tz string, durSeconds, nowUnix int64) {
		if durSeconds < 0 || durSeconds > 366*24*3600 {
			return
		}
		now := time.Unix(nowUnix%(4102444800), 0).UTC() // before 2100
		ws := []rolloutsv1alpha1.PromotionWindow{{Schedule: schedule, TimeZone: tz, Duration: metav1.Duration{Duration: time.Duration(durSeconds) * time.Second}}}
		st := promotionWindows(ws, now)
		if st.Err == nil && !st.Open && !st.Next.After(now) {
			t.Fatalf("%q in %q at %s: closed, next opening %s not after now", schedule, tz, now, st.Next)
		}
		// What admission accepts, the controller can act on: no error, and
		// open now or opening within the horizon.
		spec := &rolloutsv1alpha1.RolloutSpec{PromotionWindows: ws}
		if errs := resources.ValidateSpec(spec, now); len(errs) == 0 {
			if st.Err != nil {
				t.Fatalf("%q in %q at %s: admitted, but the controller cannot read it: %v", schedule, tz, now, st.Err)
			}
			if !st.Open && st.Next.Sub(now) > resources.WindowHorizon {
				t.Fatalf("%q in %q at %s: admitted, but opens only at %s", schedule, tz, now, st.Next)
			}
		}
	})
}
