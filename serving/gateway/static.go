package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/rampdev/ramp/serving/gateway/routing"
)

// StaticConfig is a routing table given as a file, for running the gateway
// without Kubernetes (benchmarks, debugging):
//
//	{"routes": [{"Namespace": "default", "Name": "hello", "Hash": "h1",
//	             "Rules": [{"Hosts": ["hello.default.example.com"],
//	                        "Backends": [{"Revision": "hello-00001", "Percent": 100}]}]}],
//	 "endpoints": [{"namespace": "default", "service": "hello-00001", "ip": "127.0.0.5", "port": 8012}]}
type StaticConfig struct {
	Routes    []routing.Route  `json:"routes"`
	Endpoints []StaticEndpoint `json:"endpoints"`
}

// StaticEndpoint is one ready pod of a revision Service.
type StaticEndpoint struct {
	Namespace string `json:"namespace"`
	Service   string `json:"service"`
	IP        string `json:"ip"`
	Port      int    `json:"port"`
}

// LoadStaticConfig reads and checks a StaticConfig file.
func LoadStaticConfig(path string) (*StaticConfig, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading static config: %w", err)
	}
	var c StaticConfig
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("static config %s: %w", path, err)
	}
	for i, ep := range c.Endpoints {
		if ep.Service == "" || ep.IP == "" || ep.Port <= 0 {
			return nil, fmt.Errorf("static config %s: endpoints[%d] needs service, ip and port", path, i)
		}
	}
	return &c, nil
}

// RunStatic serves a fixed routing table until ctx ends.
func RunStatic(ctx context.Context, c *StaticConfig, o Options, log *zap.Logger) error {
	reg := prometheus.NewRegistry()
	rec := NewRecorder(reg)
	router := routing.NewRouter(rec)
	eps := map[routing.ServiceKey][]routing.Endpoint{}
	hashes := map[string]string{}
	for _, ep := range c.Endpoints {
		k := routing.ServiceKey{Namespace: ep.Namespace, Name: ep.Service}
		eps[k] = append(eps[k], routing.Endpoint{IP: ep.IP, Port: ep.Port})
	}
	for _, r := range c.Routes {
		hashes[r.Namespace+"/"+r.Name] = r.Hash
	}
	router.Update(routing.Build(c.Routes, eps))
	act := routing.NewActivator(router, o.activatorConfig(routing.NopSignaller{}))
	return serve(ctx, o, log, servingState{router: router, activator: act, recorder: rec, registry: reg,
		synced: func() bool { return true }, hashes: func() map[string]string { return hashes }})
}
