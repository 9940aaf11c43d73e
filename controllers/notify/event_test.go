package notify

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func TestEventID(t *testing.T) {
	base := waitingEvent()
	id := base.ID()
	if len(id) != eventIDLen {
		t.Fatalf("ID() = %q, want %d hex digits", id, eventIDLen)
	}

	same := base
	same.Message, same.Time, same.Actions, same.CanaryWeight, same.Channel = "other", same.Time.Add(time.Millisecond), nil, 90, "#x"
	if got := same.ID(); got != id {
		t.Errorf("ID changed with fields outside the rollout state: %q != %q", got, id)
	}

	changes := map[string]func(*Event){
		"namespace":       func(e *Event) { e.Namespace = "other" },
		"rollout":         func(e *Event) { e.Rollout = "other" },
		"canary revision": func(e *Event) { e.CanaryRevision = "web-00003" },
		"step":            func(e *Event) { e.Step = 3 },
		"time":            func(e *Event) { e.Time = e.Time.Add(time.Second) },
		"phase":           func(e *Event) { e.Phase = "Progressing" },
		"boundaries":      func(e *Event) { e.Namespace, e.Rollout = "shopw", "eb" },
	}
	for name, change := range changes {
		t.Run(name, func(t *testing.T) {
			e := base
			change(&e)
			if e.ID() == id {
				t.Errorf("ID did not change with the %s", name)
			}
		})
	}
}

func TestLogNotifier(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	n := &LogNotifier{Log: zap.New(core)}
	e := waitingEvent()

	if err := n.Post(context.Background(), e); err != nil {
		t.Fatalf("Post() = %v", err)
	}

	entries := logs.All()
	if len(entries) != 1 {
		t.Fatalf("got %d log lines, want 1", len(entries))
	}
	if entries[0].Message != "Rollout phase changed" {
		t.Errorf("message = %q", entries[0].Message)
	}
	fields := entries[0].ContextMap()
	want := map[string]any{
		"namespace": "shop", "rollout": "web", "phase": "Paused", "previousPhase": "Progressing",
		"step": int64(2), "steps": int64(5), "canaryWeight": int64(40),
		"stableRevision": "web-00001", "canaryRevision": "web-00002",
		"reason": "AwaitingApproval", "eventID": e.ID(),
	}
	for k, v := range want {
		if fields[k] != v {
			t.Errorf("field %s = %#v, want %#v", k, fields[k], v)
		}
	}
	if actions, _ := fields["actions"].([]any); len(actions) != 2 || actions[0] != VerbAbort {
		t.Errorf("field actions = %#v, want [abort approve]", fields["actions"])
	}
}

type failingNotifier struct{ err error }

func (f failingNotifier) Post(context.Context, Event) error { return f.err }

func TestMulti(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	errA, errB := errors.New("a"), errors.New("b")
	m := Multi{failingNotifier{errA}, &LogNotifier{Log: zap.New(core)}, failingNotifier{errB}}

	err := m.Post(context.Background(), waitingEvent())

	if !errors.Is(err, errA) || !errors.Is(err, errB) {
		t.Errorf("Post() = %v, want both errors", err)
	}
	if logs.Len() != 1 {
		t.Errorf("the notifier after a failing one logged %d lines, want 1", logs.Len())
	}
	if err := (Multi{}).Post(context.Background(), waitingEvent()); err != nil {
		t.Errorf("empty Multi Post() = %v", err)
	}
}

func TestNew(t *testing.T) {
	tests := map[string]struct {
		cfg          Config
		wantNotifier string
		wantErr      string
	}{
		"no token logs":         {cfg: Config{}, wantNotifier: "log"},
		"token posts to slack":  {cfg: Config{Token: "xoxb-1", DefaultChannel: "#deploys"}, wantNotifier: "slack"},
		"socket mode":           {cfg: Config{Token: "xoxb-1", DefaultChannel: "#d", Mode: ModeSocket, AppToken: "xapp-1"}, wantNotifier: "slack"},
		"unknown mode":          {cfg: Config{Mode: "carrier-pigeon"}, wantErr: `unknown mode "carrier-pigeon"`},
		"token without channel": {cfg: Config{Token: "xoxb-1"}, wantErr: "a Slack token needs a default channel"},
		"socket without app token": {
			cfg: Config{Token: "xoxb-1", DefaultChannel: "#d", Mode: ModeSocket}, wantErr: "socket mode needs an app-level token",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			n, err := New(tc.cfg, zap.NewNop(), prometheus.NewRegistry())
			if tc.wantErr != "" {
				if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("New() = %v, want an invalid config error containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("New() = %v", err)
			}
			c, ok := n.(*Counted)
			if !ok || c.Name != tc.wantNotifier {
				t.Fatalf("New() = %#v, want a counted %s notifier", n, tc.wantNotifier)
			}
			switch tc.wantNotifier {
			case "log":
				if _, ok := c.Next.(*LogNotifier); !ok {
					t.Errorf("log notifier is %T", c.Next)
				}
			case "slack":
				if s, ok := c.Next.(*Slack); !ok || s.channel != tc.cfg.DefaultChannel {
					t.Errorf("slack notifier is %#v", c.Next)
				}
			}
		})
	}
}

func TestNewCountsLogNotifications(t *testing.T) {
	reg := prometheus.NewRegistry()
	n, err := New(Config{}, zap.NewNop(), reg)
	if err != nil {
		t.Fatal(err)
	}
	// A second notifier on the same registry shares the counter.
	n2, err := New(Config{}, zap.NewNop(), reg)
	if err != nil {
		t.Fatalf("second New() on one registry = %v", err)
	}
	for _, x := range []Notifier{n, n2, n} {
		if err := x.Post(context.Background(), waitingEvent()); err != nil {
			t.Fatal(err)
		}
	}
	want := `
# HELP ramp_notifications_total Notifications sent, by notifier and result (success or failure).
# TYPE ramp_notifications_total counter
ramp_notifications_total{notifier="log",result="success"} 3
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "ramp_notifications_total"); err != nil {
		t.Error(err)
	}
}

func TestRecorderRegistrationConflict(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewGauge(prometheus.GaugeOpts{Name: "ramp_notifications_total", Help: "x"}))
	if _, err := NewRecorder(reg); err == nil {
		t.Error("NewRecorder() on a registry with a clashing metric = nil, want an error")
	}
}
