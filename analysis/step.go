package analysis

import (
	"fmt"
	"time"
)

// TimeoutPolicy is what a step does when it reaches its maximum time
// without a verdict.
type TimeoutPolicy string

// Timeout policies.
const (
	// TimeoutRollback rolls the canary back: no evidence of
	// non-regression in time is not a pass.
	TimeoutRollback TimeoutPolicy = "rollback"
	// TimeoutPause pauses the rollout for a human to approve or abort.
	TimeoutPause TimeoutPolicy = "pause"
)

// Step defaults.
const (
	DefaultMinStepTime = 30 * time.Second
	DefaultMaxStepTime = 10 * time.Minute
)

// StepPolicy is how looks decide a weight step.
type StepPolicy struct {
	// MinStepTime is the least time a step runs before it may advance:
	// evidence of non-regression earlier waits for it. A regression rolls
	// back at once.
	MinStepTime time.Duration
	// MaxStepTime is how long a step may gather evidence; then OnTimeout.
	MaxStepTime time.Duration
	OnTimeout   TimeoutPolicy
	// FailureLimit is the number of consecutive failed looks that roll
	// back when the failures come only from threshold (query) metrics; a
	// sequential failure is evidence and rolls back at once.
	FailureLimit int32
	// ErrorLimit is the number of consecutive Error looks (the measurement
	// itself failed) that pause the rollout.
	ErrorLimit int32
}

// Verdict is what a look decides for its step.
type Verdict string

// Verdicts.
const (
	// Continue keeps the step running and gathering evidence.
	Continue Verdict = "Continue"
	// Advance ends the step: evidence of non-regression.
	Advance Verdict = "Advance"
	// RollBack sends all traffic back to the stable.
	RollBack Verdict = "RollBack"
	// Hold pauses the rollout for a human.
	Hold Verdict = "Pause"
)

// StepState is what the step logic carries from one look to the next.
type StepState struct {
	// Failures counts consecutive failed looks, Errors consecutive Error
	// looks.
	Failures, Errors int32
}

// Decide applies one look's report to a weight step that has run for
// elapsed (since its traffic started). It returns the verdict, the state
// for the next look and, unless the verdict is Continue with nothing to
// say, a one-line reason. It is pure: the controller and `ramp analysis
// replay` both use it.
//
// The rules, in order:
//  1. Fail with a sequential (evidence) or guard-rail failure: roll back.
//  2. Fail from threshold metrics only: roll back at FailureLimit
//     consecutive failed looks.
//  3. Error: pause at ErrorLimit consecutive Error looks.
//  4. Pass: advance once MinStepTime has passed.
//  5. Still undecided at MaxStepTime: OnTimeout (never a pass).
func Decide(p StepPolicy, st StepState, rep Report, elapsed time.Duration) (Verdict, StepState, string) {
	switch rep.Phase {
	case Fail:
		st.Errors = 0
		st.Failures++
		if finalFailure(rep) {
			return RollBack, st, rep.Message
		}
		if st.Failures >= max(p.FailureLimit, 1) {
			return RollBack, st, fmt.Sprintf("%d consecutive failed measurements: %s", st.Failures, rep.Message)
		}
		return Continue, st, fmt.Sprintf("failed look %d/%d: %s", st.Failures, p.FailureLimit, rep.Message)
	case Error:
		st.Errors++
		if p.ErrorLimit > 0 && st.Errors >= p.ErrorLimit {
			return Hold, st, fmt.Sprintf("%d consecutive looks could not measure: %s", st.Errors, rep.Message)
		}
	case Pass:
		st = StepState{}
		if elapsed >= p.MinStepTime {
			return Advance, st, rep.Message
		}
		return Continue, st, fmt.Sprintf("passing; the step runs at least %s (%s left): %s", p.MinStepTime, (p.MinStepTime - elapsed).Round(time.Second), rep.Message)
	default:
		st = StepState{}
	}
	if p.MaxStepTime > 0 && elapsed >= p.MaxStepTime {
		msg := fmt.Sprintf("no evidence of non-regression within the maximum step time %s: %s", p.MaxStepTime, rep.Message)
		if p.OnTimeout == TimeoutPause {
			return Hold, st, msg
		}
		return RollBack, st, msg
	}
	return Continue, st, ""
}

// finalFailure reports whether a failed report holds a failure that is
// evidence on its own: a sequential metric's.
func finalFailure(rep Report) bool {
	for _, r := range rep.Results {
		if r.Phase == Fail && r.Sequential && !r.DryRun {
			return true
		}
	}
	return false
}
