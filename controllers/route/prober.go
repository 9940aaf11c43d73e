package route

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/rampdev/ramp/serving/gateway"
)

// GatewayProber tells whether every gateway replica has applied a route's
// routing table.
type GatewayProber interface {
	// Programmed reports whether all replicas report hash for the route, with
	// a one-line explanation when they do not.
	Programmed(ctx context.Context, route types.NamespacedName, hash string) (bool, string, error)
}

var _ GatewayProber = (*HTTPProber)(nil)

// HTTPProber asks each ready gateway replica, found through the EndpointSlices
// of the gateway's Service, for the hashes it has applied. Answers are cached
// briefly so that many routes reconciling at once cost one request per
// replica.
type HTTPProber struct {
	Client  client.Reader
	Service types.NamespacedName // the gateway's Kubernetes Service
	HTTP    *http.Client
	TTL     time.Duration

	mu      sync.Mutex
	fetched time.Time
	hashes  map[string]map[string]string // replica IP -> route -> hash
}

// Programmed implements GatewayProber.
func (p *HTTPProber) Programmed(ctx context.Context, route types.NamespacedName, hash string) (bool, string, error) {
	all, err := p.replicaHashes(ctx)
	if err != nil {
		return false, "", err
	}
	if len(all) == 0 {
		return false, fmt.Sprintf("no ready gateway replica behind service %s", p.Service), nil
	}
	key := route.Namespace + "/" + route.Name
	have := 0
	for _, hashes := range all {
		if hashes[key] == hash {
			have++
		}
	}
	if have < len(all) {
		return false, fmt.Sprintf("%d of %d gateway replicas have applied routing table %s", have, len(all), hash), nil
	}
	return true, "", nil
}

func (p *HTTPProber) replicaHashes(ctx context.Context) (map[string]map[string]string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ttl := p.TTL
	if ttl == 0 {
		ttl = 250 * time.Millisecond
	}
	if p.hashes != nil && time.Since(p.fetched) < ttl {
		return p.hashes, nil
	}
	ips, err := gateway.ReadyAddresses(ctx, p.Client, p.Service)
	if err != nil {
		return nil, fmt.Errorf("listing gateway endpoints: %w", err)
	}
	hc := p.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 2 * time.Second}
	}
	out := map[string]map[string]string{}
	for _, ip := range ips {
		hashes, err := fetchHashes(ctx, hc, ip)
		if err != nil {
			hashes = map[string]string{} // an unreachable replica has applied nothing
		}
		out[ip] = hashes
	}
	p.hashes, p.fetched = out, time.Now()
	return out, nil
}

func fetchHashes(ctx context.Context, hc *http.Client, ip string) (map[string]string, error) {
	url := "http://" + net.JoinHostPort(ip, strconv.Itoa(gateway.AdminPort)) + gateway.HashesPath
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	var hashes map[string]string
	if err := json.NewDecoder(resp.Body).Decode(&hashes); err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	return hashes, nil
}
