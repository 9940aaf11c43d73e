package notify

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
)

type ack struct {
	EnvelopeID string
	Payload    any
}

type fakeAcker struct {
	mu   sync.Mutex
	acks []ack
	err  error
}

func (f *fakeAcker) AckCtx(_ context.Context, envelopeID string, payload any) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.acks = append(f.acks, ack{envelopeID, payload})
	return f.err
}

func newRouter(t *testing.T, actor Actor, acker acker) *socketRouter {
	t.Helper()
	log := zaptest.NewLogger(t)
	return &socketRouter{
		d:      newDispatcher(Config{AllowedUsers: []string{"U1"}}, actor, log),
		ack:    acker,
		client: newResponseSink(t).Client(),
		log:    log,
	}
}

func slashEvent(t *testing.T, envelope, userID, text, trigger string) socketmode.Event {
	t.Helper()
	cmd := slack.SlashCommand{Command: "/ramp", Text: text, UserID: userID, TriggerID: trigger}
	raw, err := json.Marshal(cmd)
	if err != nil {
		t.Fatal(err)
	}
	return socketmode.Event{
		Type: socketmode.EventTypeSlashCommand, Data: cmd,
		Request: &socketmode.Request{Type: "slash_commands", EnvelopeID: envelope, Payload: raw},
	}
}

func TestSocketModeSlashCommands(t *testing.T) {
	actor := &fakeActor{}
	acks := &fakeAcker{}
	r := newRouter(t, actor, acks)

	first := slashEvent(t, "env-1", "U1", "approve shop/web", "trigger-1")
	r.route(context.Background(), first)
	// A redelivery of the same envelope payload.
	r.route(context.Background(), first)
	r.route(context.Background(), slashEvent(t, "env-2", "U2", "abort shop/web", "trigger-2"))

	wantActs := []Action{{
		Namespace: "shop", Rollout: "web", Verb: VerbApprove, User: "U1",
		ID: "approve-" + requestID(first.Request.Payload),
	}}
	if diff := cmp.Diff(wantActs, actor.calls()); diff != "" {
		t.Errorf("Act calls (-want +got):\n%s", diff)
	}
	wantAcks := []ack{
		{"env-1", reply{ResponseType: slack.ResponseTypeInChannel, Text: "Approve requested for rollout shop/web (by <@U1>)"}},
		{"env-1", reply{ResponseType: slack.ResponseTypeEphemeral, Text: "Already done: Approve requested for rollout shop/web"}},
		{"env-2", reply{ResponseType: slack.ResponseTypeEphemeral, Text: "You are not authorized to abort rollouts. Ask an operator to add your Slack user ID (U2) to the allowlist."}},
	}
	if diff := cmp.Diff(wantAcks, acks.acks); diff != "" {
		t.Errorf("acks (-want +got):\n%s", diff)
	}
}

func TestSocketModeInteractions(t *testing.T) {
	actor := &fakeActor{}
	acks := &fakeAcker{err: errors.New("websocket closed")}
	sink := newResponseSink(t)
	r := newRouter(t, actor, acks)
	value := buttonValue("shop", "web", VerbPromote, "0123456789abcdef", testRun)
	click := func(user string) socketmode.Event {
		return socketmode.Event{
			Type: socketmode.EventTypeInteractive,
			Data: slack.InteractionCallback{
				Type: slack.InteractionTypeBlockActions, User: slack.User{ID: user}, ResponseURL: sink.URL,
				ActionCallback: slack.ActionCallbacks{BlockActions: []*slack.BlockAction{{ActionID: "ramp_promote", Value: value}}},
			},
			Request: &socketmode.Request{Type: "interactive", EnvelopeID: "env-" + user},
		}
	}

	r.route(context.Background(), click("U1"))
	r.route(context.Background(), click("U1"))
	r.route(context.Background(), click("U3"))
	r.route(context.Background(), socketmode.Event{Type: socketmode.EventTypeHello, Request: &socketmode.Request{Type: "hello"}})
	r.route(context.Background(), socketmode.Event{Type: socketmode.EventTypeEventsAPI, Request: &socketmode.Request{EnvelopeID: "env-events"}})

	wantActs := []Action{{Namespace: "shop", Rollout: "web", Verb: VerbPromote, ID: "promote-0123456789abcdef", User: "U1", Run: &testRun}}
	if diff := cmp.Diff(wantActs, actor.calls()); diff != "" {
		t.Errorf("Act calls (-want +got):\n%s", diff)
	}
	wantAcks := []ack{{"env-U1", nil}, {"env-U1", nil}, {"env-U3", nil}, {"env-events", nil}}
	if diff := cmp.Diff(wantAcks, acks.acks); diff != "" {
		t.Errorf("acks (-want +got):\n%s", diff)
	}
	var texts []string
	for _, m := range sink.messages() {
		texts = append(texts, m.ResponseType+": "+m.Text)
	}
	want := []string{
		"in_channel: Promote requested for rollout shop/web (by <@U1>)",
		"ephemeral: Already done: Promote requested for rollout shop/web",
		"ephemeral: You are not authorized to promote rollouts. Ask an operator to add your Slack user ID (U3) to the allowlist.",
	}
	if diff := cmp.Diff(want, texts); diff != "" {
		t.Errorf("answers (-want +got):\n%s", diff)
	}
}

func TestRunSocketModeNeedsTokens(t *testing.T) {
	err := RunSocketMode(context.Background(), Config{Token: "xoxb-1"}, &fakeActor{}, zap.NewNop())
	if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "app-level token") {
		t.Errorf("RunSocketMode() = %v, want an invalid config error", err)
	}
}
