package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/slack-go/slack"
	"go.uber.org/zap"
)

// The paths NewHandler serves.
const (
	ActionsPath  = "/slack/actions"
	CommandsPath = "/slack/commands"
)

const (
	// maxBodyBytes bounds a request body; Slack's are a few KiB.
	maxBodyBytes = 64 << 10
	// signatureWindow is how far a request's timestamp may be from now.
	signatureWindow = 5 * time.Minute
	// respondTimeout bounds a post to an interaction's response_url, so the
	// acknowledgement still reaches Slack within its 3 seconds.
	respondTimeout = 2 * time.Second
)

// Signature errors.
var (
	errMissingSignature = errors.New("missing X-Slack-Signature or X-Slack-Request-Timestamp")
	errStaleTimestamp   = errors.New("request timestamp is more than 5 minutes from now")
	errBadSignature     = errors.New("signature does not match")
)

type handler struct {
	d      *dispatcher
	secret string
	clock  func() time.Time
	log    *zap.Logger
	client *http.Client
}

// NewHandler serves Slack's interactivity requests on ActionsPath and slash
// commands on CommandsPath. Every request must carry a valid Slack signature
// made within 5 minutes of clock() (time.Now when nil); others get 401. Only
// cfg.AllowedUsers may act; an empty list means nobody may.
func NewHandler(cfg Config, actor Actor, log *zap.Logger, clock func() time.Time) http.Handler {
	if clock == nil {
		clock = time.Now
	}
	if cfg.SigningSecret == "" {
		log.Warn("No Slack signing secret is configured: every Slack request will be rejected")
	}
	h := &handler{
		d:      newDispatcher(cfg, actor, log),
		secret: cfg.SigningSecret,
		clock:  clock,
		log:    log,
		client: &http.Client{Timeout: respondTimeout},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+ActionsPath, h.actions)
	mux.HandleFunc("POST "+CommandsPath, h.commands)
	return mux
}

// actions handles a button click. Slack ignores the response body of a
// block_actions request, so the answer goes to the response_url.
func (h *handler) actions(w http.ResponseWriter, r *http.Request) {
	if _, ok := h.verified(w, r); !ok {
		return
	}
	cb, err := slack.InteractionCallbackParse(r)
	if err != nil {
		http.Error(w, "invalid interaction payload", http.StatusBadRequest)
		return
	}
	if rep, ok := h.d.interaction(r.Context(), cb); ok {
		respond(r.Context(), h.client, h.log, cb.ResponseURL, rep)
	}
	w.WriteHeader(http.StatusOK)
}

// commands handles a slash command and answers in the response body.
func (h *handler) commands(w http.ResponseWriter, r *http.Request) {
	body, ok := h.verified(w, r)
	if !ok {
		return
	}
	cmd, err := slack.SlashCommandParse(r)
	if err != nil {
		http.Error(w, "invalid slash command", http.StatusBadRequest)
		return
	}
	rep := h.d.command(r.Context(), cmd, requestID(body))
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(rep); err != nil {
		h.log.Debug("Could not write a Slack answer", zap.Error(err))
	}
}

// verified reads the body, checks its signature and puts it back for form
// parsing. On failure it has answered already and reports false.
func (h *handler) verified(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
			return nil, false
		}
		http.Error(w, "could not read request body", http.StatusBadRequest)
		return nil, false
	}
	if err := verifySignature(r.Header, body, h.secret, h.clock()); err != nil {
		h.log.Info("Rejected a Slack request", zap.String("path", r.URL.Path), zap.String("remote", r.RemoteAddr), zap.Error(err))
		http.Error(w, "invalid Slack signature", http.StatusUnauthorized)
		return nil, false
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	return body, true
}

// verifySignature checks Slack's v0 signature, an HMAC-SHA256 of
// "v0:<timestamp>:<body>" keyed with the signing secret, and that the
// timestamp is within 5 minutes of now either way. It is slack-go's
// SecretsVerifier with the time passed in: slack-go checks the window against
// time.Now, which tests cannot set.
func verifySignature(header http.Header, body []byte, secret string, now time.Time) error {
	if secret == "" {
		return fmt.Errorf("%w: no signing secret configured", ErrInvalidConfig)
	}
	sig, ts := header.Get("X-Slack-Signature"), header.Get("X-Slack-Request-Timestamp")
	if sig == "" || ts == "" {
		return errMissingSignature
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: timestamp %q is not a number", errBadSignature, ts)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > signatureWindow || d < -signatureWindow {
		return errStaleTimestamp
	}
	got, err := hex.DecodeString(strings.TrimPrefix(sig, "v0="))
	if err != nil || !strings.HasPrefix(sig, "v0=") {
		return errBadSignature
	}
	mac := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(mac, "v0:%s:", ts)
	mac.Write(body)
	if !hmac.Equal(got, mac.Sum(nil)) {
		return errBadSignature
	}
	return nil
}

// respond posts rep to an interaction's response_url. It is best-effort: the
// action has happened, and a lost answer is only logged.
func respond(ctx context.Context, client *http.Client, log *zap.Logger, url string, rep reply) {
	if url == "" {
		return
	}
	msg := &slack.WebhookMessage{Text: rep.Text, ResponseType: rep.ResponseType}
	if err := slack.PostWebhookCustomHTTPContext(ctx, url, client, msg); err != nil {
		log.Info("Could not answer a Slack interaction", zap.Error(err))
	}
}
