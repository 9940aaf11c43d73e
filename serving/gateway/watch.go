package gateway

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	servingv1 "github.com/rampdev/ramp/apis/serving/v1"
	"github.com/rampdev/ramp/serving/gateway/routing"
)

// queueProxyPortName is the revision Service port whose EndpointSlice port
// carries traffic (the queue-proxy's serving port); queueAdminPortName
// the one of its readiness endpoint (starting.go).
const (
	queueProxyPortName = "http"
	queueAdminPortName = "admin"
)

// Syncer rebuilds the routing table from Routes and revision EndpointSlices
// whenever either changes, and swaps it into the Router atomically. Changes
// are coalesced by the controller's work queue: one key stands for "the
// world".
type Syncer struct {
	Client client.Client
	Router *routing.Router
	// starting probes the pods the slices list as starting; nil routes to
	// ready endpoints only.
	starting *startingProber
	// kick asks for a rebuild when a starting pod's verdict flips.
	kick chan event.GenericEvent

	mu      sync.Mutex
	hashes  map[string]string // "<ns>/<name>" -> applied hash
	applied bool
	// changedAt is when the first change not yet read by a Reconcile
	// arrived, zero when none waits.
	changedAt time.Time
}

var worldKey = reconcile.Request{NamespacedName: types.NamespacedName{Name: "routing-table"}}

// +kubebuilder:rbac:groups=serving.ramp.dev,resources=routes,verbs=get;list;watch
// +kubebuilder:rbac:groups=discovery.k8s.io,resources=endpointslices,verbs=get;list;watch

// Reconcile implements reconcile.Reconciler.
func (s *Syncer) Reconcile(ctx context.Context, _ ctrl.Request) (ctrl.Result, error) {
	start := time.Now()
	s.mu.Lock()
	seen := s.changedAt // what this table applies arrived then (or later)
	s.changedAt = time.Time{}
	s.mu.Unlock()
	var routes servingv1.RouteList
	if err := s.Client.List(ctx, &routes); err != nil {
		s.unread(seen)
		return ctrl.Result{}, fmt.Errorf("listing routes: %w", err)
	}
	var slices discoveryv1.EndpointSliceList
	if err := s.Client.List(ctx, &slices, client.HasLabels{servingv1.LabelRevision}); err != nil {
		s.unread(seen)
		return ctrl.Result{}, fmt.Errorf("listing endpoint slices: %w", err)
	}
	in, hashes := convertRoutes(routes.Items)
	ready, starting := convertEndpoints(slices.Items)
	if s.starting != nil {
		s.starting.Track(starting)
		for svc, eps := range s.starting.Ready() {
			ready[svc] = sortEndpoints(append(ready[svc], eps...))
		}
	}
	table := routing.Build(in, ready).SetObserved(seen)
	s.Router.Update(table)
	s.mu.Lock()
	s.hashes, s.applied = hashes, true
	s.mu.Unlock()
	ctrl.LoggerFrom(ctx).V(1).Info("Applied routing table", "routes", len(in), "slices", len(slices.Items), "took", time.Since(start))
	return ctrl.Result{}, nil
}

// unread puts back the arrival time of a change that a failed Reconcile
// took but did not apply.
func (s *Syncer) unread(seen time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.changedAt.IsZero() || (!seen.IsZero() && seen.Before(s.changedAt)) {
		s.changedAt = seen
	}
}

// Hashes returns the routing-table hash applied for each route.
func (s *Syncer) Hashes() map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]string, len(s.hashes))
	for k, v := range s.hashes {
		out[k] = v
	}
	return out
}

// Synced reports whether a first table has been applied.
func (s *Syncer) Synced() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.applied
}

// ProbeStarting makes the Syncer probe the pods that EndpointSlices list
// as starting and route to each once its queue-proxy is ready
// (starting.go). Call it before SetupWithManager.
func (s *Syncer) ProbeStarting() {
	s.kick = make(chan event.GenericEvent, 1)
	s.starting = newStartingProber(func() {
		select {
		case s.kick <- event.GenericEvent{Object: &discoveryv1.EndpointSlice{}}:
		default: // a rebuild is due already
		}
	})
}

// Stop stops probing starting pods.
func (s *Syncer) Stop() {
	if s.starting != nil {
		s.starting.Stop()
	}
}

// SetupWithManager watches Routes and revision EndpointSlices.
func (s *Syncer) SetupWithManager(mgr ctrl.Manager) error {
	world := handler.EnqueueRequestsFromMapFunc(func(context.Context, client.Object) []reconcile.Request {
		s.mu.Lock()
		if s.changedAt.IsZero() {
			s.changedAt = time.Now()
		}
		s.mu.Unlock()
		return []reconcile.Request{worldKey}
	})
	b := ctrl.NewControllerManagedBy(mgr).
		Named("gateway-routing").
		Watches(&servingv1.Route{}, world).
		Watches(&discoveryv1.EndpointSlice{}, world)
	if s.kick != nil {
		b = b.WatchesRawSource(source.Channel(s.kick, world))
	}
	return b.Complete(s)
}

// convertRoutes turns published routing tables into the router's input.
func convertRoutes(routes []servingv1.Route) ([]routing.Route, map[string]string) {
	out := make([]routing.Route, 0, len(routes))
	hashes := make(map[string]string, len(routes))
	for _, rt := range routes {
		t := rt.Status.RoutingTable
		if t == nil {
			continue
		}
		r := routing.Route{
			Namespace: rt.Namespace, Name: rt.Name, Hash: t.Hash,
			ClusterLocal: t.Visibility == servingv1.VisibilityClusterLocal,
		}
		if t.Sticky != nil {
			r.Sticky = &routing.StickyConfig{MaxAge: time.Duration(t.Sticky.MaxAgeSeconds) * time.Second}
		}
		for _, h := range t.HeaderRules {
			r.HeaderRules = append(r.HeaderRules, routing.HeaderRule{Name: h.Name, Value: h.Value, Tag: h.Tag})
		}
		for _, rule := range t.Rules {
			rr := routing.Rule{Hosts: rule.Hosts, Tag: rule.Tag}
			for _, b := range rule.Backends {
				rr.Backends = append(rr.Backends, routing.Backend{Revision: b.RevisionName, Service: b.ServiceName, Percent: int(b.Percent)})
			}
			r.Rules = append(r.Rules, rr)
		}
		out = append(out, r)
		hashes[rt.Namespace+"/"+rt.Name] = t.Hash
	}
	return out, hashes
}

// convertEndpoints collects each revision Service's ready, non-terminating
// pod addresses on the queue-proxy port, and the pods listed as neither
// ready nor terminating (starting, for the starting prober).
func convertEndpoints(slices []discoveryv1.EndpointSlice) (map[routing.ServiceKey][]routing.Endpoint, []startingEndpoint) {
	out := map[routing.ServiceKey][]routing.Endpoint{}
	var starting []startingEndpoint
	for _, s := range slices {
		svc := s.Labels[discoveryv1.LabelServiceName]
		if svc == "" {
			continue
		}
		port, admin := 0, 0
		for _, p := range s.Ports {
			if p.Name != nil && p.Port != nil {
				switch *p.Name {
				case queueProxyPortName:
					port = int(*p.Port)
				case queueAdminPortName:
					admin = int(*p.Port)
				}
			}
		}
		if port == 0 {
			continue
		}
		key := routing.ServiceKey{Namespace: s.Namespace, Name: svc}
		for _, ep := range s.Endpoints {
			ready := ep.Conditions.Ready == nil || *ep.Conditions.Ready
			terminating := ep.Conditions.Terminating != nil && *ep.Conditions.Terminating
			if terminating {
				continue
			}
			for _, ip := range ep.Addresses {
				e := routing.Endpoint{IP: ip, Port: port}
				switch {
				case ready:
					out[key] = append(out[key], e)
				case admin != 0:
					starting = append(starting, startingEndpoint{svc: key, ep: e, admin: adminAddr(ip, admin)})
				}
			}
		}
	}
	for k := range out {
		out[k] = sortEndpoints(out[k])
	}
	return out, starting
}

func sortEndpoints(eps []routing.Endpoint) []routing.Endpoint {
	sort.Slice(eps, func(i, j int) bool { return eps[i].Address() < eps[j].Address() })
	return eps
}
