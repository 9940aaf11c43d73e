package analysis

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"text/template"
	"text/template/parse"
	"time"

	"golang.org/x/net/http/httpguts"
)

// webVars are the variables of a web metric's templates: a Target's
// fields (the type conversion keeps them the same).
type webVars struct {
	Namespace string
	Revision  string
	Tag       string
}

const webVarNames = ".Namespace .Revision .Tag"

// forbiddenHeaders are set by the client, not by a metric.
var forbiddenHeaders = map[string]string{
	"Host":              "set the host in url",
	"Content-Length":    "the client sets it",
	"Transfer-Encoding": "the client sets it",
	"Connection":        "the client sets it",
	"Keep-Alive":        "the client sets it",
	"Proxy-Connection":  "the client sets it",
	"Te":                "the client sets it",
	"Trailer":           "the client sets it",
	"Upgrade":           "the client sets it",
}

// webTemplates is a parsed WebRequest.
type webTemplates struct {
	method  string
	url     *template.Template
	body    *template.Template
	headers []webHeaderTemplate
	timeout time.Duration
	// perSide is true when a template uses anything: the request is then
	// sent for the canary and for the stable.
	perSide bool
}

type webHeaderTemplate struct {
	name   string
	value  *template.Template // nil for a Secret's value
	secret *WebSecret
}

// renderedRequest is a WebRequest rendered for one side.
type renderedRequest struct {
	method, url, body string
	header            http.Header
}

// parseWebRequest parses and checks r's fields (not what they render to).
func parseWebRequest(r *WebRequest) (*webTemplates, error) {
	t := &webTemplates{method: strings.ToUpper(r.Method), timeout: r.Timeout}
	switch t.method {
	case "":
		t.method = http.MethodGet
	case http.MethodGet, http.MethodPost:
	default:
		return nil, fmt.Errorf("method %q: want GET or POST", r.Method)
	}
	if r.Body != "" && t.method != http.MethodPost {
		return nil, errors.New("a body is sent only with method POST")
	}
	switch {
	case t.timeout == 0:
		t.timeout = DefaultWebTimeout
	case t.timeout < 0 || t.timeout > MaxWebTimeout:
		return nil, fmt.Errorf("timeout %s: want a positive duration of at most %s", r.Timeout, MaxWebTimeout)
	}
	var err error
	if t.url, err = parseWebTemplate("url", r.URL); err != nil {
		return nil, err
	}
	if t.body, err = parseWebTemplate("body", r.Body); err != nil {
		return nil, err
	}
	t.perSide = usesActions(t.url) || usesActions(t.body)
	seen := map[string]bool{}
	for _, h := range r.Headers {
		if err := CheckWebHeaderName(h.Name); err != nil {
			return nil, err
		}
		canon := http.CanonicalHeaderKey(h.Name)
		if seen[canon] {
			return nil, fmt.Errorf("header %s is set twice", h.Name)
		}
		seen[canon] = true
		ht := webHeaderTemplate{name: h.Name, secret: h.Secret}
		if h.Secret == nil {
			if ht.value, err = parseWebTemplate("header "+h.Name, h.Value); err != nil {
				return nil, err
			}
			t.perSide = t.perSide || usesActions(ht.value)
		}
		t.headers = append(t.headers, ht)
	}
	return t, nil
}

func parseWebTemplate(what, s string) (*template.Template, error) {
	t, err := template.New(what).Option("missingkey=error").Parse(s)
	if err != nil {
		return nil, fmt.Errorf("%s template: %w", what, err)
	}
	return t, nil
}

// usesActions reports whether a template has anything but text.
func usesActions(t *template.Template) bool {
	if t.Tree == nil || t.Root == nil {
		return false
	}
	for _, n := range t.Root.Nodes {
		if n.Type() != parse.NodeText {
			return true
		}
	}
	return false
}

func execute(t *template.Template, v webVars) (string, error) {
	var b strings.Builder
	if err := t.Execute(&b, v); err != nil {
		return "", fmt.Errorf("%s template (variables: %s): %w", t.Name(), webVarNames, err)
	}
	return b.String(), nil
}

// render renders the request for one side and checks what it renders to.
func (t *webTemplates) render(side Target) (*renderedRequest, error) {
	v := webVars(side)
	r := &renderedRequest{method: t.method, header: http.Header{}}
	var err error
	if r.url, err = execute(t.url, v); err != nil {
		return nil, err
	}
	if err := checkURL(r.url); err != nil {
		return nil, err
	}
	if r.body, err = execute(t.body, v); err != nil {
		return nil, err
	}
	for _, h := range t.headers {
		var value string
		switch {
		case h.secret != nil && !h.secret.Loaded:
			return nil, fmt.Errorf("header %s: the value of Secret %s key %s was not read", h.name, h.secret.Name, h.secret.Key)
		case h.secret != nil:
			value = h.secret.Value
			if !httpguts.ValidHeaderFieldValue(value) {
				return nil, fmt.Errorf("header %s: the value of Secret %s key %s is not a valid header value (control characters or a line break?)",
					h.name, h.secret.Name, h.secret.Key)
			}
		default:
			if value, err = execute(h.value, v); err != nil {
				return nil, err
			}
			if !httpguts.ValidHeaderFieldValue(value) {
				return nil, fmt.Errorf("header %s: the value is not a valid header value (control characters or a line break?)", h.name)
			}
		}
		r.header.Add(h.name, value)
	}
	return r, nil
}

// checkURL checks a rendered URL: http or https, with a host.
func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("url %s does not parse: %w", RedactURL(s), unwrapURLError(err))
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("url %s: want an http:// or https:// URL", RedactURL(s))
	}
	if u.Host == "" {
		return fmt.Errorf("url %s has no host", RedactURL(s))
	}
	return nil
}

func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func (r *renderedRequest) httpRequest(ctx context.Context) (*http.Request, error) {
	var body io.Reader
	if r.method == http.MethodPost {
		body = strings.NewReader(r.body)
	}
	hr, err := http.NewRequestWithContext(ctx, r.method, r.url, body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", r.method, RedactURL(r.url), unwrapURLError(err))
	}
	hr.Header = r.header
	if hr.Header.Get("Accept") == "" {
		hr.Header.Set("Accept", "application/json")
	}
	if hr.Header.Get("User-Agent") == "" {
		hr.Header.Set("User-Agent", "ramp-analysis")
	}
	if r.method == http.MethodPost && hr.Header.Get("Content-Type") == "" {
		hr.Header.Set("Content-Type", "application/json")
	}
	return hr, nil
}

// placeholder is the side a request is checked with.
var placeholder = Target{Namespace: "default", Revision: "app-00001", Tag: "canary"}

// CheckWeb reports whether a web request is usable: a method, a body only
// with POST, a timeout in range, templates that render (for a placeholder
// revision) to an http or https URL and valid header values, header names
// a metric may set, and a JSONPath that parses. Secret values are not
// checked (they are read at each look).
func CheckWeb(r *WebRequest) error {
	if r == nil {
		return fmt.Errorf("%w: a web metric needs its request", ErrUnknownMetric)
	}
	t, err := parseWebRequest(r)
	if err != nil {
		return err
	}
	for i := range t.headers {
		if s := t.headers[i].secret; s != nil && !s.Loaded {
			loaded := *s
			loaded.Loaded = true
			t.headers[i].secret = &loaded
		}
	}
	if _, err := t.render(placeholder); err != nil {
		return err
	}
	if _, err := ParseJSONPath(r.JSONPath); err != nil {
		return err
	}
	return nil
}

// CheckWebURL reports whether a web metric's url template parses and
// renders (for a placeholder revision) to an http or https URL with a
// host.
func CheckWebURL(tmpl string) error {
	t, err := parseWebTemplate("url", tmpl)
	if err != nil {
		return err
	}
	s, err := execute(t, webVars(placeholder))
	if err != nil {
		return err
	}
	return checkURL(s)
}

// CheckWebTemplate reports whether a web metric's body or header value
// template parses and renders; a header value (header true) must render
// to a valid header value.
func CheckWebTemplate(what, tmpl string, header bool) error {
	t, err := parseWebTemplate(what, tmpl)
	if err != nil {
		return err
	}
	s, err := execute(t, webVars(placeholder))
	if err != nil {
		return err
	}
	if header && !httpguts.ValidHeaderFieldValue(s) {
		return fmt.Errorf("%s: the value is not a valid header value (control characters or a line break?)", what)
	}
	return nil
}

// CheckWebHeaderName reports whether a web metric may set a header: a
// valid name that the client does not set itself.
func CheckWebHeaderName(name string) error {
	if !httpguts.ValidHeaderFieldName(name) {
		return fmt.Errorf("header name %q is not a valid HTTP header name", name)
	}
	if why, ok := forbiddenHeaders[http.CanonicalHeaderKey(name)]; ok {
		return fmt.Errorf("header %s may not be set: %s", name, why)
	}
	return nil
}
