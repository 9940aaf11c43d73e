package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"go.uber.org/zap"

	"github.com/rampdev/ramp/serving/apiauth"
	"github.com/rampdev/ramp/serving/gateway/routing"
)

// activatePath is the autoscaler's activation endpoint
// (controllers/autoscaler.ActivatePath; the gateway does not import the
// controller).
const activatePath = "/activate/"

// Resolver lists the base URLs of the autoscaler's replicas.
type Resolver interface {
	Resolve(ctx context.Context) ([]string, error)
}

// StaticResolver always returns the same URLs.
type StaticResolver []string

// Resolve implements Resolver.
func (s StaticResolver) Resolve(context.Context) ([]string, error) { return s, nil }

// ServiceResolver finds the autoscaler through its Service's ready
// EndpointSlice addresses (there is no cluster DNS or kube-proxy on the
// local cluster, and only the leader answers). It reads the API directly,
// caching the answer for TTL. An answer older than TTL is still used while
// a fresh one is read in the background: reading the API first would put
// a round trip to it in front of every scale from zero more than TTL after
// the last. A signal that fails drops the cache (forget), so the next one
// reads the API before posting.
type ServiceResolver struct {
	Reader  client.Reader
	Service types.NamespacedName
	Port    int
	TTL     time.Duration

	mu         sync.Mutex
	urls       []string
	fetched    time.Time
	refreshing bool
}

// Resolve implements Resolver.
func (r *ServiceResolver) Resolve(ctx context.Context) ([]string, error) {
	r.mu.Lock()
	if len(r.urls) > 0 {
		urls := r.urls
		if time.Since(r.fetched) >= r.TTL && !r.refreshing {
			r.refreshing = true
			go r.refresh()
		}
		r.mu.Unlock()
		return urls, nil
	}
	r.mu.Unlock()
	return r.fetch(ctx)
}

// refresh reads the addresses again in the background; on failure the
// old ones stay until a signal fails.
func (r *ServiceResolver) refresh() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, _ = r.fetch(ctx)
	r.mu.Lock()
	r.refreshing = false
	r.mu.Unlock()
}

func (r *ServiceResolver) fetch(ctx context.Context) ([]string, error) {
	ips, err := ReadyAddresses(ctx, r.Reader, r.Service)
	if err != nil {
		return nil, err
	}
	urls := make([]string, 0, len(ips))
	for _, ip := range ips {
		urls = append(urls, "http://"+net.JoinHostPort(ip, strconv.Itoa(r.Port)))
	}
	if len(urls) == 0 {
		return nil, fmt.Errorf("no ready endpoint of autoscaler service %s", r.Service)
	}
	r.mu.Lock()
	r.urls, r.fetched = urls, time.Now()
	r.mu.Unlock()
	return urls, nil
}

// ReadyAddresses lists the address of each ready endpoint of a Service, from
// its EndpointSlices (there is no cluster DNS or kube-proxy on the local
// cluster): the controller finds the gateway replicas this way, and the
// gateway the autoscaler's.
func ReadyAddresses(ctx context.Context, r client.Reader, svc types.NamespacedName) ([]string, error) {
	var slices discoveryv1.EndpointSliceList
	err := r.List(ctx, &slices, client.InNamespace(svc.Namespace), client.MatchingLabels{discoveryv1.LabelServiceName: svc.Name})
	if err != nil {
		return nil, fmt.Errorf("listing endpoints of %s: %w", svc, err)
	}
	var ips []string
	for _, s := range slices.Items {
		for _, ep := range s.Endpoints {
			if ep.Conditions.Ready == nil || !*ep.Conditions.Ready || len(ep.Addresses) == 0 {
				continue
			}
			ips = append(ips, ep.Addresses[0])
		}
	}
	return ips, nil
}

// forget drops the cache after a failed signal.
func (r *ServiceResolver) forget() {
	r.mu.Lock()
	r.urls = nil
	r.mu.Unlock()
}

// HTTPSignaller asks the autoscaler to scale a revision from zero by
// POSTing to its activation endpoint on every replica until one (the
// leader) accepts. When no replica accepts (a leader change, say), it keeps
// retrying in the background every RetryInterval while any request that
// signalled the revision still waits, so requests already waiting are not
// stranded. A revision has one retry loop at most: while it runs, further
// signals of that revision join it instead of posting, so an unreachable
// autoscaler gets one post per RetryInterval per revision, not one per
// waiting request.
type HTTPSignaller struct {
	Resolver      Resolver
	Client        *http.Client
	Log           *zap.Logger
	RetryInterval time.Duration
	// Token is sent as the bearer token: the gateway's ServiceAccount
	// token for apiauth.AutoscalerAudience, whose account may create
	// serving.ramp.dev revisions/activate.
	Token apiauth.TokenSource

	mu       sync.Mutex
	retrying map[string][]context.Context // by "namespace/revision": the waiting requests' contexts
}

var _ routing.ScaleSignaller = (*HTTPSignaller)(nil)

// NewHTTPSignaller returns a signaller with a short-timeout client.
func NewHTTPSignaller(r Resolver, log *zap.Logger) *HTTPSignaller {
	return &HTTPSignaller{Resolver: r, Client: &http.Client{Timeout: 2 * time.Second}, Log: log,
		RetryInterval: 500 * time.Millisecond}
}

// Signal implements routing.ScaleSignaller: one attempt now, and on
// failure retries in the background while ctx (or the context of a later
// signal of the revision) lasts.
func (s *HTTPSignaller) Signal(ctx context.Context, namespace, revision string) error {
	key := namespace + "/" + revision
	s.mu.Lock()
	if waiting, ok := s.retrying[key]; ok {
		s.retrying[key] = append(waiting, ctx)
		s.mu.Unlock()
		return nil // the retry loop signals for this request too
	}
	s.mu.Unlock()
	err := s.signal(ctx, namespace, revision)
	if err == nil {
		return nil
	}
	s.Log.Warn("Scale-from-zero signal failed; retrying while requests wait",
		zap.String("namespace", namespace), zap.String("revision", revision), zap.Error(err))
	s.mu.Lock()
	defer s.mu.Unlock()
	if waiting, ok := s.retrying[key]; ok { // another loop started meanwhile
		s.retrying[key] = append(waiting, ctx)
		return err
	}
	if s.retrying == nil {
		s.retrying = map[string][]context.Context{}
	}
	s.retrying[key] = []context.Context{ctx}
	go s.retry(key, namespace, revision)
	return err
}

// retry signals every RetryInterval until a signal is delivered or no
// request waits any more.
func (s *HTTPSignaller) retry(key, namespace, revision string) {
	t := time.NewTicker(s.RetryInterval)
	defer t.Stop()
	for range t.C {
		ctx := s.waiting(key)
		if ctx == nil {
			return
		}
		if s.signal(ctx, namespace, revision) == nil {
			s.mu.Lock()
			delete(s.retrying, key)
			s.mu.Unlock()
			s.Log.Info("Scale-from-zero signal delivered after retrying",
				zap.String("namespace", namespace), zap.String("revision", revision))
			return
		}
	}
}

// waiting returns the context of a request still waiting for key, dropping
// those that ended; nil, and the loop forgotten, when none is left.
func (s *HTTPSignaller) waiting(key string) context.Context {
	s.mu.Lock()
	defer s.mu.Unlock()
	ctxs := s.retrying[key]
	for len(ctxs) > 0 && ctxs[0].Err() != nil {
		ctxs = ctxs[1:]
	}
	if len(ctxs) == 0 {
		delete(s.retrying, key)
		return nil
	}
	s.retrying[key] = ctxs
	return ctxs[0]
}

func (s *HTTPSignaller) signal(ctx context.Context, namespace, revision string) error {
	urls, err := s.Resolver.Resolve(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, base := range urls {
		err := s.post(ctx, base+activatePath+url.PathEscape(namespace)+"/"+url.PathEscape(revision))
		if err == nil {
			return nil
		}
		errs = append(errs, err)
	}
	if f, ok := s.Resolver.(interface{ forget() }); ok {
		f.forget()
	}
	return fmt.Errorf("signalling scale-from-zero of %s/%s: %w", namespace, revision, errors.Join(errs...))
}

func (s *HTTPSignaller) post(ctx context.Context, u string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, nil)
	if err != nil {
		return err
	}
	if s.Token != nil {
		if err := apiauth.SetToken(req, s.Token); err != nil {
			return fmt.Errorf("the gateway's token for the autoscaler: %w", err)
		}
	}
	resp, err := s.Client.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s: %d %s", u, resp.StatusCode, strings.TrimSpace(string(body)))
	}
	return nil
}
