package routing

import (
	"net/http"
	"testing"
)

func TestHeaderRulesRouteOnTheMainHostToATag(t *testing.T) {
	// Given a route 100% on v1 with v2 tagged canary at 0%, and a header
	// rule X-Beta: true → canary
	rt := splitRoute("ns", "web", 100)
	rt.Rules = append(rt.Rules, Rule{Hosts: []string{"canary-web.ns.example.com"}, Tag: "canary",
		Backends: []Backend{{Revision: "web-2", Service: "web-2", Percent: 100}}})
	rt.HeaderRules = []HeaderRule{{Name: "X-Beta", Value: "true", Tag: "canary"}, {Name: "X-Beta", Value: "x", Tag: "missing"}}
	r := routerWith(t, nil, nil, rt)
	host := mainHost("ns", "web")
	cases := map[string]struct {
		req     Request
		wantRev string
		wantTag string
	}{
		"no header: the split":             {req: Request{Host: host}, wantRev: "web-1"},
		"matching header: the canary":      {req: Request{Host: host, Headers: http.Header{"X-Beta": {"true"}}}, wantRev: "web-2", wantTag: "canary"},
		"other value: the split":           {req: Request{Host: host, Headers: http.Header{"X-Beta": {"TRUE"}}}, wantRev: "web-1"},
		"rule naming a missing tag: split": {req: Request{Host: host, Headers: http.Header{"X-Beta": {"x"}}}, wantRev: "web-1"},
		"the tag header wins": {req: Request{Host: host, TagHeader: "canary", Headers: http.Header{"X-Beta": {"nope"}}},
			wantRev: "web-2", wantTag: "canary"},
		"tag host is not affected": {req: Request{Host: "canary-web.ns.example.com", Headers: http.Header{"X-Beta": {"true"}}},
			wantRev: "web-2", wantTag: "canary"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			d := mustPick(t, r, tc.req)
			if d.Revision != tc.wantRev || d.Tag != tc.wantTag {
				t.Errorf("Pick = %s (tag %q), want %s (tag %q)", d.Revision, d.Tag, tc.wantRev, tc.wantTag)
			}
		})
	}
}
