package notify

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"
	"go.uber.org/zap"
)

// RunSocketMode receives button clicks and slash commands over a Socket Mode
// websocket until ctx ends, and handles them as the HTTP handler does: the
// same authorization and the same idempotency. Socket Mode requests carry no
// signature; the websocket itself is authenticated with cfg.AppToken. opts
// reach the slack-go client (tests point slack.OptionAPIURL at a local
// server).
func RunSocketMode(ctx context.Context, cfg Config, actor Actor, log *zap.Logger, opts ...slack.Option) error {
	if cfg.Token == "" || cfg.AppToken == "" {
		return fmt.Errorf("%w: socket mode needs a bot token and an app-level token", ErrInvalidConfig)
	}
	api := slack.New(cfg.Token, append([]slack.Option{slack.OptionAppLevelToken(cfg.AppToken)}, opts...)...)
	client := socketmode.New(api, socketmode.OptionLog(zap.NewStdLog(log.Named("socketmode"))))
	router := &socketRouter{
		d:      newDispatcher(cfg, actor, log),
		ack:    client,
		client: &http.Client{Timeout: respondTimeout},
		log:    log,
	}

	done := make(chan error, 1)
	go func() { done <- client.RunContext(ctx) }()
	for {
		select {
		case evt := <-client.Events:
			router.route(ctx, evt)
		case err := <-done:
			if ctx.Err() != nil {
				return nil
			}
			if err == nil {
				return errors.New("slack socket mode stopped")
			}
			return fmt.Errorf("running Slack socket mode: %w", err)
		}
	}
}

// acker acknowledges a Socket Mode request; *socketmode.Client is one.
type acker interface {
	AckCtx(ctx context.Context, envelopeID string, payload any) error
}

var _ acker = (*socketmode.Client)(nil)

// socketRouter hands Socket Mode events to the dispatcher.
type socketRouter struct {
	d      *dispatcher
	ack    acker
	client *http.Client
	log    *zap.Logger
}

// route handles one event. Interactions are acknowledged first and answered
// on their response_url; slash commands are answered in the acknowledgement.
func (s *socketRouter) route(ctx context.Context, evt socketmode.Event) {
	switch evt.Type {
	case socketmode.EventTypeInteractive:
		cb, ok := evt.Data.(slack.InteractionCallback)
		s.acknowledge(ctx, evt, nil)
		if !ok {
			return
		}
		if rep, ok := s.d.interaction(ctx, cb); ok {
			respond(ctx, s.client, s.log, cb.ResponseURL, rep)
		}
	case socketmode.EventTypeSlashCommand:
		cmd, ok := evt.Data.(slack.SlashCommand)
		if !ok || evt.Request == nil {
			s.acknowledge(ctx, evt, nil)
			return
		}
		s.acknowledge(ctx, evt, s.d.command(ctx, cmd, requestID(evt.Request.Payload)))
	case socketmode.EventTypeEventsAPI:
		s.acknowledge(ctx, evt, nil)
	case socketmode.EventTypeConnected:
		s.log.Info("Connected to Slack in socket mode")
	case socketmode.EventTypeInvalidAuth:
		s.log.Error("Slack rejected the socket mode tokens")
	case socketmode.EventTypeConnectionError, socketmode.EventTypeIncomingError, socketmode.EventTypeErrorBadMessage:
		s.log.Info("Slack socket mode problem", zap.String("type", string(evt.Type)), zap.Any("data", evt.Data))
	}
}

// acknowledge tells Slack the request arrived, with an optional answer.
func (s *socketRouter) acknowledge(ctx context.Context, evt socketmode.Event, payload any) {
	if evt.Request == nil || evt.Request.EnvelopeID == "" {
		return
	}
	if err := s.ack.AckCtx(ctx, evt.Request.EnvelopeID, payload); err != nil {
		s.log.Info("Could not acknowledge a Slack socket mode request", zap.String("type", string(evt.Type)), zap.Error(err))
	}
}
