package notify

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slacktest"
	"go.uber.org/zap/zaptest"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// liveness bounds how long a test waits for something that happens in
// another goroutine (a message to reach the fake Slack, a post to give up).
// It only turns a hang into a failure; nothing is timed.
const liveness = 10 * time.Second

// slackServer is a slacktest server. Messages posted with chat.postMessage
// are read back as slacktest decoded them, from its RTM feed; answers to
// interactions reach its /response endpoint, the response_url of the
// clicks in these tests.
type slackServer struct {
	*slacktest.Server
	mu      sync.Mutex
	posted  []slack.Msg
	answers []slack.WebhookMessage
	updates int
}

func newSlackServer(t *testing.T, binders ...slacktest.Binder) *slackServer {
	t.Helper()
	s := &slackServer{}
	binders = append(binders, func(c slacktest.Customize) {
		c.Handle("/response", func(w http.ResponseWriter, r *http.Request) {
			var m slack.WebhookMessage
			if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
				t.Errorf("response_url got an undecodable body: %v", err)
			}
			s.mu.Lock()
			s.answers = append(s.answers, m)
			s.mu.Unlock()
		})
		// The code answers clicks on their response_url and never edits a
		// message: any chat.update is a change of behaviour.
		c.Handle("/chat.update", func(w http.ResponseWriter, _ *http.Request) {
			s.mu.Lock()
			s.updates++
			s.mu.Unlock()
			_, _ = w.Write([]byte(`{"ok":true}`))
		})
	})
	s.Server = slacktest.NewTestServer(binders...)
	s.Start()
	t.Cleanup(s.Stop)
	return s
}

func (s *slackServer) responseURL() string { return s.GetAPIURL() + "response" }

func (s *slackServer) notifier() *Slack {
	return NewSlack(Config{Token: "xoxb-test", DefaultChannel: "#deploys"}, slack.OptionAPIURL(s.GetAPIURL()))
}

// readPosts follows slacktest's feed of posted messages.
func (s *slackServer) readPosts(t *testing.T) {
	t.Helper()
	rtm := s.GetTestRTMInstance()
	done, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		rtm.ManageConnection()
	}()
	go func() {
		for {
			select {
			case <-done:
				return
			case ev := <-rtm.IncomingEvents:
				if m, ok := ev.Data.(*slack.MessageEvent); ok {
					s.mu.Lock()
					s.posted = append(s.posted, m.Msg)
					s.mu.Unlock()
				}
			}
		}
	}()
	t.Cleanup(func() {
		close(done)
		_ = rtm.Disconnect()
		select {
		case <-stopped:
		case <-time.After(liveness):
			t.Error("the RTM connection did not stop")
		}
	})
}

// waitPosts waits until slacktest has seen n posted messages.
func (s *slackServer) waitPosts(t *testing.T, n int) []slack.Msg {
	t.Helper()
	var got []slack.Msg
	waitUntil(t, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		got = append([]slack.Msg(nil), s.posted...)
		return len(got) >= n
	}, "%d posted messages", n)
	if len(got) != n {
		t.Fatalf("slacktest saw %d posted messages, want %d", len(got), n)
	}
	return got
}

func (s *slackServer) waitAnswers(t *testing.T, n int) []slack.WebhookMessage {
	t.Helper()
	var got []slack.WebhookMessage
	waitUntil(t, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		got = append([]slack.WebhookMessage(nil), s.answers...)
		return len(got) >= n
	}, "%d answers on the response_url", n)
	return got
}

func waitUntil(t *testing.T, cond func() bool, format string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(liveness)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for "+format, args...)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// decodedBlocks is m's blocks as JSON objects, as slacktest decoded them.
func decodedBlocks(t *testing.T, m slack.Msg) []map[string]any {
	t.Helper()
	raw, err := json.Marshal(m.Blocks)
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// gateEvent is shop/web (generation 3) arriving at its approval gate, with
// the evidence of its last look.
func gateEvent() Event {
	return Event{
		Namespace: "shop", Rollout: "web", Phase: "Progressing", Step: 1, Steps: 3, CanaryWeight: 10,
		StableRevision: "web-00001", CanaryRevision: "web-00002", Generation: 3,
		Reason: "Waiting for approval",
		Evidence: []string{
			"error-rate: canary 5xx 0.00% vs stable 0.04% (n=252 vs 2,490): difference -0.04 pts [-0.46 pts, +1.93 pts]",
			"latency: canary p90 <80ms> vs stable 79ms",
		},
		Time:    time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC),
		Actions: []string{VerbApprove, VerbAbort},
	}
}

func TestSlackTestNotificationMessage(t *testing.T) {
	s := newSlackServer(t)
	s.readPosts(t)
	e := gateEvent()

	if err := s.notifier().Post(context.Background(), e); err != nil {
		t.Fatalf("Post() = %v", err)
	}

	m := s.waitPosts(t, 1)[0]
	if m.Channel != "#deploys" || m.Text != ":rocket: shop/web: Progressing" {
		t.Errorf("posted %q to %q, want the summary in #deploys", m.Text, m.Channel)
	}
	blocks := decodedBlocks(t, m)
	id := e.ID()
	wantButtons := []renderedButton{
		{ActionID: "ramp_approve", Value: "shop/web/approve/" + id + "/3/web-00002", Style: "primary"},
		{ActionID: "ramp_abort", Value: "shop/web/abort/" + id + "/3/web-00002", Style: "danger"},
	}
	if diff := cmp.Diff(wantButtons, buttons(blocks)); diff != "" {
		t.Errorf("buttons slacktest saw (-want +got):\n%s", diff)
	}
	raw := marshalUnescaped(t, blocks)
	for _, want := range []string{
		`*Evidence*\n• error-rate: canary 5xx 0.00% vs stable 0.04% (n=252 vs 2,490)`, "• latency: canary p90 &lt;80ms&gt; vs stable 79ms",
		`*Step*\n2 of 3`, `*Canary*\nweb-00002`, "*Waiting for approval*", `"confirm"`,
	} {
		if !strings.Contains(raw, want) {
			t.Errorf("the posted blocks lack %q: %s", want, raw)
		}
	}
}

// TestSlackTestFollowUpAfterAnAction: a click on the Approve button of a
// posted message is answered in the channel through the click's
// response_url (a reply; the message itself is not edited), and the
// Rollout's next phase change is a new message.
func TestSlackTestFollowUpAfterAnAction(t *testing.T) {
	s := newSlackServer(t)
	s.readPosts(t)
	notifier := s.notifier()
	if err := notifier.Post(context.Background(), gateEvent()); err != nil {
		t.Fatalf("Post() = %v", err)
	}
	approve := buttons(decodedBlocks(t, s.waitPosts(t, 1)[0]))[0]

	c := fakeClient(nil, live())
	h := NewHandler(Config{SigningSecret: testSecret, AllowedUsers: []string{"U1"}}, &RolloutActor{Client: c}, zaptest.NewLogger(t), func() time.Time { return testNow })
	w := httptest.NewRecorder()
	h.ServeHTTP(w, signedRequest(ActionsPath, testNow, clickBody(t, "U1", "alice", approve.ActionID, approve.Value, s.responseURL())))
	if w.Code != http.StatusOK {
		t.Fatalf("click answered %d: %s", w.Code, w.Body)
	}

	answers := s.waitAnswers(t, 1)
	want := []slack.WebhookMessage{{ResponseType: slack.ResponseTypeInChannel, Text: "Approve requested for rollout shop/web (by <@U1>)"}}
	if diff := cmp.Diff(want, answers); diff != "" {
		t.Errorf("answers on the response_url (-want +got):\n%s", diff)
	}
	got := &unstructured.Unstructured{}
	got.SetGroupVersionKind(RolloutGVK)
	if err := c.Get(context.Background(), client.ObjectKey{Namespace: "shop", Name: "web"}, got); err != nil {
		t.Fatal(err)
	}
	if a := got.GetAnnotations(); a[AnnotationAction] != VerbApprove || a[AnnotationActionRun] != "approve-"+gateEvent().ID()+"/3/web-00002" {
		t.Errorf("annotations = %v, want the approve action for generation 3, canary web-00002", a)
	}

	// The controller approves; the rollout goes on and becomes Healthy.
	next := gateEvent()
	next.Phase, next.PreviousPhase, next.Step, next.CanaryWeight = "Healthy", "Progressing", -1, 0
	next.StableRevision, next.CanaryRevision, next.Reason, next.Evidence, next.Actions = "web-00002", "", "", nil, nil
	next.Time = next.Time.Add(time.Minute)
	if err := notifier.Post(context.Background(), next); err != nil {
		t.Fatalf("Post() = %v", err)
	}
	follow := s.waitPosts(t, 2)[1]
	if follow.Text != ":white_check_mark: shop/web: Healthy" || len(buttons(decodedBlocks(t, follow))) != 0 {
		t.Errorf("follow-up %q with buttons %v, want the Healthy summary without buttons", follow.Text, buttons(decodedBlocks(t, follow)))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.updates != 0 {
		t.Errorf("%d chat.update calls, want none", s.updates)
	}
}

// TestSlackTestAPIErrors: Slack refusing a post (bad token, rate limit,
// outage, no answer at all) makes Post return at once with an error that
// names the rollout and Slack's reason, counted as a failure. The caller
// (the Rollout controller) logs it and goes on.
func TestSlackTestAPIErrors(t *testing.T) {
	tests := map[string]struct {
		handler http.HandlerFunc
		wantErr string
		wantIs  error
	}{
		"invalid_auth": {
			handler: func(w http.ResponseWriter, _ *http.Request) {
				_, _ = w.Write([]byte(`{"ok":false,"error":"invalid_auth"}`))
			},
			wantErr: "posting rollout shop/web to Slack channel #deploys: invalid_auth",
		},
		"rate limited for an hour: no waiting": {
			handler: func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Retry-After", "3600")
				w.WriteHeader(http.StatusTooManyRequests)
			},
			wantErr: "posting rollout shop/web to Slack channel #deploys: slack rate limit exceeded, retry after 1h0m0s",
		},
		"outage": {
			handler: func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) },
			wantErr: "posting rollout shop/web to Slack channel #deploys: slack server error: 503 Service Unavailable",
		},
		"no answer": {
			// Reading the body lets the server notice the client hang up.
			handler: func(_ http.ResponseWriter, r *http.Request) { _, _ = io.Copy(io.Discard, r.Body); <-r.Context().Done() },
			wantIs:  context.DeadlineExceeded,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s := newSlackServer(t, func(c slacktest.Customize) { c.Handle("/chat.postMessage", tc.handler) })
			rec, err := NewRecorder(prometheus.NewRegistry())
			if err != nil {
				t.Fatal(err)
			}
			sl := s.notifier()
			sl.timeout = 200 * time.Millisecond
			n := &Counted{Name: "slack", Next: sl, Recorder: rec}

			errc := make(chan error, 1)
			go func() { errc <- n.Post(context.Background(), gateEvent()) }()
			select {
			case err = <-errc:
			case <-time.After(liveness):
				t.Fatal("Post did not return: a Slack failure would hold up the reconcile")
			}

			if err == nil || (tc.wantErr != "" && err.Error() != tc.wantErr) || (tc.wantIs != nil && !errors.Is(err, tc.wantIs)) {
				t.Errorf("Post() = %v, want %q %v", err, tc.wantErr, tc.wantIs)
			}
			if got := testutil.ToFloat64(rec.notifications.WithLabelValues("slack", "failure")); got != 1 {
				t.Errorf("failures counted = %v, want 1", got)
			}
		})
	}
}
