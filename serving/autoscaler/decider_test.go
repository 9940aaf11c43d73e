package autoscaler

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var t0 = time.Unix(1_700_000_000, 0)

func TestConfigDefaults(t *testing.T) {
	for name, tc := range map[string]struct {
		in         Config
		wantTarget float64
	}{
		"cc 10":          {Config{ContainerConcurrency: 10}, 7},
		"unlimited":      {Config{}, 100},
		"explicit":       {Config{ContainerConcurrency: 10, Target: 3}, 3},
		"utilization .5": {Config{ContainerConcurrency: 10, TargetUtilization: 0.5}, 5},
	} {
		t.Run(name, func(t *testing.T) {
			c := tc.in.WithDefaults()
			if c.Target != tc.wantTarget {
				t.Errorf("Target = %g, want %g", c.Target, tc.wantTarget)
			}
			if c.PanicWindow() != 6*time.Second {
				t.Errorf("PanicWindow = %s, want 6s", c.PanicWindow())
			}
		})
	}
}

func TestScale(t *testing.T) {
	cc10 := Config{ContainerConcurrency: 10} // target 7
	type out struct {
		Desired    int32
		PanicSince time.Time
	}
	recent := t0.Add(-time.Second)
	for name, tc := range map[string]struct {
		in     Inputs
		want   out
		reason string
	}{
		"stable ceil": {
			in:     Inputs{Config: cc10, ReadyPods: 2, CurrentDesired: 2, StableConcurrency: 12.3, PanicConcurrency: 12.3, LastNonZeroTraffic: recent},
			want:   out{Desired: 2},
			reason: "stable: 12.3 concurrent / target 7 → 2 pods",
		},
		"stable up": {
			in:   Inputs{Config: cc10, ReadyPods: 2, CurrentDesired: 2, StableConcurrency: 20, PanicConcurrency: 20, LastNonZeroTraffic: recent},
			want: out{Desired: 3},
		},
		"panic starts at 2x capacity": {
			in:     Inputs{Config: cc10, ReadyPods: 1, CurrentDesired: 1, StableConcurrency: 5, PanicConcurrency: 14, LastNonZeroTraffic: recent},
			want:   out{Desired: 2, PanicSince: t0},
			reason: "panic: 14.0 concurrent / target 7 → 2 pods",
		},
		"just below panic threshold": {
			in:   Inputs{Config: cc10, ReadyPods: 1, CurrentDesired: 1, StableConcurrency: 5, PanicConcurrency: 13.9, LastNonZeroTraffic: recent},
			want: out{Desired: 1},
		},
		"panic holds, no scale down": {
			in:     Inputs{Config: cc10, ReadyPods: 10, CurrentDesired: 10, StableConcurrency: 7, PanicConcurrency: 7, PanicSince: t0.Add(-30 * time.Second), LastNonZeroTraffic: recent},
			want:   out{Desired: 10, PanicSince: t0.Add(-30 * time.Second)},
			reason: "no scale-down in panic",
		},
		"panic scales up from panic window": {
			in:   Inputs{Config: cc10, ReadyPods: 10, CurrentDesired: 10, StableConcurrency: 7, PanicConcurrency: 100, PanicSince: t0.Add(-30 * time.Second), LastNonZeroTraffic: recent},
			want: out{Desired: 15, PanicSince: t0.Add(-30 * time.Second)},
		},
		"panic ends after stable window": {
			in:   Inputs{Config: cc10, ReadyPods: 10, CurrentDesired: 10, StableConcurrency: 7, PanicConcurrency: 7, PanicSince: t0.Add(-60 * time.Second), LastNonZeroTraffic: recent},
			want: out{Desired: 5},
		},
		"retrigger extends panic": {
			in:   Inputs{Config: cc10, ReadyPods: 2, CurrentDesired: 2, StableConcurrency: 7, PanicConcurrency: 100, PanicSince: t0.Add(-59 * time.Second), LastNonZeroTraffic: recent},
			want: out{Desired: 15, PanicSince: t0},
		},
		"scale up rate limit": {
			in:     Inputs{Config: Config{ContainerConcurrency: 10, MaxScaleUpRate: 2}, ReadyPods: 3, CurrentDesired: 3, StableConcurrency: 70, PanicConcurrency: 30, LastNonZeroTraffic: recent},
			want:   out{Desired: 6},
			reason: "rate-limited to [1, 6] → 6",
		},
		"scale down rate limit": {
			in:   Inputs{Config: cc10, ReadyPods: 10, CurrentDesired: 10, StableConcurrency: 7, PanicConcurrency: 7, LastNonZeroTraffic: recent},
			want: out{Desired: 5},
		},
		"min scale": {
			in:     Inputs{Config: Config{ContainerConcurrency: 10, MinScale: 3}, ReadyPods: 3, CurrentDesired: 3, StableConcurrency: 1, PanicConcurrency: 1, LastNonZeroTraffic: recent},
			want:   out{Desired: 3},
			reason: "min scale 3",
		},
		"max scale": {
			in:     Inputs{Config: Config{ContainerConcurrency: 10, MaxScale: 4}, ReadyPods: 4, CurrentDesired: 4, StableConcurrency: 70, PanicConcurrency: 20, LastNonZeroTraffic: recent},
			want:   out{Desired: 4},
			reason: "max scale 4",
		},
		"hold 1 within window+grace": {
			in:     Inputs{Config: cc10, ReadyPods: 1, CurrentDesired: 1, LastNonZeroTraffic: t0.Add(-89 * time.Second)},
			want:   out{Desired: 1},
			reason: "holding 1",
		},
		"at zero, recent traffic: no pod is started": {
			in:   Inputs{Config: cc10, LastNonZeroTraffic: t0.Add(-time.Second)},
			want: out{Desired: 0},
		},
		"initial scale 0, just seen: stays at zero": {
			in:   Inputs{Config: Config{ContainerConcurrency: 10, InitialScale: 0}, LastNonZeroTraffic: t0, InitialScaleReached: true},
			want: out{Desired: 0},
		},
		"zero after window+grace": {
			in:   Inputs{Config: cc10, ReadyPods: 1, CurrentDesired: 1, LastNonZeroTraffic: t0.Add(-90 * time.Second)},
			want: out{Desired: 0},
		},
		"min scale blocks zero": {
			in:   Inputs{Config: Config{ContainerConcurrency: 10, MinScale: 1}, ReadyPods: 1, CurrentDesired: 1, LastNonZeroTraffic: t0.Add(-time.Hour)},
			want: out{Desired: 1},
		},
		"activated from zero": {
			in:     Inputs{Config: cc10, Activated: true, LastNonZeroTraffic: t0.Add(-time.Hour)},
			want:   out{Desired: 1},
			reason: "activated: 0 → 1",
		},
		"stays zero": {
			in:   Inputs{Config: cc10},
			want: out{Desired: 0},
		},
		"initial scale until reached": {
			in:     Inputs{Config: Config{ContainerConcurrency: 10, InitialScale: 3}},
			want:   out{Desired: 3},
			reason: "initial scale 3",
		},
		"initial scale reached": {
			in:   Inputs{Config: Config{ContainerConcurrency: 10, InitialScale: 3}, ReadyPods: 3, CurrentDesired: 3, InitialScaleReached: true},
			want: out{Desired: 1},
		},
		"unlimited concurrency target 100": {
			in:   Inputs{ReadyPods: 1, CurrentDesired: 1, StableConcurrency: 150, PanicConcurrency: 150, LastNonZeroTraffic: recent},
			want: out{Desired: 2},
		},
	} {
		t.Run(name, func(t *testing.T) {
			d := Scale(t0, tc.in)
			if diff := cmp.Diff(tc.want, out{d.DesiredScale, d.PanicSince}); diff != "" {
				t.Errorf("Scale (-want +got):\n%s\nreason: %s", diff, d.Reason)
			}
			if !strings.Contains(d.Reason, tc.reason) || strings.Contains(d.Reason, "\n") {
				t.Errorf("Reason = %q, want one line containing %q", d.Reason, tc.reason)
			}
		})
	}
}
