package analysis

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Web metric limits.
const (
	// DefaultWebTimeout bounds a web metric's request when it sets none.
	DefaultWebTimeout = 10 * time.Second
	// MaxWebTimeout is the longest timeout a web metric may set.
	MaxWebTimeout = time.Minute
	// DefaultWebMaxBody is the largest answer a web metric reads: a larger
	// one is an error.
	DefaultWebMaxBody = 1 << 20
	// WebMaxRedirects is how many redirects a request follows, all to the
	// same host.
	WebMaxRedirects = 3
)

// WebRequest is the HTTP request of a web metric. URL, Body and each
// header's Value are Go text/templates with the variables .Namespace,
// .Revision and .Tag of the side measured. A request whose templates use
// anything (any {{...}}) is sent once for the canary and once for the
// stable; one that uses nothing is sent once and measures the canary only
// (the stable's Value is not Valid).
type WebRequest struct {
	URL string
	// Method is GET or POST; "" is GET.
	Method  string
	Headers []WebHeader
	// Body is sent with POST only.
	Body string
	// JSONPath is where the number is in the JSON answer (see JSONPath).
	JSONPath string
	// Timeout bounds the request, its answer read; 0 is DefaultWebTimeout.
	Timeout time.Duration
}

// WebHeader is a request header: a Value (a template), or a value kept in
// a Secret, which the caller reads into Secret.Value before measuring.
type WebHeader struct {
	Name  string
	Value string
	// Secret, when set, holds the value instead of Value: it is sent as is
	// (never rendered, never shown). A Secret not Loaded is an error, never
	// a request without its header.
	Secret *WebSecret
}

// WebSecret is a header value kept in a Kubernetes Secret key.
type WebSecret struct {
	Name, Key string
	// Value is the key's value, once Loaded.
	Value  string
	Loaded bool
}

// Web is the provider of web metrics: it sends each metric's request and
// reads the number at its JSONPath from the JSON answer. A JSON number, a
// string holding a number or a boolean (true 1, false 0) is a value; an
// answer that is not 2xx, is larger than MaxBody, is not JSON, or has no
// such value at the path is an error (an Error look, never a pass) naming
// the URL without its user info and query values.
type Web struct {
	// Client sends the requests (NewWebClient's, from NewWeb).
	Client *http.Client
	// MaxBody is the largest answer read; 0 is DefaultWebMaxBody.
	MaxBody int64
}

var _ Provider = (*Web)(nil)

// NewWeb returns a web provider with a bounded client (NewWebClient).
func NewWeb() *Web { return &Web{Client: NewWebClient()} }

// NewWebClient returns the client of the web provider: bounded dial, TLS
// handshake and response header sizes, at most WebMaxRedirects redirects,
// all to the host of the first request (headers may hold secrets) and
// never from https to http. Each request is bounded by its metric's
// timeout, and the client by MaxWebTimeout.
func NewWebClient() *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			Proxy:                  http.ProxyFromEnvironment,
			DialContext:            (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			TLSHandshakeTimeout:    5 * time.Second,
			MaxIdleConns:           16,
			MaxIdleConnsPerHost:    2,
			IdleConnTimeout:        90 * time.Second,
			MaxResponseHeaderBytes: 64 << 10,
			ForceAttemptHTTP2:      true,
		},
		CheckRedirect: checkRedirect,
		Timeout:       MaxWebTimeout,
	}
}

func checkRedirect(req *http.Request, via []*http.Request) error {
	first := via[0].URL
	switch {
	case len(via) > WebMaxRedirects:
		return fmt.Errorf("stopped after %d redirects", WebMaxRedirects)
	case req.URL.Host != first.Host:
		return fmt.Errorf("refused a redirect to another host, %s (headers may hold secrets)", req.URL.Host)
	case first.Scheme == "https" && req.URL.Scheme != "https":
		return errors.New("refused a redirect from https to http")
	}
	return nil
}

// Measure implements Provider. A stable Target without a Revision is not
// measured. Requests is always -1 (unknown).
func (w *Web) Measure(ctx context.Context, q Query) (Measurement, error) {
	if q.Metric.Web == nil {
		return Measurement{}, fmt.Errorf("web provider: metric %q has no web request: %w", q.Metric.Name, ErrUnknownMetric)
	}
	if q.Canary.Revision == "" {
		return Measurement{}, errors.New("web provider: canary has no revision")
	}
	if w.Client == nil {
		return Measurement{}, errors.New("web provider: no HTTP client (use NewWeb)")
	}
	req, err := parseWebRequest(q.Metric.Web)
	if err != nil {
		return Measurement{}, err
	}
	path, err := ParseJSONPath(q.Metric.Web.JSONPath)
	if err != nil {
		return Measurement{}, err
	}
	if !req.perSide {
		v, err := w.measure(ctx, req, path, q.Canary)
		return Measurement{Canary: v, Stable: Value{Requests: -1}}, err
	}
	var m Measurement
	var canaryErr, stableErr error
	var wg sync.WaitGroup
	wg.Go(func() { m.Canary, canaryErr = w.measure(ctx, req, path, q.Canary) })
	m.Stable = Value{Requests: -1}
	if q.Stable.Revision != "" {
		wg.Go(func() { m.Stable, stableErr = w.measure(ctx, req, path, q.Stable) })
	}
	wg.Wait()
	if canaryErr != nil {
		return Measurement{}, fmt.Errorf("canary: %w", canaryErr)
	}
	if stableErr != nil {
		return Measurement{}, fmt.Errorf("stable: %w", stableErr)
	}
	return m, nil
}

// measure sends the request rendered for t and reads its number.
func (w *Web) measure(ctx context.Context, req *webTemplates, path JSONPath, t Target) (Value, error) {
	r, err := req.render(t)
	if err != nil {
		return Value{}, err
	}
	timeout := req.timeout
	reqCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	hr, err := r.httpRequest(reqCtx)
	if err != nil {
		return Value{}, err
	}
	what := r.method + " " + RedactURL(r.url)
	resp, err := w.Client.Do(hr)
	if err != nil {
		return Value{}, fmt.Errorf("%s: %s", what, transportError(ctx, reqCtx, err, timeout))
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // let the connection be reused
		return Value{}, fmt.Errorf("%s: answered %s, want 2xx", what, resp.Status)
	}
	limit := w.MaxBody
	if limit <= 0 {
		limit = DefaultWebMaxBody
	}
	if resp.ContentLength > limit {
		return Value{}, fmt.Errorf("%s: the answer is %d bytes, over the %s limit", what, resp.ContentLength, formatBytes(limit))
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return Value{}, fmt.Errorf("%s: reading the answer: %s", what, transportError(ctx, reqCtx, err, timeout))
	}
	if int64(len(body)) > limit {
		return Value{}, fmt.Errorf("%s: the answer is over the %s limit", what, formatBytes(limit))
	}
	doc, err := decodeJSON(body)
	if err != nil {
		return Value{}, fmt.Errorf("%s: the answer (Content-Type %q) is not JSON: %w", what, resp.Header.Get("Content-Type"), err)
	}
	found, err := path.Find(doc)
	if err != nil {
		return Value{}, fmt.Errorf("%s: json path %s: %w", what, path, err)
	}
	f, err := jsonNumber(found)
	if err != nil {
		return Value{}, fmt.Errorf("%s: json path %s: %w", what, path, err)
	}
	return Value{Value: f, Requests: -1, Valid: true}, nil
}

// transportError explains a failed request or read: the metric's timeout,
// the look's end, or the cause without the URL (which may hold secrets).
func transportError(look, req context.Context, err error, timeout time.Duration) string {
	switch {
	case look.Err() != nil:
		return "the look ended before the answer: " + look.Err().Error()
	case req.Err() != nil || errors.Is(err, context.DeadlineExceeded):
		return fmt.Sprintf("no answer within the timeout (%s)", timeout)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return err.Error()
}

func decodeJSON(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("more than one JSON value")
	}
	return doc, nil
}

func formatBytes(n int64) string {
	if n >= 1<<20 && n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	if n >= 1<<10 && n%(1<<10) == 0 {
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// RedactURL is u for messages: without user info, with every query value
// replaced by "redacted" and without a fragment. It works on the text, so
// that a template shows as written; the path is kept (put secrets in
// headers).
func RedactURL(u string) string {
	u, _, _ = strings.Cut(u, "#")
	u, query, hasQuery := strings.Cut(u, "?")
	if scheme, rest, ok := strings.Cut(u, "://"); ok {
		host, path := rest, ""
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			host, path = rest[:i], rest[i:]
		}
		if i := strings.LastIndexByte(host, '@'); i >= 0 {
			host = host[i+1:]
		}
		u = scheme + "://" + host + path
	}
	if !hasQuery {
		return u
	}
	params := strings.Split(query, "&")
	for i, p := range params {
		if k, _, ok := strings.Cut(p, "="); ok {
			params[i] = k + "=redacted"
		}
	}
	return u + "?" + strings.Join(params, "&")
}
