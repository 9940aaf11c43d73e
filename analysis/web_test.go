package analysis

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// webServer is a 127.0.0.1 test server that records the requests it gets
// and answers with handle.
type webServer struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []recordedRequest
}

type recordedRequest struct {
	Method, Path, Query, Body string
	Header                    http.Header
}

func newWebServer(t *testing.T, handle http.HandlerFunc) *webServer {
	t.Helper()
	s := &webServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		s.mu.Lock()
		s.reqs = append(s.reqs, recordedRequest{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Body: string(b), Header: r.Header.Clone()})
		s.mu.Unlock()
		handle(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *webServer) requests() []recordedRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]recordedRequest(nil), s.reqs...)
}

// answer writes a JSON body.
func answer(body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, body)
	}
}

var (
	webCanary = Target{Namespace: "shop", Revision: "web-00002"}
	webStable = Target{Namespace: "shop", Revision: "web-00001", Tag: "stable"}
)

func webQuery(req *WebRequest) Query {
	return Query{Metric: Metric{Name: "checkout-ok", Provider: WebProvider, Web: req}, Canary: webCanary, Stable: webStable,
		Window: time.Minute, Now: time.Unix(1_800_000_000, 0)}
}

func TestWebMeasuresEachSide(t *testing.T) {
	// Given a server that answers with a number that depends on the
	// revision asked about.
	srv := newWebServer(t, func(w http.ResponseWriter, r *http.Request) {
		v := map[string]string{"web-00002": "0.9", "web-00001": "0.95"}[r.URL.Query().Get("rev")]
		answer(`{"data":{"ok":`+v+`}}`)(w, r)
	})
	req := &WebRequest{
		URL: srv.URL + "/api/ok?ns={{.Namespace}}&rev={{.Revision}}",
		Headers: []WebHeader{
			{Name: "X-Tag", Value: "tag={{.Tag}}"},
			{Name: "Authorization", Secret: &WebSecret{Name: "api", Key: "token", Value: "Bearer s3cret", Loaded: true}},
		},
		JSONPath: "$.data.ok",
	}

	// When the metric is measured.
	m, err := NewWeb().Measure(context.Background(), webQuery(req))
	if err != nil {
		t.Fatal(err)
	}

	// Then each side has its own value, from a request rendered for it.
	want := Measurement{Canary: Value{Value: 0.9, Requests: -1, Valid: true}, Stable: Value{Value: 0.95, Requests: -1, Valid: true}}
	if d := cmp.Diff(want, m); d != "" {
		t.Errorf("measurement (-want +got):\n%s", d)
	}
	reqs := srv.requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want one per side", len(reqs))
	}
	got := map[string]string{}
	for _, r := range reqs {
		if r.Method != http.MethodGet || r.Path != "/api/ok" {
			t.Errorf("request %s %s, want GET /api/ok", r.Method, r.Path)
		}
		if a := r.Header.Get("Authorization"); a != "Bearer s3cret" {
			t.Errorf("Authorization %q, want the Secret's value", a)
		}
		if a := r.Header.Get("Accept"); a != "application/json" {
			t.Errorf("Accept %q, want application/json", a)
		}
		got[r.Query] = r.Header.Get("X-Tag")
	}
	wantQ := map[string]string{"ns=shop&rev=web-00002": "tag=", "ns=shop&rev=web-00001": "tag=stable"}
	if d := cmp.Diff(wantQ, got); d != "" {
		t.Errorf("query -> X-Tag (-want +got):\n%s", d)
	}
}

func TestWebWithoutVariablesMeasuresOnce(t *testing.T) {
	srv := newWebServer(t, answer(`{"ok": true}`))
	m, err := NewWeb().Measure(context.Background(), webQuery(&WebRequest{URL: srv.URL + "/health", JSONPath: "{$.ok}"}))
	if err != nil {
		t.Fatal(err)
	}
	want := Measurement{Canary: Value{Value: 1, Requests: -1, Valid: true}, Stable: Value{Requests: -1}}
	if d := cmp.Diff(want, m); d != "" {
		t.Errorf("measurement (-want +got):\n%s", d)
	}
	if n := len(srv.requests()); n != 1 {
		t.Errorf("%d requests, want 1: the same request measures one value", n)
	}
}

func TestWebWithoutStableMeasuresTheCanary(t *testing.T) {
	srv := newWebServer(t, answer(`{"v": "42"}`))
	q := webQuery(&WebRequest{URL: srv.URL + "/m/{{.Revision}}", JSONPath: "$.v"})
	q.Stable = Target{}
	m, err := NewWeb().Measure(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	if !m.Canary.Valid || m.Canary.Value != 42 || m.Stable.Valid {
		t.Errorf("measurement %+v, want canary 42 and no stable", m)
	}
	if reqs := srv.requests(); len(reqs) != 1 || reqs[0].Path != "/m/web-00002" {
		t.Errorf("requests %+v, want the canary's only", reqs)
	}
}

func TestWebPost(t *testing.T) {
	srv := newWebServer(t, answer(`{"score": 3}`))
	for name, tc := range map[string]struct {
		headers []WebHeader
		wantCT  string
	}{
		"default content type": {wantCT: "application/json"},
		"its own content type": {headers: []WebHeader{{Name: "content-type", Value: "application/x-ndjson"}}, wantCT: "application/x-ndjson"},
	} {
		t.Run(name, func(t *testing.T) {
			before := len(srv.requests())
			req := &WebRequest{URL: srv.URL + "/score", Method: "POST", Body: `{"revision":"{{.Revision}}"}`, Headers: tc.headers, JSONPath: "$.score"}
			q := webQuery(req)
			q.Stable = Target{}
			if _, err := NewWeb().Measure(context.Background(), q); err != nil {
				t.Fatal(err)
			}
			reqs := srv.requests()[before:]
			if len(reqs) != 1 {
				t.Fatalf("%d requests, want 1", len(reqs))
			}
			r := reqs[0]
			if r.Method != http.MethodPost || r.Body != `{"revision":"web-00002"}` || r.Header.Get("Content-Type") != tc.wantCT {
				t.Errorf("request %s body %q Content-Type %q, want POST {\"revision\":\"web-00002\"} %s",
					r.Method, r.Body, r.Header.Get("Content-Type"), tc.wantCT)
			}
		})
	}
}

// TestWebErrors: every answer the provider cannot read a number from is an
// error naming the URL without its secrets and the reason, never a value.
func TestWebErrors(t *testing.T) {
	big := `{"v": 1, "pad": "` + strings.Repeat("x", 2000) + `"}`
	srv := newWebServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/500":
			http.Error(w, `{"error":"boom"}`, http.StatusInternalServerError)
		case "/404":
			http.NotFound(w, r)
		case "/html":
			w.Header().Set("Content-Type", "text/html")
			_, _ = io.WriteString(w, "<html>sign in</html>")
		case "/big":
			_, _ = io.WriteString(w, big) // with a Content-Length
		case "/big-chunked":
			for range 4 {
				_, _ = io.WriteString(w, big[:len(big)/4+1])
				w.(http.Flusher).Flush() // no Content-Length
			}
		default:
			answer(`{"data": {"ok": null, "name": "fast", "list": []}}`)(w, r)
		}
	})
	base := strings.Replace(srv.URL, "http://", "http://user:pa55@", 1)
	for name, tc := range map[string]struct{ path, jsonPath, want string }{
		"5xx":             {"/500", "$.v", "answered 500 Internal Server Error, want 2xx"},
		"4xx":             {"/404", "$.v", "answered 404 Not Found, want 2xx"},
		"not json":        {"/html", "$.v", `the answer (Content-Type "text/html") is not JSON`},
		"over the limit":  {"/big", "$.v", fmt.Sprintf("the answer is %d bytes, over the 1 KiB limit", len(big))},
		"chunked, over":   {"/big-chunked", "$.v", "the answer is over the 1 KiB limit"},
		"no such field":   {"/ok", "$.data.missing", `json path $.data.missing: $.data has no field "missing"`},
		"null":            {"/ok", "$.data.ok", "json path $.data.ok: the value is null: want a number"},
		"not a number":    {"/ok", "$.data.name", `the string "fast" is not a number`},
		"index past end":  {"/ok", "$.data.list[0]", "$.data.list has 0 elements, no [0]"},
		"bad path":        {"/ok", "$.data[*]", "want an array index or a quoted key"},
		"connection gone": {"/closed", "$.v", "connection refused"},
	} {
		t.Run(name, func(t *testing.T) {
			u := base + tc.path + "?token=t0ps3cret&rev={{.Revision}}"
			if tc.path == "/closed" {
				u = "http://user:pa55@127.0.0.1:1/x?token=t0ps3cret&rev={{.Revision}}"
			}
			w := &Web{Client: NewWebClient(), MaxBody: 1 << 10}
			m, err := w.Measure(context.Background(), webQuery(&WebRequest{URL: u, JSONPath: tc.jsonPath}))
			if err == nil {
				t.Fatalf("measured %+v, want an error saying %q", m, tc.want)
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.want) {
				t.Errorf("error %q, want it to say %q", msg, tc.want)
			}
			if strings.Contains(msg, "t0ps3cret") || strings.Contains(msg, "pa55") {
				t.Errorf("error %q shows a secret of the URL", msg)
			}
			if tc.path != "/closed" && tc.jsonPath != "$.data[*]" && !strings.Contains(msg, "canary: GET "+srv.URL+tc.path+"?token=redacted&rev=redacted: ") {
				t.Errorf("error %q, want it to name the side, the method and the redacted URL", msg)
			}
		})
	}
}

func TestWebStableErrorNamesTheStable(t *testing.T) {
	srv := newWebServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("rev") == webStable.Revision {
			http.Error(w, "no", http.StatusServiceUnavailable)
			return
		}
		answer(`{"v": 1}`)(w, r)
	})
	_, err := NewWeb().Measure(context.Background(), webQuery(&WebRequest{URL: srv.URL + "/?rev={{.Revision}}", JSONPath: "$.v"}))
	if err == nil || !strings.HasPrefix(err.Error(), "stable: GET ") || !strings.Contains(err.Error(), "503") {
		t.Errorf("error %v, want the stable's 503", err)
	}
}

// TestWebSecretNotLoaded: a Secret header the controller has not read is
// an error before any request, never a request without its header.
func TestWebSecretNotLoaded(t *testing.T) {
	srv := newWebServer(t, answer(`{"v": 1}`))
	req := &WebRequest{URL: srv.URL, JSONPath: "$.v", Headers: []WebHeader{{Name: "Authorization", Secret: &WebSecret{Name: "api", Key: "token"}}}}
	_, err := NewWeb().Measure(context.Background(), webQuery(req))
	if err == nil || !strings.Contains(err.Error(), "header Authorization: the value of Secret api key token was not read") {
		t.Errorf("error %v, want the unread Secret named", err)
	}
	if n := len(srv.requests()); n != 0 {
		t.Errorf("%d requests sent without the header", n)
	}
	req.Headers[0].Secret = &WebSecret{Name: "api", Key: "token", Value: "a\r\nX-Injected: 1", Loaded: true}
	_, err = NewWeb().Measure(context.Background(), webQuery(req))
	if err == nil || !strings.Contains(err.Error(), "is not a valid header value") || strings.Contains(err.Error(), "Injected") {
		t.Errorf("error %v, want a refused Secret value, not shown", err)
	}
}

// TestWebTimeouts: a server that does not answer within the metric's
// timeout, or before the look ends, is an error saying which.
func TestWebTimeouts(t *testing.T) {
	release := make(chan struct{})
	srv := newWebServer(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	t.Cleanup(func() { close(release) })
	req := &WebRequest{URL: srv.URL + "/slow", JSONPath: "$.v", Timeout: 50 * time.Millisecond}
	_, err := NewWeb().Measure(context.Background(), webQuery(req))
	if err == nil || !strings.Contains(err.Error(), "GET "+srv.URL+"/slow: no answer within the timeout (50ms)") {
		t.Errorf("error %v, want the metric's timeout", err)
	}

	req.Timeout = MaxWebTimeout
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = NewWeb().Measure(ctx, webQuery(req))
	if err == nil || !strings.Contains(err.Error(), "the look ended before the answer") {
		t.Errorf("error %v, want the look's end", err)
	}
}

func TestWebRedirects(t *testing.T) {
	other := newWebServer(t, answer(`{"v": 9}`))
	srv := newWebServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/moved":
			http.Redirect(w, r, "/here", http.StatusFound)
		case "/loop":
			http.Redirect(w, r, "/loop", http.StatusFound)
		case "/away":
			http.Redirect(w, r, other.URL+"/steal", http.StatusFound)
		default:
			answer(`{"v": 2}`)(w, r)
		}
	})
	for name, tc := range map[string]struct {
		path, wantErr string
		want          float64
	}{
		"same host":    {path: "/moved", want: 2},
		"too many":     {path: "/loop", wantErr: "stopped after 3 redirects"},
		"another host": {path: "/away", wantErr: "refused a redirect to another host"},
	} {
		t.Run(name, func(t *testing.T) {
			req := &WebRequest{URL: srv.URL + tc.path, JSONPath: "$.v", Headers: []WebHeader{{Name: "X-Api-Key", Value: "k"}}}
			m, err := NewWeb().Measure(context.Background(), webQuery(req))
			switch {
			case tc.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("error %v, want %q", err, tc.wantErr)
				}
			case err != nil:
				t.Errorf("error %v", err)
			case m.Canary.Value != tc.want:
				t.Errorf("canary %v, want %v", m.Canary.Value, tc.want)
			}
		})
	}
	if n := len(other.requests()); n != 0 {
		t.Errorf("the other host got %d requests, want none", n)
	}
}

func TestCheckWeb(t *testing.T) {
	good := func(mutate func(*WebRequest)) *WebRequest {
		r := &WebRequest{URL: "http://metrics.shop/api?rev={{.Revision}}", JSONPath: "$.v"}
		mutate(r)
		return r
	}
	if err := CheckWeb(good(func(*WebRequest) {})); err != nil {
		t.Errorf("CheckWeb(good): %v", err)
	}
	for name, tc := range map[string]struct {
		req  *WebRequest
		want string
	}{
		"none":            {nil, "a web metric needs its request"},
		"ftp":             {good(func(r *WebRequest) { r.URL = "ftp://metrics.shop/x" }), "want an http:// or https:// URL"},
		"no host":         {good(func(r *WebRequest) { r.URL = "http:///x" }), "has no host"},
		"relative":        {good(func(r *WebRequest) { r.URL = "/api" }), "want an http:// or https:// URL"},
		"bad template":    {good(func(r *WebRequest) { r.URL = "http://x/{{.Revision" }), "url template"},
		"unknown var":     {good(func(r *WebRequest) { r.URL = "http://x/{{.Window}}" }), "variables: .Namespace .Revision .Tag"},
		"method":          {good(func(r *WebRequest) { r.Method = "DELETE" }), `method "DELETE": want GET or POST`},
		"body with GET":   {good(func(r *WebRequest) { r.Body = "{}" }), "a body is sent only with method POST"},
		"timeout":         {good(func(r *WebRequest) { r.Timeout = 2 * time.Minute }), "want a positive duration of at most 1m0s"},
		"path":            {good(func(r *WebRequest) { r.JSONPath = "$..v" }), "json path"},
		"header name":     {good(func(r *WebRequest) { r.Headers = []WebHeader{{Name: "Bad Name", Value: "x"}} }), "not a valid HTTP header name"},
		"host header":     {good(func(r *WebRequest) { r.Headers = []WebHeader{{Name: "host", Value: "x"}} }), "header host may not be set: set the host in url"},
		"twice":           {good(func(r *WebRequest) { r.Headers = []WebHeader{{Name: "X-A", Value: "1"}, {Name: "x-a", Value: "2"}} }), "header x-a is set twice"},
		"header newline":  {good(func(r *WebRequest) { r.Headers = []WebHeader{{Name: "X-A", Value: "a\nb"}} }), "not a valid header value"},
		"header template": {good(func(r *WebRequest) { r.Headers = []WebHeader{{Name: "X-A", Value: "{{.Nope}}"}} }), "header X-A template"},
	} {
		err := CheckWeb(tc.req)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: CheckWeb error %v, want it to say %q", name, err, tc.want)
		}
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://metrics.shop/api/v1":                      "http://metrics.shop/api/v1",
		"https://u:p@metrics.shop:8443/a?key=s&rev=r#top": "https://metrics.shop:8443/a?key=redacted&rev=redacted",
		"http://u@x/":           "http://x/",
		"http://u:p@x":          "http://x",
		"http://x/%zz?flag&k=v": "http://x/%zz?flag&k=redacted",
		"http://x/{{.Revision}}?rev={{ .Revision }}": "http://x/{{.Revision}}?rev=redacted",
		"http://x/a@b?t=1":                           "http://x/a@b?t=redacted",
	} {
		if got := RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestEvaluateWebMetric: a web metric is judged on its thresholds, and a
// failed request is an Error result naming the metric and the URL.
func TestEvaluateWebMetric(t *testing.T) {
	value := "0.97"
	var mu sync.Mutex
	srv := newWebServer(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if value == "" {
			http.Error(w, "down", http.StatusBadGateway)
			return
		}
		answer(`{"data":{"ok":`+value+`}}`)(w, r)
	})
	set := func(v string) {
		mu.Lock()
		defer mu.Unlock()
		value = v
	}
	minOK := 0.95
	spec := Spec{Canary: webCanary, Stable: webStable, Window: time.Minute, MinRequests: 50, Metrics: []Metric{{
		Name: "checkout-ok", Provider: WebProvider, Thresholds: Thresholds{Min: &minOK},
		Web: &WebRequest{URL: srv.URL + "/ok", JSONPath: "$.data.ok"},
	}}}
	providers := Providers{WebProvider: NewWeb()}
	now := time.Unix(1_800_000_000, 0)
	for _, tc := range []struct {
		value     string
		wantPhase Phase
		wantMsg   string
	}{
		{"0.97", Pass, "checkout-ok: canary 0.97 within min 0.95 (no stable)"},
		{"0.9", Fail, "checkout-ok: canary 0.9 < min 0.95 (no stable)"},
		{"", Error, "checkout-ok: measuring: GET " + srv.URL + "/ok: answered 502 Bad Gateway, want 2xx"},
	} {
		set(tc.value)
		rep := Evaluate(context.Background(), providers, spec, now)
		if rep.Phase != tc.wantPhase || rep.Message != tc.wantMsg {
			t.Errorf("value %q: %s %q, want %s %q", tc.value, rep.Phase, rep.Message, tc.wantPhase, tc.wantMsg)
		}
	}

	// A web metric on another provider is an invalid analysis.
	spec.Metrics[0].Provider = PrometheusProvider
	if rep := Evaluate(context.Background(), providers, spec, now); rep.Phase != Error ||
		!strings.Contains(rep.Message, `a web metric is measured by the web provider, not "prometheus"`) {
		t.Errorf("web metric on prometheus: %s %q", rep.Phase, rep.Message)
	}
}
