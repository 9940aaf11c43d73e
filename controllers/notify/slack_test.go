package notify

import (
	"context"
	"encoding/json"
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
)

// fakeSlackAPI answers chat.postMessage and records what it was sent.
type fakeSlackAPI struct {
	*httptest.Server
	mu    sync.Mutex
	posts []postedMessage
	ok    bool
}

type postedMessage struct {
	Channel string
	Text    string
	Token   string
	Blocks  []map[string]any
}

func newFakeSlackAPI(t *testing.T, ok bool) *fakeSlackAPI {
	t.Helper()
	f := &fakeSlackAPI{ok: ok}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/chat.postMessage" {
			t.Errorf("unexpected Slack API call %s", r.URL.Path)
			http.NotFound(w, r)
			return
		}
		if err := r.ParseForm(); err != nil {
			t.Errorf("parsing chat.postMessage: %v", err)
		}
		m := postedMessage{Channel: r.PostForm.Get("channel"), Text: r.PostForm.Get("text"), Token: r.PostForm.Get("token")}
		if err := json.Unmarshal([]byte(r.PostForm.Get("blocks")), &m.Blocks); err != nil {
			t.Errorf("blocks are not JSON: %v", err)
		}
		f.mu.Lock()
		f.posts = append(f.posts, m)
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if !f.ok {
			_, _ = w.Write([]byte(`{"ok":false,"error":"channel_not_found"}`))
			return
		}
		_, _ = w.Write([]byte(`{"ok":true,"channel":"C1","ts":"1714564800.000100"}`))
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeSlackAPI) messages() []postedMessage {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]postedMessage(nil), f.posts...)
}

func waitingEvent() Event {
	return Event{
		Namespace: "shop", Rollout: "web",
		Phase: "Paused", PreviousPhase: "Progressing",
		Step: 2, Steps: 5, CanaryWeight: 40,
		StableRevision: "web-00001", CanaryRevision: "web-00002",
		Reason: "AwaitingApproval", Message: "Step 3 needs approval <ops>",
		Generation: 3,
		Time:       time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC),
		Actions:    []string{VerbAbort, VerbApprove},
	}
}

type renderedButton struct{ ActionID, Value, Style string }

// buttons returns the buttons of the actions blocks.
func buttons(blocks []map[string]any) []renderedButton {
	var out []renderedButton
	for _, b := range blocks {
		if b["type"] != "actions" {
			continue
		}
		for _, el := range b["elements"].([]any) {
			e := el.(map[string]any)
			style, _ := e["style"].(string)
			out = append(out, renderedButton{ActionID: e["action_id"].(string), Value: e["value"].(string), Style: style})
		}
	}
	return out
}

func TestSlackPost(t *testing.T) {
	e := waitingEvent()
	id := e.ID()
	tests := map[string]struct {
		event       Event
		wantChannel string
		wantButtons []renderedButton
	}{
		"waiting for approval": {
			event: e, wantChannel: "#deploys",
			wantButtons: []renderedButton{
				{ActionID: "ramp_approve", Value: "shop/web/approve/" + id + "/3/web-00002", Style: "primary"},
				{ActionID: "ramp_abort", Value: "shop/web/abort/" + id + "/3/web-00002", Style: "danger"},
			},
		},
		"channel override, no actions": {
			event: func() Event { e := waitingEvent(); e.Channel, e.Actions = "#shop", nil; return e }(), wantChannel: "#shop",
		},
		"all actions": {
			event: func() Event {
				e := waitingEvent()
				e.Actions = []string{VerbRetry, VerbPromote, VerbAbort, VerbApprove}
				return e
			}(),
			wantChannel: "#deploys",
			wantButtons: []renderedButton{
				{ActionID: "ramp_approve", Value: "shop/web/approve/" + id + "/3/web-00002", Style: "primary"},
				{ActionID: "ramp_promote", Value: "shop/web/promote/" + id + "/3/web-00002", Style: "primary"},
				{ActionID: "ramp_retry", Value: "shop/web/retry/" + id + "/3/web-00002"},
				{ActionID: "ramp_abort", Value: "shop/web/abort/" + id + "/3/web-00002", Style: "danger"},
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			api := newFakeSlackAPI(t, true)
			s := NewSlack(Config{Token: "xoxb-test", DefaultChannel: "#deploys"}, slack.OptionAPIURL(api.URL+"/"))

			if err := s.Post(context.Background(), tc.event); err != nil {
				t.Fatalf("Post() = %v", err)
			}

			posts := api.messages()
			if len(posts) != 1 {
				t.Fatalf("got %d posts, want 1", len(posts))
			}
			p := posts[0]
			if p.Channel != tc.wantChannel || p.Token != "xoxb-test" {
				t.Errorf("posted to %q with token %q, want %q with the bot token", p.Channel, p.Token, tc.wantChannel)
			}
			if diff := cmp.Diff(tc.wantButtons, buttons(p.Blocks)); diff != "" {
				t.Errorf("buttons (-want +got):\n%s", diff)
			}
			raw := marshalUnescaped(t, p.Blocks)
			for _, want := range []string{"shop/web: Paused", "web-00002", "web-00001", "40%", "3 of 5", "Progressing → Paused", "*AwaitingApproval*", "&lt;ops&gt;"} {
				if !strings.Contains(raw, want) {
					t.Errorf("blocks lack %q: %s", want, raw)
				}
			}
			// Every button value parses back to its action.
			for _, b := range buttons(p.Blocks) {
				a, err := parseButtonValue(b.Value)
				if err != nil || a.Verb != strings.TrimPrefix(b.ActionID, actionIDPrefix) || a.ID != a.Verb+"-"+id || a.Run == nil || *a.Run != testRun {
					t.Errorf("button %+v parses to %+v, %v", b, a, err)
				}
			}
		})
	}
}

func TestSlackFailuresAreCounted(t *testing.T) {
	reg := prometheus.NewRegistry()
	rec, err := NewRecorder(reg)
	if err != nil {
		t.Fatal(err)
	}
	good := &Counted{Name: "slack", Recorder: rec,
		Next: NewSlack(Config{Token: "xoxb-test", DefaultChannel: "#deploys"}, slack.OptionAPIURL(newFakeSlackAPI(t, true).URL+"/"))}
	bad := &Counted{Name: "slack", Recorder: rec,
		Next: NewSlack(Config{Token: "xoxb-test", DefaultChannel: "#gone"}, slack.OptionAPIURL(newFakeSlackAPI(t, false).URL+"/"))}

	if err := good.Post(context.Background(), waitingEvent()); err != nil {
		t.Fatalf("Post() = %v", err)
	}
	for range 2 {
		err := bad.Post(context.Background(), waitingEvent())
		if err == nil || !strings.Contains(err.Error(), "channel_not_found") || !strings.Contains(err.Error(), "shop/web") {
			t.Errorf("Post() = %v, want an error naming the rollout and Slack's error", err)
		}
	}

	if got := testutil.ToFloat64(rec.notifications.WithLabelValues("slack", "success")); got != 1 {
		t.Errorf("successes = %v, want 1", got)
	}
	if got := testutil.ToFloat64(rec.notifications.WithLabelValues("slack", "failure")); got != 2 {
		t.Errorf("failures = %v, want 2", got)
	}
}

func TestBlocksWithoutStep(t *testing.T) {
	e := waitingEvent()
	e.Step, e.Reason, e.Message, e.Time = -1, "", "", time.Time{}
	raw := marshalUnescaped(t, blocks(e))
	if !strings.Contains(raw, `*Step*\nnone`) {
		t.Errorf("blocks for step -1 lack \"none\": %s", raw)
	}
	for _, unwanted := range []string{`"type":"context"`, "AwaitingApproval"} {
		if strings.Contains(raw, unwanted) {
			t.Errorf("blocks contain %s: %s", unwanted, raw)
		}
	}
}

// marshalUnescaped encodes v as JSON without escaping &, < and >.
func marshalUnescaped(t *testing.T, v any) string {
	t.Helper()
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// A rolled-back rollout's message carries the judge's evidence, one
// escaped line per metric.
func TestBlocksShowEvidence(t *testing.T) {
	e := waitingEvent()
	e.Phase, e.Reason = "RolledBack", ""
	e.Evidence = []string{
		"error-rate: canary 5xx 4.10% vs stable 0.20% (n=310 vs 2,790): difference +3.90 pts [+1.20 pts, +7.00 pts]; evidence of regression beyond tolerance +0.1 pts: e=212 ≥ 200",
		"latency: canary p90 <80ms> vs stable 79ms",
	}
	raw := marshalUnescaped(t, blocks(e))
	for _, want := range []string{`*Evidence*\n• error-rate: canary 5xx 4.10% vs stable 0.20% (n=310 vs 2,790)`, "e=212 ≥ 200", "&lt;80ms&gt;"} {
		if !strings.Contains(raw, want) {
			t.Errorf("blocks lack %q: %s", want, raw)
		}
	}
	e.Evidence = nil
	if raw := marshalUnescaped(t, blocks(e)); strings.Contains(raw, "*Evidence*") {
		t.Errorf("blocks without evidence show an Evidence section: %s", raw)
	}
}

// The controller notifies a rollback once the gateway serves the stable
// alone, coming from RollingBack (it never notifies RollingBack itself):
// the message shows the move, the evidence and a retry button.
func TestBlocksOfASettledRollback(t *testing.T) {
	e := Event{
		Namespace: "shop", Rollout: "web", Phase: "RolledBack", PreviousPhase: "",
		Step: 0, Steps: 3, StableRevision: "web-00001", CanaryRevision: "web-00002",
		Message:  "Rolled back to web-00001: at step 1/3 (weight 20%): error-rate: evidence of regression",
		Evidence: []string{"error-rate: evidence of regression: canary 4.10% vs stable 0.20%"},
		Time:     time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC),
		Actions:  []string{VerbRetry},
	}
	raw := marshalUnescaped(t, blocks(e))
	for _, want := range []string{
		":rewind: shop/web: RolledBack", `*Phase*\nRolledBack`, `*Canary weight*\n0%`,
		"Rolled back to web-00001: at step 1/3 (weight 20%)", `*Evidence*\n• error-rate: evidence of regression: canary 4.10% vs stable 0.20%`,
	} {
		if !strings.Contains(raw, want) {
			t.Errorf("blocks lack %q: %s", want, raw)
		}
	}
	var decoded []map[string]any
	if err := json.Unmarshal([]byte(raw), &decoded); err != nil {
		t.Fatal(err)
	}
	if bs := buttons(decoded); len(bs) != 1 || !strings.HasSuffix(bs[0].ActionID, VerbRetry) {
		t.Errorf("buttons %+v, want retry alone", bs)
	}
}
