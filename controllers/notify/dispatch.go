package notify

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/slack-go/slack"
	"go.uber.org/zap"
	"k8s.io/apimachinery/pkg/util/validation"
)

// verbStatus is the read-only slash command.
const verbStatus = "status"

// recentActions bounds the in-memory memory of applied action IDs.
const recentActions = 1024

// reply is what the user sees: the body of a slash-command answer, a Socket
// Mode acknowledgement, or a message to an interaction's response_url.
type reply struct {
	ResponseType string `json:"response_type"`
	Text         string `json:"text"`
}

func ephemeral(format string, args ...any) reply {
	return reply{ResponseType: slack.ResponseTypeEphemeral, Text: fmt.Sprintf(format, args...)}
}

func inChannel(format string, args ...any) reply {
	return reply{ResponseType: slack.ResponseTypeInChannel, Text: fmt.Sprintf(format, args...)}
}

// dispatcher is the code path shared by the HTTP handler and Socket Mode: it
// parses button clicks and slash commands, authorizes the user, and applies
// each action ID once.
type dispatcher struct {
	actor   Actor
	allowed map[string]bool
	log     *zap.Logger
	recent  *recent
}

func newDispatcher(cfg Config, actor Actor, log *zap.Logger) *dispatcher {
	d := &dispatcher{actor: actor, allowed: map[string]bool{}, log: log, recent: newRecent(recentActions)}
	for _, u := range cfg.AllowedUsers {
		if u = strings.TrimPrefix(strings.TrimSpace(u), "@"); u != "" {
			d.allowed[u] = true
		}
	}
	if len(d.allowed) == 0 {
		log.Warn("No Slack users may act on rollouts: the allowlist is empty")
	}
	return d
}

// authorized reports whether the user's ID or username is on the allowlist.
func (d *dispatcher) authorized(userID, userName string) bool {
	return (userID != "" && d.allowed[userID]) || (userName != "" && d.allowed[userName])
}

// act authorizes the user and applies a once per ID.
func (d *dispatcher) act(ctx context.Context, a Action, userName string) reply {
	log := d.log.With(zap.String("namespace", a.Namespace), zap.String("rollout", a.Rollout),
		zap.String("verb", a.Verb), zap.String("actionID", a.ID), zap.String("user", a.User), zap.String("userName", userName))
	if !d.authorized(a.User, userName) {
		log.Info("Denied Slack action: user not on the allowlist")
		return ephemeral("You are not authorized to %s rollouts. Ask an operator to add your Slack user ID (%s) to the allowlist.", a.Verb, a.User)
	}
	prev, ok := d.recent.begin(a.ID)
	if !ok {
		if prev.done {
			return ephemeral("Already done: %s", prev.message)
		}
		return ephemeral("This %s of rollout %s/%s is already in progress", a.Verb, a.Namespace, a.Rollout)
	}
	msg, err := d.actor.Act(ctx, a)
	if errors.Is(err, ErrAlreadyDone) {
		msg = fmt.Sprintf("%s of rollout %s/%s was already requested", capitalise(a.Verb), a.Namespace, a.Rollout)
		d.recent.finish(a.ID, msg, false)
		log.Info("Slack action was already applied")
		return ephemeral("Already done: %s", msg)
	}
	d.recent.finish(a.ID, msg, err != nil)
	if err != nil {
		switch {
		case errors.Is(err, ErrNotFound):
			return ephemeral("%s", capitalise(err.Error()))
		case errors.Is(err, ErrStale):
			log.Info("Refused a stale Slack button", zap.Error(err))
			return ephemeral("%s\nTo %s it now, use the buttons of its latest message or /ramp %s %s/%s.",
				capitalise(err.Error()), a.Verb, a.Verb, a.Namespace, a.Rollout)
		}
		log.Error("Slack action failed", zap.Error(err))
		return ephemeral("Could not %s rollout %s/%s; the controller log has the details", a.Verb, a.Namespace, a.Rollout)
	}
	log.Info("Applied Slack action")
	return inChannel("%s (by <@%s>)", msg, a.User)
}

// interaction handles a block_actions callback. It reports false for
// callbacks that carry none of Ramp's buttons.
func (d *dispatcher) interaction(ctx context.Context, cb slack.InteractionCallback) (reply, bool) {
	if cb.Type != slack.InteractionTypeBlockActions {
		return reply{}, false
	}
	for _, ba := range cb.ActionCallback.BlockActions {
		if ba == nil || !strings.HasPrefix(ba.ActionID, actionIDPrefix) {
			continue
		}
		a, err := parseButtonValue(ba.Value)
		if errors.Is(err, errOldButton) {
			d.log.Info("Refused a Slack button of an older Ramp", zap.String("value", ba.Value), zap.String("user", cb.User.ID))
			return ephemeral("This button comes from a message sent before Ramp recorded which run of a rollout a button is for, "+
				"so it cannot be checked and is refused; nothing was changed. To %s rollout %s/%s, use the buttons of its latest message or /ramp %s %s/%s.",
				a.Verb, a.Namespace, a.Rollout, a.Verb, a.Namespace, a.Rollout), true
		}
		if err != nil {
			d.log.Info("Ignored an invalid Slack button", zap.String("value", ba.Value), zap.Error(err))
			return ephemeral("This button is not valid: %v", err), true
		}
		a.User = cb.User.ID
		return d.act(ctx, a, cb.User.Name), true
	}
	return reply{}, false
}

// command handles a slash command. id identifies this invocation: repeats of
// the same delivery share it.
func (d *dispatcher) command(ctx context.Context, cmd slack.SlashCommand, id string) reply {
	name := cmd.Command
	if name == "" {
		name = "/ramp"
	}
	args := strings.Fields(cmd.Text)
	if len(args) == 0 || strings.EqualFold(args[0], "help") {
		return ephemeral("%s", usage(name))
	}
	verb := strings.ToLower(args[0])
	if verb != verbStatus && !IsVerb(verb) {
		return ephemeral("Unknown command %q.\n%s", args[0], usage(name))
	}
	if len(args) != 2 {
		return ephemeral("Usage: %s %s <namespace>/<rollout> (or just <rollout> in namespace default)", name, verb)
	}
	namespace, rollout, err := parseTarget(args[1])
	if err != nil {
		return ephemeral("%s", capitalise(err.Error()))
	}
	if verb == verbStatus {
		msg, err := d.actor.Status(ctx, namespace, rollout)
		if err != nil {
			if errors.Is(err, ErrNotFound) {
				return ephemeral("%s", capitalise(err.Error()))
			}
			d.log.Error("Slack status failed", zap.String("namespace", namespace), zap.String("rollout", rollout), zap.Error(err))
			return ephemeral("Could not read rollout %s/%s; the controller log has the details", namespace, rollout)
		}
		return ephemeral("%s", msg)
	}
	a := Action{Namespace: namespace, Rollout: rollout, Verb: verb, ID: verb + "-" + id, User: cmd.UserID}
	return d.act(ctx, a, cmd.UserName)
}

func usage(name string) string {
	return fmt.Sprintf("Usage: %[1]s <command> <namespace>/<rollout>\n"+
		"Commands: approve, abort, promote, retry, status, help.\n"+
		"A rollout without a namespace is in namespace default, e.g. `%[1]s status web` or `%[1]s approve shop/web`.", name)
}

// parseTarget reads namespace/name, or a bare name in namespace default.
func parseTarget(s string) (namespace, name string, err error) {
	namespace, name, found := strings.Cut(s, "/")
	if !found {
		namespace, name = "default", s
	}
	if errs := validation.IsDNS1123Label(namespace); len(errs) > 0 {
		return "", "", fmt.Errorf("invalid namespace %q: %s", namespace, strings.Join(errs, "; "))
	}
	if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
		return "", "", fmt.Errorf("invalid rollout name %q: %s", name, strings.Join(errs, "; "))
	}
	return namespace, name, nil
}

// errOldButton is returned, with the action filled in, for the value of a
// button made before buttons carried their run.
var errOldButton = errors.New("button without a run")

// parseButtonValue reads the namespace/name/verb/event-id/generation/canary
// that a button encodes (see buttonValue). The action ID is the verb and the
// event ID, so every click on one button names the same action, and
// different buttons of one message do not. A value of the earlier format
// namespace/name/verb/event-id, which names no run, gives errOldButton.
func parseButtonValue(v string) (Action, error) {
	parts := strings.Split(v, "/")
	if len(parts) != 6 && len(parts) != 4 {
		return Action{}, fmt.Errorf("value %q is not namespace/rollout/action/event-id/generation/canary-revision", v)
	}
	namespace, name, err := parseTarget(parts[0] + "/" + parts[1])
	if err != nil {
		return Action{}, err
	}
	verb, eventID := parts[2], parts[3]
	if !IsVerb(verb) {
		return Action{}, fmt.Errorf("unknown action %q", verb)
	}
	if len(eventID) != eventIDLen {
		return Action{}, fmt.Errorf("event ID %q is not %d hex digits", eventID, eventIDLen)
	}
	if _, err := hex.DecodeString(eventID); err != nil {
		return Action{}, fmt.Errorf("event ID %q is not %d hex digits", eventID, eventIDLen)
	}
	a := Action{Namespace: namespace, Rollout: name, Verb: verb, ID: verb + "-" + eventID}
	if len(parts) == 4 {
		return a, errOldButton
	}
	generation, err := strconv.ParseInt(parts[4], 10, 64)
	if err != nil || generation < 1 || strconv.FormatInt(generation, 10) != parts[4] {
		return Action{}, fmt.Errorf("generation %q is not a positive number", parts[4])
	}
	canary := parts[5]
	if canary != "" {
		if errs := validation.IsDNS1123Subdomain(canary); len(errs) > 0 {
			return Action{}, fmt.Errorf("invalid canary revision %q: %s", canary, strings.Join(errs, "; "))
		}
	}
	a.Run = &Run{Generation: generation, CanaryRevision: canary}
	return a, nil
}

// requestID hashes a request body into an action ID. A slash command's body
// holds its trigger_id and response_url, which are new for every invocation,
// and a redelivery carries the same body.
func requestID(body []byte) string {
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:])[:eventIDLen]
}

func capitalise(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
