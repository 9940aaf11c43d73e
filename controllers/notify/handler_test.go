package notify

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/slack-go/slack"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
)

func TestVerifySignature(t *testing.T) {
	const body = "token=x&text=approve+web"
	header := func(secret string, ts time.Time, body string) http.Header {
		h := http.Header{}
		h.Set("X-Slack-Request-Timestamp", strconv.FormatInt(ts.Unix(), 10))
		h.Set("X-Slack-Signature", sign(secret, ts, body))
		return h
	}
	tests := map[string]struct {
		header  http.Header
		body    string
		secret  string
		wantErr error
	}{
		"valid":                 {header: header(testSecret, testNow, body), body: body, secret: testSecret},
		"valid 5 minutes old":   {header: header(testSecret, testNow.Add(-5*time.Minute), body), body: body, secret: testSecret},
		"valid 5 minutes ahead": {header: header(testSecret, testNow.Add(5*time.Minute), body), body: body, secret: testSecret},
		"older than 5 minutes": {
			header: header(testSecret, testNow.Add(-5*time.Minute-time.Second), body), body: body, secret: testSecret,
			wantErr: errStaleTimestamp,
		},
		"more than 5 minutes in the future": {
			header: header(testSecret, testNow.Add(5*time.Minute+time.Second), body), body: body, secret: testSecret,
			wantErr: errStaleTimestamp,
		},
		"other secret":  {header: header("other", testNow, body), body: body, secret: testSecret, wantErr: errBadSignature},
		"tampered body": {header: header(testSecret, testNow, body), body: body + "x", secret: testSecret, wantErr: errBadSignature},
		"missing headers": {
			header: http.Header{}, body: body, secret: testSecret, wantErr: errMissingSignature,
		},
		"no v0 prefix": {
			header: func() http.Header {
				h := header(testSecret, testNow, body)
				h.Set("X-Slack-Signature", strings.TrimPrefix(h.Get("X-Slack-Signature"), "v0="))
				return h
			}(),
			body: body, secret: testSecret, wantErr: errBadSignature,
		},
		"timestamp not a number": {
			header: func() http.Header {
				h := header(testSecret, testNow, body)
				h.Set("X-Slack-Request-Timestamp", "soon")
				return h
			}(),
			body: body, secret: testSecret, wantErr: errBadSignature,
		},
		"no secret configured": {header: header("", testNow, body), body: body, secret: "", wantErr: ErrInvalidConfig},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			err := verifySignature(tc.header, []byte(tc.body), tc.secret, testNow)
			if tc.wantErr == nil && err != nil {
				t.Fatalf("verifySignature() = %v, want nil", err)
			}
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("verifySignature() = %v, want %v", err, tc.wantErr)
			}
		})
	}
}

// TestVerifySignatureAgreesWithSlackGo checks the signature scheme against
// slack-go's verifier, which can only run at the real time.
func TestVerifySignatureAgreesWithSlackGo(t *testing.T) {
	now := time.Now()
	for _, body := range []string{"", "payload=%7B%7D", "text=approve+shop%2Fweb"} {
		for _, secret := range []string{testSecret, "other"} {
			h := http.Header{}
			h.Set("X-Slack-Request-Timestamp", strconv.FormatInt(now.Unix(), 10))
			h.Set("X-Slack-Signature", sign(secret, now, body))
			sv, err := slack.NewSecretsVerifier(h, testSecret)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := sv.Write([]byte(body)); err != nil {
				t.Fatal(err)
			}
			want := sv.Ensure() == nil
			got := verifySignature(h, []byte(body), testSecret, now) == nil
			if got != want {
				t.Errorf("body %q, signed with %q: verifySignature ok = %v, slack-go ok = %v", body, secret, got, want)
			}
		}
	}
}

func TestHandlerRejectsRequests(t *testing.T) {
	valid := commandBody("U1", "alice", "approve shop/web", "t1")
	tests := map[string]struct {
		req      func() *http.Request
		wantCode int
	}{
		"bad signature": {
			req: func() *http.Request {
				r := signedRequest(CommandsPath, testNow, valid)
				r.Header.Set("X-Slack-Signature", sign("wrong", testNow, valid))
				return r
			},
			wantCode: http.StatusUnauthorized,
		},
		"unsigned": {req: func() *http.Request {
			return httptest.NewRequest(http.MethodPost, ActionsPath, strings.NewReader(valid))
		}, wantCode: http.StatusUnauthorized},
		"expired":             {req: func() *http.Request { return signedRequest(CommandsPath, testNow.Add(-6*time.Minute), valid) }, wantCode: http.StatusUnauthorized},
		"from the future":     {req: func() *http.Request { return signedRequest(ActionsPath, testNow.Add(6*time.Minute), valid) }, wantCode: http.StatusUnauthorized},
		"body over 64 KiB":    {req: func() *http.Request { return signedRequest(CommandsPath, testNow, valid+strings.Repeat("x", 64<<10)) }, wantCode: http.StatusRequestEntityTooLarge},
		"GET":                 {req: func() *http.Request { return httptest.NewRequest(http.MethodGet, CommandsPath, nil) }, wantCode: http.StatusMethodNotAllowed},
		"unknown path":        {req: func() *http.Request { return signedRequest("/slack/events", testNow, valid) }, wantCode: http.StatusNotFound},
		"action without form": {req: func() *http.Request { return signedRequest(ActionsPath, testNow, "payload=%7Bnot+json") }, wantCode: http.StatusBadRequest},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			actor := &fakeActor{}
			h := NewHandler(Config{SigningSecret: testSecret, AllowedUsers: []string{"U1"}}, actor, zaptest.NewLogger(t), func() time.Time { return testNow })
			w := httptest.NewRecorder()
			h.ServeHTTP(w, tc.req())
			if w.Code != tc.wantCode {
				t.Errorf("status = %d, want %d (%s)", w.Code, tc.wantCode, w.Body)
			}
			if calls := actor.calls(); len(calls) != 0 {
				t.Errorf("Act was called: %v", calls)
			}
		})
	}
}

func TestButtonClicks(t *testing.T) {
	const eventID = "0123456789abcdef"
	approve := buttonValue("shop", "web", VerbApprove, eventID, testRun)
	tests := map[string]struct {
		allowed      []string
		user, name   string
		actionID     string
		value        string
		wantActs     []Action
		wantType     string
		wantText     string
		wantNoAnswer bool
	}{
		"allowed by user ID": {
			allowed: []string{"U1"}, user: "U1", name: "alice", actionID: "ramp_approve", value: approve,
			wantActs: []Action{{Namespace: "shop", Rollout: "web", Verb: VerbApprove, ID: "approve-" + eventID, User: "U1", Run: &testRun}},
			wantType: slack.ResponseTypeInChannel, wantText: "Approve requested for rollout shop/web (by <@U1>)",
		},
		"allowed by username": {
			allowed: []string{"@alice"}, user: "U1", name: "alice", actionID: "ramp_abort", value: buttonValue("shop", "web", VerbAbort, eventID, testRun),
			wantActs: []Action{{Namespace: "shop", Rollout: "web", Verb: VerbAbort, ID: "abort-" + eventID, User: "U1", Run: &testRun}},
			wantType: slack.ResponseTypeInChannel, wantText: "Abort requested for rollout shop/web (by <@U1>)",
		},
		"not on the allowlist": {
			allowed: []string{"U1"}, user: "U2", name: "mallory", actionID: "ramp_approve", value: approve,
			wantType: slack.ResponseTypeEphemeral, wantText: "You are not authorized to approve rollouts",
		},
		"empty allowlist": {
			user: "U1", name: "alice", actionID: "ramp_approve", value: approve,
			wantType: slack.ResponseTypeEphemeral, wantText: "You are not authorized",
		},
		"invalid value": {
			allowed: []string{"U1"}, user: "U1", actionID: "ramp_approve", value: "shop/web/deploy/" + eventID,
			wantType: slack.ResponseTypeEphemeral, wantText: `This button is not valid: unknown action "deploy"`,
		},
		"another app's button": {
			allowed: []string{"U1"}, user: "U1", actionID: "other_approve", value: approve, wantNoAnswer: true,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			actor := &fakeActor{}
			sink := newResponseSink(t)
			h := NewHandler(Config{SigningSecret: testSecret, AllowedUsers: tc.allowed}, actor, zaptest.NewLogger(t), func() time.Time { return testNow })

			w := httptest.NewRecorder()
			h.ServeHTTP(w, signedRequest(ActionsPath, testNow, clickBody(t, tc.user, tc.name, tc.actionID, tc.value, sink.URL)))

			if w.Code != http.StatusOK {
				t.Fatalf("status = %d, want 200 (%s)", w.Code, w.Body)
			}
			if diff := cmp.Diff(tc.wantActs, actor.calls()); diff != "" {
				t.Errorf("Act calls (-want +got):\n%s", diff)
			}
			msgs := sink.messages()
			if tc.wantNoAnswer {
				if len(msgs) != 0 {
					t.Errorf("response_url got %v, want nothing", msgs)
				}
				return
			}
			if len(msgs) != 1 {
				t.Fatalf("response_url got %d messages, want 1", len(msgs))
			}
			if msgs[0].ResponseType != tc.wantType || !strings.Contains(msgs[0].Text, tc.wantText) {
				t.Errorf("answer = %s %q, want %s containing %q", msgs[0].ResponseType, msgs[0].Text, tc.wantType, tc.wantText)
			}
		})
	}
}

func TestDuplicateClicksActOnce(t *testing.T) {
	actor := &fakeActor{}
	sink := newResponseSink(t)
	h := NewHandler(Config{SigningSecret: testSecret, AllowedUsers: []string{"U1", "U2"}}, actor, zaptest.NewLogger(t), func() time.Time { return testNow })
	value := buttonValue("shop", "web", VerbApprove, "0123456789abcdef", testRun)

	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			user := "U" + strconv.Itoa(1+i%2)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, signedRequest(ActionsPath, testNow, clickBody(t, user, "", "ramp_approve", value, sink.URL)))
			if w.Code != http.StatusOK {
				t.Errorf("status = %d", w.Code)
			}
		}()
	}
	wg.Wait()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, signedRequest(ActionsPath, testNow, clickBody(t, "U1", "", "ramp_approve", value, sink.URL)))

	if got := len(actor.calls()); got != 1 {
		t.Fatalf("Act called %d times for one button, want 1", got)
	}
	msgs := sink.messages()
	last := msgs[len(msgs)-1]
	if want := "Already done: Approve requested for rollout shop/web"; last.Text != want || last.ResponseType != slack.ResponseTypeEphemeral {
		t.Errorf("repeat answered %s %q, want ephemeral %q", last.ResponseType, last.Text, want)
	}

	// Another button of the same message is another action.
	h.ServeHTTP(httptest.NewRecorder(), signedRequest(ActionsPath, testNow,
		clickBody(t, "U1", "", "ramp_abort", buttonValue("shop", "web", VerbAbort, "0123456789abcdef", testRun), sink.URL)))
	if got := len(actor.calls()); got != 2 {
		t.Errorf("Act called %d times after a second button, want 2", got)
	}
}

func TestFailedActionCanBeRetried(t *testing.T) {
	actor := &fakeActor{err: errors.New("apiserver unavailable")}
	sink := newResponseSink(t)
	h := NewHandler(Config{SigningSecret: testSecret, AllowedUsers: []string{"U1"}}, actor, zaptest.NewLogger(t), func() time.Time { return testNow })
	body := clickBody(t, "U1", "", "ramp_retry", buttonValue("shop", "web", VerbRetry, "0123456789abcdef", testRun), sink.URL)

	h.ServeHTTP(httptest.NewRecorder(), signedRequest(ActionsPath, testNow, body))
	actor.mu.Lock()
	actor.err = nil
	actor.mu.Unlock()
	h.ServeHTTP(httptest.NewRecorder(), signedRequest(ActionsPath, testNow, body))

	if got := len(actor.calls()); got != 2 {
		t.Fatalf("Act called %d times, want 2 (a failure is not remembered)", got)
	}
	msgs := sink.messages()
	if want := "Could not retry rollout shop/web; the controller log has the details"; msgs[0].Text != want {
		t.Errorf("first answer = %q, want %q", msgs[0].Text, want)
	}
	if want := "Retry requested for rollout shop/web (by <@U1>)"; msgs[1].Text != want {
		t.Errorf("second answer = %q, want %q", msgs[1].Text, want)
	}
}

func TestSlashCommands(t *testing.T) {
	notFound := fmt.Errorf("rollout shop/gone %w", ErrNotFound)
	tests := map[string]struct {
		user     string
		text     string
		actorErr error
		wantActs []Action // IDs are filled in from the body
		wantLook []string
		wantType string
		wantText string
	}{
		"approve namespace/name": {
			user: "U1", text: "approve shop/web",
			wantActs: []Action{{Namespace: "shop", Rollout: "web", Verb: VerbApprove, User: "U1"}},
			wantType: slack.ResponseTypeInChannel, wantText: "Approve requested for rollout shop/web (by <@U1>)",
		},
		"bare name is in default": {
			user: "U1", text: "  Abort   web ",
			wantActs: []Action{{Namespace: "default", Rollout: "web", Verb: VerbAbort, User: "U1"}},
			wantType: slack.ResponseTypeInChannel, wantText: "Abort requested for rollout default/web",
		},
		"promote": {
			user: "U1", text: "promote shop/web.v2",
			wantActs: []Action{{Namespace: "shop", Rollout: "web.v2", Verb: VerbPromote, User: "U1"}},
			wantType: slack.ResponseTypeInChannel, wantText: "Promote requested",
		},
		"empty is help":   {user: "U9", text: "", wantType: slack.ResponseTypeEphemeral, wantText: "Usage: /ramp <command> <namespace>/<rollout>"},
		"help":            {user: "U9", text: "help", wantType: slack.ResponseTypeEphemeral, wantText: "Commands: approve, abort, promote, retry, status, help"},
		"unknown command": {user: "U1", text: "deploy web", wantType: slack.ResponseTypeEphemeral, wantText: `Unknown command "deploy"`},
		"missing target":  {user: "U1", text: "approve", wantType: slack.ResponseTypeEphemeral, wantText: "Usage: /ramp approve <namespace>/<rollout>"},
		"extra argument":  {user: "U1", text: "approve shop/web now", wantType: slack.ResponseTypeEphemeral, wantText: "Usage: /ramp approve"},
		"too many slashes": {
			user: "U1", text: "approve shop/web/x", wantType: slack.ResponseTypeEphemeral, wantText: `Invalid rollout name "web/x"`,
		},
		"invalid namespace": {user: "U1", text: "retry Shop/web", wantType: slack.ResponseTypeEphemeral, wantText: `Invalid namespace "Shop"`},
		"not authorized": {
			user: "U2", text: "approve shop/web", wantType: slack.ResponseTypeEphemeral, wantText: "You are not authorized to approve rollouts",
		},
		"not found": {
			user: "U1", text: "approve shop/gone", actorErr: notFound,
			wantActs: []Action{{Namespace: "shop", Rollout: "gone", Verb: VerbApprove, User: "U1"}},
			wantType: slack.ResponseTypeEphemeral, wantText: "Rollout shop/gone not found",
		},
		"status needs no authorization": {
			user: "U2", text: "status shop/web", wantLook: []string{"shop/web"},
			wantType: slack.ResponseTypeEphemeral, wantText: "Rollout shop/web: phase Progressing",
		},
		"status of a missing rollout": {
			user: "U1", text: "status shop/gone", actorErr: notFound, wantLook: []string{"shop/gone"},
			wantType: slack.ResponseTypeEphemeral, wantText: "Rollout shop/gone not found",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			actor := &fakeActor{err: tc.actorErr, status: "Rollout shop/web: phase Progressing, step 2"}
			h := NewHandler(Config{SigningSecret: testSecret, AllowedUsers: []string{"U1"}}, actor, zaptest.NewLogger(t), func() time.Time { return testNow })
			body := commandBody(tc.user, "", tc.text, "trigger-"+name)

			w := httptest.NewRecorder()
			h.ServeHTTP(w, signedRequest(CommandsPath, testNow, body))

			if w.Code != http.StatusOK {
				t.Fatalf("status = %d, want 200 (%s)", w.Code, w.Body)
			}
			var got reply
			if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
				t.Fatalf("answer %q is not JSON: %v", w.Body, err)
			}
			if got.ResponseType != tc.wantType || !strings.Contains(got.Text, tc.wantText) {
				t.Errorf("answer = %s %q, want %s containing %q", got.ResponseType, got.Text, tc.wantType, tc.wantText)
			}
			for i := range tc.wantActs {
				tc.wantActs[i].ID = tc.wantActs[i].Verb + "-" + requestID([]byte(body))
			}
			if diff := cmp.Diff(tc.wantActs, actor.calls()); diff != "" {
				t.Errorf("Act calls (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantLook, actor.lookups); diff != "" {
				t.Errorf("Status calls (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSlashCommandRedeliveryActsOnce(t *testing.T) {
	actor := &fakeActor{}
	clock := testNow
	h := NewHandler(Config{SigningSecret: testSecret, AllowedUsers: []string{"U1"}}, actor, zap.NewNop(), func() time.Time { return clock })
	body := commandBody("U1", "alice", "approve shop/web", "trigger-1")

	h.ServeHTTP(httptest.NewRecorder(), signedRequest(CommandsPath, testNow, body))
	// Slack redelivers the same body a minute later, signed afresh.
	clock = testNow.Add(time.Minute)
	retry := signedRequest(CommandsPath, clock, body)
	retry.Header.Set("X-Slack-Retry-Num", "1")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, retry)

	if got := len(actor.calls()); got != 1 {
		t.Fatalf("Act called %d times for one delivery and its retry, want 1", got)
	}
	if !strings.Contains(w.Body.String(), "Already done") {
		t.Errorf("retry answered %s, want Already done", w.Body)
	}

	// The same command typed again is a new invocation with a new trigger.
	h.ServeHTTP(httptest.NewRecorder(), signedRequest(CommandsPath, clock, commandBody("U1", "alice", "approve shop/web", "trigger-2")))
	calls := actor.calls()
	if len(calls) != 2 || calls[0].ID == calls[1].ID {
		t.Errorf("a repeated command gave calls %v, want two with different IDs", calls)
	}
}
