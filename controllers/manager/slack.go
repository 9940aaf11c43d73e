package manager

import (
	"context"
	"errors"
	"fmt"

	"go.uber.org/zap"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/rampdev/ramp/controllers/notify"
)

// Slack modes of the controller.
const (
	SlackOff    = "off"
	SlackHTTP   = "http"
	SlackSocket = "socket"
)

// notifyLog is the logger of notifications and the Slack integration.
func notifyLog(o Options) *zap.Logger {
	if o.NotifyLog != nil {
		return o.NotifyLog
	}
	return zap.NewNop()
}

// addSlack registers the Slack endpoints the mode asks for: an HTTP
// server for interactivity and slash commands (every replica: actions are
// annotations on the Rollout, which any replica can write and the leader
// applies once), or a Socket Mode connection (leader only).
func addSlack(mgr ctrl.Manager, o Options) error {
	cfg := o.Slack
	log := notifyLog(o).Named("slack")
	actor := &notify.RolloutActor{Client: mgr.GetClient()}
	switch o.SlackMode {
	case "", SlackOff:
		return nil
	case SlackHTTP:
		cfg.Mode = notify.ModeHTTP
		if cfg.Token == "" || cfg.SigningSecret == "" {
			return errors.New("slack mode http needs a bot token (SLACK_BOT_TOKEN) and a signing secret (SLACK_SIGNING_SECRET)")
		}
		if err := cfg.Validate(); err != nil {
			return fmt.Errorf("slack: %w", err)
		}
		h := notify.NewHandler(cfg, actor, log, nil)
		// Every replica answers Slack.
		return mgr.Add(&httpServer{name: "slack", addr: o.SlackAddr, handler: h, log: mgr.GetLogger()})
	case SlackSocket:
		cfg.Mode = notify.ModeSocket
		if cfg.Token == "" || cfg.AppToken == "" {
			return errors.New("slack mode socket needs a bot token (SLACK_BOT_TOKEN) and an app-level token (SLACK_APP_TOKEN)")
		}
		if err := cfg.Validate(); err != nil {
			return fmt.Errorf("slack: %w", err)
		}
		return mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
			return notify.RunSocketMode(ctx, cfg, actor, log)
		}))
	default:
		return fmt.Errorf("slack mode %q: want off, http or socket", o.SlackMode)
	}
}
