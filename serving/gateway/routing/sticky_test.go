package routing

import (
	"encoding/base64"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func stickyRoute(pcts ...int) Route {
	rt := splitRoute("ns", "web", pcts...)
	rt.Sticky = &StickyConfig{MaxAge: 90 * time.Minute}
	return rt
}

// client is a browser: it sends its cookie and keeps the one it is given.
type client struct{ cookie string }

func (c *client) get(t *testing.T, r *Router) Decision {
	t.Helper()
	d := mustPick(t, r, Request{Host: mainHost("ns", "web"), Cookie: c.cookie})
	if ck := StickyCookie(d); ck != nil {
		c.cookie = ck.Value
	}
	return d
}

func TestStickyPageLoad(t *testing.T) {
	r := routerWith(t, nil, nil, stickyRoute(50, 50))
	alice, bob := &client{}, &client{}
	first := alice.get(t, r)
	if first.SetCookie == "" {
		t.Fatal("first request of a sticky route got no cookie")
	}
	for i := range 20 {
		d := alice.get(t, r)
		if d.Revision != first.Revision || d.SetCookie != "" {
			t.Fatalf("request %d: revision %q SetCookie %q, want %q and no cookie", i, d.Revision, d.SetCookie, first.Revision)
		}
	}
	// The 20 sticky requests did not advance the split: the next fresh
	// client gets the other half.
	if d := bob.get(t, r); d.Revision == first.Revision {
		t.Errorf("two fresh clients both got %q on a 50/50 split", d.Revision)
	}
}

func TestStickyCookieValidity(t *testing.T) {
	rt := stickyRoute(50, 50) // web-1, web-2
	r := routerWith(t, nil, nil, rt)
	cases := map[string]struct {
		cookie      string
		wantRev     string // "" when any revision is fine
		wantReplace bool
	}{
		"names a backend":               {cookie: encodeSticky("ns", "web", "web-2"), wantRev: "web-2"},
		"names a removed revision":      {cookie: encodeSticky("ns", "web", "web-9"), wantReplace: true},
		"names another route":           {cookie: encodeSticky("ns", "other", "web-2"), wantReplace: true},
		"names another namespace":       {cookie: encodeSticky("other", "web", "web-2"), wantReplace: true},
		"not base64":                    {cookie: "%%%", wantReplace: true},
		"plain revision name is opaque": {cookie: "web-2", wantReplace: true},
		"no cookie":                     {wantReplace: true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			d := mustPick(t, r, Request{Host: mainHost("ns", "web"), Cookie: tc.cookie})
			if tc.wantRev != "" && d.Revision != tc.wantRev {
				t.Errorf("Revision = %q, want %q", d.Revision, tc.wantRev)
			}
			if got := d.SetCookie != ""; got != tc.wantReplace {
				t.Fatalf("SetCookie = %q, want replaced: %v", d.SetCookie, tc.wantReplace)
			}
			if tc.wantReplace && d.SetCookie != encodeSticky("ns", "web", d.Revision) {
				t.Errorf("SetCookie %q does not name %q", d.SetCookie, d.Revision)
			}
		})
	}

	// Once web-2 leaves the rule, its clients move and get a new cookie.
	rt.Rules[0].Backends = []Backend{{Revision: "web-3", Percent: 100}}
	r.Update(Build([]Route{rt}, nil))
	d := mustPick(t, r, Request{Host: mainHost("ns", "web"), Cookie: encodeSticky("ns", "web", "web-2")})
	if d.Revision != "web-3" || d.SetCookie != encodeSticky("ns", "web", "web-3") {
		t.Errorf("after removal: %+v, want web-3 with a new cookie", d)
	}
}

func TestStickyCookie(t *testing.T) {
	r := routerWith(t, nil, nil, stickyRoute(100), splitRoute("ns", "plain", 100))
	d := mustPick(t, r, Request{Host: mainHost("ns", "web")})
	raw, err := base64.RawURLEncoding.DecodeString(d.SetCookie)
	if err != nil || string(raw) != "ns/web/web-1" {
		t.Errorf("cookie value decodes to %q, %v; want ns/web/web-1", raw, err)
	}
	want := &http.Cookie{Name: CookieName, Value: d.SetCookie, Path: "/", MaxAge: 5400, HttpOnly: true, SameSite: http.SameSiteLaxMode}
	if diff := cmp.Diff(want, StickyCookie(d)); diff != "" {
		t.Errorf("StickyCookie (-want +got):\n%s", diff)
	}
	if c := StickyCookie(mustPick(t, r, Request{Host: mainHost("ns", "plain")})); c != nil {
		t.Errorf("StickyCookie for a non-sticky route = %v, want nil", c)
	}
	session := StickyCookie(Decision{SetCookie: "x"})
	if session.MaxAge != 0 || session.Valid() != nil {
		t.Errorf("session cookie = %+v (valid: %v), want MaxAge 0", session, session.Valid())
	}
}
