// Package autoscaler is Ramp's pure scaling core: it turns the queue-proxies'
// cumulative /stats reports into per-second windows (Aggregator) and those
// windows into a desired replica count (Scale), with Knative KPA semantics.
// It imports nothing from Kubernetes; the controller wires it up.
package autoscaler

import (
	"fmt"
	"math"
	"time"
)

// Defaults of Config.
const (
	DefaultTargetUtilization      = 0.7
	DefaultUnlimitedTarget        = 100.0
	DefaultMaxScaleUpRate         = 1000.0
	DefaultMaxScaleDownRate       = 2.0
	DefaultStableWindow           = 60 * time.Second
	DefaultPanicWindowPercent     = 10.0
	DefaultPanicThresholdPercent  = 200.0
	DefaultScaleToZeroGracePeriod = 30 * time.Second
)

// Config is the scaling configuration of one revision. Zero fields take
// the defaults above (see WithDefaults).
type Config struct {
	// ContainerConcurrency is the hard per-pod concurrency limit; 0 means
	// unlimited.
	ContainerConcurrency int
	// Target is the desired average concurrency per pod. When 0 it is
	// ContainerConcurrency × TargetUtilization, or DefaultUnlimitedTarget
	// when ContainerConcurrency is 0.
	Target float64
	// TargetUtilization is the share of ContainerConcurrency aimed at
	// (default 0.7).
	TargetUtilization float64
	// MinScale and MaxScale bound the replica count; MaxScale 0 means
	// unbounded.
	MinScale, MaxScale int32
	// InitialScale is the replica count a new revision starts with, kept
	// as a floor until Inputs.InitialScaleReached.
	InitialScale int32
	// MaxScaleUpRate caps a step at MaxScaleUpRate × ready pods.
	MaxScaleUpRate float64
	// MaxScaleDownRate floors a step at ready pods / MaxScaleDownRate.
	MaxScaleDownRate float64
	// StableWindow is the averaging window of stable mode, and how long
	// panic mode lasts after its last trigger.
	StableWindow time.Duration
	// PanicWindowPercent is the panic window as a percentage of
	// StableWindow.
	PanicWindowPercent float64
	// PanicThresholdPercent is the panic-window concurrency, as a
	// percentage of the ready pods' capacity, that triggers panic mode.
	PanicThresholdPercent float64
	// ScaleToZeroGracePeriod is how long, beyond StableWindow, a revision
	// must see no traffic before it is scaled to zero.
	ScaleToZeroGracePeriod time.Duration
}

// WithDefaults returns c with zero fields set to their defaults.
func (c Config) WithDefaults() Config {
	if c.TargetUtilization <= 0 {
		c.TargetUtilization = DefaultTargetUtilization
	}
	if c.Target <= 0 {
		c.Target = DefaultUnlimitedTarget
		if c.ContainerConcurrency > 0 {
			c.Target = float64(c.ContainerConcurrency) * c.TargetUtilization
		}
	}
	if c.MaxScaleUpRate <= 1 {
		c.MaxScaleUpRate = DefaultMaxScaleUpRate
	}
	if c.MaxScaleDownRate <= 1 {
		c.MaxScaleDownRate = DefaultMaxScaleDownRate
	}
	if c.StableWindow <= 0 {
		c.StableWindow = DefaultStableWindow
	}
	if c.PanicWindowPercent <= 0 {
		c.PanicWindowPercent = DefaultPanicWindowPercent
	}
	if c.PanicThresholdPercent <= 0 {
		c.PanicThresholdPercent = DefaultPanicThresholdPercent
	}
	if c.ScaleToZeroGracePeriod <= 0 {
		c.ScaleToZeroGracePeriod = DefaultScaleToZeroGracePeriod
	}
	return c
}

// PanicWindow is the averaging window of panic mode.
func (c Config) PanicWindow() time.Duration {
	return time.Duration(float64(c.StableWindow) * c.PanicWindowPercent / 100)
}

// Inputs is everything Scale decides on.
type Inputs struct {
	Config
	// ReadyPods is the number of pods ready to serve.
	ReadyPods int
	// CurrentDesired is the previous decision.
	CurrentDesired int32
	// StableConcurrency and PanicConcurrency are the average total
	// concurrency over the stable and panic windows.
	StableConcurrency, PanicConcurrency float64
	// PanicSince is the last panic trigger, zero when not panicking: the
	// previous Decision.PanicSince.
	PanicSince time.Time
	// LastNonZeroTraffic is the last time any traffic was seen.
	LastNonZeroTraffic time.Time
	// Activated tells that a request is waiting for a pod (scale from zero).
	Activated bool
	// InitialScaleReached tells that the revision has once had
	// InitialScale ready pods; until then InitialScale is a floor.
	InitialScaleReached bool
}

// Decision is the outcome of Scale.
type Decision struct {
	// DesiredScale is the replica count to aim at.
	DesiredScale int32
	// PanicSince is the last panic trigger, zero when not panicking; pass
	// it back in the next Inputs.
	PanicSince time.Time
	// Reason explains the decision in one line.
	Reason string
}

// Scale computes the desired replica count at now (Knative KPA):
//
//   - desired = ceil(concurrency / target), from the stable window, or
//     from the panic window in panic mode;
//   - panic mode starts when the panic-window concurrency reaches
//     PanicThresholdPercent of the ready pods' capacity (ready × target),
//     lasts StableWindow after the last trigger, and never scales down;
//   - a step is at most ×MaxScaleUpRate and at least ÷MaxScaleDownRate of
//     the ready pods (taken as at least 1);
//   - zero only after StableWindow + ScaleToZeroGracePeriod without
//     traffic and with MinScale 0 (else 1), or at once for a revision
//     already asked for zero; Activated lifts 0 to 1;
//   - then InitialScale (until reached), MinScale and MaxScale bound it.
func Scale(now time.Time, in Inputs) Decision {
	c := in.WithDefaults()
	ready := float64(max(in.ReadyPods, 1))
	up := math.Ceil(c.MaxScaleUpRate * ready)
	down := math.Floor(ready / c.MaxScaleDownRate)
	stableWant := math.Ceil(in.StableConcurrency / c.Target)
	panicWant := math.Ceil(in.PanicConcurrency / c.Target)
	stable := clamp(stableWant, down, up)
	panicked := clamp(panicWant, down, up)

	panicSince := in.PanicSince
	over := in.PanicConcurrency/(ready*c.Target) >= c.PanicThresholdPercent/100
	switch {
	case over:
		panicSince = now
	case !panicSince.IsZero() && now.Sub(panicSince) >= c.StableWindow:
		panicSince = time.Time{}
	}

	mode, want, observed, desired := "stable", stableWant, in.StableConcurrency, stable
	if !panicSince.IsZero() {
		mode, want, observed, desired = "panic", panicWant, in.PanicConcurrency, panicked
	}
	reason := fmt.Sprintf("%s: %.1f concurrent / target %g → %g pods (ready %d)",
		mode, observed, c.Target, want, in.ReadyPods)
	if desired != want {
		reason += fmt.Sprintf("; rate-limited to [%g, %g] → %g", down, up, desired)
	}
	if !panicSince.IsZero() && desired < float64(in.CurrentDesired) {
		desired = float64(in.CurrentDesired)
		reason += fmt.Sprintf("; no scale-down in panic: %d", in.CurrentDesired)
	}
	if desired == 0 {
		idle := now.Sub(in.LastNonZeroTraffic)
		switch {
		case in.Activated:
			desired = 1
			reason += "; activated: 0 → 1"
		case c.MinScale == 0 && in.CurrentDesired > 0 && idle < c.StableWindow+c.ScaleToZeroGracePeriod:
			// The grace keeps a pod; it never starts one for a revision
			// already at zero (or that starts at zero: initial scale 0).
			desired = 1
			reason += fmt.Sprintf("; idle %s, holding 1 until %s", idle.Round(time.Second),
				c.StableWindow+c.ScaleToZeroGracePeriod)
		}
	}
	if !in.InitialScaleReached && desired < float64(c.InitialScale) {
		desired = float64(c.InitialScale)
		reason += fmt.Sprintf("; initial scale %d", c.InitialScale)
	}
	if desired < float64(c.MinScale) {
		desired = float64(c.MinScale)
		reason += fmt.Sprintf("; min scale %d", c.MinScale)
	}
	if c.MaxScale > 0 && desired > float64(c.MaxScale) {
		desired = float64(c.MaxScale)
		reason += fmt.Sprintf("; max scale %d", c.MaxScale)
	}
	return Decision{DesiredScale: int32(min(desired, math.MaxInt32)), PanicSince: panicSince, Reason: reason}
}

func clamp(v, lo, hi float64) float64 {
	return min(max(v, lo), hi)
}
