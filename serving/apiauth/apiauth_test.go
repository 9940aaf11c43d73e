package apiauth

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	clocktesting "k8s.io/utils/clock/testing"
)

const (
	gatewayUser = "system:serviceaccount:ramp-system:ramp-gateway"
	otherUser   = "system:serviceaccount:default:intruder"
)

// fakeReviewer knows tokens by value and allows (user, verb) pairs; it
// counts calls and fails every call while err is set.
type fakeReviewer struct {
	mu        sync.Mutex
	tokens    map[string]authenticationv1.TokenReviewStatus
	allowed   map[string]bool // user + " " + verb
	err       error
	accessErr error
	tokenN    int
	accessN   int
	lastSpec  authorizationv1.SubjectAccessReviewSpec
}

func (f *fakeReviewer) ReviewToken(_ context.Context, spec authenticationv1.TokenReviewSpec) (authenticationv1.TokenReviewStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tokenN++
	if f.err != nil {
		return authenticationv1.TokenReviewStatus{}, f.err
	}
	st, ok := f.tokens[spec.Token]
	if !ok {
		return authenticationv1.TokenReviewStatus{Error: "token not known"}, nil
	}
	if st.Audiences == nil {
		return st, nil // an authenticator that reports no audiences
	}
	// Like the API server: a token is valid only for audiences it was
	// minted for, and the answer lists those of the request it matched.
	var auds []string
	for _, want := range spec.Audiences {
		for _, have := range st.Audiences {
			if want == have {
				auds = append(auds, want)
			}
		}
	}
	if len(auds) == 0 {
		return authenticationv1.TokenReviewStatus{Error: "token audiences " + strings.Join(st.Audiences, ",") + " is invalid for the target audiences"}, nil
	}
	st.Audiences = auds
	return st, nil
}

func (f *fakeReviewer) ReviewAccess(_ context.Context, spec authorizationv1.SubjectAccessReviewSpec) (authorizationv1.SubjectAccessReviewStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.accessN++
	f.lastSpec = spec
	if f.err != nil {
		return authorizationv1.SubjectAccessReviewStatus{}, f.err
	}
	if f.accessErr != nil {
		return authorizationv1.SubjectAccessReviewStatus{}, f.accessErr
	}
	if f.allowed[spec.User+" "+spec.ResourceAttributes.Verb] {
		return authorizationv1.SubjectAccessReviewStatus{Allowed: true, Reason: "RBAC: allowed"}, nil
	}
	return authorizationv1.SubjectAccessReviewStatus{}, nil
}

func (f *fakeReviewer) calls() (tokens, access int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tokenN, f.accessN
}

func (f *fakeReviewer) setErr(err error) {
	f.mu.Lock()
	f.err = err
	f.mu.Unlock()
}

func newFake() *fakeReviewer {
	user := func(name string) authenticationv1.UserInfo {
		return authenticationv1.UserInfo{Username: name, UID: "uid-" + name, Groups: []string{"system:serviceaccounts", "system:authenticated"},
			Extra: map[string]authenticationv1.ExtraValue{"authentication.kubernetes.io/pod-name": {"p"}}}
	}
	return &fakeReviewer{
		tokens: map[string]authenticationv1.TokenReviewStatus{
			"gateway-token":     {Authenticated: true, User: user(gatewayUser), Audiences: []string{AutoscalerAudience}},
			"api-server-token":  {Authenticated: true, User: user(gatewayUser), Audiences: []string{"https://kubernetes.default.svc"}},
			"intruder-token":    {Authenticated: true, User: user(otherUser), Audiences: []string{AutoscalerAudience}},
			"no-audience-token": {Authenticated: true, User: user(gatewayUser)},
		},
		allowed: map[string]bool{gatewayUser + " create": true},
	}
}

var activate = &authorizationv1.ResourceAttributes{Namespace: "default", Name: "web-00001", Verb: "create",
	Group: Group, Resource: Revisions, Subresource: SubresourceActivate}

// rule: /probe is public, /activate needs activate, anything else is no
// endpoint.
func rule(r *http.Request) Access {
	switch r.URL.Path {
	case "/probe":
		return Access{Public: true}
	case "/activate":
		return Access{Attributes: activate}
	}
	return Access{}
}

type logLines struct {
	mu    sync.Mutex
	lines []string
}

func (l *logLines) logger() logr.Logger {
	return funcr.New(func(prefix, args string) {
		l.mu.Lock()
		l.lines = append(l.lines, args)
		l.mu.Unlock()
	}, funcr.Options{})
}

func (l *logLines) all() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

type harness struct {
	auth   *Authenticator
	fake   *fakeReviewer
	clock  *clocktesting.FakeClock
	logs   *logLines
	served int
	h      http.Handler
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	h := &harness{fake: newFake(), clock: clocktesting.NewFakeClock(time.Unix(1_700_000_000, 0)), logs: &logLines{}}
	var err error
	h.auth, err = New(Options{Audience: AutoscalerAudience, Reviewer: h.fake, Clock: h.clock, Log: h.logs.logger()})
	if err != nil {
		t.Fatal(err)
	}
	h.h = h.auth.Handler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		h.served++
		w.WriteHeader(http.StatusAccepted)
	}), rule)
	return h
}

func (h *harness) do(path string, header ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, path, nil)
	req.RemoteAddr = "127.0.0.9:41234"
	for _, v := range header {
		req.Header.Add("Authorization", v)
	}
	w := httptest.NewRecorder()
	h.h.ServeHTTP(w, req)
	return w
}

func TestHandlerRefusesAndAllows(t *testing.T) {
	tests := map[string]struct {
		path       string
		header     []string
		reviewErr  error
		wantCode   int
		wantServed bool
		wantBody   string
		wantChall  string // WWW-Authenticate
		wantLog    string
	}{
		"no token": {path: "/activate", wantCode: 401, wantBody: "no bearer token",
			wantChall: `Bearer realm="autoscaler.ramp.dev"`, wantLog: `"msg"="Refused an unauthenticated request"`},
		"malformed header, not bearer": {path: "/activate", header: []string{"Basic dXNlcjpwYXNz"}, wantCode: 401,
			wantBody: "malformed Authorization header", wantChall: `Bearer realm="autoscaler.ramp.dev", error="invalid_token"`},
		"malformed header, empty token": {path: "/activate", header: []string{"Bearer "}, wantCode: 401, wantBody: "malformed"},
		"two headers":                   {path: "/activate", header: []string{"Bearer gateway-token", "Bearer intruder-token"}, wantCode: 401, wantBody: "more than one"},
		"unknown token": {path: "/activate", header: []string{"Bearer forged"}, wantCode: 401, wantBody: "invalid token: token not known",
			wantChall: `error="invalid_token"`, wantLog: `"reason"="invalid token: token not known"`},
		"token of the API server's audience": {path: "/activate", header: []string{"Bearer api-server-token"}, wantCode: 401,
			wantBody: "is invalid for the target audiences"},
		"reviewed without the audience": {path: "/activate", header: []string{"Bearer no-audience-token"}, wantCode: 401,
			wantBody: "token not valid for audience autoscaler.ramp.dev"},
		"valid but unauthorized account": {path: "/activate", header: []string{"Bearer intruder-token"}, wantCode: 403,
			wantBody: "Forbidden: " + otherUser + " may not create serving.ramp.dev revisions/activate default/web-00001",
			wantLog:  `"msg"="Refused an unauthorized request" "user"="` + otherUser + `"`},
		"authorized account":               {path: "/activate", header: []string{"Bearer gateway-token"}, wantCode: 202, wantServed: true},
		"scheme is case-insensitive":       {path: "/activate", header: []string{"bearer gateway-token"}, wantCode: 202, wantServed: true},
		"public path needs nothing":        {path: "/probe", wantCode: 202, wantServed: true},
		"public path even if reviews fail": {path: "/probe", reviewErr: errors.New("down"), wantCode: 202, wantServed: true},
		"unknown endpoint, authenticated":  {path: "/nope", header: []string{"Bearer gateway-token"}, wantCode: 404},
		"unknown endpoint, anonymous":      {path: "/nope", wantCode: 401},
		"API error is 503, never allowed": {path: "/activate", header: []string{"Bearer gateway-token"}, reviewErr: errors.New("connection refused"),
			wantCode: 503, wantLog: "connection refused"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t)
			h.fake.setErr(tc.reviewErr)
			w := h.do(tc.path, tc.header...)
			if w.Code != tc.wantCode {
				t.Fatalf("status %d, want %d; body %q", w.Code, tc.wantCode, w.Body.String())
			}
			if (h.served == 1) != tc.wantServed {
				t.Errorf("served %d times, want served=%v", h.served, tc.wantServed)
			}
			if !strings.Contains(w.Body.String(), tc.wantBody) {
				t.Errorf("body %q, want it to contain %q", w.Body.String(), tc.wantBody)
			}
			if got := w.Header().Get("WWW-Authenticate"); !strings.Contains(got, tc.wantChall) || (tc.wantCode == 401) != (got != "") {
				t.Errorf("WWW-Authenticate %q, want %q (and only on 401)", got, tc.wantChall)
			}
			logs := h.logs.all()
			if !strings.Contains(logs, tc.wantLog) || (tc.wantCode >= 400 && tc.wantCode != 404) != (logs != "") {
				t.Errorf("logs %q, want a line containing %q for refusals only", logs, tc.wantLog)
			}
			for _, tok := range []string{"gateway-token", "intruder-token", "forged", "api-server-token"} {
				if strings.Contains(logs, tok) {
					t.Errorf("the log shows token %q: %s", tok, logs)
				}
			}
		})
	}
}

// The SubjectAccessReview carries the whole identity and the attributes.
func TestAccessReviewSpec(t *testing.T) {
	h := newHarness(t)
	if w := h.do("/activate", "Bearer gateway-token"); w.Code != 202 {
		t.Fatalf("status %d", w.Code)
	}
	s := h.fake.lastSpec
	if s.User != gatewayUser || s.UID != "uid-"+gatewayUser || len(s.Groups) != 2 || s.Extra["authentication.kubernetes.io/pod-name"][0] != "p" ||
		*s.ResourceAttributes != *activate {
		t.Errorf("spec %+v", s)
	}
}

func TestCacheHitsAndExpiry(t *testing.T) {
	t.Run("an allowed token is trusted for the positive TTL", func(t *testing.T) {
		h := newHarness(t)
		for range 5 {
			if w := h.do("/activate", "Bearer gateway-token"); w.Code != 202 {
				t.Fatalf("status %d", w.Code)
			}
		}
		if tok, acc := h.fake.calls(); tok != 1 || acc != 1 {
			t.Errorf("%d token and %d access reviews for 5 requests, want 1 and 1", tok, acc)
		}
		h.clock.Step(59 * time.Second)
		h.do("/activate", "Bearer gateway-token")
		if tok, acc := h.fake.calls(); tok != 1 || acc != 1 {
			t.Errorf("after 59s: %d and %d reviews, want still 1 and 1", tok, acc)
		}
		h.clock.Step(time.Second)
		h.do("/activate", "Bearer gateway-token")
		if tok, acc := h.fake.calls(); tok != 2 || acc != 2 {
			t.Errorf("after 60s: %d and %d reviews, want 2 and 2", tok, acc)
		}
	})
	t.Run("a refusal is remembered for the negative TTL only", func(t *testing.T) {
		h := newHarness(t)
		h.do("/activate", "Bearer forged")
		h.do("/activate", "Bearer intruder-token")
		h.clock.Step(9 * time.Second)
		h.do("/activate", "Bearer forged")
		h.do("/activate", "Bearer intruder-token")
		if tok, acc := h.fake.calls(); tok != 2 || acc != 1 {
			t.Errorf("within 10s: %d token and %d access reviews, want 2 and 1", tok, acc)
		}
		// The intruder's token is still valid (cached 1 minute); only its
		// access is asked again.
		h.clock.Step(time.Second)
		h.do("/activate", "Bearer forged")
		if w := h.do("/activate", "Bearer intruder-token"); w.Code != 403 {
			t.Errorf("status %d", w.Code)
		}
		if tok, acc := h.fake.calls(); tok != 3 || acc != 2 {
			t.Errorf("after 10s: %d token and %d access reviews, want 3 and 2", tok, acc)
		}
	})
	t.Run("a newly granted account is let in once the refusal expires", func(t *testing.T) {
		h := newHarness(t)
		if w := h.do("/activate", "Bearer intruder-token"); w.Code != 403 {
			t.Fatalf("status %d", w.Code)
		}
		h.fake.mu.Lock()
		h.fake.allowed[otherUser+" create"] = true
		h.fake.mu.Unlock()
		if w := h.do("/activate", "Bearer intruder-token"); w.Code != 403 {
			t.Errorf("within the negative TTL: status %d, want the cached 403", w.Code)
		}
		h.clock.Step(10 * time.Second)
		if w := h.do("/activate", "Bearer intruder-token"); w.Code != 202 {
			t.Errorf("after it: status %d, want 202", w.Code)
		}
	})
	t.Run("errors are not cached", func(t *testing.T) {
		h := newHarness(t)
		h.fake.setErr(errors.New("etcd leader changed"))
		if w := h.do("/activate", "Bearer gateway-token"); w.Code != 503 || w.Header().Get("Retry-After") == "" {
			t.Fatalf("status %d, Retry-After %q", w.Code, w.Header().Get("Retry-After"))
		}
		h.fake.setErr(nil)
		if w := h.do("/activate", "Bearer gateway-token"); w.Code != 202 {
			t.Errorf("after the API recovered: status %d, want 202 at once", w.Code)
		}
		// An error of the access review alone, with the token cached.
		h.clock.Step(time.Minute)
		h.fake.mu.Lock()
		h.fake.accessErr = errors.New("timeout")
		h.fake.mu.Unlock()
		if w := h.do("/activate", "Bearer gateway-token"); w.Code != 503 {
			t.Errorf("access review failing: status %d, want 503", w.Code)
		}
		h.fake.mu.Lock()
		h.fake.accessErr = nil
		h.fake.mu.Unlock()
		if w := h.do("/activate", "Bearer gateway-token"); w.Code != 202 {
			t.Errorf("after the access review recovered: status %d, want 202", w.Code)
		}
	})
	t.Run("a token is not trusted past its own expiry", func(t *testing.T) {
		h := newHarness(t)
		jwt := fakeJWT(h.clock.Now().Add(20 * time.Second))
		h.fake.tokens[jwt] = h.fake.tokens["gateway-token"]
		h.do("/activate", "Bearer "+jwt)
		h.clock.Step(20 * time.Second)
		h.do("/activate", "Bearer "+jwt)
		if tok, _ := h.fake.calls(); tok != 2 {
			t.Errorf("%d token reviews, want 2: the cache outlived the token", tok)
		}
	})
}

func fakeJWT(exp time.Time) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"RS256"}`)) + "." + enc([]byte(fmt.Sprintf(`{"exp":%d}`, exp.Unix()))) + ".c2ln"
}

func TestCachesAreBounded(t *testing.T) {
	fake := newFake()
	for i := range 50 {
		fake.tokens[fmt.Sprint("t", i)] = fake.tokens["gateway-token"]
	}
	a, err := New(Options{Audience: AutoscalerAudience, Reviewer: fake, MaxEntries: 8})
	if err != nil {
		t.Fatal(err)
	}
	h := a.Handler(http.NotFoundHandler(), rule)
	for i := range 50 {
		req := httptest.NewRequest(http.MethodPost, "/activate", nil)
		req.Header.Set("Authorization", fmt.Sprint("Bearer t", i))
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
	if n := a.tokens.len(); n != 8 {
		t.Errorf("%d cached tokens, want the bound 8", n)
	}
}

// Many requests with a token not yet cached cost one review.
func TestConcurrentMissesShareOneReview(t *testing.T) {
	h := newHarness(t)
	block := make(chan struct{})
	slow := &blockingReviewer{Reviewer: h.fake, block: block}
	auth, err := New(Options{Audience: AutoscalerAudience, Reviewer: slow})
	if err != nil {
		t.Fatal(err)
	}
	handler := auth.Handler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusAccepted) }), rule)
	var wg sync.WaitGroup
	codes := make(chan int, 20)
	for range 20 {
		wg.Go(func() {
			req := httptest.NewRequest(http.MethodPost, "/activate", nil)
			req.Header.Set("Authorization", "Bearer gateway-token")
			w := httptest.NewRecorder()
			handler.ServeHTTP(w, req)
			codes <- w.Code
		})
	}
	slow.waitEntered()
	close(block)
	wg.Wait()
	close(codes)
	for c := range codes {
		if c != 202 {
			t.Errorf("status %d", c)
		}
	}
	if tok, _ := h.fake.calls(); tok > 2 {
		t.Errorf("%d token reviews for 20 concurrent requests", tok)
	}
}

type blockingReviewer struct {
	Reviewer
	block   chan struct{}
	once    sync.Once
	entered chan struct{}
	mu      sync.Mutex
}

func (b *blockingReviewer) waitEntered() {
	b.mu.Lock()
	if b.entered == nil {
		b.entered = make(chan struct{})
	}
	ch := b.entered
	b.mu.Unlock()
	<-ch
}

func (b *blockingReviewer) ReviewToken(ctx context.Context, spec authenticationv1.TokenReviewSpec) (authenticationv1.TokenReviewStatus, error) {
	b.mu.Lock()
	if b.entered == nil {
		b.entered = make(chan struct{})
	}
	ch := b.entered
	b.mu.Unlock()
	b.once.Do(func() { close(ch) })
	<-b.block
	return b.Reviewer.ReviewToken(ctx, spec)
}

func TestRefusalLogsAreRateLimited(t *testing.T) {
	h := newHarness(t)
	for range 5 {
		h.do("/activate")
	}
	if n := strings.Count(h.logs.all(), "Refused"); n != 1 {
		t.Errorf("%d log lines for 5 refusals within the interval, want 1", n)
	}
	h.clock.Step(10 * time.Second)
	h.do("/activate")
	if logs := h.logs.all(); strings.Count(logs, "Refused") != 2 || !strings.Contains(logs, `"suppressed"=4`) {
		t.Errorf("after the interval, logs:\n%s\nwant a second line counting 4 suppressed", logs)
	}
	// Another reason from the same client is its own line.
	h.do("/activate", "Bearer intruder-token")
	if n := strings.Count(h.logs.all(), "Refused"); n != 3 {
		t.Errorf("%d lines, want 3", n)
	}
}

func TestNewNeedsAudienceAndReviewer(t *testing.T) {
	if _, err := New(Options{Reviewer: newFake()}); err == nil || !strings.Contains(err.Error(), "Audience") {
		t.Errorf("without an audience: %v", err)
	}
	if _, err := New(Options{Audience: GatewayAudience}); err == nil || !strings.Contains(err.Error(), "Reviewer") {
		t.Errorf("without a reviewer: %v", err)
	}
}

func TestDescribe(t *testing.T) {
	tests := map[string]struct {
		attrs authorizationv1.ResourceAttributes
		want  string
	}{
		"one object": {*activate, "create serving.ramp.dev revisions/activate default/web-00001"},
		"all namespaces": {authorizationv1.ResourceAttributes{Verb: "list", Group: Group, Resource: Routes, Subresource: SubresourceHashes},
			"list serving.ramp.dev routes/hashes (all namespaces)"},
		"a namespace": {authorizationv1.ResourceAttributes{Verb: "list", Group: Group, Resource: Revisions, Namespace: "a"},
			"list serving.ramp.dev revisions in namespace a"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := describe(tc.attrs); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}
