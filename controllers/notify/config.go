package notify

import (
	"context"
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/rampdev/ramp/controllers/internal/promreg"
)

// How Slack delivers button clicks and slash commands.
const (
	// ModeHTTP receives them on the handler from NewHandler.
	ModeHTTP = "http"
	// ModeSocket receives them over a Socket Mode websocket (RunSocketMode).
	ModeSocket = "socket"
)

// ErrInvalidConfig is wrapped by every configuration error.
var ErrInvalidConfig = errors.New("invalid notify config")

// Config configures notifications and interactive actions.
type Config struct {
	// Token is the bot token (xoxb-...). Empty sends notifications to the log.
	Token string
	// SigningSecret verifies requests to the HTTP handler.
	SigningSecret string
	// DefaultChannel receives events that name no channel of their own.
	DefaultChannel string
	// AllowedUsers may approve, abort, promote and retry. Each entry is a
	// Slack user ID (U...) or a username. Empty means nobody may act.
	AllowedUsers []string
	// Mode is ModeHTTP (the default when empty) or ModeSocket.
	Mode string
	// AppToken is the app-level token (xapp-...) that Socket Mode needs.
	AppToken string
}

// Validate reports configuration errors, each wrapping ErrInvalidConfig.
func (c Config) Validate() error {
	switch c.Mode {
	case "", ModeHTTP, ModeSocket:
	default:
		return fmt.Errorf("%w: unknown mode %q, want %q or %q", ErrInvalidConfig, c.Mode, ModeHTTP, ModeSocket)
	}
	if c.Token == "" {
		return nil
	}
	if c.DefaultChannel == "" {
		return fmt.Errorf("%w: a Slack token needs a default channel", ErrInvalidConfig)
	}
	if c.Mode == ModeSocket && c.AppToken == "" {
		return fmt.Errorf("%w: socket mode needs an app-level token", ErrInvalidConfig)
	}
	return nil
}

// New returns the notifier cfg asks for: Slack when a token is configured,
// otherwise a LogNotifier. Either way, results are counted in
// ramp_notifications_total on reg.
func New(cfg Config, log *zap.Logger, reg prometheus.Registerer) (Notifier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	rec, err := NewRecorder(reg)
	if err != nil {
		return nil, err
	}
	if cfg.Token == "" {
		return &Counted{Name: "log", Next: &LogNotifier{Log: log}, Recorder: rec}, nil
	}
	return &Counted{Name: "slack", Next: NewSlack(cfg), Recorder: rec}, nil
}

// Recorder holds the notification metrics.
type Recorder struct {
	notifications *prometheus.CounterVec
}

// NewRecorder registers the notification metrics on reg. Registering twice on
// the same registry reuses the first counter.
func NewRecorder(reg prometheus.Registerer) (*Recorder, error) {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ramp_notifications_total", Help: "Notifications sent, by notifier and result (success or failure).",
	}, []string{"notifier", "result"})
	c, err := promreg.Register(reg, c)
	if err != nil {
		return nil, fmt.Errorf("registering notification metrics: %w", err)
	}
	return &Recorder{notifications: c}, nil
}

// Observe counts one notification by notifier and result.
func (r *Recorder) Observe(notifier string, err error) {
	result := "success"
	if err != nil {
		result = "failure"
	}
	r.notifications.WithLabelValues(notifier, result).Inc()
}

// Counted counts the results of Next in a Recorder under Name.
type Counted struct {
	Name     string
	Next     Notifier
	Recorder *Recorder
}

var _ Notifier = (*Counted)(nil)

// Post implements Notifier. It returns Next's error after counting it.
func (c *Counted) Post(ctx context.Context, e Event) error {
	err := c.Next.Post(ctx, e)
	c.Recorder.Observe(c.Name, err)
	return err
}
