package notify

import (
	"errors"
	"strings"
	"testing"
)

// FuzzParseButtonValue: a Slack button value (which anyone who can post to
// the endpoint controls, signature aside) is parsed or refused, never
// panics; an accepted one names a valid target, verb and run and encodes
// back to itself. A value of the earlier four-part format is refused with
// errOldButton, naming its target and verb.
func FuzzParseButtonValue(f *testing.F) {
	for _, s := range []string{
		// The current format: .../event-id/generation/canary-revision.
		"default/web/approve/0123456789abcdef/1/web-00001", "shop/web/abort/ffffffffffffffff/42/web-00002",
		"shop/web.v2/promote/0123456789abcdef/7/", "shop/web/retry/0123456789abcdef/9223372036854775807/web.v2-00003",
		"shop/web/approve/0123456789abcdef/0/web-00001", "shop/web/approve/0123456789abcdef/-1/web-00001",
		"shop/web/approve/0123456789abcdef/01/web-00001", "shop/web/approve/0123456789abcdef/+1/web-00001",
		"shop/web/approve/0123456789abcdef/1/Web_00001", "shop/web/approve/0123456789abcdef/1/web/x",
		"shop/web/approve/0123456789abcdef//web-00001", "shop/web/approve/0123456789abcdef/9223372036854775808/",
		// The earlier format, without the run, and broken values.
		"default/web/approve/0123456789abcdef", "shop/web/abort/ffffffffffffffff", "a/b/c/d", "//approve/", "Default/web/approve/0123456789abcdef",
		"default/web/approve/0123456789abcdeg", "default/web/promote/0123456789abcdef/x", "\x00/\x00/retry/0000000000000000",
		"\x00/\x00/retry/0000000000000000/1/\x00",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		a, err := parseButtonValue(v)
		if errors.Is(err, errOldButton) {
			if !IsVerb(a.Verb) || a.Namespace == "" || a.Rollout == "" || a.Run != nil || strings.Count(v, "/") != 3 {
				t.Fatalf("parseButtonValue(%q) = %+v, %v", v, a, err)
			}
			return
		}
		if err != nil {
			return
		}
		if !IsVerb(a.Verb) || a.Namespace == "" || a.Rollout == "" || a.ID == "" || a.Run == nil || a.Run.Generation < 1 {
			t.Fatalf("parseButtonValue(%q) = %+v", v, a)
		}
		eventID := a.ID[len(a.Verb)+1:]
		if back := buttonValue(a.Namespace, a.Rollout, a.Verb, eventID, *a.Run); back != v {
			t.Fatalf("parseButtonValue(%q) = %+v, which encodes as %q", v, a, back)
		}
	})
}

// FuzzParseTarget: a slash command's namespace/name argument.
func FuzzParseTarget(f *testing.F) {
	for _, s := range []string{"web", "shop/web", "/web", "shop/", "a/b/c", "UPPER/case", "x..y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ns, name, err := parseTarget(s)
		if err == nil && (ns == "" || name == "") {
			t.Fatalf("parseTarget(%q) = %q, %q", s, ns, name)
		}
	})
}
