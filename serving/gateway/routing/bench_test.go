package routing

import (
	"fmt"
	"testing"
)

func BenchmarkPick(b *testing.B) {
	r := NewRouter(nil)
	r.Update(Build([]Route{splitRoute("ns", "svc", 33, 33, 34)}, nil))
	req := Request{Host: "svc.ns.example.com:8080", External: true}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := r.Pick(req); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkBuild(b *testing.B) {
	routes := make([]Route, 1000)
	eps := make(map[ServiceKey][]Endpoint, 2000)
	for i := range routes {
		ns, name := fmt.Sprintf("ns-%d", i%50), fmt.Sprintf("svc-%d", i)
		routes[i] = splitRoute(ns, name, 10, 90)
		routes[i].Rules = append(routes[i].Rules, tagRule(ns, name, "canary", name+"-1"))
		for j := 1; j <= 2; j++ {
			eps[ServiceKey{ns, fmt.Sprintf("%s-%d", name, j)}] = []Endpoint{
				{IP: fmt.Sprintf("10.%d.%d.1", i/250, i%250), Port: 8012},
				{IP: fmt.Sprintf("10.%d.%d.2", i/250, i%250), Port: 8012},
			}
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		Build(routes, eps)
	}
}
