package notify

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/slack-go/slack"
)

// Slack posts events to a Slack channel as Block Kit messages, with a button
// for each of the event's Actions.
type Slack struct {
	client  *slack.Client
	channel string
	// timeout bounds one post, so a Slack that does not answer holds up the
	// reconcile that notifies for no longer than this.
	timeout time.Duration
}

var _ Notifier = (*Slack)(nil)

// postTimeout bounds a chat.postMessage call. slack-go does not retry
// (neither on errors nor on rate limits) unless asked to, so a failed post
// returns at once.
const postTimeout = 10 * time.Second

// NewSlack returns a Slack notifier that posts with cfg.Token to
// cfg.DefaultChannel unless an event names its own channel. opts reach the
// slack-go client (tests point slack.OptionAPIURL at a local server).
func NewSlack(cfg Config, opts ...slack.Option) *Slack {
	return &Slack{client: slack.New(cfg.Token, opts...), channel: cfg.DefaultChannel, timeout: postTimeout}
}

// Post implements Notifier. It gives up after 10 seconds.
func (s *Slack) Post(ctx context.Context, e Event) error {
	channel := e.Channel
	if channel == "" {
		channel = s.channel
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	_, _, err := s.client.PostMessageContext(ctx, channel,
		slack.MsgOptionText(summary(e), false),
		slack.MsgOptionBlocks(blocks(e)...),
	)
	if err != nil {
		return fmt.Errorf("posting rollout %s/%s to Slack channel %s: %w", e.Namespace, e.Rollout, channel, err)
	}
	return nil
}

// Slack's limits on text in blocks.
const (
	maxHeaderText  = 150
	maxSectionText = 3000
)

// actionsBlockID is the block ID of the buttons; actionIDPrefix starts every
// button's action ID, followed by the verb.
const (
	actionsBlockID = "ramp_actions"
	actionIDPrefix = "ramp_"
)

// summary is the plain-text fallback shown in notifications.
func summary(e Event) string {
	return fmt.Sprintf("%s %s/%s: %s", phaseEmoji(e.Phase), e.Namespace, e.Rollout, e.Phase)
}

// blocks renders e: a header with the phase, the revisions, weight and step as
// fields, the reason and message, the time, and one button per action.
func blocks(e Event) []slack.Block {
	out := []slack.Block{
		slack.NewHeaderBlock(plain(truncate(summary(e), maxHeaderText))),
	}

	phase := escape(e.Phase)
	if e.PreviousPhase != "" && e.PreviousPhase != e.Phase {
		phase = escape(e.PreviousPhase) + " → " + phase
	}
	step := "none"
	if e.Step >= 0 {
		step = strconv.Itoa(e.Step+1) + " of " + strconv.Itoa(e.Steps)
	}
	fields := []*slack.TextBlockObject{
		mrkdwn("*Phase*\n" + phase),
		mrkdwn("*Step*\n" + step),
		mrkdwn("*Canary*\n" + orNone(e.CanaryRevision)),
		mrkdwn("*Stable*\n" + orNone(e.StableRevision)),
		mrkdwn("*Canary weight*\n" + strconv.Itoa(e.CanaryWeight) + "%"),
	}
	out = append(out, slack.NewSectionBlock(nil, fields, nil))

	if text := reasonText(e); text != "" {
		out = append(out, slack.NewSectionBlock(mrkdwn(truncate(text, maxSectionText)), nil, nil))
	}
	if len(e.Evidence) > 0 {
		lines := make([]string, len(e.Evidence))
		for i, l := range e.Evidence {
			lines[i] = "• " + escape(l)
		}
		out = append(out, slack.NewSectionBlock(mrkdwn(truncate("*Evidence*\n"+strings.Join(lines, "\n"), maxSectionText)), nil, nil))
	}
	if !e.Time.IsZero() {
		out = append(out, slack.NewContextBlock("", mrkdwn(e.Time.UTC().Format(time.RFC3339))))
	}

	id := e.ID()
	var buttons []slack.BlockElement
	for _, verb := range Verbs {
		if !slices.Contains(e.Actions, verb) {
			continue
		}
		buttons = append(buttons, button(e, verb, id))
	}
	if len(buttons) > 0 {
		out = append(out, slack.NewActionBlock(actionsBlockID, buttons...))
	}
	return out
}

// button renders one verb. Its value carries the target, the event ID and
// the run of the Rollout.
func button(e Event, verb, eventID string) *slack.ButtonBlockElement {
	run := Run{Generation: e.Generation, CanaryRevision: e.CanaryRevision}
	b := slack.NewButtonBlockElement(actionIDPrefix+verb, buttonValue(e.Namespace, e.Rollout, verb, eventID, run),
		plain(capitalise(verb)))
	switch verb {
	case VerbApprove, VerbPromote:
		b = b.WithStyle(slack.StylePrimary)
	case VerbAbort:
		b = b.WithStyle(slack.StyleDanger)
	}
	if verb == VerbAbort || verb == VerbPromote {
		b = b.WithConfirm(slack.NewConfirmationBlockObject(
			plain(capitalise(verb)+"?"),
			mrkdwn(fmt.Sprintf("%s rollout *%s/%s*?", capitalise(verb), e.Namespace, e.Rollout)),
			plain("Yes"), plain("Cancel")))
	}
	return b
}

// buttonValue encodes a button as
// namespace/name/verb/event-id/generation/canary-revision: its target, the
// event ID, and the run it was made for (the canary may be empty). Names,
// namespaces and revision names cannot contain a slash, so the encoding is
// unambiguous; it is at most about 600 bytes, within Slack's 2000.
func buttonValue(namespace, name, verb, eventID string, run Run) string {
	return namespace + "/" + name + "/" + verb + "/" + eventID + "/" + strconv.FormatInt(run.Generation, 10) + "/" + run.CanaryRevision
}

func reasonText(e Event) string {
	switch {
	case e.Reason != "" && e.Message != "":
		return "*" + escape(e.Reason) + "*: " + escape(e.Message)
	case e.Reason != "":
		return "*" + escape(e.Reason) + "*"
	default:
		return escape(e.Message)
	}
}

// phaseEmoji picks an emoji for a Rollout phase. Other phases get an
// information sign.
func phaseEmoji(phase string) string {
	switch phase {
	case "Progressing":
		return ":rocket:"
	case "Paused":
		return ":hourglass_flowing_sand:"
	case "Healthy":
		return ":white_check_mark:"
	case "RolledBack":
		return ":rewind:"
	case "Aborted":
		return ":x:"
	default:
		return ":information_source:"
	}
}

func plain(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.PlainTextType, s, true, false)
}

func mrkdwn(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.MarkdownType, s, false, false)
}

// escape escapes the three characters Slack's mrkdwn gives meaning to.
func escape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return escape(s)
}

// truncate shortens s to at most n runes, ending with an ellipsis.
func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
