package route

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/rampdev/ramp/serving/apiauth"
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

// The gateway's admin API lets only accounts allowed to list
// serving.ramp.dev routes/hashes read them, with a token for
// apiauth.GatewayAudience (serving/apiauth).
//
// +kubebuilder:rbac:groups=serving.ramp.dev,resources=routes/hashes,verbs=list

// HTTPProber asks each ready gateway replica, found through the EndpointSlices
// of the gateway's Service, for the hashes it has applied. Answers are cached
// briefly so that many routes reconciling at once cost one request per
// replica.
type HTTPProber struct {
	Client  client.Reader
	Service types.NamespacedName // the gateway's Kubernetes Service
	HTTP    *http.Client
	TTL     time.Duration
	// Token is sent as the bearer token: the controller's ServiceAccount
	// token for apiauth.GatewayAudience.
	Token apiauth.TokenSource

	mu      sync.Mutex
	fetched time.Time
	hashes  map[string]map[string]string // replica IP -> route -> hash
	errs    map[string]error             // replica IP -> why it answered nothing
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
		why := fmt.Sprintf("%d of %d gateway replicas have applied routing table %s", have, len(all), hash)
		if err := p.firstError(); err != nil {
			why += fmt.Sprintf(" (%v)", err)
		}
		return false, why, nil
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
	errs := map[string]error{}
	for _, ip := range ips {
		hashes, err := p.fetchHashes(ctx, hc, ip)
		if err != nil {
			hashes = map[string]string{} // an unreachable replica has applied nothing
			errs[ip] = err
		}
		out[ip] = hashes
	}
	p.hashes, p.errs, p.fetched = out, errs, time.Now()
	return out, nil
}

// firstError is one replica's failure of the last round, to explain a
// route that is not programmed (a refused token, say).
func (p *HTTPProber) firstError() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	var first string
	for ip := range p.errs {
		if first == "" || ip < first {
			first = ip
		}
	}
	if first == "" {
		return nil
	}
	return p.errs[first]
}

func (p *HTTPProber) fetchHashes(ctx context.Context, hc *http.Client, ip string) (map[string]string, error) {
	url := "http://" + net.JoinHostPort(ip, strconv.Itoa(gateway.AdminPort)) + gateway.HashesPath
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	if p.Token != nil {
		if err := apiauth.SetToken(req, p.Token); err != nil {
			return nil, fmt.Errorf("the controller's token for the gateway: %w", err)
		}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, fmt.Errorf("GET %s: %s: %s", url, resp.Status, strings.TrimSpace(string(body)))
	}
	var hashes map[string]string
	if err := json.NewDecoder(resp.Body).Decode(&hashes); err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	return hashes, nil
}
