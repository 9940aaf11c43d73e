package resources

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	servingv1 "github.com/rampdev/ramp/apis/serving/v1"
)

// fakeLookup answers Resolve from maps: revision name -> ready, and
// configuration name -> latest ready revision ("" when none is ready yet).
type fakeLookup struct {
	revisions map[string]bool
	latest    map[string]string
}

func (f fakeLookup) Revision(name string) (bool, bool) {
	ready, ok := f.revisions[name]
	return ok, ready
}

func (f fakeLookup) LatestReady(cfg string) (string, bool) {
	rev, ok := f.latest[cfg]
	return rev, ok
}

func route(name string, labels map[string]string, traffic ...servingv1.TrafficTarget) *servingv1.Route {
	return &servingv1.Route{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", Labels: labels},
		Spec:       servingv1.RouteSpec{Traffic: traffic},
	}
}

func pinned(rev string, pct int64, tag string) servingv1.TrafficTarget {
	return servingv1.TrafficTarget{RevisionName: rev, Percent: ptr.To(pct), Tag: tag}
}

func latest(pct int64, tag string) servingv1.TrafficTarget {
	return servingv1.TrafficTarget{LatestRevision: ptr.To(true), Percent: ptr.To(pct), Tag: tag}
}

var clusterLocal = map[string]string{servingv1.LabelVisibility: servingv1.VisibilityLabelClusterLocal}

func TestResolve(t *testing.T) {
	lookup := fakeLookup{
		revisions: map[string]bool{"r-00001": true, "r-00002": true, "r-00003": false, "other-00007": true},
		latest:    map[string]string{"r": "r-00002", "other": "other-00007", "fresh": ""},
	}
	cases := []struct {
		name    string
		route   *servingv1.Route
		want    []servingv1.TrafficTarget
		wantErr *TrafficError
	}{{
		name:  "empty traffic follows the latest ready revision of the configuration named like the route",
		route: route("r", nil),
		want: []servingv1.TrafficTarget{{RevisionName: "r-00002", ConfigurationName: "r",
			LatestRevision: ptr.To(true), Percent: ptr.To(int64(100))}},
	}, {
		name: "latest target with an explicit configuration follows that configuration",
		route: route("r", nil, servingv1.TrafficTarget{ConfigurationName: "other", LatestRevision: ptr.To(true),
			Percent: ptr.To(int64(100))}),
		want: []servingv1.TrafficTarget{{RevisionName: "other-00007", ConfigurationName: "other",
			LatestRevision: ptr.To(true), Percent: ptr.To(int64(100))}},
	}, {
		name:  "pinned and latest split",
		route: route("r", nil, pinned("r-00001", 50, ""), latest(50, "")),
		want: []servingv1.TrafficTarget{
			{RevisionName: "r-00001", LatestRevision: ptr.To(false), Percent: ptr.To(int64(50))},
			{RevisionName: "r-00002", ConfigurationName: "r", LatestRevision: ptr.To(true), Percent: ptr.To(int64(50))},
		},
	}, {
		name:  "tags get URLs of their own",
		route: route("r", nil, pinned("r-00001", 100, "current"), pinned("r-00002", 0, "candidate")),
		want: []servingv1.TrafficTarget{
			{Tag: "current", RevisionName: "r-00001", LatestRevision: ptr.To(false), Percent: ptr.To(int64(100)),
				URL: "http://current-r.ns.example.com"},
			{Tag: "candidate", RevisionName: "r-00002", LatestRevision: ptr.To(false), Percent: ptr.To(int64(0)),
				URL: "http://candidate-r.ns.example.com"},
		},
	}, {
		name:  "cluster-local tag URLs are in-cluster hosts",
		route: route("r", clusterLocal, pinned("r-00001", 100, "current")),
		want: []servingv1.TrafficTarget{{Tag: "current", RevisionName: "r-00001", LatestRevision: ptr.To(false),
			Percent: ptr.To(int64(100)), URL: "http://current-r.ns.svc.cluster.local"}},
	}, {
		name:    "pinned revision that does not exist is a permanent error",
		route:   route("r", nil, pinned("nope-00001", 100, "")),
		wantErr: &TrafficError{Reason: servingv1.ReasonRevisionMissing, Permanent: true, Message: `Revision "nope-00001" referenced in traffic not found`},
	}, {
		name:  "pinned revision that is not ready is a transient error",
		route: route("r", nil, pinned("r-00003", 100, "")),
		wantErr: &TrafficError{Reason: servingv1.ReasonRevisionNotReady,
			Message: `Revision "r-00003" is not ready; its traffic stays where it was`},
	}, {
		name:  "a missing revision outranks a not-ready one listed before it",
		route: route("r", nil, pinned("r-00003", 50, ""), pinned("nope-00001", 50, "")),
		wantErr: &TrafficError{Reason: servingv1.ReasonRevisionMissing, Permanent: true,
			Message: `Revision "nope-00001" referenced in traffic not found`},
	}, {
		name:    "latest target of a configuration without a ready revision",
		route:   route("fresh", nil),
		wantErr: &TrafficError{Reason: servingv1.ReasonRevisionNotReady, Message: `Configuration "fresh" has no ready revision yet`},
	}, {
		name:    "latest target of a configuration that does not exist",
		route:   route("ghost", nil),
		wantErr: &TrafficError{Reason: servingv1.ReasonConfigurationMissing, Message: `Configuration "ghost" does not exist`},
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Resolve(tc.route, "example.com", lookup)
			if tc.wantErr != nil {
				var te *TrafficError
				if !errors.As(err, &te) {
					t.Fatalf("Resolve() = %v, %v; want *TrafficError %+v", got, err, tc.wantErr)
				}
				if diff := cmp.Diff(tc.wantErr, te); diff != "" {
					t.Errorf("Resolve() error (-want +got):\n%s", diff)
				}
				if got != nil {
					t.Errorf("Resolve() returned traffic %+v with an error; want none", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("Resolve() error: %v", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Resolve() (-want +got):\n%s", diff)
			}
		})
	}
}

func resolved(rev string, pct int64, tag string) servingv1.TrafficTarget {
	return servingv1.TrafficTarget{RevisionName: rev, Percent: ptr.To(pct), Tag: tag}
}

func backend(rev string, pct int64) servingv1.RoutingBackend {
	return servingv1.RoutingBackend{RevisionName: rev, ServiceName: rev, Percent: pct}
}

func TestMakeRoutingTable(t *testing.T) {
	ignoreHash := cmpopts.IgnoreFields(servingv1.RoutingTable{}, "Hash")
	cases := []struct {
		name    string
		route   *servingv1.Route
		traffic []servingv1.TrafficTarget
		want    *servingv1.RoutingTable
	}{{
		name:    "external route: public and in-cluster hosts",
		route:   route("r", nil),
		traffic: []servingv1.TrafficTarget{resolved("r-00001", 100, "")},
		want: &servingv1.RoutingTable{Visibility: servingv1.VisibilityExternal, Rules: []servingv1.RoutingRule{
			{Hosts: []string{"r.ns.example.com", "r.ns.svc.cluster.local"}, Backends: []servingv1.RoutingBackend{backend("r-00001", 100)}},
		}},
	}, {
		name:    "cluster-local route: in-cluster hosts only",
		route:   route("r", clusterLocal),
		traffic: []servingv1.TrafficTarget{resolved("r-00001", 100, ""), resolved("r-00001", 0, "old")},
		want: &servingv1.RoutingTable{Visibility: servingv1.VisibilityClusterLocal, Rules: []servingv1.RoutingRule{
			{Hosts: []string{"r.ns.svc.cluster.local"}, Backends: []servingv1.RoutingBackend{backend("r-00001", 100)}},
			{Hosts: []string{"old-r.ns.svc.cluster.local"}, Tag: "old", Backends: []servingv1.RoutingBackend{backend("r-00001", 100)}},
		}},
	}, {
		name: "header routes to existing tags become header rules",
		route: func() *servingv1.Route {
			r := route("r", nil)
			r.Spec.HeaderRoutes = []servingv1.HeaderRoute{{Name: "X-Beta", Value: "true", Tag: "canary"}, {Name: "X-Old", Value: "1", Tag: "gone"}}
			return r
		}(),
		traffic: []servingv1.TrafficTarget{resolved("r-00001", 100, "stable"), resolved("r-00002", 0, "canary")},
		want: &servingv1.RoutingTable{Visibility: servingv1.VisibilityExternal, Rules: []servingv1.RoutingRule{
			{Hosts: []string{"r.ns.example.com", "r.ns.svc.cluster.local"}, Backends: []servingv1.RoutingBackend{backend("r-00001", 100)}},
			{Hosts: []string{"stable-r.ns.example.com", "stable-r.ns.svc.cluster.local"}, Tag: "stable", Backends: []servingv1.RoutingBackend{backend("r-00001", 100)}},
			{Hosts: []string{"canary-r.ns.example.com", "canary-r.ns.svc.cluster.local"}, Tag: "canary", Backends: []servingv1.RoutingBackend{backend("r-00002", 100)}},
		}, HeaderRules: []servingv1.HeaderRoute{{Name: "X-Beta", Value: "true", Tag: "canary"}}},
	}, {
		name:    "same revision in two targets sums its percents",
		route:   route("r", nil),
		traffic: []servingv1.TrafficTarget{resolved("r-00001", 30, ""), resolved("r-00002", 50, ""), resolved("r-00001", 20, "")},
		want: &servingv1.RoutingTable{Visibility: servingv1.VisibilityExternal, Rules: []servingv1.RoutingRule{
			{Hosts: []string{"r.ns.example.com", "r.ns.svc.cluster.local"},
				Backends: []servingv1.RoutingBackend{backend("r-00001", 50), backend("r-00002", 50)}},
		}},
	}, {
		name:    "0% target gets no backend on the main rule but keeps its tag rule",
		route:   route("r", nil),
		traffic: []servingv1.TrafficTarget{resolved("r-00001", 100, "current"), resolved("r-00002", 0, "next")},
		want: &servingv1.RoutingTable{Visibility: servingv1.VisibilityExternal, Rules: []servingv1.RoutingRule{
			{Hosts: []string{"r.ns.example.com", "r.ns.svc.cluster.local"}, Backends: []servingv1.RoutingBackend{backend("r-00001", 100)}},
			{Hosts: []string{"current-r.ns.example.com", "current-r.ns.svc.cluster.local"}, Tag: "current",
				Backends: []servingv1.RoutingBackend{backend("r-00001", 100)}},
			{Hosts: []string{"next-r.ns.example.com", "next-r.ns.svc.cluster.local"}, Tag: "next",
				Backends: []servingv1.RoutingBackend{backend("r-00002", 100)}},
		}},
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := MakeRoutingTable(tc.route, tc.traffic, "example.com", nil)
			if diff := cmp.Diff(tc.want, got, ignoreHash); diff != "" {
				t.Errorf("MakeRoutingTable() (-want +got):\n%s", diff)
			}
			if len(got.Hash) != 16 {
				t.Errorf("hash %q: want 16 hex characters", got.Hash)
			}
			if IsClusterLocal(tc.route) {
				for _, r := range got.Rules {
					for _, h := range r.Hosts {
						if !strings.HasSuffix(h, ".svc.cluster.local") {
							t.Errorf("cluster-local route publishes host %q", h)
						}
					}
				}
			}
		})
	}
}

func TestRoutingTableHash(t *testing.T) {
	rt := route("r", nil)
	split := func(a, b int64) []servingv1.TrafficTarget {
		return []servingv1.TrafficTarget{resolved("r-00001", a, ""), resolved("r-00002", b, "")}
	}
	// Given equal input twice (map iteration order varies between calls).
	first := MakeRoutingTable(rt, split(50, 50), "example.com", nil).Hash
	for i := 0; i < 20; i++ {
		if h := MakeRoutingTable(rt, split(50, 50), "example.com", nil).Hash; h != first {
			t.Fatalf("hash of an equal table changed: %s then %s", first, h)
		}
	}
	// Targets in another order compile to the same table and the same hash.
	reordered := []servingv1.TrafficTarget{resolved("r-00002", 50, ""), resolved("r-00001", 50, "")}
	if h := MakeRoutingTable(rt, reordered, "example.com", nil).Hash; h != first {
		t.Errorf("hash depends on target order: %s vs %s", first, h)
	}
	others := map[string]*servingv1.RoutingTable{
		"another split":  MakeRoutingTable(rt, split(90, 10), "example.com", nil),
		"another domain": MakeRoutingTable(rt, split(50, 50), "ramp.test", nil),
		"cluster-local":  MakeRoutingTable(route("r", clusterLocal), split(50, 50), "example.com", nil),
		"with a tag": MakeRoutingTable(rt, []servingv1.TrafficTarget{resolved("r-00001", 50, "a"),
			resolved("r-00002", 50, "")}, "example.com", nil),
		"sticky": MakeRoutingTable(rt, split(50, 50), "example.com", &servingv1.StickySessions{MaxAgeSeconds: 3600}),
	}
	for name, table := range others {
		if table.Hash == first {
			t.Errorf("%s: hash %s equals the 50/50 table's", name, table.Hash)
		}
	}
}

func TestStickyMaxAge(t *testing.T) {
	cases := map[string]struct {
		annotation *string
		want       *servingv1.StickySessions
		wantErr    string
	}{
		"absent":     {},
		"one hour":   {annotation: ptr.To("1h"), want: &servingv1.StickySessions{MaxAgeSeconds: 3600}},
		"90 seconds": {annotation: ptr.To("90s"), want: &servingv1.StickySessions{MaxAgeSeconds: 90}},
		"not a duration": {annotation: ptr.To("forever"),
			wantErr: `annotation serving.ramp.dev/sticky-max-age="forever": must be a duration of at least 1s`},
		"too short": {annotation: ptr.To("10ms"), wantErr: "must be a duration of at least 1s"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			rt := &servingv1.Route{}
			if tc.annotation != nil {
				rt.Annotations = map[string]string{servingv1.AnnotationStickyMaxAge: *tc.annotation}
			}
			got, err := StickyMaxAge(rt)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("StickyMaxAge() (-want +got):\n%s", diff)
			}
		})
	}
}
