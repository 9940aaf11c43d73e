package notify

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack"
)

const testSecret = "8f742231b10e8888abcd99yyyzzz85a5"

// testNow is the handler's clock in tests, far from the real time, so a
// check against time.Now would fail them.
var testNow = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

// testRun is the run of the Rollout the buttons of most tests are for.
var testRun = Run{Generation: 3, CanaryRevision: "web-00002"}

// fakeActor records the actions it is asked to apply.
type fakeActor struct {
	mu      sync.Mutex
	acts    []Action
	err     error
	status  string
	lookups []string
}

var _ Actor = (*fakeActor)(nil)

func (f *fakeActor) Act(_ context.Context, a Action) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.acts = append(f.acts, a)
	if f.err != nil {
		return "", f.err
	}
	return fmt.Sprintf("%s requested for rollout %s/%s", capitalise(a.Verb), a.Namespace, a.Rollout), nil
}

func (f *fakeActor) Status(_ context.Context, namespace, name string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lookups = append(f.lookups, namespace+"/"+name)
	if f.err != nil {
		return "", f.err
	}
	return f.status, nil
}

func (f *fakeActor) calls() []Action {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Action(nil), f.acts...)
}

// sign returns Slack's v0 signature of body at ts.
func sign(secret string, ts time.Time, body string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(mac, "v0:%d:%s", ts.Unix(), body)
	return "v0=" + hex.EncodeToString(mac.Sum(nil))
}

// signedRequest builds a POST signed at ts with the test secret.
func signedRequest(path string, ts time.Time, body string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("X-Slack-Request-Timestamp", strconv.FormatInt(ts.Unix(), 10))
	r.Header.Set("X-Slack-Signature", sign(testSecret, ts, body))
	return r
}

// responseSink is a response_url that records what it is sent.
type responseSink struct {
	*httptest.Server
	mu   sync.Mutex
	msgs []slack.WebhookMessage
}

func newResponseSink(t *testing.T) *responseSink {
	t.Helper()
	s := &responseSink{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m slack.WebhookMessage
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
			t.Errorf("response_url got an undecodable body: %v", err)
		}
		s.mu.Lock()
		s.msgs = append(s.msgs, m)
		s.mu.Unlock()
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *responseSink) messages() []slack.WebhookMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]slack.WebhookMessage(nil), s.msgs...)
}

// clickBody is the form body of a block_actions callback for one button.
func clickBody(t *testing.T, userID, userName, actionID, value, responseURL string) string {
	t.Helper()
	cb := slack.InteractionCallback{
		Type:        slack.InteractionTypeBlockActions,
		User:        slack.User{ID: userID, Name: userName},
		ResponseURL: responseURL,
		TriggerID:   "trigger-1",
		ActionCallback: slack.ActionCallbacks{BlockActions: []*slack.BlockAction{{
			ActionID: actionID, BlockID: actionsBlockID, Value: value, Type: "button",
		}}},
	}
	payload, err := json.Marshal(cb)
	if err != nil {
		t.Fatal(err)
	}
	return url.Values{"payload": {string(payload)}}.Encode()
}

// commandBody is the form body of a slash command.
func commandBody(userID, userName, text, triggerID string) string {
	return url.Values{
		"command":      {"/ramp"},
		"text":         {text},
		"user_id":      {userID},
		"user_name":    {userName},
		"trigger_id":   {triggerID},
		"response_url": {"https://hooks.slack.com/commands/T1/" + triggerID},
	}.Encode()
}
