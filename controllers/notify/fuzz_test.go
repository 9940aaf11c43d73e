package notify

import "testing"

// FuzzParseButtonValue: a Slack button value (which anyone who can post to
// the endpoint controls, signature aside) is parsed or refused, never
// panics; an accepted one names a valid target and verb and encodes back
// to itself.
func FuzzParseButtonValue(f *testing.F) {
	for _, s := range []string{"default/web/approve/0123456789abcdef", "shop/web/abort/ffffffffffffffff", "a/b/c/d", "//approve/", "Default/web/approve/0123456789abcdef",
		"default/web/approve/0123456789abcdeg", "default/web/promote/0123456789abcdef/x", "\x00/\x00/retry/0000000000000000"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		a, err := parseButtonValue(v)
		if err != nil {
			return
		}
		if !IsVerb(a.Verb) || a.Namespace == "" || a.Rollout == "" || a.ID == "" {
			t.Fatalf("parseButtonValue(%q) = %+v", v, a)
		}
		eventID := a.ID[len(a.Verb)+1:]
		if back := buttonValue(a.Namespace, a.Rollout, a.Verb, eventID); back != v {
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
