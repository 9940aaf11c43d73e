// Package resources resolves a Route's traffic block to concrete Revisions
// and compiles it into the gateway's routing table: pure functions, tested as
// tables.
package resources

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"k8s.io/utils/ptr"

	servingv1 "github.com/rampdev/ramp/apis/serving/v1"
)

// Lookup answers what the resolver needs to know about the cluster.
type Lookup interface {
	// Revision reports whether a Revision exists and is Ready.
	Revision(name string) (exists, ready bool)
	// LatestReady returns a Configuration's latest ready Revision; exists is
	// false when the Configuration does not exist.
	LatestReady(configuration string) (revision string, exists bool)
}

// TrafficError explains why traffic cannot be assigned yet (Permanent false)
// or at all (Permanent true).
type TrafficError struct {
	Reason    string
	Message   string
	Permanent bool
}

func (e *TrafficError) Error() string { return e.Message }

// EffectiveTraffic is the Route's traffic block, or 100% to the latest ready
// Revision of the Configuration of the same name when it is empty.
func EffectiveTraffic(rt *servingv1.Route) []servingv1.TrafficTarget {
	if len(rt.Spec.Traffic) > 0 {
		return rt.Spec.Traffic
	}
	return []servingv1.TrafficTarget{{LatestRevision: ptr.To(true), Percent: ptr.To(int64(100))}}
}

// Resolve turns every target into a concrete, Ready Revision. A target is
// never resolved to a Revision that is not Ready: the caller keeps the
// previous assignment until every target can move.
func Resolve(rt *servingv1.Route, domain string, l Lookup) ([]servingv1.TrafficTarget, error) {
	var out []servingv1.TrafficTarget
	var errs []error
	for _, t := range EffectiveTraffic(rt) {
		r := servingv1.TrafficTarget{Tag: t.Tag, Percent: ptr.To(t.PercentOf())}
		if t.IsLatest() {
			cfg := t.ConfigurationName
			if cfg == "" {
				cfg = rt.Name
			}
			rev, exists := l.LatestReady(cfg)
			switch {
			case !exists:
				errs = append(errs, &TrafficError{Reason: servingv1.ReasonConfigurationMissing,
					Message: fmt.Sprintf("Configuration %q does not exist", cfg)})
				continue
			case rev == "":
				errs = append(errs, &TrafficError{Reason: servingv1.ReasonRevisionNotReady,
					Message: fmt.Sprintf("Configuration %q has no ready revision yet", cfg)})
				continue
			}
			r.RevisionName, r.ConfigurationName, r.LatestRevision = rev, cfg, ptr.To(true)
		} else {
			exists, ready := l.Revision(t.RevisionName)
			switch {
			case !exists:
				errs = append(errs, &TrafficError{Reason: servingv1.ReasonRevisionMissing, Permanent: true,
					Message: fmt.Sprintf("Revision %q referenced in traffic not found", t.RevisionName)})
				continue
			case !ready:
				errs = append(errs, &TrafficError{Reason: servingv1.ReasonRevisionNotReady,
					Message: fmt.Sprintf("Revision %q is not ready; its traffic stays where it was", t.RevisionName)})
				continue
			}
			r.RevisionName, r.LatestRevision = t.RevisionName, ptr.To(false)
		}
		if t.Tag != "" {
			r.URL = "http://" + TagHost(t.Tag, rt, domain)
		}
		out = append(out, r)
	}
	if len(errs) > 0 {
		// Report the most severe problem: a permanent one first.
		var first *TrafficError
		for _, e := range errs {
			var te *TrafficError
			if errors.As(e, &te) && (first == nil || (te.Permanent && !first.Permanent)) {
				first = te
			}
		}
		return nil, first
	}
	return out, nil
}

// IsClusterLocal reports whether the route is only reachable in-cluster.
func IsClusterLocal(rt *servingv1.Route) bool {
	return rt.Labels[servingv1.LabelVisibility] == servingv1.VisibilityLabelClusterLocal
}

// Host is the route's main host.
func Host(rt *servingv1.Route, domain string) string {
	if IsClusterLocal(rt) {
		return InternalHost(rt)
	}
	return fmt.Sprintf("%s.%s.%s", rt.Name, rt.Namespace, domain)
}

// InternalHost is the route's in-cluster host.
func InternalHost(rt *servingv1.Route) string {
	return fmt.Sprintf("%s.%s.svc.cluster.local", rt.Name, rt.Namespace)
}

// TagHost is a tag's host: <tag>-<route>.<namespace>.<domain>.
func TagHost(tag string, rt *servingv1.Route, domain string) string {
	if IsClusterLocal(rt) {
		return fmt.Sprintf("%s-%s.%s.svc.cluster.local", tag, rt.Name, rt.Namespace)
	}
	return fmt.Sprintf("%s-%s.%s.%s", tag, rt.Name, rt.Namespace, domain)
}

// StickyMaxAge reads the Route's sticky-session annotation: nil when absent,
// an error naming the annotation when it is not a positive duration.
func StickyMaxAge(rt *servingv1.Route) (*servingv1.StickySessions, error) {
	v, ok := rt.Annotations[servingv1.AnnotationStickyMaxAge]
	if !ok {
		return nil, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < time.Second {
		return nil, fmt.Errorf("annotation %s=%q: must be a duration of at least 1s, such as 30m or 1h", servingv1.AnnotationStickyMaxAge, v)
	}
	return &servingv1.StickySessions{MaxAgeSeconds: int64(d / time.Second)}, nil
}

// MakeRoutingTable compiles resolved traffic into the gateway's table: one
// rule for the main host (0% targets get no backend at all) and one per tag.
func MakeRoutingTable(rt *servingv1.Route, resolved []servingv1.TrafficTarget, domain string, sticky *servingv1.StickySessions) *servingv1.RoutingTable {
	visibility := servingv1.VisibilityExternal
	if IsClusterLocal(rt) {
		visibility = servingv1.VisibilityClusterLocal
	}
	mainHosts := []string{Host(rt, domain)}
	if !IsClusterLocal(rt) {
		mainHosts = append(mainHosts, InternalHost(rt))
	}
	perRevision := map[string]int64{}
	for _, t := range resolved {
		perRevision[t.RevisionName] += t.PercentOf()
	}
	main := servingv1.RoutingRule{Hosts: mainHosts}
	for rev, pct := range perRevision {
		if pct > 0 {
			main.Backends = append(main.Backends, servingv1.RoutingBackend{RevisionName: rev, ServiceName: rev, Percent: pct})
		}
	}
	sort.Slice(main.Backends, func(i, j int) bool { return main.Backends[i].RevisionName < main.Backends[j].RevisionName })
	table := &servingv1.RoutingTable{Visibility: visibility, Rules: []servingv1.RoutingRule{main}, Sticky: sticky}
	for _, t := range resolved {
		if t.Tag == "" {
			continue
		}
		hosts := []string{TagHost(t.Tag, rt, domain)}
		if !IsClusterLocal(rt) {
			hosts = append(hosts, fmt.Sprintf("%s-%s.%s.svc.cluster.local", t.Tag, rt.Name, rt.Namespace))
		}
		table.Rules = append(table.Rules, servingv1.RoutingRule{
			Hosts: hosts, Tag: t.Tag,
			Backends: []servingv1.RoutingBackend{{RevisionName: t.RevisionName, ServiceName: t.RevisionName, Percent: 100}},
		})
	}
	tagged := map[string]bool{}
	for _, t := range resolved {
		if t.Tag != "" {
			tagged[t.Tag] = true
		}
	}
	for _, h := range rt.Spec.HeaderRoutes {
		if tagged[h.Tag] {
			table.HeaderRules = append(table.HeaderRules, h)
		}
	}
	table.Hash = hashOf(table)
	return table
}

func hashOf(t *servingv1.RoutingTable) string {
	b, _ := json.Marshal(struct { // plain strings and ints: cannot fail
		V servingv1.Visibility
		R []servingv1.RoutingRule
		S *servingv1.StickySessions `json:",omitempty"`
		H []servingv1.HeaderRoute   `json:",omitempty"`
	}{t.Visibility, t.Rules, t.Sticky, t.HeaderRules})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}
