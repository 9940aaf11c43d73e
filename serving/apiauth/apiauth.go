// Package apiauth authenticates and authorizes the callers of Ramp's
// internal HTTP APIs (the autoscaler's activation and telemetry API on the
// controller, the gateway's admin endpoint of route hashes) the way the
// Kubernetes API server's delegated authentication does:
//
//   - the caller sends a Kubernetes ServiceAccount token scoped to the API's
//     audience (AutoscalerAudience, GatewayAudience) as a bearer token, in
//     the chart a pod-bound projected token the kubelet rotates;
//   - a TokenReview with spec.audiences set checks it (a token for the API
//     server's own audience, or for another Ramp API, is refused);
//   - a SubjectAccessReview on the endpoint's resource attributes (for
//     example create serving.ramp.dev revisions/activate in the revision's
//     namespace) authorizes the account, so RBAC decides who may call what.
//
// Both answers are cached, in bounded caches with short lifetimes; an
// error of the API server is never cached and never lets a request
// through. Unauthenticated requests get 401 with WWW-Authenticate,
// unauthorized ones 403, and both are logged without the token, at most
// once per client and reason every LogInterval.
package apiauth

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"golang.org/x/sync/singleflight"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/utils/clock"
)

// Audiences of Ramp's internal APIs. A token minted for one is refused by
// the others and by the Kubernetes API server.
const (
	// AutoscalerAudience is the controller's autoscaler API (activation,
	// telemetry).
	AutoscalerAudience = "autoscaler.ramp.dev"
	// GatewayAudience is the gateway's admin API (route hashes).
	GatewayAudience = "gateway.ramp.dev"
)

// Resource attributes the internal APIs authorize with SubjectAccessReview.
// None of them is a real API resource: RBAC rules name them like any
// subresource (resources: [revisions/activate]).
const (
	Group = "serving.ramp.dev"
	// Revisions/SubresourceActivate, verb create: scale a revision from zero.
	Revisions           = "revisions"
	SubresourceActivate = "activate"
	// Revisions/SubresourceTelemetry, verb get (one revision) or list (all):
	// read the autoscaler's telemetry.
	SubresourceTelemetry = "telemetry"
	// Routes/SubresourceHashes, verb list: read a gateway's applied routing
	// table hashes.
	Routes            = "routes"
	SubresourceHashes = "hashes"
)

// Access is what a request needs of its caller.
type Access struct {
	// Public endpoints (probes, metrics) need nothing.
	Public bool
	// Attributes the caller must be allowed, namespace and name included;
	// nil on a non-public request means there is no such endpoint: an
	// authenticated caller gets 404.
	Attributes *authorizationv1.ResourceAttributes
}

// Rule tells what a request needs; it must not read the body.
type Rule func(*http.Request) Access

// Reviewer asks the Kubernetes API server who a token belongs to and what
// an account may do.
type Reviewer interface {
	ReviewToken(ctx context.Context, spec authenticationv1.TokenReviewSpec) (authenticationv1.TokenReviewStatus, error)
	ReviewAccess(ctx context.Context, spec authorizationv1.SubjectAccessReviewSpec) (authorizationv1.SubjectAccessReviewStatus, error)
}

// Options configure an Authenticator.
type Options struct {
	// Audience the tokens must be scoped to (required).
	Audience string
	// Reviewer runs TokenReviews and SubjectAccessReviews (required).
	Reviewer Reviewer
	// Clock expires cached answers (default the real clock).
	Clock clock.PassiveClock
	// Log receives refusals and review errors (default discard).
	Log logr.Logger
	// PositiveTTL is how long a valid token or an allowed access is
	// trusted without asking again (default 1 minute; a token's own
	// expiry, when sooner, wins); NegativeTTL how long a refusal is
	// (default 10 seconds). Errors are never cached.
	PositiveTTL, NegativeTTL time.Duration
	// MaxEntries bounds each of the two caches (default 4096).
	MaxEntries int
	// ReviewTimeout bounds one review call (default 5 seconds).
	ReviewTimeout time.Duration
	// LogInterval: at most one log line per client and reason in it
	// (default 10 seconds); the line counts the ones left out.
	LogInterval time.Duration
}

// Authenticator is an http.Handler middleware that lets only authorized
// ServiceAccounts through. It is safe for concurrent use.
type Authenticator struct {
	o       Options
	tokens  *ttlCache[[sha256.Size]byte, tokenAnswer]
	access  *ttlCache[string, accessAnswer]
	flights singleflight.Group
	logs    *logLimiter
}

type tokenAnswer struct {
	user   authenticationv1.UserInfo
	ok     bool
	reason string // why not ok
}

type accessAnswer struct {
	allowed bool
	reason  string
}

// Sentinel errors of the reviews.
var (
	// ErrUnavailable: the API server could not answer a review; the
	// request is refused with 503 and nothing is cached.
	ErrUnavailable = errors.New("cannot review the caller's credentials")
)

// New returns an Authenticator, or an error naming the missing option.
func New(o Options) (*Authenticator, error) {
	if o.Audience == "" {
		return nil, errors.New("apiauth: Options.Audience is required")
	}
	if o.Reviewer == nil {
		return nil, errors.New("apiauth: Options.Reviewer is required")
	}
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	if o.Log.GetSink() == nil {
		o.Log = logr.Discard()
	}
	if o.PositiveTTL <= 0 {
		o.PositiveTTL = time.Minute
	}
	if o.NegativeTTL <= 0 {
		o.NegativeTTL = 10 * time.Second
	}
	if o.MaxEntries <= 0 {
		o.MaxEntries = 4096
	}
	if o.ReviewTimeout <= 0 {
		o.ReviewTimeout = 5 * time.Second
	}
	if o.LogInterval <= 0 {
		o.LogInterval = 10 * time.Second
	}
	return &Authenticator{
		o:      o,
		tokens: newTTLCache[[sha256.Size]byte, tokenAnswer](o.MaxEntries),
		access: newTTLCache[string, accessAnswer](o.MaxEntries),
		logs:   newLogLimiter(o.Clock, o.LogInterval, 1024),
	}, nil
}

// Handler serves next to the callers rule allows, and refuses the others.
func (a *Authenticator) Handler(next http.Handler, rule Rule) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		acc := rule(r)
		if acc.Public {
			next.ServeHTTP(w, r)
			return
		}
		token, err := bearerToken(r.Header)
		if err != nil {
			a.unauthenticated(w, r, err.Error(), r.Header.Get("Authorization") != "")
			return
		}
		user, err := a.authenticate(r.Context(), token)
		var refused *refusal
		switch {
		case errors.As(err, &refused):
			a.unauthenticated(w, r, refused.reason, true)
			return
		case err != nil:
			a.unavailable(w, r, err)
			return
		}
		if acc.Attributes == nil {
			http.NotFound(w, r)
			return
		}
		err = a.authorize(r.Context(), user, *acc.Attributes)
		switch {
		case errors.As(err, &refused):
			a.forbidden(w, r, user, *acc.Attributes, refused.reason)
			return
		case err != nil:
			a.unavailable(w, r, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// refusal is a review's no, as opposed to an error.
type refusal struct{ reason string }

func (r *refusal) Error() string { return r.reason }

// bearerToken reads "Authorization: Bearer <token>".
func bearerToken(h http.Header) (string, error) {
	values := h.Values("Authorization")
	switch {
	case len(values) == 0:
		return "", errors.New("no bearer token")
	case len(values) > 1:
		return "", errors.New("malformed Authorization header: more than one")
	}
	scheme, token, ok := strings.Cut(values[0], " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" || strings.ContainsAny(token, " \t") {
		return "", errors.New("malformed Authorization header: want Bearer <token>")
	}
	return token, nil
}

// authenticate returns the token's user, from the cache or a TokenReview.
func (a *Authenticator) authenticate(ctx context.Context, token string) (authenticationv1.UserInfo, error) {
	key := sha256.Sum256([]byte(token))
	if ans, ok := a.tokens.get(key, a.o.Clock.Now()); ok {
		return ans.user, ans.error()
	}
	v, err, _ := a.flights.Do("t"+string(key[:]), func() (any, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.o.ReviewTimeout)
		defer cancel()
		st, err := a.o.Reviewer.ReviewToken(ctx, authenticationv1.TokenReviewSpec{Token: token, Audiences: []string{a.o.Audience}})
		if err != nil {
			return nil, fmt.Errorf("%w: TokenReview: %w", ErrUnavailable, err)
		}
		now := a.o.Clock.Now()
		var ans tokenAnswer
		switch {
		case !st.Authenticated:
			ans.reason = "invalid token"
			if st.Error != "" {
				ans.reason += ": " + st.Error
			}
		case !slices.Contains(st.Audiences, a.o.Audience):
			ans.reason = fmt.Sprintf("token not valid for audience %s", a.o.Audience)
		default:
			ans = tokenAnswer{user: st.User, ok: true}
		}
		expires := now.Add(a.o.NegativeTTL)
		if ans.ok {
			expires = now.Add(a.o.PositiveTTL)
			if exp, ok := tokenExpiry(token); ok && exp.Before(expires) {
				expires = exp
			}
		}
		a.tokens.set(key, ans, expires)
		return ans, nil
	})
	if err != nil {
		return authenticationv1.UserInfo{}, err
	}
	ans := v.(tokenAnswer)
	return ans.user, ans.error()
}

func (t tokenAnswer) error() error {
	if t.ok {
		return nil
	}
	return &refusal{t.reason}
}

// authorize asks, or remembers, whether user may do attrs.
func (a *Authenticator) authorize(ctx context.Context, user authenticationv1.UserInfo, attrs authorizationv1.ResourceAttributes) error {
	key := accessKey(user, attrs)
	if ans, ok := a.access.get(key, a.o.Clock.Now()); ok {
		return ans.error()
	}
	v, err, _ := a.flights.Do("a"+key, func() (any, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.o.ReviewTimeout)
		defer cancel()
		spec := authorizationv1.SubjectAccessReviewSpec{
			ResourceAttributes: &attrs, User: user.Username, Groups: user.Groups, UID: user.UID,
		}
		if len(user.Extra) > 0 {
			spec.Extra = make(map[string]authorizationv1.ExtraValue, len(user.Extra))
			for k, v := range user.Extra {
				spec.Extra[k] = authorizationv1.ExtraValue(v)
			}
		}
		st, err := a.o.Reviewer.ReviewAccess(ctx, spec)
		if err != nil {
			return nil, fmt.Errorf("%w: SubjectAccessReview: %w", ErrUnavailable, err)
		}
		now := a.o.Clock.Now()
		ans := accessAnswer{allowed: st.Allowed && !st.Denied}
		expires := now.Add(a.o.PositiveTTL)
		if !ans.allowed {
			ans.reason = st.Reason
			if st.EvaluationError != "" {
				ans.reason = strings.TrimSpace(ans.reason + " (" + st.EvaluationError + ")")
			}
			expires = now.Add(a.o.NegativeTTL)
		}
		a.access.set(key, ans, expires)
		return ans, nil
	})
	if err != nil {
		return err
	}
	return v.(accessAnswer).error()
}

func (a accessAnswer) error() error {
	if a.allowed {
		return nil
	}
	return &refusal{a.reason}
}

// accessKey identifies a user and the attributes asked for.
func accessKey(u authenticationv1.UserInfo, attrs authorizationv1.ResourceAttributes) string {
	b, _ := json.Marshal(struct {
		U authenticationv1.UserInfo
		A authorizationv1.ResourceAttributes
	}{u, attrs})
	sum := sha256.Sum256(b)
	return string(sum[:])
}

// tokenExpiry reads a JWT's exp claim, without checking the token (the
// TokenReview did): it only shortens how long the token is cached.
func tokenExpiry(token string) (time.Time, bool) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return time.Time{}, false
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return time.Time{}, false
	}
	var claims struct {
		Exp int64 `json:"exp"`
	}
	if json.Unmarshal(payload, &claims) != nil || claims.Exp == 0 {
		return time.Time{}, false
	}
	return time.Unix(claims.Exp, 0), true
}

func (a *Authenticator) unauthenticated(w http.ResponseWriter, r *http.Request, reason string, sentToken bool) {
	challenge := fmt.Sprintf("Bearer realm=%q", a.o.Audience)
	if sentToken {
		challenge += `, error="invalid_token"`
	}
	w.Header().Set("WWW-Authenticate", challenge)
	a.logRefusal(r, "unauthenticated", "Refused an unauthenticated request", "reason", reason)
	http.Error(w, fmt.Sprintf("Unauthorized: %s; send a ServiceAccount token for audience %s as Authorization: Bearer <token>",
		reason, a.o.Audience), http.StatusUnauthorized)
}

func (a *Authenticator) forbidden(w http.ResponseWriter, r *http.Request, u authenticationv1.UserInfo, attrs authorizationv1.ResourceAttributes, reason string) {
	what := describe(attrs)
	a.logRefusal(r, "forbidden/"+u.Username, "Refused an unauthorized request", "user", u.Username, "needs", what, "reason", reason)
	http.Error(w, fmt.Sprintf("Forbidden: %s may not %s", u.Username, what), http.StatusForbidden)
}

func (a *Authenticator) unavailable(w http.ResponseWriter, r *http.Request, err error) {
	a.logRefusal(r, "unavailable", "Refused a request: its credentials could not be reviewed", "error", err.Error())
	w.Header().Set("Retry-After", "1")
	http.Error(w, "Service Unavailable: the caller's credentials cannot be reviewed now", http.StatusServiceUnavailable)
}

// describe renders attributes as "create serving.ramp.dev revisions/activate
// default/web-00001".
func describe(a authorizationv1.ResourceAttributes) string {
	res := a.Resource
	if a.Subresource != "" {
		res += "/" + a.Subresource
	}
	s := a.Verb + " " + a.Group + " " + res
	switch {
	case a.Namespace != "" && a.Name != "":
		s += " " + a.Namespace + "/" + a.Name
	case a.Namespace != "":
		s += " in namespace " + a.Namespace
	case a.Name != "":
		s += " " + a.Name
	default:
		s += " (all namespaces)"
	}
	return s
}

func (a *Authenticator) logRefusal(r *http.Request, kind, msg string, kv ...any) {
	client := clientHost(r.RemoteAddr)
	ok, suppressed := a.logs.allow(kind + "|" + client)
	if !ok {
		return
	}
	kv = append(kv, "client", client, "method", r.Method, "path", r.URL.Path)
	if suppressed > 0 {
		kv = append(kv, "suppressed", suppressed)
	}
	a.o.Log.Info(msg, kv...)
}

func clientHost(addr string) string {
	if i := strings.LastIndexByte(addr, ':'); i > 0 && !strings.HasSuffix(addr, "]") {
		return strings.Trim(addr[:i], "[]")
	}
	return addr
}
