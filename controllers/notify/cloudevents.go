package notify

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// Lifecycle CloudEvent types: one per Rollout state change, documented in
// docs/events.md.
const (
	TypeStarted      = "dev.ramp.rollout.started"
	TypeStepAdvanced = "dev.ramp.rollout.step.advanced"
	TypePaused       = "dev.ramp.rollout.paused"
	TypeApproved     = "dev.ramp.rollout.approved"
	TypePromoted     = "dev.ramp.rollout.promoted"
	TypeRolledBack   = "dev.ramp.rollout.rolledback"
	TypeAborted      = "dev.ramp.rollout.aborted"
	TypeAnalysisLook = "dev.ramp.rollout.analysis.look"
)

// LifecycleTypes lists every type, in the order a rollout meets them.
var LifecycleTypes = []string{TypeStarted, TypeStepAdvanced, TypeAnalysisLook, TypePaused, TypeApproved, TypePromoted, TypeRolledBack, TypeAborted}

// Lifecycle is a Rollout state change as a CloudEvent's data.
type Lifecycle struct {
	Type      string    `json:"-"`
	Namespace string    `json:"namespace"`
	Rollout   string    `json:"rollout"`
	Time      time.Time `json:"time"`
	Phase     string    `json:"phase"`
	// Step is the current step index, -1 when the rollout is on none.
	Step           int    `json:"step"`
	Steps          int    `json:"steps"`
	CanaryWeight   int    `json:"canaryWeight"`
	StableRevision string `json:"stableRevision,omitempty"`
	CanaryRevision string `json:"canaryRevision,omitempty"`
	Generation     int64  `json:"generation"`
	Message        string `json:"message,omitempty"`
	// Look is the analysis look of a dev.ramp.rollout.analysis.look.
	Look *LookData `json:"look,omitempty"`
	// Action is the action of a dev.ramp.rollout.approved.
	Action *ActionData `json:"action,omitempty"`
}

// LookData is an analysis look: its phase and each metric's evidence.
type LookData struct {
	Phase   string       `json:"phase"`
	Metrics []LookMetric `json:"metrics"`
}

// LookMetric is one metric of a look.
type LookMetric struct {
	Name     string `json:"name"`
	Phase    string `json:"phase"`
	Canary   string `json:"canary,omitempty"`
	Stable   string `json:"stable,omitempty"`
	Evidence string `json:"evidence,omitempty"`
	DryRun   bool   `json:"dryRun,omitempty"`
}

// ActionData is an applied action.
type ActionData struct {
	ID     string `json:"id"`
	Action string `json:"action"`
	By     string `json:"by,omitempty"`
	Result string `json:"result"`
}

// ID identifies the change: the same change, sent again (after a retry or
// a controller restart), has the same ID, so sinks can drop duplicates.
func (l Lifecycle) ID() string {
	h := sha256.New()
	for _, part := range []string{l.Type, l.Namespace, l.Rollout, l.CanaryRevision, strconv.Itoa(l.Step), l.Phase,
		strconv.FormatInt(l.Time.UnixNano(), 10)} {
		fmt.Fprintf(h, "%d:%s;", len(part), part)
	}
	return hex.EncodeToString(h.Sum(nil))[:32]
}

// Source is the CloudEvents source of a Rollout's events.
func (l Lifecycle) Source() string {
	return "/apis/rollouts.ramp.dev/namespaces/" + l.Namespace + "/rollouts/" + l.Rollout
}

// CloudEventsConfig configures the sinks of lifecycle CloudEvents.
type CloudEventsConfig struct {
	// Sinks are http(s) URLs, such as a Knative Eventing broker's.
	Sinks []string
	// QueueSize bounds the events waiting per sink (default 1000); when
	// full, new events for that sink are dropped and counted.
	QueueSize int
	// MaxAttempts bounds the sends of one event (default 5), with a backoff
	// from 500 ms doubling up to 10 s.
	MaxAttempts int
	// Timeout bounds each send (default 5 s).
	Timeout time.Duration
}

// Validate refuses a sink that is not an absolute http(s) URL.
func (c CloudEventsConfig) Validate() error {
	for i, s := range c.Sinks {
		u, err := url.Parse(s)
		switch {
		case err != nil:
			return fmt.Errorf("%w: cloudevents sink %d %q: %w", ErrInvalidConfig, i, s, err)
		case u.Scheme != "http" && u.Scheme != "https":
			return fmt.Errorf("%w: cloudevents sink %d %q: must be an http or https URL", ErrInvalidConfig, i, s)
		case u.Host == "":
			return fmt.Errorf("%w: cloudevents sink %d %q: has no host", ErrInvalidConfig, i, s)
		}
	}
	if c.QueueSize < 0 || c.MaxAttempts < 0 || c.Timeout < 0 {
		return fmt.Errorf("%w: cloudevents queue size, attempts and timeout must not be negative", ErrInvalidConfig)
	}
	return nil
}

// CloudEvents sends lifecycle events to every sink, in binary HTTP mode,
// from a bounded queue per sink: a slow or unreachable sink delays only
// its own events, never a reconcile or another sink.
type CloudEvents struct {
	cfg    CloudEventsConfig
	log    *zap.Logger
	sinks  []*ceSink
	events *prometheus.CounterVec
	sleep  func(context.Context, time.Duration) bool
}

type ceSink struct {
	url    string
	client cloudevents.Client
	queue  chan Lifecycle
}

// NewCloudEvents returns the sender of cfg's sinks; its metric is
// ramp_cloudevents_total{sink,result} on reg (result delivered, failed or
// dropped).
func NewCloudEvents(cfg CloudEventsConfig, log *zap.Logger, reg prometheus.Registerer) (*CloudEvents, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.QueueSize == 0 {
		cfg.QueueSize = 1000
	}
	if cfg.MaxAttempts == 0 {
		cfg.MaxAttempts = 5
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	c := &CloudEvents{cfg: cfg, log: log, sleep: sleepCtx,
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ramp_cloudevents_total",
			Help: "Lifecycle CloudEvents by sink and result: delivered, failed (after every attempt) or dropped (queue full).",
		}, []string{"sink", "result"})}
	if reg != nil {
		if err := reg.Register(c.events); err != nil {
			return nil, err
		}
	}
	for _, s := range cfg.Sinks {
		p, err := cehttp.New(cehttp.WithTarget(s), cehttp.WithClient(http.Client{Timeout: cfg.Timeout}))
		if err != nil {
			return nil, fmt.Errorf("cloudevents sink %s: %w", s, err)
		}
		client, err := cloudevents.NewClient(p)
		if err != nil {
			return nil, fmt.Errorf("cloudevents sink %s: %w", s, err)
		}
		c.sinks = append(c.sinks, &ceSink{url: s, client: client, queue: make(chan Lifecycle, cfg.QueueSize)})
	}
	return c, nil
}

// Enqueue queues l for every sink without waiting.
func (c *CloudEvents) Enqueue(l Lifecycle) {
	for _, s := range c.sinks {
		select {
		case s.queue <- l:
		default:
			c.events.WithLabelValues(s.url, "dropped").Inc()
			c.log.Warn("CloudEvents queue full: event dropped", zap.String("sink", s.url), zap.String("type", l.Type),
				zap.String("rollout", l.Namespace+"/"+l.Rollout))
		}
	}
}

// Start sends queued events until ctx ends: one worker per sink, so each
// sink gets its events in order.
func (c *CloudEvents) Start(ctx context.Context) error {
	done := make(chan struct{})
	for _, s := range c.sinks {
		go func() {
			for {
				select {
				case <-ctx.Done():
					done <- struct{}{}
					return
				case l := <-s.queue:
					c.deliver(ctx, s, l)
				}
			}
		}()
	}
	for range c.sinks {
		<-done
	}
	return nil
}

// deliver sends l to s, retrying with backoff.
func (c *CloudEvents) deliver(ctx context.Context, s *ceSink, l Lifecycle) {
	e := cloudevents.NewEvent()
	e.SetID(l.ID())
	e.SetSource(l.Source())
	e.SetType(l.Type)
	e.SetSubject(l.Namespace + "/" + l.Rollout)
	e.SetTime(l.Time)
	if err := e.SetData(cloudevents.ApplicationJSON, l); err != nil {
		c.events.WithLabelValues(s.url, "failed").Inc()
		return
	}
	backoff := 500 * time.Millisecond
	var err error
	for attempt := 1; attempt <= c.cfg.MaxAttempts; attempt++ {
		res := s.client.Send(cloudevents.WithEncodingBinary(ctx), e)
		if cloudevents.IsACK(res) {
			c.events.WithLabelValues(s.url, "delivered").Inc()
			return
		}
		err = res
		if attempt == c.cfg.MaxAttempts || !c.sleep(ctx, backoff) {
			break
		}
		backoff = min(2*backoff, 10*time.Second)
	}
	if errors.Is(ctx.Err(), context.Canceled) {
		return
	}
	c.events.WithLabelValues(s.url, "failed").Inc()
	c.log.Warn("CloudEvent not delivered", zap.String("sink", s.url), zap.String("type", l.Type), zap.String("id", e.ID()),
		zap.String("rollout", l.Namespace+"/"+l.Rollout), zap.Error(err))
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
