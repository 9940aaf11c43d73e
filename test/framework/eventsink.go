package framework

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// CloudEvent is an event an EventSink received in binary HTTP mode.
type CloudEvent struct {
	ID, Type, Source, Subject, SpecVersion, ContentType string
	Data                                                []byte
}

// EventSink is a CloudEvents sink on loopback that records what it
// receives, for the controller's --cloudevents-sink.
type EventSink struct {
	URL string

	mu     sync.Mutex
	events []CloudEvent
	srv    *http.Server
}

// StartEventSink serves a sink on 127.0.0.1 until ctx ends.
func StartEventSink(ctx context.Context) (*EventSink, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &EventSink{URL: "http://" + ln.Addr().String() + "/"}
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, MaxHeaderBytes: 64 << 10}
	go func() { _ = s.srv.Serve(ln) }()
	go func() {
		<-ctx.Done()
		_ = s.srv.Close()
	}()
	return s, nil
}

// ServeHTTP records a binary-mode CloudEvent.
func (s *EventSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil || r.Method != http.MethodPost || r.Header.Get("Ce-Id") == "" {
		http.Error(w, "want a binary-mode CloudEvent POST", http.StatusBadRequest)
		return
	}
	e := CloudEvent{ID: r.Header.Get("Ce-Id"), Type: r.Header.Get("Ce-Type"), Source: r.Header.Get("Ce-Source"),
		Subject: r.Header.Get("Ce-Subject"), SpecVersion: r.Header.Get("Ce-Specversion"), ContentType: r.Header.Get("Content-Type"), Data: body}
	s.mu.Lock()
	s.events = append(s.events, e)
	s.mu.Unlock()
	w.WriteHeader(http.StatusAccepted)
}

// Events returns the events received about subject (namespace/name), in
// order, without duplicates of an ID.
func (s *EventSink) Events(subject string) []CloudEvent {
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := map[string]bool{}
	var out []CloudEvent
	for _, e := range s.events {
		if e.Subject == subject && !seen[e.ID] {
			seen[e.ID] = true
			out = append(out, e)
		}
	}
	return out
}

// Types lists the types of events, in order.
func Types(events []CloudEvent) string {
	var ts []string
	for _, e := range events {
		ts = append(ts, strings.TrimPrefix(e.Type, "dev.ramp.rollout."))
	}
	return strings.Join(ts, " ")
}

// ErrNoEventSink is returned when the cluster's controller runs without a sink.
var ErrNoEventSink = errors.New("the controller has no CloudEvents sink")

// WaitEvent waits until the sink has an event of typ about subject.
func (s *EventSink) WaitEvent(ctx context.Context, subject, typ string, within time.Duration) error {
	if s == nil {
		return ErrNoEventSink
	}
	return Poll(ctx, within, 100*time.Millisecond, func(context.Context) error {
		for _, e := range s.Events(subject) {
			if e.Type == typ {
				return nil
			}
		}
		return fmt.Errorf("no %s event about %s yet; got %q", typ, subject, Types(s.Events(subject)))
	})
}
