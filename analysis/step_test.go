package analysis

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// Reports as the step logic sees them.
var (
	seqFailReport = Report{Phase: Fail, Message: "error-rate: evidence of regression", Results: []Result{
		{Metric: "error-rate", Phase: Fail, Sequential: true},
		{Metric: "saturation", Phase: Pass},
	}}
	guardFailReport = Report{Phase: Fail, Message: "latency-p99: over max 1s", Results: []Result{
		{Metric: "latency-p99", Phase: Fail, Sequential: true},
	}}
	thresholdFailReport = Report{Phase: Fail, Message: "saturation: canary 0.9 > max 0.8", Results: []Result{
		// A sequential metric that did not fail does not make the failure
		// final.
		{Metric: "error-rate", Phase: Pass, Sequential: true},
		{Metric: "latency-p90", Phase: Inconclusive, Sequential: true},
		{Metric: "saturation", Phase: Fail},
	}}
	errorReport        = Report{Phase: Error, Message: "error-rate: measuring canary: telemetry down", Results: []Result{{Metric: "error-rate", Phase: Error, Sequential: true}}}
	passReport         = Report{Phase: Pass, Message: "all 2 metrics passed: error-rate, latency-p90", Results: []Result{{Phase: Pass, Sequential: true}, {Phase: Pass, Sequential: true}}}
	inconclusiveReport = Report{Phase: Inconclusive, Message: "error-rate: no verdict yet", Results: []Result{{Phase: Inconclusive, Sequential: true}}}
	emptyReport        = Report{Phase: Inconclusive, Message: "no metrics to evaluate"}
)

func TestDecide(t *testing.T) {
	policy := StepPolicy{MinStepTime: 30 * time.Second, MaxStepTime: 10 * time.Minute, OnTimeout: TimeoutRollback, FailureLimit: 3, ErrorLimit: 2}
	with := func(f func(*StepPolicy)) StepPolicy {
		p := policy
		f(&p)
		return p
	}
	const timeoutMsg = "no evidence of non-regression within the maximum step time 10m0s: "
	tests := map[string]struct {
		policy  StepPolicy
		state   StepState
		report  Report
		elapsed time.Duration
		want    Verdict
		wantSt  StepState
		wantMsg string
	}{
		// Rule 1: evidence rolls back at once.
		"sequential failure rolls back at once": {
			policy: policy, report: seqFailReport, elapsed: 10 * time.Second,
			want: RollBack, wantSt: StepState{Failures: 1}, wantMsg: seqFailReport.Message,
		},
		"guard-rail failure rolls back at once": {
			policy: policy, report: guardFailReport, elapsed: 10 * time.Second,
			want: RollBack, wantSt: StepState{Failures: 1}, wantMsg: guardFailReport.Message,
		},
		"sequential failure resets the error count": {
			policy: policy, state: StepState{Errors: 1}, report: seqFailReport, elapsed: time.Minute,
			want: RollBack, wantSt: StepState{Failures: 1}, wantMsg: seqFailReport.Message,
		},
		"sequential failure before the minimum step time": {
			policy: with(func(p *StepPolicy) { p.MinStepTime = time.Hour }), report: seqFailReport, elapsed: time.Second,
			want: RollBack, wantSt: StepState{Failures: 1}, wantMsg: seqFailReport.Message,
		},
		"sequential failure after earlier threshold failures": {
			policy: policy, state: StepState{Failures: 1}, report: seqFailReport, elapsed: time.Minute,
			want: RollBack, wantSt: StepState{Failures: 2}, wantMsg: seqFailReport.Message,
		},
		// Rule 2: threshold failures need FailureLimit consecutive looks.
		"first threshold failure continues": {
			policy: policy, report: thresholdFailReport, elapsed: 10 * time.Second,
			want: Continue, wantSt: StepState{Failures: 1}, wantMsg: "failed look 1/3: " + thresholdFailReport.Message,
		},
		"second threshold failure continues": {
			policy: policy, state: StepState{Failures: 1}, report: thresholdFailReport, elapsed: 20 * time.Second,
			want: Continue, wantSt: StepState{Failures: 2}, wantMsg: "failed look 2/3: " + thresholdFailReport.Message,
		},
		"threshold failure at the limit rolls back": {
			policy: policy, state: StepState{Failures: 2}, report: thresholdFailReport, elapsed: 30 * time.Second,
			want: RollBack, wantSt: StepState{Failures: 3}, wantMsg: "3 consecutive failed measurements: " + thresholdFailReport.Message,
		},
		"threshold failure past the limit rolls back": {
			policy: policy, state: StepState{Failures: 7}, report: thresholdFailReport, elapsed: 30 * time.Second,
			want: RollBack, wantSt: StepState{Failures: 8}, wantMsg: "8 consecutive failed measurements: " + thresholdFailReport.Message,
		},
		"threshold failure resets the error count": {
			policy: policy, state: StepState{Errors: 1}, report: thresholdFailReport, elapsed: 10 * time.Second,
			want: Continue, wantSt: StepState{Failures: 1}, wantMsg: "failed look 1/3: " + thresholdFailReport.Message,
		},
		"failure limit 0 means 1": {
			policy: with(func(p *StepPolicy) { p.FailureLimit = 0 }), report: thresholdFailReport, elapsed: 10 * time.Second,
			want: RollBack, wantSt: StepState{Failures: 1}, wantMsg: "1 consecutive failed measurements: " + thresholdFailReport.Message,
		},
		"failure limit 1": {
			policy: with(func(p *StepPolicy) { p.FailureLimit = 1 }), report: thresholdFailReport, elapsed: 10 * time.Second,
			want: RollBack, wantSt: StepState{Failures: 1}, wantMsg: "1 consecutive failed measurements: " + thresholdFailReport.Message,
		},
		// A failing look is not undecided: the timeout waits for the
		// failure count.
		"threshold failure past the maximum step time continues": {
			policy: policy, report: thresholdFailReport, elapsed: time.Hour,
			want: Continue, wantSt: StepState{Failures: 1}, wantMsg: "failed look 1/3: " + thresholdFailReport.Message,
		},
		// Rule 3: measurement errors pause at ErrorLimit.
		"first error continues": {
			policy: policy, report: errorReport, elapsed: 10 * time.Second,
			want: Continue, wantSt: StepState{Errors: 1},
		},
		"error at the limit pauses": {
			policy: policy, state: StepState{Errors: 1}, report: errorReport, elapsed: 20 * time.Second,
			want: Hold, wantSt: StepState{Errors: 2}, wantMsg: "2 consecutive looks could not measure: " + errorReport.Message,
		},
		"error limit 1 pauses at once": {
			policy: with(func(p *StepPolicy) { p.ErrorLimit = 1 }), report: errorReport, elapsed: 10 * time.Second,
			want: Hold, wantSt: StepState{Errors: 1}, wantMsg: "1 consecutive looks could not measure: " + errorReport.Message,
		},
		"error limit 0 never pauses": {
			policy: with(func(p *StepPolicy) { p.ErrorLimit = 0 }), state: StepState{Errors: 99}, report: errorReport, elapsed: time.Minute,
			want: Continue, wantSt: StepState{Errors: 100},
		},
		"error keeps the failure count": {
			policy: policy, state: StepState{Failures: 2}, report: errorReport, elapsed: time.Minute,
			want: Continue, wantSt: StepState{Failures: 2, Errors: 1},
		},
		"error at the maximum step time times out": {
			policy: policy, report: errorReport, elapsed: 10 * time.Minute,
			want: RollBack, wantSt: StepState{Errors: 1}, wantMsg: timeoutMsg + errorReport.Message,
		},
		"error at the limit pauses even at the maximum step time": {
			policy: policy, state: StepState{Errors: 1}, report: errorReport, elapsed: time.Hour,
			want: Hold, wantSt: StepState{Errors: 2}, wantMsg: "2 consecutive looks could not measure: " + errorReport.Message,
		},
		// Rule 4: a pass advances after MinStepTime.
		"pass before the minimum step time holds": {
			policy: policy, report: passReport, elapsed: 10 * time.Second,
			want: Continue, wantSt: StepState{}, wantMsg: "passing; the step runs at least 30s (20s left): " + passReport.Message,
		},
		"pass before the minimum step time rounds what is left": {
			policy: policy, report: passReport, elapsed: 10400 * time.Millisecond,
			want: Continue, wantSt: StepState{}, wantMsg: "passing; the step runs at least 30s (20s left): " + passReport.Message,
		},
		"pass at the minimum step time advances": {
			policy: policy, report: passReport, elapsed: 30 * time.Second,
			want: Advance, wantSt: StepState{}, wantMsg: passReport.Message,
		},
		"pass resets the counts": {
			policy: policy, state: StepState{Failures: 2, Errors: 1}, report: passReport, elapsed: time.Minute,
			want: Advance, wantSt: StepState{}, wantMsg: passReport.Message,
		},
		"held pass resets the counts": {
			policy: policy, state: StepState{Failures: 2, Errors: 1}, report: passReport, elapsed: 0,
			want: Continue, wantSt: StepState{}, wantMsg: "passing; the step runs at least 30s (30s left): " + passReport.Message,
		},
		"pass after the maximum step time still advances": {
			policy: policy, report: passReport, elapsed: time.Hour,
			want: Advance, wantSt: StepState{}, wantMsg: passReport.Message,
		},
		"no minimum step time advances at once": {
			policy: with(func(p *StepPolicy) { p.MinStepTime = 0 }), report: passReport, elapsed: 0,
			want: Advance, wantSt: StepState{}, wantMsg: passReport.Message,
		},
		// Rule 5: undecided at MaxStepTime.
		"inconclusive continues quietly": {
			policy: policy, report: inconclusiveReport, elapsed: time.Minute,
			want: Continue, wantSt: StepState{},
		},
		"inconclusive resets the counts": {
			policy: policy, state: StepState{Failures: 2, Errors: 1}, report: inconclusiveReport, elapsed: time.Minute,
			want: Continue, wantSt: StepState{},
		},
		"inconclusive just before the maximum step time": {
			policy: policy, report: inconclusiveReport, elapsed: 10*time.Minute - time.Nanosecond,
			want: Continue, wantSt: StepState{},
		},
		"inconclusive at the maximum step time rolls back": {
			policy: policy, report: inconclusiveReport, elapsed: 10 * time.Minute,
			want: RollBack, wantSt: StepState{}, wantMsg: timeoutMsg + inconclusiveReport.Message,
		},
		"inconclusive at the maximum step time pauses": {
			policy: with(func(p *StepPolicy) { p.OnTimeout = TimeoutPause }), report: inconclusiveReport, elapsed: 11 * time.Minute,
			want: Hold, wantSt: StepState{}, wantMsg: timeoutMsg + inconclusiveReport.Message,
		},
		"no timeout policy rolls back": {
			policy: with(func(p *StepPolicy) { p.OnTimeout = "" }), report: inconclusiveReport, elapsed: 10 * time.Minute,
			want: RollBack, wantSt: StepState{}, wantMsg: timeoutMsg + inconclusiveReport.Message,
		},
		"no maximum step time never times out": {
			policy: with(func(p *StepPolicy) { p.MaxStepTime = 0 }), report: inconclusiveReport, elapsed: 24 * time.Hour,
			want: Continue, wantSt: StepState{},
		},
		"error pauses on timeout with the pause policy": {
			policy: with(func(p *StepPolicy) { p.OnTimeout = TimeoutPause }), report: errorReport, elapsed: 10 * time.Minute,
			want: Hold, wantSt: StepState{Errors: 1}, wantMsg: timeoutMsg + errorReport.Message,
		},
		"a report without metrics is undecided": {
			policy: policy, report: emptyReport, elapsed: 10 * time.Minute,
			want: RollBack, wantSt: StepState{}, wantMsg: timeoutMsg + emptyReport.Message,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			v, st, msg := Decide(tc.policy, tc.state, tc.report, tc.elapsed)
			if v != tc.want || msg != tc.wantMsg {
				t.Errorf("Decide() = %s %q, want %s %q", v, msg, tc.want, tc.wantMsg)
			}
			if diff := cmp.Diff(tc.wantSt, st); diff != "" {
				t.Errorf("state (-want +got):\n%s", diff)
			}
		})
	}
}

// Decide carries its state from look to look: failures and errors count
// only while consecutive.
func TestDecideSequence(t *testing.T) {
	policy := StepPolicy{MinStepTime: 30 * time.Second, MaxStepTime: 10 * time.Minute, OnTimeout: TimeoutRollback, FailureLimit: 3, ErrorLimit: 3}
	tests := map[string]struct {
		reports []Report
		want    []Verdict
	}{
		"threshold failures roll back on the third in a row": {
			reports: []Report{thresholdFailReport, thresholdFailReport, thresholdFailReport},
			want:    []Verdict{Continue, Continue, RollBack},
		},
		"an inconclusive look breaks the run of failures": {
			reports: []Report{thresholdFailReport, thresholdFailReport, inconclusiveReport, thresholdFailReport, thresholdFailReport, thresholdFailReport},
			want:    []Verdict{Continue, Continue, Continue, Continue, Continue, RollBack},
		},
		"a pass breaks the run of failures": {
			reports: []Report{thresholdFailReport, passReport, thresholdFailReport, thresholdFailReport},
			want:    []Verdict{Continue, Continue, Continue, Continue},
		},
		"an error does not break the run of failures": {
			reports: []Report{thresholdFailReport, thresholdFailReport, errorReport, thresholdFailReport},
			want:    []Verdict{Continue, Continue, Continue, RollBack},
		},
		"a failure breaks the run of errors": {
			reports: []Report{errorReport, errorReport, thresholdFailReport, errorReport, errorReport},
			want:    []Verdict{Continue, Continue, Continue, Continue, Continue},
		},
		"errors pause on the third in a row": {
			reports: []Report{errorReport, errorReport, errorReport},
			want:    []Verdict{Continue, Continue, Hold},
		},
		"a pass waits for the minimum step time": {
			reports: []Report{passReport, passReport, passReport},
			want:    []Verdict{Continue, Continue, Advance},
		},
		"evidence of regression after passing looks": {
			reports: []Report{passReport, seqFailReport},
			want:    []Verdict{Continue, RollBack},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var st StepState
			var got []Verdict
			for i, rep := range tc.reports {
				var v Verdict
				v, st, _ = Decide(policy, st, rep, time.Duration(i+1)*10*time.Second)
				got = append(got, v)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("verdicts (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFinalFailure(t *testing.T) {
	for name, tc := range map[string]struct {
		rep  Report
		want bool
	}{
		"sequential fail":          {rep: seqFailReport, want: true},
		"threshold fail":           {rep: thresholdFailReport, want: false},
		"no results":               {rep: Report{Phase: Fail}, want: false},
		"sequential error":         {rep: errorReport, want: false},
		"sequential pass and fail": {rep: Report{Results: []Result{{Phase: Pass, Sequential: true}, {Phase: Fail}}}, want: false},
	} {
		if got := finalFailure(tc.rep); got != tc.want {
			t.Errorf("%s: finalFailure() = %v, want %v", name, got, tc.want)
		}
	}
}
