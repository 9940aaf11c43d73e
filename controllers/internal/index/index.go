// Package index holds the cache indexes the serving reconcilers share, so
// that a reconcile or an event reads the few objects it concerns instead
// of every object of the namespace: at hundreds of Routes a namespace, a
// list of them all for each Revision event made the work grow with the
// square of the namespace's size.
package index

import (
	"context"
	"fmt"
	"sync"

	"sigs.k8s.io/controller-runtime/pkg/client"

	servingv1 "github.com/rampdev/ramp/apis/serving/v1"
)

// RouteTargets indexes Routes by what their traffic names, in spec or in
// status: Revision(name) for a Revision, Configuration(name) for a
// Configuration whose latest ready Revision they follow.
const RouteTargets = "ramp.serving.route.targets"

// Revision is the RouteTargets key of a Revision.
func Revision(name string) string { return "revision/" + name }

// Configuration is the RouteTargets key of a Configuration.
func Configuration(name string) string { return "configuration/" + name }

// RouteTargetsOf is the RouteTargets index function (for fake clients'
// WithIndex in tests).
func RouteTargetsOf(o client.Object) []string {
	rt, ok := o.(*servingv1.Route)
	if !ok {
		return nil
	}
	seen := map[string]bool{}
	var out []string
	add := func(k string) {
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	if len(rt.Spec.Traffic) == 0 {
		add(Configuration(rt.Name)) // an empty block follows the Configuration of the Route's name
	}
	for _, t := range rt.Spec.Traffic {
		switch {
		case t.IsLatest() && t.ConfigurationName != "":
			add(Configuration(t.ConfigurationName))
		case t.IsLatest():
			add(Configuration(rt.Name))
		case t.RevisionName != "":
			add(Revision(t.RevisionName))
		}
	}
	for _, t := range rt.Status.Traffic {
		if t.RevisionName != "" {
			add(Revision(t.RevisionName))
		}
		if t.ConfigurationName != "" {
			add(Configuration(t.ConfigurationName))
		}
	}
	return out
}

// registered remembers the indexers that have the indexes, as several
// reconcilers on one manager each ask for them.
var registered sync.Map // client.FieldIndexer -> *sync.Once result

type once struct {
	sync.Once
	err error
}

// Register adds the indexes to the manager's cache once, whichever
// reconciler asks first.
func Register(ctx context.Context, indexer client.FieldIndexer) error {
	v, _ := registered.LoadOrStore(indexer, &once{})
	o := v.(*once)
	o.Do(func() {
		if err := indexer.IndexField(ctx, &servingv1.Route{}, RouteTargets, RouteTargetsOf); err != nil {
			o.err = fmt.Errorf("indexing routes by their traffic targets: %w", err)
		}
	})
	return o.err
}

// Routes lists the Routes of ns whose traffic names key (Revision or
// Configuration).
func Routes(ctx context.Context, c client.Reader, ns, key string) ([]servingv1.Route, error) {
	var list servingv1.RouteList
	if err := c.List(ctx, &list, client.InNamespace(ns), client.MatchingFields{RouteTargets: key}); err != nil {
		return nil, fmt.Errorf("listing routes of %s: %w", key, err)
	}
	return list.Items, nil
}
