package dashboard

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rolloutsv1alpha1 "github.com/rampdev/ramp/apis/rollouts/v1alpha1"
	servingv1 "github.com/rampdev/ramp/apis/serving/v1"
	autoscaling "github.com/rampdev/ramp/controllers/autoscaler"
	"github.com/rampdev/ramp/test/framework"
)

const ns = "shop"

func scheme(t *testing.T) *runtime.Scheme {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, servingv1.AddToScheme, rolloutsv1alpha1.AddToScheme} {
		if err := add(s); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// env is an envtest API server with Ramp's CRDs, an admin client and a
// client of user bob, who may read Rollouts in ns but not patch them.
type env struct {
	admin, bob client.WithWatch
}

func startEnv(t *testing.T) *env {
	root, err := framework.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	sc := scheme(t)
	e := framework.StartEnvtest(t, sc, filepath.Join(root, "charts", "ramp", "templates", "crds"))
	admin, err := client.NewWithWatch(e.Config, client.Options{Scheme: sc})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	must(t, admin.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))
	must(t, admin.Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "viewer"}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{"rollouts.ramp.dev"}, Resources: []string{"rollouts"}, Verbs: []string{"get", "list", "watch"}},
	}}))
	must(t, admin.Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "bob"},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "viewer"},
		Subjects: []rbacv1.Subject{{APIGroup: "rbac.authorization.k8s.io", Kind: "User", Name: "bob"}}}))
	cfg := rest.CopyConfig(e.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: "bob"}
	bob, err := client.NewWithWatch(cfg, client.Options{Scheme: sc})
	if err != nil {
		t.Fatal(err)
	}
	return &env{admin: admin, bob: bob}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// progressing creates a Rollout at step 2 of 3 (20%) with one passing look.
func progressing(t *testing.T, c client.Client, name string) *rolloutsv1alpha1.Rollout {
	t.Helper()
	ctx := context.Background()
	ro := &rolloutsv1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: rolloutsv1alpha1.RolloutSpec{
		Template: servingv1.RevisionTemplateSpec{Spec: servingv1.RevisionSpec{Containers: []servingv1.Container{{Image: "ramp/sampleapp:v2"}}}},
		Strategy: rolloutsv1alpha1.Strategy{Canary: &rolloutsv1alpha1.CanaryStrategy{Steps: []rolloutsv1alpha1.CanaryStep{
			{Weight: ptr.To[int32](5)}, {Weight: ptr.To[int32](20), Pause: &metav1.Duration{Duration: time.Minute}}, {Approval: &rolloutsv1alpha1.Approval{}},
		}}},
	}}
	must(t, c.Create(ctx, ro))
	ro.Status = rolloutsv1alpha1.RolloutStatus{Phase: rolloutsv1alpha1.PhaseProgressing, StableRevision: name + "-00001",
		CanaryRevision: name + "-00002", CurrentStepIndex: ptr.To[int32](1), CanaryWeight: 20,
		Measurements: []rolloutsv1alpha1.Measurement{{Time: metav1.Now(), Phase: "Pass", Step: ptr.To[int32](1), Metrics: []rolloutsv1alpha1.MetricResult{{
			Name: "error-rate", Phase: "Pass", Canary: "0.90%", Stable: "1.00%",
			Message: "canary 9/1000 <script>x</script>, stable 40/4000; difference -0.10 pts, interval [-0.6, +0.5] within margin 1 pts; e 212 / 100",
		}}}}}
	must(t, c.Status().Update(ctx, ro))
	return ro
}

// telemetry answers every revision with 100 requests, the canaries' with
// 2 errors.
func telemetry(_ context.Context, namespace, revision string, window time.Duration) (autoscaling.Telemetry, error) {
	t := autoscaling.Telemetry{Namespace: namespace, Revision: revision, WindowSeconds: window.Seconds(), Requests: 100,
		RequestRate: 10, P50Seconds: 0.02, P90Seconds: 0.04, P99Seconds: 0.08}
	if strings.HasSuffix(revision, "-00002") {
		t.Errors5xx, t.ErrorRate = 2, 0.02
	}
	return t, nil
}

// serve runs a store and a server for c until the test ends.
func serve(t *testing.T, c client.WithWatch, actor string) (*Server, *httptest.Server) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	st := NewStore(c, telemetry, ns, true, 200*time.Millisecond, time.Now)
	go st.Run(ctx)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	srv, err := New(Options{Client: c, Store: st, Actor: actor, ActionWait: 3 * time.Second}, ln.Addr())
	must(t, err)
	hs := httptest.NewUnstartedServer(srv.Handler())
	hs.Listener = ln
	hs.Start()
	t.Cleanup(func() { hs.Close(); cancel() })
	return srv, hs
}

func getJSON(t *testing.T, url string, v any) int {
	t.Helper()
	resp, err := http.Get(url)
	must(t, err)
	defer resp.Body.Close()
	if v != nil {
		must(t, json.NewDecoder(resp.Body).Decode(v))
	}
	return resp.StatusCode
}

func eventually(t *testing.T, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func postAction(t *testing.T, hs *httptest.Server, srv *Server, name string, body string, mutate func(*http.Request)) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, hs.URL+"/api/rollouts/"+ns+"/"+name+"/actions", strings.NewReader(body))
	must(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(CSRFHeader, srv.csrf)
	if mutate != nil {
		mutate(req)
	}
	resp, err := http.DefaultClient.Do(req)
	must(t, err)
	defer resp.Body.Close()
	out := map[string]any{}
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func TestDashboard(t *testing.T) {
	e := startEnv(t)
	progressing(t, e.admin, "web")
	srv, hs := serve(t, e.admin, "alice")

	t.Run("the list", func(t *testing.T) {
		var l List
		eventually(t, "the list to hold web", func() bool {
			l = List{}
			return getJSON(t, hs.URL+"/api/rollouts", &l) == 200 && len(l.Rollouts) == 1
		})
		r := l.Rollouts[0]
		if l.Scope != "all namespaces" || r.Name != "web" || r.Phase != "Progressing" || r.Step != "2/4" || r.Weight != 20 ||
			r.Canary != "web-00002" || r.Stable != "web-00001" || r.Verdict == nil || r.Verdict.Phase != "Pass" {
			t.Errorf("list = %+v, rollout %+v", l, r)
		}
	})

	t.Run("a rollout's page", func(t *testing.T) {
		var d Detail
		eventually(t, "telemetry points", func() bool {
			d = Detail{}
			return getJSON(t, hs.URL+"/api/rollouts/"+ns+"/web", &d) == 200 && len(d.Points) >= 2
		})
		var states []string
		for _, s := range d.Steps {
			states = append(states, s.Label+"="+s.State)
		}
		if got, want := strings.Join(states, ", "), "5%=done, 20%, then pause 1m0s=current, approval=todo, 100%: promote=todo"; got != want {
			t.Errorf("steps %q, want %q", got, want)
		}
		p := d.Points[len(d.Points)-1]
		if p.Canary == nil || p.Stable == nil || p.Canary.ErrorRate != 0.02 || p.Stable.P90 != 40 {
			t.Errorf("last point %+v", p)
		}
		if len(d.Looks) != 1 || !strings.Contains(d.Looks[0].Metrics[0].Evidence, "interval [-0.6, +0.5]") {
			t.Errorf("looks %+v", d.Looks)
		}
		if n := d.Charts["errors"].Points["canary"]; n < 2 {
			t.Errorf("the error chart plots %d canary points", n)
		}
		svg := d.Charts["errors"].SVG
		if strings.Contains(svg, "<script>") || !strings.Contains(svg, "&lt;script&gt;") || !strings.Contains(svg, `class="look look-Pass"`) {
			t.Errorf("the error chart's look marker is missing or unescaped: %s", svg)
		}
		for _, a := range d.Actions {
			if want := a.Name != rolloutsv1alpha1.ActionRetry; a.Enabled != want {
				t.Errorf("action %s enabled %v (%s), want %v", a.Name, a.Enabled, a.Reason, want)
			}
		}
		if code := getJSON(t, hs.URL+"/api/rollouts/"+ns+"/nope", nil); code != 404 {
			t.Errorf("an unknown rollout: %d, want 404", code)
		}
	})

	t.Run("live updates", func(t *testing.T) {
		resp, err := http.Get(hs.URL + "/api/stream") //nolint:bodyclose // closed by the deferred body.Close below
		if err != nil {
			t.Fatal(err)
		}
		body := resp.Body
		defer func() { _ = body.Close() }()
		if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
			t.Fatalf("content type %q", ct)
		}
		events := make(chan List, 16)
		go func() {
			sc := bufio.NewScanner(body)
			sc.Buffer(make([]byte, 1<<20), 1<<20)
			for sc.Scan() {
				if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
					var l List
					if json.Unmarshal([]byte(data), &l) == nil {
						events <- l
					}
				}
			}
			close(events)
		}()
		first := <-events
		if len(first.Rollouts) == 0 {
			t.Fatalf("first event %+v", first)
		}
		progressing(t, e.admin, "api")
		deadline := time.After(10 * time.Second)
		for {
			select {
			case l := <-events:
				if len(l.Rollouts) == 2 {
					return
				}
			case <-deadline:
				t.Fatal("no event listed the new rollout")
			}
		}
	})

	t.Run("actions are idempotent", func(t *testing.T) {
		// A stand-in for the controller: it records each new action id.
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() {
			for ctx.Err() == nil {
				ro := &rolloutsv1alpha1.Rollout{}
				if e.admin.Get(ctx, client.ObjectKey{Namespace: ns, Name: "web"}, ro) == nil {
					id := ro.Annotations[rolloutsv1alpha1.AnnotationActionID]
					if id != "" && (ro.Status.LastAction == nil || ro.Status.LastAction.ID != id) {
						ro.Status.LastAction = &rolloutsv1alpha1.ActionRecord{ID: id, Action: ro.Annotations[rolloutsv1alpha1.AnnotationAction],
							By: ro.Annotations[rolloutsv1alpha1.AnnotationActionBy], Time: metav1.Now(), Result: "promoted: the canary gets all the traffic"}
						_ = e.admin.Status().Update(ctx, ro)
					}
				}
				time.Sleep(50 * time.Millisecond)
			}
		}()
		body := `{"action":"promote","id":"abcdefghijklmnop"}`
		code, out := postAction(t, hs, srv, "web", body, nil)
		if code != 200 || out["requested"] != true || out["applied"] != true || out["result"] != "promoted: the canary gets all the traffic" {
			t.Fatalf("first request: %d %v", code, out)
		}
		code, out = postAction(t, hs, srv, "web", body, nil)
		if code != 200 || out["requested"] != false || out["applied"] != true {
			t.Fatalf("the same request again: %d %v", code, out)
		}
		ro := &rolloutsv1alpha1.Rollout{}
		must(t, e.admin.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "web"}, ro))
		if by := ro.Annotations[rolloutsv1alpha1.AnnotationActionBy]; by != "alice (dashboard)" {
			t.Errorf("action-by %q", by)
		}
	})

	t.Run("bad and cross-site actions are refused", func(t *testing.T) {
		cases := map[string]struct {
			body   string
			mutate func(*http.Request)
			code   int
			want   string
		}{
			"no CSRF token":      {`{"action":"abort","id":"abcdefghijklmnoq"}`, func(r *http.Request) { r.Header.Del(CSRFHeader) }, 403, "CSRF"},
			"a wrong CSRF token": {`{"action":"abort","id":"abcdefghijklmnoq"}`, func(r *http.Request) { r.Header.Set(CSRFHeader, "x") }, 403, "CSRF"},
			"a form post":        {`action=abort`, func(r *http.Request) { r.Header.Set("Content-Type", "application/x-www-form-urlencoded") }, 403, "application/json"},
			"another site":       {`{"action":"abort","id":"abcdefghijklmnoq"}`, func(r *http.Request) { r.Header.Set("Sec-Fetch-Site", "cross-site") }, 403, "cross-site"},
			"another origin":     {`{"action":"abort","id":"abcdefghijklmnoq"}`, func(r *http.Request) { r.Header.Set("Origin", "http://evil.example") }, 403, "origin"},
			"an unknown action":  {`{"action":"delete","id":"abcdefghijklmnoq"}`, nil, 400, "must be one of promote, abort, retry, approve"},
			"a bad id":           {`{"action":"abort","id":"../x"}`, nil, 400, "id:"},
			"an unknown field":   {`{"action":"abort","id":"abcdefghijklmnoq","x":1}`, nil, 400, "unknown field"},
			"a body over 4 KiB":  {`{"action":"abort","id":"` + strings.Repeat("a", 5000) + `"}`, nil, 400, "too large"},
			"an unknown rollout": {`{"action":"abort","id":"abcdefghijklmnoq"}`, nil, 0, ""},
			"a rebinding Host":   {`{"action":"abort","id":"abcdefghijklmnoq"}`, func(r *http.Request) { r.Host = "evil.example:3100" }, 421, "unexpected Host"},
		}
		for name, tc := range cases {
			t.Run(name, func(t *testing.T) {
				target := "web"
				if tc.code == 0 {
					target, tc.code, tc.want = "nope", 404, "not found"
				}
				code, out := postAction(t, hs, srv, target, tc.body, tc.mutate)
				msg, _ := out["error"].(string)
				if code != tc.code || (tc.code != 421 && !strings.Contains(msg, tc.want)) {
					t.Errorf("got %d %v, want %d with %q", code, out, tc.code, tc.want)
				}
			})
		}
	})

	t.Run("RBAC denies bob the actions", func(t *testing.T) {
		bsrv, bhs := serve(t, e.bob, "bob")
		var d Detail
		eventually(t, "bob's view of web", func() bool {
			d = Detail{}
			return getJSON(t, bhs.URL+"/api/rollouts/"+ns+"/web", &d) == 200
		})
		for _, a := range d.Actions {
			if a.Enabled || !strings.Contains(a.Reason, "bob may not patch rollouts.rollouts.ramp.dev web in namespace shop") {
				t.Errorf("action %s for bob: enabled %v, reason %q", a.Name, a.Enabled, a.Reason)
			}
		}
		var l List
		getJSON(t, bhs.URL+"/api/rollouts", &l)
		if !strings.Contains(l.Scope, "namespace shop (you may not list Rollouts in every namespace)") {
			t.Errorf("bob's scope %q", l.Scope)
		}
		code, out := postAction(t, bhs, bsrv, "web", `{"action":"abort","id":"abcdefghijklmnor"}`, nil)
		if code != 403 || !strings.Contains(out["error"].(string), "may not patch") {
			t.Errorf("bob's abort: %d %v", code, out)
		}
	})
}

func TestPageIsStrictAndSmall(t *testing.T) {
	st := NewStore(nil, nil, ns, true, time.Second, time.Now)
	srv, err := New(Options{Client: fakeWatchClient{}, Store: st}, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 3100})
	must(t, err)
	h := srv.Handler()
	get := func(host, path string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodGet, "http://"+host+path, nil)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	w := get("127.0.0.1:3100", "/")
	if w.Code != 200 || w.Header().Get("Content-Security-Policy") != contentSecurityPolicy || w.Header().Get("X-Frame-Options") != "DENY" {
		t.Fatalf("page: %d %v", w.Code, w.Header())
	}
	page := w.Body.String()
	if !strings.Contains(page, `<meta name="ramp-csrf" content="`+srv.csrf+`">`) {
		t.Error("the page lacks its CSRF token")
	}
	if regexp.MustCompile(`<script(?:\s[^>]*)?>[^<]+</script>|\son[a-z]+=`).MatchString(page) {
		t.Error("the page has an inline script or handler, which the CSP forbids")
	}
	if w := get("localhost:3100", "/static/app.js"); w.Code != 200 || !strings.Contains(w.Header().Get("Content-Type"), "javascript") {
		t.Errorf("app.js: %d %q", w.Code, w.Header().Get("Content-Type"))
	}
	if w := get("evil.example:3100", "/"); w.Code != http.StatusMisdirectedRequest {
		t.Errorf("a rebinding Host: %d, want 421", w.Code)
	}
	if w := get("127.0.0.1:3100", "/static/index.html"); w.Code != 404 {
		t.Errorf("assets other than app.js and app.css: %d, want 404", w.Code)
	}
	total := 0
	must(t, fs.WalkDir(assets, "assets", func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := fs.ReadFile(assets, path)
			total += len(b)
		}
		return err
	}))
	if total > 300<<10 {
		t.Errorf("the page weighs %d bytes, over 300 KB", total)
	}
	t.Logf("page weight %d bytes", total)
}

func TestCheckAddress(t *testing.T) {
	for addr, wantErr := range map[string]bool{"127.0.0.1:3100": false, "localhost:3100": false, "[::1]:3100": false,
		"0.0.0.0:3100": true, ":3100": true, "10.0.0.1:3100": true, "nonsense": true} {
		if err := CheckAddress(addr, false); (err != nil) != wantErr {
			t.Errorf("CheckAddress(%q) = %v, want error %v", addr, err, wantErr)
		}
	}
	if err := CheckAddress("0.0.0.0:3100", true); err != nil {
		t.Errorf("behind a proxy: %v", err)
	}
	st := NewStore(nil, nil, ns, true, time.Second, time.Now)
	srv, err := New(Options{Client: fakeWatchClient{}, Store: st, ProxySecret: "0123456789abcdef"}, &net.TCPAddr{Port: 3100})
	must(t, err)
	for secret, want := range map[string]int{"": 401, "wrong": 401, "0123456789abcdef": 200} {
		r := httptest.NewRequest(http.MethodGet, "http://dash.example/healthz", nil)
		r.Header.Set(ProxySecretHeader, secret)
		w := httptest.NewRecorder()
		srv.Handler().ServeHTTP(w, r)
		if w.Code != want {
			b, _ := io.ReadAll(w.Body)
			t.Errorf("proxy secret %q: %d %s, want %d", secret, w.Code, b, want)
		}
	}
}

// fakeWatchClient stands for a client in tests that never reach the API.
type fakeWatchClient struct{ client.WithWatch }
