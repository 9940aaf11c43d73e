package notify

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"go.uber.org/zap"
)

// The verbs a user can apply to a Rollout, as button actions and slash
// commands. They are also the values of the Action annotation.
const (
	VerbApprove = "approve"
	VerbAbort   = "abort"
	VerbPromote = "promote"
	VerbRetry   = "retry"
)

// Verbs lists every verb in the order buttons are rendered.
var Verbs = []string{VerbApprove, VerbPromote, VerbRetry, VerbAbort}

// IsVerb reports whether v is one of Verbs.
func IsVerb(v string) bool { return slices.Contains(Verbs, v) }

// Event is one phase change of a Rollout. It is a plain struct, so notifiers
// do not depend on the API types.
type Event struct {
	Namespace string
	Rollout   string

	Phase         string
	PreviousPhase string
	// Step is the current step index, or -1 when the rollout is not on a step.
	Step int
	// Steps is the number of steps in the strategy.
	Steps        int
	CanaryWeight int

	StableRevision string
	CanaryRevision string
	// Generation is the Rollout's metadata.generation when the event
	// happened. With CanaryRevision it names the run the event's buttons are
	// for (see Run): a click after the Rollout has moved on is refused. Set
	// it (a Rollout's generation is at least 1) for the buttons to work.
	Generation int64

	Reason  string
	Message string
	// Evidence is what the last analysis look rests on, one sentence per
	// metric (counts, estimate, interval, margin, statistic).
	Evidence []string
	// Time is when the rollout entered this state. It is part of the ID, so
	// set it from the status (the step's or the condition's transition time)
	// rather than the clock: then a notification sent again for the same
	// transition carries the same IDs.
	Time time.Time

	// Actions are the verbs that make sense now, such as approve and abort
	// while the rollout waits for approval. Each becomes a button.
	Actions []string
	// Channel overrides the notifier's default channel when set.
	Channel string
}

// ID identifies the transition the event describes: the namespace, the name,
// the canary revision, the step, the phase and the time to the second. The
// buttons of one message always produce the same action IDs, so a repeated
// click is recognised as a repeat, while a rollout that reaches the same step
// of the same revision again (after a retry, or a second pause) gets new ones:
// the controller applies an action only if its ID differs from the last one.
func (e Event) ID() string {
	h := sha256.New()
	for _, part := range []string{
		e.Namespace, e.Rollout, e.CanaryRevision, strconv.Itoa(e.Step), e.Phase, strconv.FormatInt(e.Time.Unix(), 10),
	} {
		// The length prefix keeps ("a","bc") and ("ab","c") apart.
		fmt.Fprintf(h, "%d:%s;", len(part), part)
	}
	return hex.EncodeToString(h.Sum(nil))[:eventIDLen]
}

// eventIDLen is the number of hex digits of an event ID.
const eventIDLen = 16

// Notifier sends a Rollout event somewhere people will see it. Notifications
// are best-effort: the caller sends them after the status patch succeeds and
// does not fail the reconcile when Post returns an error.
type Notifier interface {
	Post(ctx context.Context, e Event) error
}

// LogNotifier writes one structured log line per event. It is the notifier
// when no Slack token is configured.
type LogNotifier struct {
	Log *zap.Logger
}

var _ Notifier = (*LogNotifier)(nil)

// Post implements Notifier.
func (n *LogNotifier) Post(_ context.Context, e Event) error {
	n.Log.Info("Rollout phase changed",
		zap.String("namespace", e.Namespace),
		zap.String("rollout", e.Rollout),
		zap.String("phase", e.Phase),
		zap.String("previousPhase", e.PreviousPhase),
		zap.Int("step", e.Step),
		zap.Int("steps", e.Steps),
		zap.Int("canaryWeight", e.CanaryWeight),
		zap.String("stableRevision", e.StableRevision),
		zap.String("canaryRevision", e.CanaryRevision),
		zap.Int64("generation", e.Generation),
		zap.String("reason", e.Reason),
		zap.String("message", e.Message),
		zap.Strings("evidence", e.Evidence),
		zap.Time("time", e.Time),
		zap.Strings("actions", e.Actions),
		zap.String("eventID", e.ID()),
	)
	return nil
}

// Multi posts each event to every notifier in turn and joins their errors.
type Multi []Notifier

var _ Notifier = Multi(nil)

// Post implements Notifier.
func (m Multi) Post(ctx context.Context, e Event) error {
	var errs []error
	for _, n := range m {
		if err := n.Post(ctx, e); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
