package gateway

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/rampdev/ramp/serving/gateway/routing"
)

// Probing of starting pods: an EndpointSlice lists a revision pod as soon
// as it has an IP, not ready until the kubelet's readiness probe passes
// and its status reaches the API, and the EndpointSlice controller writes
// the slice again. Those two writes and their watches come after the pod
// could serve: on a busy control plane, hundreds of milliseconds of a
// scale from zero. So the gateway probes the queue-proxy of each starting
// pod itself (its readiness endpoint, which checks the user container as
// the kubelet's probe does) and routes to a pod once that passes, as
// Knative's activator does. A pod the slice marks terminating is never
// probed or routed to.
const (
	// startingProbeInterval is the time between two probes of a starting
	// pod.
	startingProbeInterval = 10 * time.Millisecond
	// startingProbeTimeout bounds one probe.
	startingProbeTimeout = 250 * time.Millisecond
	// startingProbeFor bounds how long a pod is probed after it is first
	// listed: one that is not ready by then waits for its EndpointSlice.
	startingProbeFor = time.Minute
	// readyPath is the queue-proxy's readiness endpoint on its admin port
	// (serving/queue.ReadyPath).
	readyPath = "/ready"
)

// startingEndpoint is a pod an EndpointSlice lists as not ready and not
// terminating: its traffic endpoint and its queue-proxy's admin address.
type startingEndpoint struct {
	svc   routing.ServiceKey
	ep    routing.Endpoint
	admin string // host:port
}

// startingProber probes starting pods and tells, through changed, when a
// pod's verdict flips.
type startingProber struct {
	client   *http.Client
	interval time.Duration
	probeFor time.Duration
	changed  func()

	mu     sync.Mutex
	probes map[routing.Endpoint]*startingProbe
}

type startingProbe struct {
	at     startingEndpoint
	ready  bool
	cancel context.CancelFunc
}

func newStartingProber(changed func()) *startingProber {
	return &startingProber{
		client: &http.Client{Timeout: startingProbeTimeout, Transport: &http.Transport{DisableKeepAlives: true},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		interval: startingProbeInterval, probeFor: startingProbeFor, changed: changed,
		probes: map[routing.Endpoint]*startingProbe{},
	}
}

// Track makes the probed set the given starting pods: it starts probing
// new ones and stops (and forgets) those no longer listed as starting.
func (p *startingProber) Track(starting []startingEndpoint) {
	p.mu.Lock()
	defer p.mu.Unlock()
	keep := make(map[routing.Endpoint]bool, len(starting))
	for _, s := range starting {
		keep[s.ep] = true
		if old := p.probes[s.ep]; old != nil && old.at == s {
			continue
		} else if old != nil {
			old.cancel()
		}
		ctx, cancel := context.WithTimeout(context.Background(), p.probeFor)
		pr := &startingProbe{at: s, cancel: cancel}
		p.probes[s.ep] = pr
		go p.loop(ctx, pr)
	}
	for ep, pr := range p.probes {
		if !keep[ep] {
			pr.cancel()
			delete(p.probes, ep)
		}
	}
}

// Ready returns the starting pods whose latest probe passed, by Service.
func (p *startingProber) Ready() map[routing.ServiceKey][]routing.Endpoint {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[routing.ServiceKey][]routing.Endpoint{}
	for _, pr := range p.probes {
		if pr.ready {
			out[pr.at.svc] = append(out[pr.at.svc], pr.at.ep)
		}
	}
	return out
}

// Stop stops every probe.
func (p *startingProber) Stop() { p.Track(nil) }

// loop probes one pod until ctx ends, reporting each change of verdict;
// when it ends the pod counts as not ready (it waits for its slice).
func (p *startingProber) loop(ctx context.Context, pr *startingProbe) {
	defer p.set(pr, false)
	t := time.NewTicker(p.interval)
	defer t.Stop()
	for {
		p.set(pr, p.probe(ctx, pr.at.admin) == nil && ctx.Err() == nil)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (p *startingProber) set(pr *startingProbe, ready bool) {
	p.mu.Lock()
	changed := pr.ready != ready && p.probes[pr.at.ep] == pr
	pr.ready = ready
	p.mu.Unlock()
	if changed {
		p.changed()
	}
}

func (p *startingProber) probe(ctx context.Context, admin string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+admin+readyPath, nil)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", "ramp-gateway-probe")
	resp, err := p.client.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<10))
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return errNotReady
	}
	return nil
}

var errNotReady = errors.New("queue-proxy not ready")

func adminAddr(ip string, port int) string { return net.JoinHostPort(ip, strconv.Itoa(port)) }
