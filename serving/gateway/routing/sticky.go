package routing

import (
	"encoding/base64"
	"math"
	"net/http"
	"time"
)

// CookieName is the name of the sticky-session cookie.
const CookieName = "ramp-sticky"

// StickyCookie returns the cookie to set on the response for d, or nil when
// d does not require one. The value names the revision (base64 of
// "namespace/route/revision"); it is opaque to clients but not secret, and
// a client forging it can only choose among the rule's current backends.
// The cookie is scoped to the request's host (no Domain attribute), so a
// route's main host and its tag hosts keep separate cookies. Callers
// serving TLS may set Secure on the result.
func StickyCookie(d Decision) *http.Cookie {
	if d.SetCookie == "" {
		return nil
	}
	c := &http.Cookie{
		Name:     CookieName,
		Value:    d.SetCookie,
		Path:     "/",
		HttpOnly: true,
		SameSite: http.SameSiteLaxMode,
	}
	if d.CookieMaxAge > 0 {
		c.MaxAge = int(min(math.Ceil(d.CookieMaxAge.Seconds()), math.MaxInt32))
	}
	return c
}

// encodeSticky returns the cookie value naming a revision of a route.
func encodeSticky(namespace, route, revision string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(namespace + "/" + route + "/" + revision))
}

// stickyBackend returns the index of the backend of rl named by cookie, or
// -1 when the cookie is empty, malformed, from another route or names a
// revision that is no longer a backend of the rule.
func (rl *rule) stickyBackend(cookie string) int {
	if cookie == "" || rl.byCookie == nil {
		return -1
	}
	if i, ok := rl.byCookie[cookie]; ok {
		return i
	}
	return -1
}

// stickyMaxAge returns the route's sticky MaxAge (zero when not sticky).
func (rt *route) stickyMaxAge() time.Duration {
	if rt.sticky == nil {
		return 0
	}
	return rt.sticky.MaxAge
}
