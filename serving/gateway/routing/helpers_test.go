package routing

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

const domain = "example.com"

// mainHosts returns the hosts of a route's main rule, as the controller
// compiles them.
func mainHosts(ns, name string) []string {
	return []string{fmt.Sprintf("%s.%s.%s", name, ns, domain), fmt.Sprintf("%s.%s.svc.cluster.local", name, ns)}
}

// tagRule returns the rule of a tag, as the controller compiles it.
func tagRule(ns, name, tag, rev string) Rule {
	return Rule{
		Hosts: []string{fmt.Sprintf("%s-%s.%s.%s", tag, name, ns, domain),
			fmt.Sprintf("%s-%s.%s.svc.cluster.local", tag, name, ns)},
		Tag:      tag,
		Backends: []Backend{{Revision: rev, Service: rev, Percent: 100}},
	}
}

// splitRoute returns a route whose main rule splits between revisions
// <name>-<i> (i from 1) by pcts.
func splitRoute(ns, name string, pcts ...int) Route {
	rt := Route{Namespace: ns, Name: name, Hash: "h-" + name, Rules: []Rule{{Hosts: mainHosts(ns, name)}}}
	for i, p := range pcts {
		rev := fmt.Sprintf("%s-%d", name, i+1)
		rt.Rules[0].Backends = append(rt.Rules[0].Backends, Backend{Revision: rev, Service: rev, Percent: p})
	}
	return rt
}

// mainHost returns a route's external main host.
func mainHost(ns, name string) string { return mainHosts(ns, name)[0] }

// routerWith returns a Router with a table of routes and endpoints.
func routerWith(t *testing.T, m Metrics, eps map[ServiceKey][]Endpoint, routes ...Route) *Router {
	t.Helper()
	r := NewRouter(m)
	r.Update(Build(routes, eps))
	return r
}

// mustPick picks for host and fails the test on error.
func mustPick(t testing.TB, r *Router, req Request) Decision {
	t.Helper()
	d, err := r.Pick(req)
	if err != nil {
		t.Fatalf("Pick(%+v): %v", req, err)
	}
	return d
}

// recv waits for a value on ch, failing the test after 5s.
func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(5 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
	panic("unreachable")
}

// recordingMetrics records what it is told.
type recordingMetrics struct {
	mu        sync.Mutex
	routed    map[string]int // "ns/route/revision"
	activated int
	rejected  map[string]int
	stages    []string // ActivationStage's, in order
}

func newRecordingMetrics() *recordingMetrics {
	return &recordingMetrics{routed: map[string]int{}, rejected: map[string]int{}}
}

func (m *recordingMetrics) Routed(ns, route, rev string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.routed[ns+"/"+route+"/"+rev]++
}

func (m *recordingMetrics) Activated(string, string, time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.activated++
}

func (m *recordingMetrics) ActivationStage(_, _, stage string, _ time.Time, _ time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.stages = append(m.stages, stage)
}

func (m *recordingMetrics) Rejected(reason string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rejected[reason]++
}
