package routing

import (
	"fmt"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestBuildEndpoints(t *testing.T) {
	k := ServiceKey{Namespace: "ns", Name: "svc-1"}
	cases := map[string]struct {
		in   []Endpoint
		want []Endpoint
	}{
		"sorted and deduplicated": {
			in:   []Endpoint{{"10.0.0.2", 8012}, {"10.0.0.1", 8012}, {"10.0.0.2", 8012}, {"10.0.0.1", 8013}},
			want: []Endpoint{{"10.0.0.1", 8012}, {"10.0.0.1", 8013}, {"10.0.0.2", 8012}},
		},
		"invalid dropped": {
			in:   []Endpoint{{"", 8012}, {"10.0.0.1", 0}, {"10.0.0.1", 70000}, {"fd00::1", 8012}},
			want: []Endpoint{{"fd00::1", 8012}},
		},
		"none left": {in: []Endpoint{{"", 1}}, want: nil},
		"empty":     {in: nil, want: nil},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			in := slices.Clone(tc.in)
			tbl := Build(nil, map[ServiceKey][]Endpoint{k: in})
			if diff := cmp.Diff(tc.want, tbl.Endpoints(k)); diff != "" {
				t.Errorf("Endpoints (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.in, in); diff != "" {
				t.Errorf("Build modified its input (-want +got):\n%s", diff)
			}
			if _, ok := poolSize(tbl, k); ok != (len(tc.want) > 0) {
				t.Errorf("service has a pool: %v, want %v", ok, len(tc.want) > 0)
			}
		})
	}
	if got := (Endpoint{IP: "fd00::1", Port: 8012}).Address(); got != "[fd00::1]:8012" {
		t.Errorf("Address = %q", got)
	}
}

// poolSize reports whether a Router installing t would balance over k.
func poolSize(t *Table, k ServiceKey) (int, bool) {
	pools, _ := buildPools(t, nil)
	p, ok := pools[k]
	if !ok {
		return 0, false
	}
	return len(p.pods), true
}

func TestBuildConflicts(t *testing.T) {
	// Route "canary-hello" owns canary-hello.ns.<domain> as its main host;
	// route "hello" has a tag "canary" whose host is the same.
	hello := splitRoute("ns", "hello", 100)
	hello.Rules = append(hello.Rules, tagRule("ns", "hello", "canary", "hello-2"))
	owner := splitRoute("ns", "canary-hello", 100)
	dupA := splitRoute("a", "dup", 100)
	dupA.Rules[0].Hosts = []string{"shared.example.com"}
	dupB := splitRoute("b", "dup", 100)
	dupB.Rules[0].Hosts = []string{"SHARED.example.com."}
	cases := map[string][]Route{
		"input order":    {hello, owner, dupA, dupB},
		"reversed order": {dupB, dupA, owner, hello},
	}
	want := []Conflict{
		{Host: "shared.example.com", Kept: "a/dup", Dropped: "b/dup"},
		{Host: "canary-hello.ns.example.com", Kept: "ns/canary-hello", Dropped: "ns/hello"},
		{Host: "canary-hello.ns.svc.cluster.local", Kept: "ns/canary-hello", Dropped: "ns/hello"},
	}
	for name, routes := range cases {
		t.Run(name, func(t *testing.T) {
			r := routerWith(t, nil, nil, routes...)
			if diff := cmp.Diff(want, r.Table().Conflicts()); diff != "" {
				t.Errorf("Conflicts (-want +got):\n%s", diff)
			}
			got := map[string]string{}
			for _, h := range []string{"canary-hello.ns.example.com", "canary-hello.ns.svc.cluster.local", "shared.example.com"} {
				d := mustPick(t, r, Request{Host: h})
				got[h] = d.Namespace + "/" + d.Route + "/" + d.Revision
			}
			wantPicks := map[string]string{
				"canary-hello.ns.example.com":       "ns/canary-hello/canary-hello-1", // main host wins
				"canary-hello.ns.svc.cluster.local": "ns/canary-hello/canary-hello-1",
				"shared.example.com":                "a/dup/dup-1", // namespace/name order
			}
			if diff := cmp.Diff(wantPicks, got); diff != "" {
				t.Errorf("Pick (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBuildDuplicateRouteKeepsFirst(t *testing.T) {
	first := splitRoute("ns", "hello", 100)
	second := splitRoute("ns", "hello", 100)
	second.Hash = "other"
	second.Rules[0].Backends[0].Revision = "other-rev"
	r := routerWith(t, nil, nil, first, second)
	if h, _ := r.AppliedHash("ns", "hello"); h != "h-hello" {
		t.Errorf("AppliedHash = %q, want the first route's", h)
	}
	if d := mustPick(t, r, Request{Host: mainHost("ns", "hello")}); d.Revision != "hello-1" {
		t.Errorf("Revision = %q, want hello-1", d.Revision)
	}
}

func TestBuildDoesNotRetainInputs(t *testing.T) {
	rt := splitRoute("ns", "hello", 100)
	rt.Sticky = &StickyConfig{MaxAge: 10}
	routes := []Route{rt}
	r := routerWith(t, nil, nil, routes...)
	routes[0].Rules[0].Backends[0].Revision = "mutated"
	routes[0].Rules[0].Hosts[0] = "mutated.example.com"
	rt.Sticky.MaxAge = 20
	d := mustPick(t, r, Request{Host: mainHost("ns", "hello")})
	if d.Revision != "hello-1" || d.CookieMaxAge != 10 {
		t.Errorf("Decision after mutating inputs = %+v", d)
	}
}

func ExampleRouter_Pick() {
	r := NewRouter(nil)
	r.Update(Build([]Route{{
		Namespace: "default", Name: "hello", Hash: "abc",
		Rules: []Rule{{
			Hosts:    []string{"hello.default.example.com"},
			Backends: []Backend{{Revision: "hello-00001", Service: "hello-00001", Percent: 100}},
		}},
	}}, nil))
	d, err := r.Pick(Request{Host: "Hello.default.example.com:8080", External: true})
	fmt.Println(d.Revision, err)
	// Output: hello-00001 <nil>
}
