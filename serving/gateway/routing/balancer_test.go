package routing

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

var (
	svcKey = ServiceKey{Namespace: "ns", Name: "svc-1"}
	ep1    = Endpoint{IP: "10.0.0.1", Port: 8012}
	ep2    = Endpoint{IP: "10.0.0.2", Port: 8012}
	ep3    = Endpoint{IP: "10.0.0.3", Port: 8012}
)

func balancerWith(t *testing.T, eps ...Endpoint) *Router {
	return routerWith(t, nil, map[ServiceKey][]Endpoint{svcKey: eps}, splitRoute("ns", "svc", 100))
}

func TestBalancerAvoidsLoadedEndpoint(t *testing.T) {
	r := balancerWith(t, ep1, ep2, ep3)
	b := r.Balancer()
	for range 5 {
		b.Acquire(ep2)
	}
	got := map[Endpoint]int{}
	for range 100 {
		ep, ok := b.Pick(svcKey)
		if !ok {
			t.Fatal("Pick: no endpoint")
		}
		got[ep]++
	}
	if got[ep2] != 0 {
		t.Errorf("the loaded endpoint got %d of 100 picks: %v", got[ep2], got)
	}
}

func TestBalancerEvenWhenIdle(t *testing.T) {
	b := balancerWith(t, ep1, ep2, ep3).Balancer()
	got := map[Endpoint]int{}
	for range 90 {
		ep, _ := b.Pick(svcKey)
		got[ep]++
	}
	for _, ep := range []Endpoint{ep1, ep2, ep3} {
		if got[ep] < 20 {
			t.Errorf("%v got %d of 90 picks, want >= 20: %v", ep, got[ep], got)
		}
	}
}

func TestBalancerSpreadsAcquiredLoad(t *testing.T) {
	b := balancerWith(t, ep1, ep2, ep3).Balancer()
	for range 30 {
		ep, _ := b.Pick(svcKey)
		b.Acquire(ep)
	}
	got := map[Endpoint]int{ep1: b.InFlight(ep1), ep2: b.InFlight(ep2), ep3: b.InFlight(ep3)}
	for ep, n := range got {
		if n < 7 || n > 13 {
			t.Errorf("%v has %d of 30 in flight: %v", ep, n, got)
		}
	}
}

func TestPickExcept(t *testing.T) {
	b := balancerWith(t, ep1, ep2, ep3).Balancer()
	cases := map[string]struct {
		tried []Endpoint
		want  map[Endpoint]bool // endpoints that may be returned
	}{
		"nothing tried":       {tried: nil, want: map[Endpoint]bool{ep1: true, ep2: true, ep3: true}},
		"one tried":           {tried: []Endpoint{ep2}, want: map[Endpoint]bool{ep1: true, ep3: true}},
		"two tried":           {tried: []Endpoint{ep3, ep1}, want: map[Endpoint]bool{ep2: true}},
		"unknown also tried":  {tried: []Endpoint{ep1, {IP: "10.9.9.9", Port: 8012}}, want: map[Endpoint]bool{ep2: true, ep3: true}},
		"all tried":           {tried: []Endpoint{ep1, ep2, ep3}, want: map[Endpoint]bool{}},
		"same IP, other port": {tried: []Endpoint{{IP: ep1.IP, Port: 9999}, ep2, ep3}, want: map[Endpoint]bool{ep1: true}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got := map[Endpoint]bool{}
			for range 50 {
				ep, ok := b.PickExcept(svcKey, tc.tried)
				if !ok {
					break
				}
				got[ep] = true
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("endpoints returned (-want +got):\n%s", diff)
			}
		})
	}
	if _, ok := b.Pick(ServiceKey{Namespace: "ns", Name: "unknown"}); ok {
		t.Error("Pick on a Service without endpoints: ok = true")
	}
}

func TestInFlightSurvivesSwaps(t *testing.T) {
	r := balancerWith(t, ep1, ep2)
	b := r.Balancer()
	release1 := b.Acquire(ep1)
	release2 := b.Acquire(ep2)
	b.Acquire(ep1)
	// ep2 leaves, ep3 arrives; ep1 stays and keeps its count.
	r.Update(Build([]Route{splitRoute("ns", "svc", 100)}, map[ServiceKey][]Endpoint{svcKey: {ep3, ep1}}))
	got := map[Endpoint]int{ep1: b.InFlight(ep1), ep2: b.InFlight(ep2), ep3: b.InFlight(ep3)}
	if diff := cmp.Diff(map[Endpoint]int{ep1: 2, ep2: 0, ep3: 0}, got); diff != "" {
		t.Errorf("in flight after swap (-want +got):\n%s", diff)
	}
	release1()
	release1() // a second call has no effect
	release2() // the endpoint is gone: harmless
	if n := b.InFlight(ep1); n != 1 {
		t.Errorf("InFlight(ep1) = %d after one release, want 1", n)
	}
	b.Acquire(Endpoint{IP: "10.9.9.9", Port: 1})() // not installed: no-op
	if diff := cmp.Diff([]Endpoint{ep1, ep3}, r.Endpoints(svcKey)); diff != "" {
		t.Errorf("Endpoints (-want +got):\n%s", diff)
	}
}
