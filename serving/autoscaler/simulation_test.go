package autoscaler

import (
	"fmt"
	"testing"
	"time"
)

// TestSimulatedLoad drives 0 → 300 concurrent → 0 second by second through
// an Aggregator and Scale, with pods that become ready 2 s after they are
// asked for, and checks the replica curve.
func TestSimulatedLoad(t *testing.T) {
	const (
		loadStart, loadEnd = 10, 130
		load               = 300.0
		startup            = 2  // seconds until a new pod is ready
		want               = 43 // ceil(300/7)
	)
	cfg := Config{ContainerConcurrency: 10}
	agg := NewAggregator(AggregatorConfig{})
	type simPod struct {
		name    string
		readyAt int
		fp      *fakePod
	}
	var pods []*simPod
	var desired int32
	var panicSince time.Time
	var curve []int32
	reached, zeroAt, podSeq := -1, -1, 0

	for sec := 0; sec <= 260; sec++ {
		now := t0.Add(time.Duration(sec) * time.Second)
		offered := 0.0
		if sec >= loadStart && sec < loadEnd {
			offered = load
		}
		var ready []*simPod
		for _, p := range pods {
			if p.readyAt <= sec {
				ready = append(ready, p)
			}
		}
		for _, p := range ready {
			share := offered / float64(len(ready))
			agg.Record(now, rev, p.name, p.fp.run(time.Second, share, uint64(share), 0, 10*time.Millisecond))
		}
		m := agg.Metrics(now, rev)
		prevDesired := desired
		d := Scale(now, Inputs{
			Config: cfg, ReadyPods: len(ready), CurrentDesired: desired,
			StableConcurrency: m.StableConcurrency, PanicConcurrency: m.PanicConcurrency,
			PanicSince: panicSince, LastNonZeroTraffic: m.LastNonZeroTraffic,
			Activated: offered > 0 && len(ready) == 0,
		})
		desired, panicSince = d.DesiredScale, d.PanicSince
		curve = append(curve, desired)

		if !d.PanicSince.IsZero() && desired < prevDesired {
			t.Errorf("t=%d: scaled down %d → %d in panic (%s)", sec, prevDesired, desired, d.Reason)
		}
		if sec < loadStart && desired != 0 {
			t.Errorf("t=%d: desired %d before any load", sec, desired)
		}
		if desired == want && reached < 0 {
			reached = sec
		}
		if reached >= 0 && sec < loadEnd && desired < want {
			t.Errorf("t=%d: desired %d < %d while load lasts (%s)", sec, desired, want, d.Reason)
		}
		if desired > want {
			t.Errorf("t=%d: desired %d > %d (%s)", sec, desired, want, d.Reason)
		}
		if sec >= loadEnd && desired < int32(len(ready))/2 {
			t.Errorf("t=%d: desired %d below ready %d / 2", sec, desired, len(ready))
		}
		if desired == 0 && sec > loadStart && zeroAt < 0 {
			zeroAt = sec
		}

		// Reconcile the simulated deployment: newest pods go first.
		for int32(len(pods)) < desired {
			podSeq++
			name := fmt.Sprintf("pod-%d", podSeq)
			pods = append(pods, &simPod{name: name, readyAt: sec + startup, fp: newFakePod(name, now.Add(startup*time.Second))})
		}
		if int32(len(pods)) > desired {
			pods = pods[:desired]
		}
	}
	t.Logf("replica curve: %v", curve)
	if reached < 0 || reached > loadStart+6 {
		t.Errorf("reached %d pods at t=%d, want within 6 s of t=%d", want, reached, loadStart)
	}
	// Last traffic at loadEnd-1; zero after 60 s window + 30 s grace.
	if wantZero := loadEnd - 1 + 90; zeroAt != wantZero {
		t.Errorf("scaled to zero at t=%d, want %d", zeroAt, wantZero)
	}
}
