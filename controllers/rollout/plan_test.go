package rollout

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/rampdev/ramp/analysis"
	rolloutsv1alpha1 "github.com/rampdev/ramp/apis/rollouts/v1alpha1"
	"github.com/rampdev/ramp/controllers/rollout/resources"
)

const failMsg = "error-rate: canary 5.20% > max 1.00% (stable 0.10%)"

// Sequential verdicts of the comparative metric error-rate.
const (
	regressionMsg    = "error-rate: evidence of regression: canary 4.10% vs stable 0.20% (+3.90 points, beyond the tolerance +0.10 points)"
	nonRegressionMsg = "error-rate: evidence of non-regression: canary 0.20% vs stable 0.20% (within the margin +50% or +1.50 points)"
	noEvidenceMsg    = "error-rate: 40 canary requests: no verdict yet"
	// onHold ends a pause's message.
	onHold = "; approve to resume (the step gathers evidence afresh), promote to go on, abort to roll back"
)

// TestRun drives the planner through the canary and blue/green state
// machines, one round per case. Unless a case says otherwise, the current
// template hash is h2, the route serves the traffic of the given status,
// and now is t0.
func TestRun(t *testing.T) {
	canary := canarySpec()
	base := func(ms ...stMutator) *rolloutsv1alpha1.RolloutStatus {
		return status(append([]stMutator{waiting("r1", "r2", -10*time.Minute)}, ms...)...)
	}
	const stepped = 5 * time.Minute // how long ago the current step started in most cases
	cases := map[string]struct {
		spec          *rolloutsv1alpha1.RolloutSpec
		given         *rolloutsv1alpha1.RolloutStatus
		hash          string // current template hash, default h2
		revision      RevisionState
		routeAt       *rolloutsv1alpha1.RolloutStatus // the status whose traffic the route serves; default given
		routeEmpty    bool                            // no route yet
		routeNotReady bool                            // the route serves routeAt's traffic but is not Ready
		action        *Action
		report        *analysis.Report
		now           time.Duration

		want         *rolloutsv1alpha1.RolloutStatus
		wantEvents   []string
		wantMeasured analysis.Phase
		wantRequeue  time.Duration
	}{
		// The first rollout goes straight to 100%.
		"new rollout waits for its revision": {
			given: status(), routeEmpty: true,
			want:       status(phase(rolloutsv1alpha1.PhaseProgressing, ""), func(st *rolloutsv1alpha1.RolloutStatus) { st.TemplateHash, st.StepStartedAt = "h2", at(0) }),
			wantEvents: []string{"RolloutStarted"}, wantRequeue: 10 * time.Minute,
		},
		"first revision ready: promoted to 100%": {
			given: status(waiting("", "r1", -time.Minute)), revision: revision("r1", true), routeEmpty: true,
			want:       status(waiting("", "r1", 0), step(5, 100, 0)),
			wantEvents: []string{"Promoting"}, wantRequeue: 10 * time.Minute,
		},
		"first revision applied: healthy": {
			given: status(waiting("", "r1", -time.Minute), step(5, 100, -time.Minute)), revision: revision("r1", true),
			want:       status(healthy("r1"), func(st *rolloutsv1alpha1.RolloutStatus) { st.TemplateHash = "h2" }),
			wantEvents: []string{"Healthy"},
		},
		"first revision past the deadline: keeps waiting": {
			given: status(waiting("", "r1", -10*time.Minute)), revision: revision("r1", false), routeEmpty: true,
			want: status(waiting("", "r1", -10*time.Minute)),
		},

		// Canary steps.
		"template change while healthy": {
			given: status(healthy("r1")), revision: RevisionState{},
			want:       status(waiting("r1", "", 0)),
			wantEvents: []string{"RolloutStarted"}, wantRequeue: 10 * time.Minute,
		},
		"canary ready: first step": {
			given: base(), revision: revision("r2", true),
			want:       base(step(0, 5, 0)),
			wantEvents: []string{"StepStarted"}, wantRequeue: 10 * time.Minute,
		},
		"step applied: measurements start": {
			given: base(step(0, 5, -stepped)), revision: revision("r2", true),
			want:        base(step(0, 5, -stepped), ready(0), nextMeasurement(10*time.Second)),
			wantRequeue: 10 * time.Second,
		},
		"step not applied yet: waits": {
			given: base(step(0, 5, -stepped)), revision: revision("r2", true), routeAt: base(),
			want:        base(step(0, 5, -stepped)),
			wantRequeue: 5 * time.Minute,
		},
		"pass at a weight step: next step": {
			given: base(step(0, 5, -stepped), ready(-stepped), nextMeasurement(0)), revision: revision("r2", true),
			report:     report(analysis.Pass, "error-rate: canary 0.10% <= max 1.00%"),
			want:       base(step(1, 20, 0), measurements(measured(0, analysis.Pass, 0, "error-rate: canary 0.10% <= max 1.00%"))),
			wantEvents: []string{"StepStarted"}, wantMeasured: analysis.Pass, wantRequeue: 10 * time.Minute,
		},
		"pass at a weight step with a pause: pauses": {
			given: base(step(1, 20, -stepped), ready(-stepped), nextMeasurement(0)), revision: revision("r2", true),
			report: report(analysis.Pass, "ok"),
			want: base(step(1, 20, -stepped), ready(-stepped), nextMeasurement(10*time.Second), pauseUntil(2*time.Minute),
				measurements(measured(0, analysis.Pass, 1, "ok"))),
			wantEvents: []string{"StepPassed"}, wantMeasured: analysis.Pass, wantRequeue: 10 * time.Second,
		},
		"pause running": {
			given: base(step(1, 20, -stepped), ready(-stepped), pauseUntil(time.Minute), nextMeasurement(5*time.Second)), revision: revision("r2", true),
			want:        base(step(1, 20, -stepped), ready(-stepped), pauseUntil(time.Minute), nextMeasurement(5*time.Second)),
			wantRequeue: 5 * time.Second,
		},
		"pause over: the approval step is applied at once": {
			given: base(step(1, 20, -stepped), ready(-stepped), pauseUntil(-time.Second), nextMeasurement(5*time.Second)), revision: revision("r2", true),
			want:       base(step(2, 20, 0), ready(0), nextMeasurement(10*time.Second)),
			wantEvents: []string{"StepStarted"}, wantRequeue: 10 * time.Second,
		},
		"approval waits": {
			given: base(step(2, 20, -stepped), ready(-stepped), nextMeasurement(5*time.Second)), revision: revision("r2", true),
			want:        base(step(2, 20, -stepped), ready(-stepped), nextMeasurement(5*time.Second)),
			wantRequeue: 5 * time.Second,
		},
		"analysis disabled: an applied weight step passes at once and the next one waits for the gateway": {
			spec:  canarySpec(analysisDisabled),
			given: base(step(0, 5, -stepped)), revision: revision("r2", true),
			want:       base(step(1, 20, 0)),
			wantEvents: []string{"StepStarted"}, wantRequeue: 10 * time.Minute,
		},
		"analysis disabled: a weight step with a pause pauses": {
			spec:  canarySpec(analysisDisabled),
			given: base(step(1, 20, -stepped)), revision: revision("r2", true),
			want:       base(step(1, 20, -stepped), ready(0), pauseUntil(2*time.Minute)),
			wantEvents: []string{"StepPassed"}, wantRequeue: 2 * time.Minute,
		},
		"last step passed: promotion": {
			given: base(step(4, 100, -stepped), ready(-stepped), nextMeasurement(0)), revision: revision("r2", true),
			report:     report(analysis.Pass, "ok"),
			want:       base(step(5, 100, 0), measurements(measured(0, analysis.Pass, 4, "ok"))),
			wantEvents: []string{"Promoting"}, wantMeasured: analysis.Pass, wantRequeue: 10 * time.Minute,
		},
		"a 100% step passes once applied: nothing to compare with": {
			// Inconclusive (the stable serves nothing), yet the step passes:
			// the old rule left it gathering evidence until its timeout.
			given: base(step(4, 100, -stepped), ready(-stepped), nextMeasurement(0)), revision: revision("r2", true),
			report:     report(analysis.Inconclusive, "no stable requests yet to compare with"),
			want:       base(step(5, 100, 0), measurements(measured(0, analysis.Inconclusive, 4, "no stable requests yet to compare with"))),
			wantEvents: []string{"Promoting"}, wantMeasured: analysis.Inconclusive, wantRequeue: 10 * time.Minute,
		},
		"a 100% step just applied passes at once": {
			given: base(step(4, 100, -time.Second)), revision: revision("r2", true),
			want:       base(step(5, 100, 0)),
			wantEvents: []string{"Promoting"}, wantRequeue: 10 * time.Minute,
		},
		"promotion applied: healthy": {
			given: base(step(5, 100, -time.Minute), measurements(measured(-2*time.Minute, analysis.Pass, 4, "ok"))), revision: revision("r2", true),
			want: status(healthy("r2"), func(st *rolloutsv1alpha1.RolloutStatus) {
				st.TemplateHash = "h2"
				st.Measurements = []rolloutsv1alpha1.Measurement{measured(-2*time.Minute, analysis.Pass, 4, "ok")}
			}),
			wantEvents: []string{"Healthy"},
		},

		// Failures and inconclusive measurements.
		"failure below the limit": {
			given: base(step(3, 50, -stepped), ready(-stepped), nextMeasurement(0)), revision: revision("r2", true),
			report:     report(analysis.Fail, failMsg),
			want:       base(step(3, 50, -stepped), ready(-stepped), nextMeasurement(10*time.Second), counters(1, 0), measurements(measured(0, analysis.Fail, 3, failMsg))),
			wantEvents: []string{"MeasurementFailed"}, wantMeasured: analysis.Fail, wantRequeue: 10 * time.Second,
		},
		"failure limit: rolling back": {
			given: base(step(3, 50, -stepped), ready(-stepped), nextMeasurement(0), counters(1, 2)), revision: revision("r2", true),
			report: report(analysis.Fail, failMsg),
			want: base(step(3, 0, -stepped), counters(2, 0), measurements(measured(0, analysis.Fail, 3, failMsg)),
				rollingBack("Rolling back to r1: at step 4/5 (weight 50%): 2 consecutive failed measurements: "+failMsg)),
			wantEvents: []string{"MeasurementFailed", "RollingBack"}, wantMeasured: analysis.Fail,
		},
		"inconclusive looks do not count toward a pause: the step keeps gathering evidence": {
			given: base(step(3, 50, -stepped), ready(-stepped), nextMeasurement(0), counters(0, 2)), revision: revision("r2", true),
			report:       report(analysis.Inconclusive, noEvidenceMsg),
			want:         base(step(3, 50, -stepped), ready(-stepped), nextMeasurement(10*time.Second), measurements(measured(0, analysis.Inconclusive, 3, noEvidenceMsg))),
			wantMeasured: analysis.Inconclusive, wantRequeue: 10 * time.Second,
		},
		"error limit: paused": {
			given: base(step(3, 50, -stepped), ready(-stepped), nextMeasurement(0), counters(0, 2)), revision: revision("r2", true),
			report: report(analysis.Error, "error-rate: measuring: connection refused"),
			want: base(step(3, 50, -stepped), ready(-stepped), counters(0, 3), measurements(measured(0, analysis.Error, 3, "error-rate: measuring: connection refused")),
				phase(rolloutsv1alpha1.PhasePaused, "Paused at step 4/5 (weight 50%): 3 consecutive looks could not measure: error-rate: measuring: connection refused"+onHold)),
			wantEvents: []string{"Paused"}, wantMeasured: analysis.Error,
		},
		"error below the limit keeps the failure streak": {
			given: base(step(3, 50, -stepped), ready(-stepped), nextMeasurement(0), counters(1, 0)), revision: revision("r2", true),
			report:       report(analysis.Error, "error-rate: measuring: connection refused"),
			want:         base(step(3, 50, -stepped), ready(-stepped), nextMeasurement(10*time.Second), counters(1, 1), measurements(measured(0, analysis.Error, 3, "error-rate: measuring: connection refused"))),
			wantMeasured: analysis.Error, wantRequeue: 10 * time.Second,
		},
		"pass resets the counters": {
			given: base(step(2, 20, -stepped), ready(-stepped), nextMeasurement(0), counters(1, 2)), revision: revision("r2", true),
			report:       report(analysis.Pass, "ok"),
			want:         base(step(2, 20, -stepped), ready(-stepped), nextMeasurement(10*time.Second), measurements(measured(0, analysis.Pass, 2, "ok"))),
			wantMeasured: analysis.Pass, wantRequeue: 10 * time.Second,
		},

		// The step logic: evidence, minimum and maximum step times.
		"pass before the minimum step time: the step keeps looking": {
			given: base(step(0, 5, -stepped), ready(-20*time.Second), nextMeasurement(0), counters(1, 1)), revision: revision("r2", true),
			report:       report(analysis.Pass, nonRegressionMsg),
			want:         base(step(0, 5, -stepped), ready(-20*time.Second), nextMeasurement(10*time.Second), measurements(measured(0, analysis.Pass, 0, nonRegressionMsg))),
			wantMeasured: analysis.Pass, wantRequeue: 10 * time.Second,
		},
		"pass at the minimum step time: next step": {
			given: base(step(0, 5, -stepped), ready(-30*time.Second), nextMeasurement(0)), revision: revision("r2", true),
			report:     report(analysis.Pass, nonRegressionMsg),
			want:       base(step(1, 20, 0), measurements(measured(0, analysis.Pass, 0, nonRegressionMsg))),
			wantEvents: []string{"StepStarted"}, wantMeasured: analysis.Pass, wantRequeue: 10 * time.Minute,
		},
		"minStepTime 0: the first pass advances": {
			spec:  canarySpec(stepTimes(0, time.Minute, "")),
			given: base(step(0, 5, -stepped), ready(-time.Second), nextMeasurement(0)), revision: revision("r2", true),
			report:     report(analysis.Pass, "ok"),
			want:       base(step(1, 20, 0), measurements(measured(0, analysis.Pass, 0, "ok"))),
			wantEvents: []string{"StepStarted"}, wantMeasured: analysis.Pass, wantRequeue: 10 * time.Minute,
		},
		"evidence of regression rolls back at the first failed look": {
			given: base(step(0, 5, -stepped), ready(-10*time.Second), nextMeasurement(0)), revision: revision("r2", true),
			report: sequentialReport(analysis.Fail, regressionMsg),
			want: base(step(0, 0, -stepped), counters(1, 0), measurements(sequentialMeasured(0, analysis.Fail, 0, regressionMsg)),
				rollingBack("Rolling back to r1: at step 1/5 (weight 5%): "+regressionMsg)),
			wantEvents: []string{"MeasurementFailed", "RollingBack"}, wantMeasured: analysis.Fail,
		},
		"dry run: evidence of regression is recorded, and nothing is decided": {
			spec:  canarySpec(dryRunAnalysis),
			given: base(step(0, 5, -stepped), ready(-10*time.Second), nextMeasurement(0)), revision: revision("r2", true),
			report: sequentialReport(analysis.Fail, regressionMsg),
			want: base(step(0, 5, -stepped), ready(-10*time.Second), nextMeasurement(10*time.Second),
				measurements(sequentialMeasured(0, analysis.Fail, 0, regressionMsg))),
			wantMeasured: analysis.Fail, wantRequeue: 10 * time.Second,
		},
		"dry run: an applied weight step passes at once, as with analysis off": {
			spec:  canarySpec(dryRunAnalysis),
			given: base(step(0, 5, -stepped)), revision: revision("r2", true),
			want:       base(step(1, 20, 0)),
			wantEvents: []string{"StepStarted"}, wantRequeue: 10 * time.Minute,
		},
		"evidence of regression rolls back at an approval step too": {
			given: base(step(2, 20, -stepped), ready(-stepped), nextMeasurement(0)), revision: revision("r2", true),
			report: sequentialReport(analysis.Fail, regressionMsg),
			want: base(step(2, 0, -stepped), counters(1, 0), measurements(sequentialMeasured(0, analysis.Fail, 2, regressionMsg)),
				rollingBack("Rolling back to r1: at step 3/5 (approval): "+regressionMsg)),
			wantEvents: []string{"MeasurementFailed", "RollingBack"}, wantMeasured: analysis.Fail,
		},
		"evidence of regression rolls back during a passed step's pause": {
			given: base(step(1, 20, -stepped), ready(-stepped), pauseUntil(time.Minute), nextMeasurement(0)), revision: revision("r2", true),
			report: sequentialReport(analysis.Fail, regressionMsg),
			want: base(step(1, 0, -stepped), counters(1, 0), measurements(sequentialMeasured(0, analysis.Fail, 1, regressionMsg)),
				rollingBack("Rolling back to r1: at step 2/5 (weight 20%, then pause 2m0s): "+regressionMsg)),
			wantEvents: []string{"MeasurementFailed", "RollingBack"}, wantMeasured: analysis.Fail,
		},
		"a threshold failure needs the failure limit, even with a sequential metric passing": {
			given: base(step(3, 50, -stepped), ready(-stepped), nextMeasurement(0)), revision: revision("r2", true),
			report: &analysis.Report{Phase: analysis.Fail, Message: failMsg, Time: t0, Results: []analysis.Result{
				{Metric: "error-rate", Phase: analysis.Pass, Message: nonRegressionMsg, Sequential: true},
				{Metric: "q", Phase: analysis.Fail, Message: failMsg},
			}},
			want: base(step(3, 50, -stepped), ready(-stepped), nextMeasurement(10*time.Second), counters(1, 0), measurements(rolloutsv1alpha1.Measurement{
				Time: *at(0), Phase: "Fail", Step: ptr.To[int32](3), Message: failMsg, Metrics: []rolloutsv1alpha1.MetricResult{
					{Name: "error-rate", Phase: "Pass", Message: nonRegressionMsg}, {Name: "q", Phase: "Fail", Message: failMsg}},
			})),
			wantEvents: []string{"MeasurementFailed"}, wantMeasured: analysis.Fail, wantRequeue: 10 * time.Second,
		},
		"a pass during a passed step's pause does not cut the pause short": {
			given: base(step(1, 20, -stepped), ready(-stepped), pauseUntil(time.Minute), nextMeasurement(0)), revision: revision("r2", true),
			report:       report(analysis.Pass, "ok"),
			want:         base(step(1, 20, -stepped), ready(-stepped), pauseUntil(time.Minute), nextMeasurement(10*time.Second), measurements(measured(0, analysis.Pass, 1, "ok"))),
			wantMeasured: analysis.Pass, wantRequeue: 10 * time.Second,
		},
		"no evidence before the maximum step time: the step keeps looking": {
			given: base(step(3, 50, -stepped), ready(-10*time.Minute+time.Second), nextMeasurement(0)), revision: revision("r2", true),
			report:       report(analysis.Inconclusive, noEvidenceMsg),
			want:         base(step(3, 50, -stepped), ready(-10*time.Minute+time.Second), nextMeasurement(10*time.Second), measurements(measured(0, analysis.Inconclusive, 3, noEvidenceMsg))),
			wantMeasured: analysis.Inconclusive, wantRequeue: 10 * time.Second,
		},
		"no evidence by the maximum step time: rolling back": {
			given: base(step(3, 50, -stepped), ready(-10*time.Minute), nextMeasurement(0)), revision: revision("r2", true),
			report: report(analysis.Inconclusive, noEvidenceMsg),
			want: base(step(3, 0, -stepped), measurements(measured(0, analysis.Inconclusive, 3, noEvidenceMsg)),
				rollingBack("Rolling back to r1: at step 4/5 (weight 50%): no evidence of non-regression within the maximum step time 10m0s: "+noEvidenceMsg)),
			wantEvents: []string{"RollingBack"}, wantMeasured: analysis.Inconclusive,
		},
		"errors until the maximum step time: rolling back, never passed": {
			spec:  canarySpec(stepTimes(30*time.Second, time.Minute, "")),
			given: base(step(3, 50, -stepped), ready(-time.Minute), nextMeasurement(0)), revision: revision("r2", true),
			report: report(analysis.Error, "error-rate: measuring: connection refused"),
			want: base(step(3, 0, -stepped), counters(0, 1), measurements(measured(0, analysis.Error, 3, "error-rate: measuring: connection refused")),
				rollingBack("Rolling back to r1: at step 4/5 (weight 50%): no evidence of non-regression within the maximum step time 1m0s: error-rate: measuring: connection refused")),
			wantEvents: []string{"RollingBack"}, wantMeasured: analysis.Error,
		},
		"no evidence by the maximum step time with onTimeout pause: paused": {
			spec:  canarySpec(stepTimes(30*time.Second, 2*time.Minute, "pause")),
			given: base(step(3, 50, -stepped), ready(-2*time.Minute), nextMeasurement(0)), revision: revision("r2", true),
			report: report(analysis.Inconclusive, noEvidenceMsg),
			want: base(step(3, 50, -stepped), ready(-2*time.Minute), measurements(measured(0, analysis.Inconclusive, 3, noEvidenceMsg)),
				phase(rolloutsv1alpha1.PhasePaused, "Paused at step 4/5 (weight 50%): no evidence of non-regression within the maximum step time 2m0s: "+noEvidenceMsg+onHold)),
			wantEvents: []string{"Paused"}, wantMeasured: analysis.Inconclusive,
		},
		"the maximum step time counts from the traffic, not the step's start": {
			given: base(step(3, 50, -time.Hour), ready(-stepped), nextMeasurement(0)), revision: revision("r2", true),
			report:       report(analysis.Inconclusive, noEvidenceMsg),
			want:         base(step(3, 50, -time.Hour), ready(-stepped), nextMeasurement(10*time.Second), measurements(measured(0, analysis.Inconclusive, 3, noEvidenceMsg))),
			wantMeasured: analysis.Inconclusive, wantRequeue: 10 * time.Second,
		},
		"an approval step is not timed out by analysis": {
			given: base(step(2, 20, -time.Hour), ready(-time.Hour), nextMeasurement(0)), revision: revision("r2", true),
			report:       report(analysis.Inconclusive, noEvidenceMsg),
			want:         base(step(2, 20, -time.Hour), ready(-time.Hour), nextMeasurement(10*time.Second), measurements(measured(0, analysis.Inconclusive, 2, noEvidenceMsg))),
			wantMeasured: analysis.Inconclusive, wantRequeue: 10 * time.Second,
		},
		"a passed step's pause is not timed out by analysis": {
			given: base(step(1, 20, -time.Hour), ready(-time.Hour), pauseUntil(time.Minute), nextMeasurement(0)), revision: revision("r2", true),
			report:       report(analysis.Inconclusive, noEvidenceMsg),
			want:         base(step(1, 20, -time.Hour), ready(-time.Hour), pauseUntil(time.Minute), nextMeasurement(10*time.Second), measurements(measured(0, analysis.Inconclusive, 1, noEvidenceMsg))),
			wantMeasured: analysis.Inconclusive, wantRequeue: 10 * time.Second,
		},
		"an analysis the step logic cannot use pauses, never passes": {
			spec:  canarySpec(stepTimes(30*time.Second, time.Minute, "ignore")),
			given: base(step(0, 5, -stepped), ready(-stepped), nextMeasurement(0)), revision: revision("r2", true),
			report: report(analysis.Pass, "ok"),
			want: base(step(0, 5, -stepped), ready(-stepped), measurements(measured(0, analysis.Pass, 0, "ok")),
				phase(rolloutsv1alpha1.PhasePaused, `Paused at step 1/5 (weight 5%): invalid analysis: onTimeout "ignore": want rollback or pause`)),
			wantEvents: []string{"Paused"}, wantMeasured: analysis.Pass,
		},
		"analysis disabled: no measurement is taken": {
			spec:  canarySpec(analysisDisabled),
			given: base(step(3, 50, -stepped), ready(-stepped), nextMeasurement(0)), revision: revision("r2", true),
			report: report(analysis.Fail, failMsg), // not due: dropped
			want:   base(step(3, 50, -stepped), ready(-stepped), nextMeasurement(0)),
		},

		// Deadlines.
		// Before its first step the canary has no traffic: the Route already
		// serves the stable alone, so the rollback settles in the same round.
		"canary not ready by the deadline: rolled back at once, the stable having all the traffic": {
			given: base(), revision: RevisionState{Name: "r2", Message: "Container user-container is crash looping"},
			want: base(phase(rolloutsv1alpha1.PhaseRolledBack,
				"Rolled back to r1: revision r2 did not become ready: Container user-container is crash looping within the progress deadline 10m0s")),
			wantEvents: []string{"RollingBack", "RolledBack"},
		},
		"canary not ready before the deadline: waits": {
			given: base(func(st *rolloutsv1alpha1.RolloutStatus) { st.StepStartedAt = at(-time.Minute) }), revision: revision("r2", false),
			want:        base(func(st *rolloutsv1alpha1.RolloutStatus) { st.StepStartedAt = at(-time.Minute) }),
			wantRequeue: 9 * time.Minute,
		},
		"gateway does not apply the first step by the deadline: rolled back at once, the Route serving the stable alone": {
			given: base(step(0, 5, -10*time.Minute)), revision: revision("r2", true),
			routeAt: base(),
			want: base(step(0, 0, -10*time.Minute), phase(rolloutsv1alpha1.PhaseRolledBack,
				"Rolled back to r1: the gateway did not apply the traffic of step 1/5 (weight 5%) within 10m0s")),
			wantEvents: []string{"RollingBack", "RolledBack"},
		},
		"gateway does not apply a later step by the deadline: rolling back, the Route still splitting": {
			given: base(step(1, 20, -10*time.Minute)), revision: revision("r2", true),
			routeAt: base(step(0, 5, -20*time.Minute)),
			want: base(step(1, 0, -10*time.Minute),
				rollingBack("Rolling back to r1: the gateway did not apply the traffic of step 2/5 (weight 20%, then pause 2m0s) within 10m0s")),
			wantEvents: []string{"RollingBack"},
		},

		// The traffic on its way back: RollingBack and Aborting settle once
		// the Route is Ready and serves the stable alone, and only then.
		"rolling back: the Route Ready with the stable alone settles it": {
			given:    base(step(3, 0, -stepped), counters(2, 0), rollingBack("Rolling back to r1: at step 4/5 (weight 50%): "+failMsg), since(-3*time.Second)),
			revision: revision("r2", true),
			want: base(step(3, 0, -stepped), counters(2, 0),
				phase(rolloutsv1alpha1.PhaseRolledBack, "Rolled back to r1: at step 4/5 (weight 50%): "+failMsg)),
			wantEvents: []string{"RolledBack"},
		},
		"rolling back: the Route still shows the old split: waits": {
			given:    base(step(3, 0, -stepped), rollingBack("Rolling back to r1: at step 4/5 (weight 50%): "+failMsg), since(-3*time.Second)),
			revision: revision("r2", true), routeAt: base(step(3, 50, -stepped)),
			want: base(step(3, 0, -stepped), rollingBack("Rolling back to r1: at step 4/5 (weight 50%): "+failMsg), since(-3*time.Second)),
		},
		"rolling back: the Route shows the stable alone but is not Ready: waits": {
			given:    base(step(3, 0, -stepped), rollingBack("Rolling back to r1: at step 4/5 (weight 50%): "+failMsg), since(-3*time.Second)),
			revision: revision("r2", true), routeNotReady: true,
			want: base(step(3, 0, -stepped), rollingBack("Rolling back to r1: at step 4/5 (weight 50%): "+failMsg), since(-3*time.Second)),
		},
		"rolling back: no Route observed: waits": {
			given:    base(step(3, 0, -stepped), rollingBack("Rolling back to r1: at step 4/5 (weight 50%): "+failMsg), since(-3*time.Second)),
			revision: revision("r2", true), routeEmpty: true,
			want: base(step(3, 0, -stepped), rollingBack("Rolling back to r1: at step 4/5 (weight 50%): "+failMsg), since(-3*time.Second)),
		},
		"rolling back: a report is not recorded": {
			given:    base(step(3, 0, -stepped), rollingBack("Rolling back to r1: at step 4/5 (weight 50%): "+failMsg), since(-3*time.Second)),
			revision: revision("r2", true), routeAt: base(step(3, 50, -stepped)),
			report: report(analysis.Pass, "ok"),
			want:   base(step(3, 0, -stepped), rollingBack("Rolling back to r1: at step 4/5 (weight 50%): "+failMsg), since(-3*time.Second)),
		},
		"aborting: the Route Ready with the stable alone settles it": {
			given:      base(step(3, 0, -stepped), aborting("Aborting at step 4/5 (weight 50%): all traffic back to r1"), since(-3*time.Second)),
			revision:   revision("r2", true),
			want:       base(step(3, 0, -stepped), phase(rolloutsv1alpha1.PhaseAborted, "Aborted at step 4/5 (weight 50%): all traffic back to r1")),
			wantEvents: []string{"Aborted"},
		},
		"aborting: the Route still shows the old split: waits": {
			given:    base(step(3, 0, -stepped), aborting("Aborting at step 4/5 (weight 50%): all traffic back to r1"), since(-3*time.Second)),
			revision: revision("r2", true), routeAt: base(step(3, 50, -stepped)),
			want: base(step(3, 0, -stepped), aborting("Aborting at step 4/5 (weight 50%): all traffic back to r1"), since(-3*time.Second)),
		},
		"aborting: the Route not Ready: waits": {
			given:    base(step(3, 0, -stepped), aborting("Aborting at step 4/5 (weight 50%): all traffic back to r1"), since(-3*time.Second)),
			revision: revision("r2", true), routeNotReady: true,
			want: base(step(3, 0, -stepped), aborting("Aborting at step 4/5 (weight 50%): all traffic back to r1"), since(-3*time.Second)),
		},
		"a new template while rolling back starts over": {
			given: base(step(3, 0, -stepped), counters(2, 0), measurements(measured(-time.Minute, analysis.Fail, 3, failMsg)),
				rollingBack("Rolling back to r1: at step 4/5 (weight 50%): "+failMsg), since(-3*time.Second)),
			hash: "h3", revision: revision("r3", false), routeAt: base(step(3, 50, -stepped)),
			want:       status(waiting("r1", "r3", 0), func(st *rolloutsv1alpha1.RolloutStatus) { st.TemplateHash = "h3" }),
			wantEvents: []string{"RolloutStarted"}, wantRequeue: 10 * time.Minute,
		},
		"a new template while aborting starts over": {
			given: base(step(3, 0, -stepped), aborting("Aborting at step 4/5 (weight 50%): all traffic back to r1"), since(-3*time.Second)),
			hash:  "h3", revision: revision("r3", false), routeAt: base(step(3, 50, -stepped)),
			want:       status(waiting("r1", "r3", 0), func(st *rolloutsv1alpha1.RolloutStatus) { st.TemplateHash = "h3" }),
			wantEvents: []string{"RolloutStarted"}, wantRequeue: 10 * time.Minute,
		},
		"promote while rolling back is ignored": {
			given:    base(step(3, 0, -stepped), rollingBack("Rolling back to r1: at step 4/5 (weight 50%): "+failMsg), since(-3*time.Second)),
			revision: revision("r2", true), routeAt: base(step(3, 50, -stepped)),
			action: &Action{ID: "t1", Name: "promote"},
			want: base(step(3, 0, -stepped), rollingBack("Rolling back to r1: at step 4/5 (weight 50%): "+failMsg), since(-3*time.Second),
				lastAction("t1", "promote", "ignored: nothing to promote, the rollout is RollingBack", 0)),
			wantEvents: []string{"ActionIgnored"},
		},
		"abort while rolling back is ignored": {
			given:    base(step(3, 0, -stepped), rollingBack("Rolling back to r1: at step 4/5 (weight 50%): "+failMsg), since(-3*time.Second)),
			revision: revision("r2", true), routeAt: base(step(3, 50, -stepped)),
			action: &Action{ID: "t2", Name: "abort"},
			want: base(step(3, 0, -stepped), rollingBack("Rolling back to r1: at step 4/5 (weight 50%): "+failMsg), since(-3*time.Second),
				lastAction("t2", "abort", "ignored: nothing to abort, the rollout is RollingBack", 0)),
			wantEvents: []string{"ActionIgnored"},
		},
		"retry while rolling back is ignored": {
			given:    base(step(3, 0, -stepped), rollingBack("Rolling back to r1: at step 4/5 (weight 50%): "+failMsg), since(-3*time.Second)),
			revision: revision("r2", true), routeAt: base(step(3, 50, -stepped)),
			action: &Action{ID: "t3", Name: "retry"},
			want: base(step(3, 0, -stepped), rollingBack("Rolling back to r1: at step 4/5 (weight 50%): "+failMsg), since(-3*time.Second),
				lastAction("t3", "retry", "ignored: retry applies to an Aborted, RolledBack or Paused rollout, this one is RollingBack", 0)),
			wantEvents: []string{"ActionIgnored"},
		},
		"approve while aborting is ignored": {
			given:    base(step(2, 0, -stepped), aborting("Aborting at step 3/5 (approval): all traffic back to r1"), since(-3*time.Second)),
			revision: revision("r2", true), routeAt: base(step(2, 20, -stepped)),
			action: &Action{ID: "t4", Name: "approve"},
			want: base(step(2, 0, -stepped), aborting("Aborting at step 3/5 (approval): all traffic back to r1"), since(-3*time.Second),
				lastAction("t4", "approve", "ignored: nothing waits for an approval", 0)),
			wantEvents: []string{"ActionIgnored"},
		},
		"retry while rolling back is ignored, even in the round that settles it": {
			given:    base(step(3, 0, -stepped), rollingBack("Rolling back to r1: at step 4/5 (weight 50%): "+failMsg), since(-3*time.Second)),
			revision: revision("r2", true),
			action:   &Action{ID: "t5", Name: "retry"},
			want: base(step(3, 0, -stepped), phase(rolloutsv1alpha1.PhaseRolledBack, "Rolled back to r1: at step 4/5 (weight 50%): "+failMsg),
				lastAction("t5", "retry", "ignored: retry applies to an Aborted, RolledBack or Paused rollout, this one is RollingBack", 0)),
			wantEvents: []string{"ActionIgnored", "RolledBack"},
		},

		// A new template mid-rollout.
		"template change mid-rollout: back to stable, new canary waits": {
			given: base(step(3, 50, -stepped), ready(-stepped), nextMeasurement(5*time.Second), counters(1, 0), measurements(measured(-time.Minute, analysis.Fail, 3, failMsg))),
			hash:  "h3", revision: revision("r3", false),
			want:       status(waiting("r1", "r3", 0), func(st *rolloutsv1alpha1.RolloutStatus) { st.TemplateHash = "h3" }),
			wantEvents: []string{"Superseded", "RolloutStarted"}, wantRequeue: 10 * time.Minute,
		},

		// Actions.
		"approve passes the approval step": {
			given: base(step(2, 20, -stepped), ready(-stepped), nextMeasurement(5*time.Second)), revision: revision("r2", true),
			action:     &Action{ID: "a1", Name: "approve"},
			want:       base(step(3, 50, 0), lastAction("a1", "approve", "approved step 3/5 (approval)", 0)),
			wantEvents: []string{"StepStarted", "ActionApplied"}, wantRequeue: 10 * time.Minute,
		},
		// A closed promotion window never lets a step start, whoever asks.
		"approve while the windows are closed: the next step waits for one": {
			spec:  canarySpec(weekdaysOnly),
			given: base(step(2, 20, -stepped), ready(-stepped), nextMeasurement(5*time.Second)), revision: revision("r2", true),
			action: &Action{ID: "a1", Name: "approve"},
			want: base(step(2, 20, -stepped), ready(-stepped), nextMeasurement(5*time.Second), pauseUntil(21*time.Hour),
				lastAction("a1", "approve", "approved step 3/5 (approval); the next step starts when the promotion window opens at 2026-03-02T09:00:00Z", 0)),
			wantEvents: []string{"WaitingForWindow", "ActionApplied"}, wantRequeue: 5 * time.Second,
		},
		"promote while the windows are closed is ignored": {
			spec:  canarySpec(weekdaysOnly),
			given: base(step(1, 20, -stepped), ready(-stepped), nextMeasurement(5*time.Second)), revision: revision("r2", true),
			action: &Action{ID: "a1", Name: "promote"},
			want: base(step(1, 20, -stepped), ready(-stepped), nextMeasurement(5*time.Second),
				lastAction("a1", "promote", "ignored: the promotion windows are closed until 2026-03-02T09:00:00Z; promote again once one is open", 0)),
			wantEvents: []string{"ActionIgnored"}, wantRequeue: 5 * time.Second,
		},
		"approve with nothing to approve is ignored": {
			given: base(step(3, 50, -stepped), ready(-stepped), nextMeasurement(5*time.Second)), revision: revision("r2", true),
			action:     &Action{ID: "a1", Name: "approve"},
			want:       base(step(3, 50, -stepped), ready(-stepped), nextMeasurement(5*time.Second), lastAction("a1", "approve", "ignored: nothing waits for an approval", 0)),
			wantEvents: []string{"ActionIgnored"}, wantRequeue: 5 * time.Second,
		},
		"approve resumes a paused rollout: the step gathers evidence afresh": {
			given: base(step(3, 50, -stepped), ready(-stepped), counters(0, 3), phase(rolloutsv1alpha1.PhasePaused, "Paused")), revision: revision("r2", true),
			action:     &Action{ID: "a2", Name: "approve"},
			want:       base(step(3, 50, -stepped), ready(0), nextMeasurement(10*time.Second), lastAction("a2", "approve", "resumed", 0)),
			wantEvents: []string{"ActionApplied"}, wantRequeue: 10 * time.Second,
		},
		"promote skips to 100%": {
			given: base(step(1, 20, -stepped), ready(-stepped), pauseUntil(time.Minute), nextMeasurement(5*time.Second)), revision: revision("r2", true),
			action:     &Action{ID: "a3", Name: "promote"},
			want:       base(step(5, 100, 0), lastAction("a3", "promote", "promoting r2 to 100% now", 0)),
			wantEvents: []string{"Promoting", "ActionApplied"}, wantRequeue: 10 * time.Minute,
		},
		"abort: aborting, the traffic on its way back to stable": {
			given: base(step(3, 50, -stepped), ready(-stepped), nextMeasurement(0)), revision: revision("r2", true),
			action: &Action{ID: "a4", Name: "abort", By: "alice"},
			report: report(analysis.Fail, failMsg), // taken before the abort: dropped
			want: base(step(3, 0, -stepped), aborting("Aborting at step 4/5 (weight 50%): all traffic back to r1"),
				lastAction("a4", "abort", "aborted: all traffic back to r1", 0), func(st *rolloutsv1alpha1.RolloutStatus) { st.LastAction.By = "alice" }),
			wantEvents: []string{"Aborting", "ActionApplied"},
		},
		"abort before the first step: aborted at once, the stable having all the traffic": {
			given: base(), revision: revision("r2", false),
			action: &Action{ID: "a4", Name: "abort"},
			want: base(phase(rolloutsv1alpha1.PhaseAborted, "Aborted before its first step: all traffic back to r1"),
				lastAction("a4", "abort", "aborted: all traffic back to r1", 0)),
			wantEvents: []string{"Aborting", "ActionApplied", "Aborted"},
		},
		"abort when healthy is ignored": {
			given: status(healthy("r1")), hash: "h1",
			action:     &Action{ID: "a5", Name: "abort"},
			want:       status(healthy("r1"), lastAction("a5", "abort", "ignored: nothing to abort, the rollout is Healthy", 0)),
			wantEvents: []string{"ActionIgnored"},
		},
		"retry after a rollback starts over from the first step": {
			given: base(step(3, 0, -stepped), counters(2, 0), measurements(measured(-time.Minute, analysis.Fail, 3, failMsg)),
				phase(rolloutsv1alpha1.PhaseRolledBack, "Rolled back")), revision: revision("r2", true),
			action:     &Action{ID: "a6", Name: "retry"},
			want:       base(step(0, 5, 0), lastAction("a6", "retry", "starting the rollout of r2 over from the first step", 0)),
			wantEvents: []string{"ActionApplied", "StepStarted"}, wantRequeue: 10 * time.Minute,
		},
		"retry while progressing is ignored": {
			given: base(step(2, 20, -stepped), ready(-stepped), nextMeasurement(5*time.Second)), revision: revision("r2", true),
			action:     &Action{ID: "a7", Name: "retry"},
			want:       base(step(2, 20, -stepped), ready(-stepped), nextMeasurement(5*time.Second), lastAction("a7", "retry", "ignored: retry applies to an Aborted, RolledBack or Paused rollout, this one is Progressing", 0)),
			wantEvents: []string{"ActionIgnored"}, wantRequeue: 5 * time.Second,
		},
		"unknown action is rejected": {
			given: status(healthy("r1")), hash: "h1",
			action:     &Action{ID: "a8", Name: "deploy"},
			want:       status(healthy("r1"), lastAction("a8", "deploy", `rejected: unknown action "deploy" (want promote, abort, retry or approve)`, 0)),
			wantEvents: []string{"ActionRejected"},
		},
		"action without an id is rejected": {
			given: status(healthy("r1")), hash: "h1",
			action:     &Action{Name: "approve"},
			want:       status(healthy("r1"), lastAction("", "approve", "rejected: annotation rollouts.ramp.dev/action-id is missing; each action needs a unique id", 0)),
			wantEvents: []string{"ActionRejected"},
		},

		// Blue/green.
		"blue/green: canary ready is previewed at 0%": {
			spec:  canarySpec(blueGreen(0)),
			given: base(), revision: revision("r2", true),
			want:       base(step(0, 0, 0)),
			wantEvents: []string{"StepStarted"}, wantRequeue: 10 * time.Minute,
		},
		"blue/green: preview applied": {
			spec:  canarySpec(blueGreen(0)),
			given: base(step(0, 0, -stepped)), revision: revision("r2", true),
			want:        base(step(0, 0, -stepped), ready(0), nextMeasurement(10*time.Second)),
			wantRequeue: 10 * time.Second,
		},
		"blue/green: a pass does not promote without autoPromoteAfter": {
			spec:  canarySpec(blueGreen(0)),
			given: base(step(0, 0, -stepped), ready(-stepped), nextMeasurement(0)), revision: revision("r2", true),
			report:       report(analysis.Pass, "ok"),
			want:         base(step(0, 0, -stepped), ready(-stepped), nextMeasurement(10*time.Second), measurements(measured(0, analysis.Pass, 0, "ok"))),
			wantMeasured: analysis.Pass, wantRequeue: 10 * time.Second,
		},
		"blue/green: auto-promoted after a pass": {
			spec:  canarySpec(blueGreen(5 * time.Minute)),
			given: base(step(0, 0, -stepped), ready(-stepped), nextMeasurement(0)), revision: revision("r2", true),
			report:       report(analysis.Pass, "ok"),
			want:         base(step(1, 100, 0), measurements(measured(0, analysis.Pass, 0, "ok"))),
			wantEvents:   []string{"AutoPromoted", "Promoting"},
			wantMeasured: analysis.Pass, wantRequeue: 10 * time.Minute,
		},
		"blue/green: not auto-promoted while inconclusive": {
			spec:  canarySpec(blueGreen(5 * time.Minute)),
			given: base(step(0, 0, -stepped), ready(-stepped), nextMeasurement(0)), revision: revision("r2", true),
			report:       report(analysis.Inconclusive, "no data"),
			want:         base(step(0, 0, -stepped), ready(-stepped), nextMeasurement(10*time.Second), measurements(measured(0, analysis.Inconclusive, 0, "no data"))),
			wantMeasured: analysis.Inconclusive, wantRequeue: 10 * time.Second,
		},
		"blue/green: the preview is not timed out by analysis": {
			spec:  canarySpec(blueGreen(0)),
			given: base(step(0, 0, -time.Hour), ready(-time.Hour), nextMeasurement(0)), revision: revision("r2", true),
			report:       report(analysis.Inconclusive, noEvidenceMsg),
			want:         base(step(0, 0, -time.Hour), ready(-time.Hour), nextMeasurement(10*time.Second), measurements(measured(0, analysis.Inconclusive, 0, noEvidenceMsg))),
			wantMeasured: analysis.Inconclusive, wantRequeue: 10 * time.Second,
		},
		"blue/green: evidence of regression rolls the preview back": {
			spec:  canarySpec(blueGreen(5 * time.Minute)),
			given: base(step(0, 0, -stepped), ready(-stepped), nextMeasurement(0)), revision: revision("r2", true),
			report: sequentialReport(analysis.Fail, regressionMsg),
			want: base(step(0, 0, -stepped), counters(1, 0), measurements(sequentialMeasured(0, analysis.Fail, 0, regressionMsg)),
				rollingBack("Rolling back to r1: at preview: "+regressionMsg)),
			wantEvents: []string{"MeasurementFailed", "RollingBack"}, wantMeasured: analysis.Fail,
		},
		"blue/green: approve promotes": {
			spec:  canarySpec(blueGreen(0)),
			given: base(step(0, 0, -stepped), ready(-stepped), nextMeasurement(5*time.Second)), revision: revision("r2", true),
			action:     &Action{ID: "b1", Name: "approve"},
			want:       base(step(1, 100, 0), lastAction("b1", "approve", "approved the preview: promoting r2 to 100%", 0)),
			wantEvents: []string{"Promoting", "ActionApplied"}, wantRequeue: 10 * time.Minute,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			spec := tc.spec
			if spec == nil {
				spec = canary
			}
			hash := tc.hash
			if hash == "" {
				hash = "h2"
			}
			routeAt := tc.routeAt
			if routeAt == nil {
				routeAt = tc.given
			}
			obs := Observed{TemplateHash: hash, Revision: tc.revision, Route: routeFor(spec, routeAt)}
			if tc.routeEmpty {
				obs.Route = RouteState{}
			}
			if tc.routeNotReady {
				obs.Route.Ready, obs.Route.Message = false, "Routing table abc is not on every gateway replica"
			}
			given := tc.given.DeepCopy()
			got := Run(Input{Spec: spec, Status: tc.given, Observed: obs, Action: tc.action, Report: tc.report, Now: t0.Add(tc.now)})
			if diff := cmp.Diff(*tc.want, got.Status); diff != "" {
				t.Errorf("status (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantEvents, reasons(got.Events)); diff != "" {
				t.Errorf("events (-want +got):\n%s\n%+v", diff, got.Events)
			}
			if got.Measured != tc.wantMeasured {
				t.Errorf("measured = %q, want %q", got.Measured, tc.wantMeasured)
			}
			if got.RequeueAfter != tc.wantRequeue {
				t.Errorf("requeue after %s, want %s", got.RequeueAfter, tc.wantRequeue)
			}
			if diff := cmp.Diff(given, tc.given); diff != "" {
				t.Errorf("Run changed its input (-before +after):\n%s", diff)
			}
		})
	}
}

// TestRunTransitionRounds drives a rollback and an abort round by round,
// as the controller does: each round plans from the status the last one
// saved, and the Route shows what the gateway has applied so far. The
// first round records the intent (RollingBack or Aborting) and asks for
// the stable alone; the rounds where the Route still splits the traffic,
// or serves the stable but is not Ready, change nothing; the round where
// it is Ready with the stable alone settles the phase, once.
func TestRunTransitionRounds(t *testing.T) {
	spec := canarySpec()
	atStep3 := status(waiting("r1", "r2", -time.Hour), step(3, 50, -time.Minute), ready(-time.Minute), nextMeasurement(0), counters(1, 0))
	split := routeFor(spec, atStep3)
	cases := map[string]struct {
		action              *Action
		report              *analysis.Report
		transitional, final rolloutsv1alpha1.Phase
		intent, settled     string
		wantFirst           []string
	}{
		"rollback": {
			report:       report(analysis.Fail, failMsg),
			transitional: rolloutsv1alpha1.PhaseRollingBack, final: rolloutsv1alpha1.PhaseRolledBack,
			intent:    "Rolling back to r1: at step 4/5 (weight 50%): 2 consecutive failed measurements: " + failMsg,
			settled:   "Rolled back to r1: at step 4/5 (weight 50%): 2 consecutive failed measurements: " + failMsg,
			wantFirst: []string{"MeasurementFailed", "RollingBack"},
		},
		"abort": {
			action:       &Action{ID: "x", Name: "abort"},
			transitional: rolloutsv1alpha1.PhaseAborting, final: rolloutsv1alpha1.PhaseAborted,
			intent:    "Aborting at step 4/5 (weight 50%): all traffic back to r1",
			settled:   "Aborted at step 4/5 (weight 50%): all traffic back to r1",
			wantFirst: []string{"Aborting", "ActionApplied"},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			st := atStep3.DeepCopy()
			round := func(n int, route RouteState, in Input) Plan {
				t.Helper()
				in.Spec, in.Status, in.Now = spec, st, t0.Add(time.Duration(n)*time.Second)
				in.Observed = Observed{TemplateHash: "h2", Revision: revision("r2", true), Route: route}
				plan := Run(in)
				SetConditions(spec, &plan.Status, in.Observed, in.Now)
				st = plan.Status.DeepCopy()
				return plan
			}
			progressing := func() cond {
				c := st.GetCondition(rolloutsv1alpha1.ConditionProgressing)
				return cond{c.Status, c.Reason, c.Message}
			}

			// Round 0: the failure (or the abort) records the intent.
			first := round(0, split, Input{Action: tc.action, Report: tc.report})
			if st.Phase != tc.transitional || st.Message != tc.intent || !st.TransitionStartedAt.Equal(at(0)) || st.CanaryWeight != 0 {
				t.Fatalf("after the failure: phase %s %q since %v, weight %d; want %s %q since t0, weight 0",
					st.Phase, st.Message, st.TransitionStartedAt, st.CanaryWeight, tc.transitional, tc.intent)
			}
			if diff := cmp.Diff(tc.wantFirst, reasons(first.Events)); diff != "" {
				t.Errorf("events of the first round (-want +got):\n%s", diff)
			}
			if s := trafficString(resources.Traffic(spec, st)); s != "r1=100(stable)" {
				t.Errorf("the Service is asked for %s, want r1=100(stable)", s)
			}
			if first.RequeueAfter != 0 {
				t.Errorf("requeue after %s, want none: the Route's watch brings the next round", first.RequeueAfter)
			}
			reason := string(tc.transitional)
			wantProgress := cond{metav1.ConditionTrue, reason, tc.intent + "; waiting for the gateway to send all the traffic to r1"}
			if diff := cmp.Diff(wantProgress, progressing()); diff != "" {
				t.Errorf("Progressing while the traffic moves (-want +got):\n%s", diff)
			}
			if c := st.GetCondition(rolloutsv1alpha1.ConditionReady); c.Status != metav1.ConditionFalse || c.Reason != reason {
				t.Errorf("Ready = %+v, want False/%s", c, reason)
			}

			// Rounds 1 and 2: the gateway has not applied it yet.
			notReady := routeFor(spec, st)
			notReady.Ready, notReady.Message = false, "Routing table abc is not on every gateway replica"
			noConditions := cmpopts.IgnoreFields(rolloutsv1alpha1.RolloutStatus{}, "Conditions")
			for i, route := range []RouteState{split, notReady} {
				before := st.DeepCopy()
				plan := round(1+i, route, Input{})
				if diff := cmp.Diff(before, st, noConditions); diff != "" {
					t.Errorf("round %d, the Route not serving the stable alone: status changed (-before +after):\n%s", 1+i, diff)
				}
				if len(plan.Events) != 0 {
					t.Errorf("round %d: events %v, want none", 1+i, reasons(plan.Events))
				}
			}
			// The Progressing condition says why the gateway is not done.
			wantProgress.Message += ": Routing table abc is not on every gateway replica"
			if diff := cmp.Diff(wantProgress, progressing()); diff != "" {
				t.Errorf("Progressing while the Route is not Ready (-want +got):\n%s", diff)
			}

			// Round 3: the Route is Ready with the stable alone.
			settle := round(3, routeFor(spec, st), Input{})
			if st.Phase != tc.final || st.Message != tc.settled || st.TransitionStartedAt != nil {
				t.Fatalf("once the Route serves the stable: phase %s %q since %v; want %s %q, no transition", st.Phase, st.Message, st.TransitionStartedAt, tc.final, tc.settled)
			}
			if diff := cmp.Diff([]string{string(tc.final)}, reasons(settle.Events)); diff != "" {
				t.Errorf("events of the settling round (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(cond{metav1.ConditionFalse, string(tc.final), tc.settled}, progressing()); diff != "" {
				t.Errorf("Progressing once settled (-want +got):\n%s", diff)
			}

			// Round 4: settled once.
			before := st.DeepCopy()
			if plan := round(4, routeFor(spec, st), Input{}); len(plan.Events) != 0 || !cmp.Equal(before, st) {
				t.Errorf("a round after settling: events %v, status diff %s", reasons(plan.Events), cmp.Diff(before, st))
			}
		})
	}
}

// TestRunTraffic checks the traffic the planned status calls for at the
// turning points: a rollback and an abort send everything to the stable,
// a pause keeps the canary's weight, a new template drops the old canary.
func TestRunTraffic(t *testing.T) {
	spec := canarySpec()
	atStep3 := status(waiting("r1", "r2", -time.Hour), step(3, 50, -time.Minute), ready(-time.Minute), nextMeasurement(0))
	cases := map[string]struct {
		given  *rolloutsv1alpha1.RolloutStatus
		hash   string
		action *Action
		report *analysis.Report
		want   string
	}{
		"measuring":              {given: atStep3, want: "r1=50(stable) r2=50(canary)"},
		"rolled back":            {given: status(waiting("r1", "r2", -time.Hour), step(3, 50, -time.Minute), ready(-time.Minute), nextMeasurement(0), counters(1, 0)), report: report(analysis.Fail, failMsg), want: "r1=100(stable)"},
		"aborted":                {given: atStep3, action: &Action{ID: "x", Name: "abort"}, want: "r1=100(stable)"},
		"paused":                 {given: status(waiting("r1", "r2", -time.Hour), step(3, 50, -time.Minute), ready(-time.Minute), nextMeasurement(0), counters(0, 2)), report: report(analysis.Error, "down"), want: "r1=50(stable) r2=50(canary)"},
		"evidence of regression": {given: atStep3, report: sequentialReport(analysis.Fail, regressionMsg), want: "r1=100(stable)"},
		"timed out": {given: status(waiting("r1", "r2", -time.Hour), step(3, 50, -time.Hour), ready(-time.Hour), nextMeasurement(0)),
			report: report(analysis.Inconclusive, noEvidenceMsg), want: "r1=100(stable)"},
		"gathering evidence": {given: atStep3, report: report(analysis.Inconclusive, noEvidenceMsg), want: "r1=50(stable) r2=50(canary)"},
		"new template":       {given: atStep3, hash: "h3", want: "r1=100(stable)"},
		"promoting":          {given: atStep3, action: &Action{ID: "y", Name: "promote"}, want: "r2=100(stable)"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			hash := tc.hash
			if hash == "" {
				hash = "h2"
			}
			obs := Observed{TemplateHash: hash, Revision: revision("r2", true), Route: routeFor(spec, tc.given)}
			if hash != "h2" {
				obs.Revision = RevisionState{}
			}
			got := Run(Input{Spec: spec, Status: tc.given, Observed: obs, Action: tc.action, Report: tc.report, Now: t0})
			if s := trafficString(resources.Traffic(spec, &got.Status)); s != tc.want {
				t.Errorf("traffic = %s, want %s (phase %s)", s, tc.want, got.Status.Phase)
			}
		})
	}
}

// TestMeasurementsKeepTheLastTen checks that status keeps only the last ten
// measurements.
func TestMeasurementsKeepTheLastTen(t *testing.T) {
	st := status(waiting("r1", "r2", -time.Hour), step(2, 20, -time.Hour), ready(-time.Hour), nextMeasurement(0))
	for i := range 10 {
		st.Measurements = append(st.Measurements, measured(time.Duration(i-20)*time.Second, analysis.Pass, 2, "old"))
	}
	got := Run(Input{Spec: canarySpec(), Status: st, Now: t0, Report: report(analysis.Pass, "new"),
		Observed: Observed{TemplateHash: "h2", Revision: revision("r2", true), Route: routeFor(canarySpec(), st)}})
	ms := got.Status.Measurements
	if len(ms) != 10 || ms[9].Message != "new" || !ms[0].Time.Equal(at(-19*time.Second)) {
		t.Errorf("measurements = %d, last %q, first at %s; want 10, last \"new\", first at t0-19s", len(ms), ms[len(ms)-1].Message, ms[0].Time)
	}
}

// TestPendingAction checks that an action runs once per id.
func TestPendingAction(t *testing.T) {
	ro := func(annotations map[string]string, last string) *rolloutsv1alpha1.Rollout {
		r := &rolloutsv1alpha1.Rollout{}
		r.Annotations = annotations
		if last != "-" {
			r.Status.LastAction = &rolloutsv1alpha1.ActionRecord{ID: last}
		}
		return r
	}
	approve := map[string]string{rolloutsv1alpha1.AnnotationAction: "approve", rolloutsv1alpha1.AnnotationActionID: "id-1", rolloutsv1alpha1.AnnotationActionBy: "bob"}
	noID := map[string]string{rolloutsv1alpha1.AnnotationAction: "approve"}
	cases := map[string]struct {
		ro   *rolloutsv1alpha1.Rollout
		want *Action
	}{
		"none":                    {ro: ro(nil, "-")},
		"new":                     {ro: ro(approve, "-"), want: &Action{ID: "id-1", Name: "approve", By: "bob"}},
		"new id":                  {ro: ro(approve, "id-0"), want: &Action{ID: "id-1", Name: "approve", By: "bob"}},
		"already handled":         {ro: ro(approve, "id-1")},
		"no id: handled once":     {ro: ro(noID, "-"), want: &Action{Name: "approve"}},
		"no id: already rejected": {ro: ro(noID, "")},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, PendingAction(tc.ro)); diff != "" {
				t.Errorf("PendingAction (-want +got):\n%s", diff)
			}
		})
	}
}
