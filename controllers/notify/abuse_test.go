package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slacktest"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
)

// abuse is a series of clicks on the buttons of shop/web and what must
// follow: the answers each user sees, and whether the Rollout carries the
// action (once) or is left exactly as it was.
type abuse struct {
	// rollout is live() unless set.
	rollout func() *unstructured.Unstructured
	clicks  []click
	// wantAnswers are "<response type>: <text>", one per answered click.
	wantAnswers []string
	// wantApplied: the Rollout carries the approve action with its run,
	// written by one patch. Otherwise nothing on it changed.
	wantApplied bool
	// wantLog is logged once by the refusal.
	wantLog string
}

type click struct {
	user, value string

	// HTTP only: the request is signed with secret (testSecret when empty)
	// signedAgo before the handler's clock, and answered with wantCode (200
	// when 0). otherReplica delivers it to a second handler, which has not
	// seen the earlier clicks: another replica, or a restarted controller.
	secret       string
	signedAgo    time.Duration
	wantCode     int
	otherReplica bool

	// Socket Mode only: Slack delivers the previous envelope again, as it
	// does when an acknowledgement is late.
	redelivery bool
}

const abuseEventID = "0123456789abcdef"

var (
	currentButton = buttonValue("shop", "web", VerbApprove, abuseEventID, Run{Generation: 3, CanaryRevision: "web-00002"})
	// olderButton was made for the canary before, at generation 2.
	olderButton = buttonValue("shop", "web", VerbApprove, abuseEventID, Run{Generation: 2, CanaryRevision: "web-00001"})
	// oldFormatButton is a button of a Ramp that did not record runs.
	oldFormatButton = "shop/web/approve/" + abuseEventID
)

// sharedAbuse holds the cases of both ways in: the HTTP handler and Socket
// Mode. Socket Mode requests carry no signature and no timestamp (the
// websocket is authenticated by the app-level token), so the signature and
// replay cases are the HTTP handler's alone.
func sharedAbuse() map[string]abuse {
	const now = "Now: Rollout shop/web: phase Progressing, step 2 of 3, canary weight 10%, canary web-00002, stable web-00001. Waiting for approval"
	return map[string]abuse{
		"a user not on the allowlist": {
			clicks:      []click{{user: "U9", value: currentButton}},
			wantAnswers: []string{"ephemeral: You are not authorized to approve rollouts. Ask an operator to add your Slack user ID (U9) to the allowlist."},
			wantLog:     "Denied Slack action: user not on the allowlist",
		},
		"a button of an earlier canary and generation": {
			clicks: []click{{user: "U1", value: olderButton}},
			wantAnswers: []string{"ephemeral: This button is out of date: it was made for generation 2 of rollout shop/web (canary web-00001), " +
				"which is now at generation 3 (canary web-00002). " + now + "\nTo approve it now, use the buttons of its latest message or /ramp approve shop/web."},
			wantLog: "Refused a stale Slack button",
		},
		"a button of a rollout that has finished": {
			rollout: finished,
			clicks:  []click{{user: "U1", value: currentButton}},
			wantAnswers: []string{"ephemeral: This button is out of date: it was made for the rollout of web-00002, and rollout shop/web has no canary any more. " +
				"Now: Rollout shop/web: phase Healthy, canary weight 0%, stable web-00002. Revision web-00002 has all the traffic" +
				"\nTo approve it now, use the buttons of its latest message or /ramp approve shop/web."},
			wantLog: "Refused a stale Slack button",
		},
		"a button of the earlier format, without its run": {
			clicks: []click{{user: "U1", value: oldFormatButton}},
			wantAnswers: []string{"ephemeral: This button comes from a message sent before Ramp recorded which run of a rollout a button is for, " +
				"so it cannot be checked and is refused; nothing was changed. To approve rollout shop/web, use the buttons of its latest message or /ramp approve shop/web."},
			wantLog: "Refused a Slack button of an older Ramp",
		},
		"a double click": {
			clicks: []click{{user: "U1", value: currentButton}, {user: "U1", value: currentButton}},
			wantAnswers: []string{
				"in_channel: Approve requested for rollout shop/web (by <@U1>)",
				"ephemeral: Already done: Approve requested for rollout shop/web",
			},
			wantApplied: true,
		},
		"two people click": {
			clicks: []click{{user: "U1", value: currentButton}, {user: "U2", value: currentButton}},
			wantAnswers: []string{
				"in_channel: Approve requested for rollout shop/web (by <@U1>)",
				"ephemeral: Already done: Approve requested for rollout shop/web",
			},
			wantApplied: true,
		},
	}
}

// abuseEnv is the Rollout behind the Actor, and what happens to it.
type abuseEnv struct {
	c       client.Client
	actor   *RolloutActor
	patches *atomic.Int32
	log     *zap.Logger
	logs    *observer.ObservedLogs
	before  *unstructured.Unstructured
}

func newAbuseEnv(t *testing.T, tc abuse) *abuseEnv {
	t.Helper()
	mk := tc.rollout
	if mk == nil {
		mk = live
	}
	patches := &atomic.Int32{}
	c := fakeClient(&interceptor.Funcs{Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, p client.Patch, opts ...client.PatchOption) error {
		patches.Add(1)
		return c.Patch(ctx, obj, p, opts...)
	}}, mk())
	core, logs := observer.New(zap.InfoLevel)
	e := &abuseEnv{c: c, actor: &RolloutActor{Client: c}, patches: patches, log: zap.New(core), logs: logs}
	e.before = e.get(t)
	return e
}

func (e *abuseEnv) get(t *testing.T) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(RolloutGVK)
	if err := e.c.Get(context.Background(), client.ObjectKey{Namespace: "shop", Name: "web"}, u); err != nil {
		t.Fatal(err)
	}
	return u
}

// check compares the answers and the Rollout with what tc wants.
func (e *abuseEnv) check(t *testing.T, tc abuse, answers []slack.WebhookMessage) {
	t.Helper()
	var got []string
	for _, a := range answers {
		got = append(got, a.ResponseType+": "+a.Text)
	}
	if diff := cmp.Diff(tc.wantAnswers, got); diff != "" {
		t.Errorf("answers (-want +got):\n%s", diff)
	}
	after := e.get(t)
	if !tc.wantApplied {
		if n := e.patches.Load(); n != 0 {
			t.Errorf("%d patches of the Rollout, want none", n)
		}
		if diff := cmp.Diff(e.before.Object, after.Object); diff != "" {
			t.Errorf("the Rollout changed (-before +after):\n%s", diff)
		}
	} else {
		if n := e.patches.Load(); n != 1 {
			t.Errorf("%d patches of the Rollout, want 1", n)
		}
		want := map[string]string{
			AnnotationAction: VerbApprove, AnnotationActionID: "approve-" + abuseEventID, AnnotationActionBy: "slack:U1",
			AnnotationActionRun: "approve-" + abuseEventID + "/3/web-00002",
		}
		if diff := cmp.Diff(want, after.GetAnnotations()); diff != "" {
			t.Errorf("annotations (-want +got):\n%s", diff)
		}
	}
	if tc.wantLog != "" {
		if n := e.logs.FilterMessage(tc.wantLog).Len(); n != 1 {
			t.Errorf("logged %q %d times, want once; logs: %v", tc.wantLog, n, e.logs.All())
		}
	}
}

func TestHTTPActionsAbuse(t *testing.T) {
	cases := sharedAbuse()
	cases["a bad signature"] = abuse{
		clicks:  []click{{user: "U1", value: currentButton, secret: "not-the-signing-secret", wantCode: http.StatusUnauthorized}},
		wantLog: "Rejected a Slack request",
	}
	cases["a replay more than 5 minutes later"] = abuse{
		clicks:  []click{{user: "U1", value: currentButton, signedAgo: 5*time.Minute + time.Second, wantCode: http.StatusUnauthorized}},
		wantLog: "Rejected a Slack request",
	}
	cases["a retried delivery to another replica"] = abuse{
		clicks: []click{{user: "U1", value: currentButton}, {user: "U1", value: currentButton, otherReplica: true}},
		wantAnswers: []string{
			"in_channel: Approve requested for rollout shop/web (by <@U1>)",
			"ephemeral: Already done: Approve of rollout shop/web was already requested",
		},
		wantApplied: true,
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			e := newAbuseEnv(t, tc)
			sink := newResponseSink(t)
			cfg := Config{SigningSecret: testSecret, AllowedUsers: []string{"U1", "U2"}}
			clock := func() time.Time { return testNow }
			h, other := NewHandler(cfg, e.actor, e.log, clock), NewHandler(cfg, e.actor, e.log, clock)

			for i, c := range tc.clicks {
				body := clickBody(t, c.user, "", "ramp_approve", c.value, sink.URL)
				at := testNow.Add(-c.signedAgo)
				r := signedRequest(ActionsPath, at, body)
				if c.secret != "" {
					r.Header.Set("X-Slack-Signature", sign(c.secret, at, body))
				}
				w := httptest.NewRecorder()
				if c.otherReplica {
					other.ServeHTTP(w, r)
				} else {
					h.ServeHTTP(w, r)
				}
				want := c.wantCode
				if want == 0 {
					want = http.StatusOK
				}
				if w.Code != want {
					t.Errorf("click %d answered %d, want %d (%s)", i, w.Code, want, w.Body)
				}
			}
			e.check(t, tc, sink.messages())
		})
	}
}

// TestSocketModeActionsAbuse runs RunSocketMode against slacktest: the
// clicks arrive as Socket Mode envelopes over its websocket, and every one
// is acknowledged.
func TestSocketModeActionsAbuse(t *testing.T) {
	cases := sharedAbuse()
	cases["a redelivered envelope"] = abuse{
		clicks: []click{{user: "U1", value: currentButton}, {redelivery: true}},
		wantAnswers: []string{
			"in_channel: Approve requested for rollout shop/web (by <@U1>)",
			"ephemeral: Already done: Approve requested for rollout shop/web",
		},
		wantApplied: true,
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			e := newAbuseEnv(t, tc)
			sink := newResponseSink(t)
			s := startSocketMode(t, Config{Token: "xoxb-test", AppToken: "xapp-test", AllowedUsers: []string{"U1", "U2"}}, e.actor, e.log)

			var last string
			for i, c := range tc.clicks {
				envelope := last
				if !c.redelivery {
					envelope = interactiveEnvelope(t, "env-"+strconv.Itoa(i), c.user, c.value, sink.URL, 0)
				} else {
					envelope = strings.Replace(envelope, `"retry_attempt":0`, `"retry_attempt":1`, 1)
				}
				last = envelope
				s.SendToWebsocket(envelope)
				s.waitAcks(t, i+1)
			}
			// The router handles envelopes in order: once a last one is
			// acknowledged, every click before it has been answered.
			s.SendToWebsocket(`{"envelope_id":"env-last","type":"slash_commands","payload":{"command":"/ramp","text":"help","user_id":"U1"}}`)
			s.waitAcks(t, len(tc.clicks)+1)
			e.check(t, tc, sink.messages())
		})
	}
}

// socketServer is slacktest serving Socket Mode to RunSocketMode.
type socketServer struct {
	*slacktest.Server
}

func startSocketMode(t *testing.T, cfg Config, actor Actor, log *zap.Logger) *socketServer {
	t.Helper()
	s := &socketServer{slacktest.NewTestServer()}
	s.Start()
	t.Cleanup(s.Stop)
	ctx, cancel := context.WithCancel(context.Background())
	// slacktest hands every message from the client to SeenFeed, and waits
	// for someone to take it.
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-s.SeenFeed:
			}
		}
	}()
	done := make(chan error, 1)
	go func() { done <- RunSocketMode(ctx, cfg, actor, log, slack.OptionAPIURL(s.GetAPIURL())) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("RunSocketMode() = %v", err)
			}
		case <-time.After(liveness):
			t.Error("RunSocketMode did not stop")
		}
	})
	return s
}

// waitAcks waits until the client has acknowledged n envelopes.
func (s *socketServer) waitAcks(t *testing.T, n int) {
	t.Helper()
	waitUntil(t, func() bool {
		acks := 0
		for _, m := range s.GetSeenInboundMessages() {
			var ack struct {
				EnvelopeID string `json:"envelope_id"`
			}
			if json.Unmarshal([]byte(m), &ack) == nil && ack.EnvelopeID != "" {
				acks++
			}
		}
		return acks >= n
	}, "%d acknowledgements", n)
}

// interactiveEnvelope is the Socket Mode envelope of a click on the
// Approve button with value.
func interactiveEnvelope(t *testing.T, id, user, value, responseURL string, retry int) string {
	t.Helper()
	cb := slack.InteractionCallback{
		Type: slack.InteractionTypeBlockActions, User: slack.User{ID: user}, ResponseURL: responseURL,
		ActionCallback: slack.ActionCallbacks{BlockActions: []*slack.BlockAction{{ActionID: "ramp_approve", BlockID: actionsBlockID, Value: value, Type: "button"}}},
	}
	payload, err := json.Marshal(cb)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf(`{"envelope_id":%q,"type":"interactive","accepts_response_payload":false,"retry_attempt":%d,"payload":%s}`, id, retry, payload)
}
