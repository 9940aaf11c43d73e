package manager

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

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
		return mgr.Add(&slackServer{addr: o.SlackAddr, handler: h, log: log})
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

type slackServer struct {
	addr    string
	handler http.Handler
	log     *zap.Logger
}

// NeedLeaderElection implements manager.LeaderElectionRunnable: every
// replica answers Slack.
func (s *slackServer) NeedLeaderElection() bool { return false }

func (s *slackServer) Start(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		return fmt.Errorf("slack endpoint: %w", err)
	}
	srv := &http.Server{Handler: s.handler, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	s.log.Info("Slack endpoints listening", zap.String("address", ln.Addr().String()),
		zap.Strings("paths", []string{notify.ActionsPath, notify.CommandsPath}))
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
