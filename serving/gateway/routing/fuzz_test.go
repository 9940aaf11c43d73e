package routing

import (
	"encoding/json"
	"net/http"
	"testing"
)

// FuzzBuildAndPick builds a table from arbitrary routes (as the gateway
// does from every Route's status) and picks with arbitrary requests: no
// input may panic, and a decision always names a revision of the table.
func FuzzBuildAndPick(f *testing.F) {
	seed, _ := json.Marshal([]Route{splitRoute("default", "hello", 30, 70),
		{Namespace: "ns", Name: "web", Rules: []Rule{{Hosts: []string{"web.ns.example.com"}, Backends: []Backend{{Revision: "web-1", Percent: 100}}},
			{Hosts: []string{"canary-web.ns.example.com"}, Tag: "canary", Backends: []Backend{{Revision: "web-2", Percent: 100}}}},
			HeaderRules: []HeaderRule{{Name: "X-Canary", Value: "1", Tag: "canary"}}, Sticky: &StickyConfig{}}})
	f.Add(seed, "hello.default.example.com", "", "", "x-canary", "1")
	f.Add(seed, "WEB.ns.example.com:8080", "canary", "web-2", "X-Canary", "1")
	f.Add(seed, "web.ns.example.com.", "nope", "\x00garbage", "", "")
	f.Add([]byte(`[{"Rules":[{"Hosts":[""],"Backends":[{"Percent":-5},{"Percent":1000}]}]}]`), "", "", "", "", "")
	f.Add([]byte(`[{"Namespace":"a","Name":"b","Rules":[{"Hosts":["x"]},{"Hosts":["x"],"Tag":"t"}]},{"Namespace":"a","Name":"c","Rules":[{"Hosts":["x"]}]}]`), "x", "t", "", "", "")
	f.Fuzz(func(t *testing.T, routesJSON []byte, host, tag, cookie, hname, hvalue string) {
		var routes []Route
		if json.Unmarshal(routesJSON, &routes) != nil {
			return
		}
		revisions := map[string]bool{}
		for _, rt := range routes {
			for _, r := range rt.Rules {
				for _, b := range r.Backends {
					revisions[b.Revision] = true
				}
			}
		}
		r := NewRouter(nil)
		r.Update(Build(routes, nil))
		h := http.Header{}
		if hname != "" {
			h.Set(hname, hvalue)
		}
		for _, external := range []bool{false, true} {
			d, err := r.Pick(Request{Host: host, TagHeader: tag, Cookie: cookie, External: external, Headers: h})
			if err != nil {
				continue
			}
			if !revisions[d.Revision] || d.Service == "" {
				t.Fatalf("Pick(%q) = %+v: a revision the routes do not name, or no service", host, d)
			}
		}
	})
}
