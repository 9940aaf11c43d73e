// Package dashboard serves `ramp dashboard`: a web view of every Rollout
// the user may list, with the steps as a timeline, canary-against-stable
// error rate and latency over time, each analysis look and its evidence,
// the events and the revisions with their pods, updated live over
// server-sent events, and the Promote, Approve, Abort and Retry actions.
//
// It acts with the user's own kubeconfig, so Kubernetes RBAC decides what
// they see and do. It serves loopback only, unless an authenticating proxy
// stands in front of it (ProxySecret). Assets are embedded; pages carry a
// strict Content-Security-Policy, actions need a CSRF token and a
// same-origin request, and every user-provided string is escaped.
package dashboard

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/fields"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rolloutsv1alpha1 "github.com/rampdev/ramp/apis/rollouts/v1alpha1"
	servingv1 "github.com/rampdev/ramp/apis/serving/v1"
	"github.com/rampdev/ramp/cmd/internal/rolloutaction"
)

//go:embed assets
var assets embed.FS

// Limits of the server.
const (
	// DefaultAddress is where the dashboard listens by default.
	DefaultAddress = "127.0.0.1:3100"
	// maxStreams bounds the live-update streams served at once.
	maxStreams = 64
	// minUpdateGap is the least time between two updates of a stream.
	minUpdateGap = 500 * time.Millisecond
	// heartbeat keeps idle streams open through proxies.
	heartbeat = 15 * time.Second
	// maxActionBody bounds an action request's body.
	maxActionBody = 4 << 10
	// sideTTL is how long events, revisions and pods read for a page are
	// reused; accessTTL the same for an RBAC answer.
	sideTTL   = 3 * time.Second
	accessTTL = 30 * time.Second
	// CSRFHeader carries the page's token on every action.
	CSRFHeader = "X-Ramp-CSRF"
	// ProxySecretHeader carries the proxy's shared secret.
	ProxySecretHeader = "X-Ramp-Proxy-Secret"
)

// contentSecurityPolicy allows the page's own script, style and API, and
// nothing else: no inline script, no other origin, no framing.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Options configure a Server.
type Options struct {
	// Client reads and patches with the user's rights.
	Client client.WithWatch
	// Store follows the Rollouts; the caller runs it.
	Store *Store
	// Actor is who actions are recorded as requested by (the kubeconfig
	// user); " (dashboard)" is added.
	Actor string
	// ProxySecret, when set, is required in ProxySecretHeader on every
	// request: an authenticating proxy in front adds it. ProxyUserHeader
	// then names the header holding the authenticated user, who is
	// recorded as the requester of actions.
	ProxySecret     string
	ProxyUserHeader string
	// ActionWait bounds the wait for the controller's result of an action
	// (default 10 s).
	ActionWait time.Duration
	// Now is the clock.
	Now func() time.Time
}

// Server is the dashboard's HTTP handler.
type Server struct {
	o       Options
	csrf    string
	index   *template.Template
	static  fs.FS
	streams atomic.Int32
	// hosts are the Host headers accepted (DNS rebinding); nil accepts
	// any (behind a proxy).
	hosts map[string]bool

	mu     sync.Mutex
	side   map[client.ObjectKey]sideData
	access map[client.ObjectKey]accessData
}

type sideData struct {
	at        time.Time
	events    []EventRow
	revisions []RevisionRow
	notes     []string
}

type accessData struct {
	at      time.Time
	allowed bool
	reason  string
}

// CheckAddress refuses a non-loopback address unless the dashboard is
// authenticated by a proxy: it acts with the user's credentials.
func CheckAddress(addr string, proxied bool) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--address %q: %w", addr, err)
	}
	ip := net.ParseIP(host)
	if host == "localhost" || (ip != nil && ip.IsLoopback()) || proxied {
		return nil
	}
	return fmt.Errorf("--address %s is not a loopback address: the dashboard acts with your kubeconfig's rights, so it serves "+
		"other hosts only behind an authenticating proxy (--proxy-secret-file; see docs/dashboard.md)", addr)
}

// New returns a Server that accepts the Host headers of addr (the
// address it listens on) when no proxy is configured.
func New(o Options, addr net.Addr) (*Server, error) {
	if o.Client == nil || o.Store == nil {
		return nil, errors.New("dashboard: a client and a store are required")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.ActionWait <= 0 {
		o.ActionWait = 10 * time.Second
	}
	if o.ProxySecret != "" && o.ProxyUserHeader == "" {
		o.ProxyUserHeader = "X-Forwarded-User"
	}
	tok := make([]byte, 32)
	if _, err := rand.Read(tok); err != nil {
		return nil, err
	}
	index, err := template.ParseFS(assets, "assets/index.html")
	if err != nil {
		return nil, err
	}
	static, err := fs.Sub(assets, "assets")
	if err != nil {
		return nil, err
	}
	s := &Server{o: o, csrf: base64.RawURLEncoding.EncodeToString(tok), index: index, static: static,
		side: map[client.ObjectKey]sideData{}, access: map[client.ObjectKey]accessData{}}
	if o.ProxySecret == "" {
		_, port, err := net.SplitHostPort(addr.String())
		if err != nil {
			return nil, err
		}
		s.hosts = map[string]bool{}
		for _, h := range []string{"127.0.0.1", "localhost", "[::1]"} {
			s.hosts[h+":"+port] = true
		}
		if host, _, _ := net.SplitHostPort(addr.String()); host != "" {
			s.hosts[net.JoinHostPort(host, port)] = true
		}
	}
	return s, nil
}

// Serve serves on ln until ctx ends, then shuts down.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		return nil
	}
}

// Handler routes the pages, the assets and the API.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.page)
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.HandlerFunc(s.asset)))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	mux.HandleFunc("GET /api/rollouts", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, s.list()) })
	mux.HandleFunc("GET /api/rollouts/{namespace}/{name}", s.detailHandler)
	mux.HandleFunc("GET /api/stream", s.stream)
	mux.HandleFunc("POST /api/rollouts/{namespace}/{name}/actions", s.action)
	return s.guard(mux)
}

// guard sets the security headers and checks the Host header (DNS
// rebinding) or the proxy's secret.
func (s *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		switch {
		case s.o.ProxySecret != "":
			if subtle.ConstantTimeCompare([]byte(r.Header.Get(ProxySecretHeader)), []byte(s.o.ProxySecret)) != 1 {
				http.Error(w, "missing or wrong "+ProxySecretHeader+": the dashboard serves only through its authenticating proxy", http.StatusUnauthorized)
				return
			}
		case !s.hosts[r.Host]:
			http.Error(w, fmt.Sprintf("unexpected Host %q: open the dashboard at its loopback address", r.Host), http.StatusMisdirectedRequest)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) page(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_ = s.index.Execute(w, map[string]string{"CSRF": s.csrf})
}

func (s *Server) asset(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Path
	if name != "app.js" && name != "app.css" {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Cache-Control", "no-cache")
	http.ServeFileFS(w, r, s.static, name)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// apiError is the API's error body.
type apiError struct {
	Error string `json:"error"`
}

func (s *Server) list() List {
	sn := s.o.Store.snapshot(nil)
	now := s.o.Now()
	l := List{Scope: sn.scope, Error: sn.err, Synced: sn.synced, Rollouts: make([]Summary, 0, len(sn.entries))}
	for _, e := range sn.entries {
		l.Rollouts = append(l.Rollouts, summarize(e, now))
	}
	return l
}

func (s *Server) detailHandler(w http.ResponseWriter, r *http.Request) {
	key := client.ObjectKey{Namespace: r.PathValue("namespace"), Name: r.PathValue("name")}
	d, ok := s.detail(r.Context(), key)
	if !ok {
		writeJSON(w, http.StatusNotFound, apiError{Error: fmt.Sprintf("no rollout %s in namespace %s (or you may not list it)", key.Name, key.Namespace)})
		return
	}
	writeJSON(w, http.StatusOK, d)
}

// detail builds a Rollout page's data; false when the store has no such
// Rollout.
func (s *Server) detail(ctx context.Context, key client.ObjectKey) (*Detail, bool) {
	sn := s.o.Store.snapshot(&key)
	if len(sn.entries) == 0 {
		return nil, false
	}
	e := sn.entries[0]
	now := s.o.Now()
	d := &Detail{Summary: summarize(e, now), Steps: timeline(e.ro), Windows: windowsOf(e.ro),
		Points: e.points, Weights: e.weights, Looks: looksOf(e.looks), LastAction: lastActionOf(e.ro)}
	if d.Points == nil {
		d.Points = []Point{}
	}
	if d.Weights == nil {
		d.Weights = []WeightPoint{}
	}
	side := s.sideData(ctx, e.ro)
	d.Events, d.Revisions, d.Notes = side.events, side.revisions, side.notes
	if e.telErr != "" {
		d.Notes = append(d.Notes, e.telErr)
	}
	allowed, reason := s.mayPatch(ctx, key)
	d.Actions = actionsFor(e.ro, allowed, reason)
	d.Charts = charts(d, now)
	return d, true
}

// sideData reads the Rollout's events, revisions and pods, at most every
// sideTTL.
func (s *Server) sideData(ctx context.Context, ro *rolloutsv1alpha1.Rollout) sideData {
	key := client.ObjectKeyFromObject(ro)
	now := s.o.Now()
	s.mu.Lock()
	d, ok := s.side[key]
	s.mu.Unlock()
	if ok && now.Sub(d.at) < sideTTL {
		return d
	}
	d = sideData{at: now, events: []EventRow{}, revisions: []RevisionRow{}}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var evs corev1.EventList
	if err := s.o.Client.List(ctx, &evs, client.InNamespace(ro.Namespace), client.MatchingFieldsSelector{
		Selector: fields.SelectorFromSet(fields.Set{"involvedObject.kind": "Rollout", "involvedObject.name": ro.Name}),
	}); err != nil {
		d.notes = append(d.notes, "events: "+readError(err))
	}
	for _, ev := range evs.Items {
		t := ev.LastTimestamp.Time
		if t.IsZero() {
			t = ev.EventTime.Time
		}
		if t.IsZero() {
			t = ev.CreationTimestamp.Time
		}
		d.events = append(d.events, EventRow{Time: t.UnixMilli(), Type: ev.Type, Reason: ev.Reason, Message: ev.Message, Count: max(ev.Count, 1)})
	}
	sortEvents(d.events)
	var revs servingv1.RevisionList
	if err := s.o.Client.List(ctx, &revs, client.InNamespace(ro.Namespace), client.MatchingLabels{servingv1.LabelConfiguration: ro.Name}); err != nil {
		d.notes = append(d.notes, "revisions: "+readError(err))
	}
	var pods corev1.PodList
	if err := s.o.Client.List(ctx, &pods, client.InNamespace(ro.Namespace), client.MatchingLabels{servingv1.LabelConfiguration: ro.Name}); err != nil {
		d.notes = append(d.notes, "pods: "+readError(err))
	}
	percent := map[string]int64{}
	var route servingv1.Route
	if err := s.o.Client.Get(ctx, key, &route); err == nil {
		for _, t := range route.Status.Traffic {
			percent[t.RevisionName] += t.PercentOf() // a tag-only target adds 0
		}
	}
	for _, rev := range revs.Items {
		row := RevisionRow{Name: rev.Name, Ready: "Unknown", Created: rev.CreationTimestamp.UnixMilli(), Pods: []PodRow{}}
		switch rev.Name {
		case ro.Status.CanaryRevision:
			row.Role = "canary"
		case ro.Status.StableRevision:
			row.Role = "stable"
		}
		for _, c := range rev.Status.Conditions {
			if c.Type == "Ready" {
				row.Ready = string(c.Status)
			}
		}
		if p, ok := percent[rev.Name]; ok {
			row.Percent = &p
		}
		for _, p := range pods.Items {
			if p.Labels[servingv1.LabelRevision] != rev.Name {
				continue
			}
			pr := PodRow{Name: p.Name, Phase: string(p.Status.Phase)}
			for _, c := range p.Status.Conditions {
				if c.Type == corev1.PodReady {
					pr.Ready = c.Status == corev1.ConditionTrue
				}
			}
			for _, cs := range p.Status.ContainerStatuses {
				pr.Restarts += cs.RestartCount
			}
			row.Pods = append(row.Pods, pr)
		}
		d.revisions = append(d.revisions, row)
	}
	sortRevisions(d.revisions)
	s.mu.Lock()
	s.side[key] = d
	s.mu.Unlock()
	return d
}

func readError(err error) string {
	if apierrors.IsForbidden(err) {
		return "you may not read them (Kubernetes RBAC)"
	}
	return err.Error()
}

// mayPatch asks the API server whether the user may patch the Rollout,
// at most every accessTTL.
func (s *Server) mayPatch(ctx context.Context, key client.ObjectKey) (bool, string) {
	now := s.o.Now()
	s.mu.Lock()
	a, ok := s.access[key]
	s.mu.Unlock()
	if ok && now.Sub(a.at) < accessTTL {
		return a.allowed, a.reason
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	review := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
		ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: key.Namespace, Verb: "patch",
			Group: rolloutsv1alpha1.GroupVersion.Group, Resource: "rollouts", Name: key.Name},
	}}
	a = accessData{at: now}
	who := "you"
	if s.o.Actor != "" {
		who = s.o.Actor
	}
	switch err := s.o.Client.Create(ctx, review); {
	case err != nil:
		a.reason = "cannot check your rights to patch this rollout: " + err.Error()
		a.at = time.Time{} // ask again next time
	case !review.Status.Allowed:
		a.reason = fmt.Sprintf("%s may not patch rollouts.rollouts.ramp.dev %s in namespace %s (Kubernetes RBAC): the actions are annotations on the Rollout",
			who, key.Name, key.Namespace)
	default:
		a.allowed = true
	}
	s.mu.Lock()
	s.access[key] = a
	s.mu.Unlock()
	return a.allowed, a.reason
}

// stream sends the list (no rollout parameter) or a Rollout's page data
// as server-sent events whenever it changes, at most every minUpdateGap.
func (s *Server) stream(w http.ResponseWriter, r *http.Request) {
	if s.streams.Add(1) > maxStreams {
		s.streams.Add(-1)
		w.Header().Set("Retry-After", "5")
		http.Error(w, "too many live views open", http.StatusServiceUnavailable)
		return
	}
	defer s.streams.Add(-1)
	var key *client.ObjectKey
	if v := r.URL.Query().Get("rollout"); v != "" {
		ns, name, ok := strings.Cut(v, "/")
		if !ok || ns == "" || name == "" {
			writeJSON(w, http.StatusBadRequest, apiError{Error: "rollout must be NAMESPACE/NAME"})
			return
		}
		key = &client.ObjectKey{Namespace: ns, Name: name}
	}
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	send := func(event string, v any) bool {
		b, err := json.Marshal(v)
		if err != nil {
			return false
		}
		_ = rc.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if _, err := io.WriteString(w, "retry: 2000\n\n"); err != nil {
		return
	}
	ctx := r.Context()
	for {
		changed, _ := s.o.Store.Changed()
		var ok bool
		if key == nil {
			ok = send("list", s.list())
		} else if d, found := s.detail(ctx, *key); found {
			ok = send("detail", d)
		} else {
			ok = send("gone", apiError{Error: fmt.Sprintf("no rollout %s in namespace %s (or you may not list it)", key.Name, key.Namespace)})
		}
		if !ok {
			return
		}
		beat := time.NewTimer(heartbeat)
		select {
		case <-ctx.Done():
			beat.Stop()
			return
		case <-changed:
		case <-beat.C:
		}
		beat.Stop()
		select {
		case <-ctx.Done():
			return
		case <-time.After(minUpdateGap):
		}
	}
}

// ActionRequest is the body of an action: the action and an id the page
// made when the confirmation opened, so that a request sent twice acts
// once.
type ActionRequest struct {
	Action string `json:"action"`
	ID     string `json:"id"`
}

// ActionResponse says what became of an action.
type ActionResponse struct {
	ID     string `json:"id"`
	Action string `json:"action"`
	// Requested is false when the annotations already held this id (the
	// request was sent again).
	Requested bool `json:"requested"`
	// Pending: the controller has not recorded a result yet.
	Pending bool `json:"pending"`
	// Result is the controller's, as in status.lastAction.
	Result  string `json:"result,omitempty"`
	Applied bool   `json:"applied"`
}

func (s *Server) action(w http.ResponseWriter, r *http.Request) {
	if err := s.checkSameOrigin(r); err != nil {
		writeJSON(w, http.StatusForbidden, apiError{Error: err.Error()})
		return
	}
	var req ActionRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxActionBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeJSON(w, http.StatusBadRequest, apiError{Error: "the body must be {\"action\": ..., \"id\": ...}: " + err.Error()})
		return
	}
	if !validAction(req.Action) {
		writeJSON(w, http.StatusBadRequest, apiError{Error: fmt.Sprintf("action %q: must be one of %s", req.Action, strings.Join(rolloutaction.Names, ", "))})
		return
	}
	if !rolloutaction.ValidID(req.ID) {
		writeJSON(w, http.StatusBadRequest, apiError{Error: "id: must be 16 to 32 characters of a-z and 2-7"})
		return
	}
	by := s.o.Actor
	if s.o.ProxySecret != "" {
		if by = r.Header.Get(s.o.ProxyUserHeader); by == "" {
			writeJSON(w, http.StatusUnauthorized, apiError{Error: "the proxy sent no " + s.o.ProxyUserHeader + ": actions need an authenticated user"})
			return
		}
	}
	if by != "" {
		by += " (dashboard)"
	}
	key := client.ObjectKey{Namespace: r.PathValue("namespace"), Name: r.PathValue("name")}
	ctx := r.Context()
	if s.o.ProxySecret == "" {
		// With the user's own credentials the API server decides below;
		// asking first gives a clear answer.
		s.mu.Lock()
		delete(s.access, key)
		s.mu.Unlock()
		if ok, reason := s.mayPatch(ctx, key); !ok {
			writeJSON(w, http.StatusForbidden, apiError{Error: reason})
			return
		}
	}
	ro := &rolloutsv1alpha1.Rollout{}
	if err := s.o.Client.Get(ctx, key, ro); err != nil {
		code := http.StatusBadGateway
		if apierrors.IsNotFound(err) {
			code = http.StatusNotFound
		}
		writeJSON(w, code, apiError{Error: err.Error()})
		return
	}
	resp := ActionResponse{ID: req.ID, Action: req.Action}
	sent := ro.Annotations[rolloutsv1alpha1.AnnotationActionID] == req.ID
	if !sent {
		if err := rolloutaction.Request(ctx, s.o.Client, key, req.Action, req.ID, by); err != nil {
			code := http.StatusBadGateway
			if apierrors.IsForbidden(err) {
				code = http.StatusForbidden
			}
			writeJSON(w, code, apiError{Error: err.Error()})
			return
		}
		resp.Requested = true
	}
	rec := s.waitAction(ctx, key, req.ID)
	if rec == nil {
		resp.Pending = true
	} else {
		resp.Result = rec.Result
		resp.Applied = !strings.HasPrefix(rec.Result, "ignored") && !strings.HasPrefix(rec.Result, "rejected")
	}
	writeJSON(w, http.StatusOK, resp)
}

func validAction(a string) bool {
	for _, n := range rolloutaction.Names {
		if a == n {
			return true
		}
	}
	return false
}

// checkSameOrigin refuses a cross-site action: it needs the page's CSRF
// token, a JSON body and, when the browser says, the same origin.
func (s *Server) checkSameOrigin(r *http.Request) error {
	if subtle.ConstantTimeCompare([]byte(r.Header.Get(CSRFHeader)), []byte(s.csrf)) != 1 {
		return errors.New("missing or wrong " + CSRFHeader + " token: reload the dashboard page")
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		return errors.New("an action's body must be application/json")
	}
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" {
		return fmt.Errorf("a %s request may not act (Sec-Fetch-Site)", site)
	}
	if o := r.Header.Get("Origin"); o != "" && o != "http://"+r.Host && o != "https://"+r.Host {
		return fmt.Errorf("origin %s may not act", o)
	}
	return nil
}

// waitAction waits, up to ActionWait, for the controller to record the
// action id in status.lastAction.
func (s *Server) waitAction(ctx context.Context, key client.ObjectKey, id string) *rolloutsv1alpha1.ActionRecord {
	ctx, cancel := context.WithTimeout(ctx, s.o.ActionWait)
	defer cancel()
	for {
		changed, _ := s.o.Store.Changed()
		sn := s.o.Store.snapshot(&key)
		if len(sn.entries) == 1 {
			if a := sn.entries[0].ro.Status.LastAction; a != nil && a.ID == id {
				return a.DeepCopy()
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		}
	}
}
