package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/rampdev/ramp/serving/queue"
)

// simPod is one simulated queue-proxy: a real queue.Server, of which only
// the admin handler is served, and whose Recorder is driven by simulated
// requests, so that /stats answers with the queue-proxy's own encoder and
// real evolving counters.
type simPod struct {
	srv      *queue.Server
	rec      *queue.Recorder
	untagged *queue.TagCounters
	canary   *queue.TagCounters
	rng      *rand.Rand
	inFlight []simRequest
	// load is the pod's share of its revision's concurrency: its mean
	// number of requests in flight is load × the revision's profile.
	load float64
	prof *profile
}

type simRequest struct {
	started time.Duration // from Recorder.Start
	tag     *queue.TagCounters
	end     time.Time
	status  int
}

// profile is a revision's concurrency per pod over time: a base level,
// a slow wave and, for some revisions, a burst every few minutes, so that
// decisions change now and then as they do in a live cluster.
type profile struct {
	base, amplitude float64
	period          time.Duration
	phase           float64
	burstEvery      time.Duration // 0: no bursts
}

func (p *profile) at(t time.Duration) float64 {
	c := p.base + p.amplitude*math.Sin(2*math.Pi*t.Seconds()/p.period.Seconds()+p.phase)
	if p.burstEvery > 0 && t%p.burstEvery < 10*time.Second {
		c *= 3
	}
	return max(c, 0)
}

// Request model: lognormal latencies around 80 ms, a tenth of the traffic
// tagged "canary", 1% answered 5xx.
const (
	simStep        = 20 * time.Millisecond
	simMedianLat   = 80 * time.Millisecond
	simLatSigma    = 0.6
	simCanaryShare = 0.1
	simErrorShare  = 0.01
	simDrivers     = 4
)

// runSim serves pods stats endpoints on pods distinct loopback addresses
// (podIP) at queue.AdminPort, prints "ready" on stdout once every one
// listens, and stops when stdin closes or after maxRun.
func runSim(pods, podsPerRev int, seed uint64, maxRun time.Duration) error {
	if msg := raiseNoFile(2*pods + 64); msg != "" {
		fmt.Fprintln(os.Stderr, "simulator:", msg)
	}
	rng := rand.New(rand.NewPCG(seed, 1))
	sims := make([]*simPod, pods)
	servers := make([]*http.Server, 0, pods)
	defer func() {
		for _, s := range servers {
			_ = s.Close()
		}
	}()
	var profiles []*profile
	var conns atomic.Int64 // connections accepted, over every pod
	for i := range pods {
		rev := i / podsPerRev
		if rev == len(profiles) {
			p := &profile{base: 2 + 6*rng.Float64(), period: time.Duration(60+rng.IntN(120)) * time.Second,
				phase: 2 * math.Pi * rng.Float64()}
			p.amplitude = p.base * (0.2 + 0.5*rng.Float64())
			if rev%5 == 0 {
				p.burstEvery = time.Duration(60+rng.IntN(60)) * time.Second
			}
			profiles = append(profiles, p)
		}
		ip := podIP(i)
		srv := queue.NewServer(queue.Config{PodIP: ip, PodName: podName(i), Revision: revName(rev),
			AdminPort: queue.AdminPort}, zap.NewNop())
		rec := srv.Recorder()
		sp := &simPod{srv: srv, rec: rec, untagged: rec.Tag(nil), canary: rec.Tag([]byte("canary")),
			rng: rand.New(rand.NewPCG(seed, uint64(i)+2)), load: 0.7 + 0.6*rng.Float64(), prof: profiles[rev]}
		sims[i] = sp
		l, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(queue.AdminPort)))
		if err != nil {
			return fmt.Errorf("simulated pod %d: %w", i, err)
		}
		hs := adminServer(srv.AdminHandler())
		hs.ConnState = func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				conns.Add(1)
			}
		}
		servers = append(servers, hs)
		go func() {
			if err := hs.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
				fmt.Fprintf(os.Stderr, "simulator: pod %d: %v\n", i, err)
			}
		}()
	}
	ctx, cancel := context.WithTimeout(context.Background(), maxRun)
	defer cancel()
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin) // the bench closes stdin to stop us
		cancel()
	}()
	start := time.Now()
	var wg sync.WaitGroup
	for d := range simDrivers {
		wg.Go(func() { drive(ctx, sims[d*len(sims)/simDrivers:(d+1)*len(sims)/simDrivers], start) })
	}
	w := bufio.NewWriter(os.Stdout)
	fmt.Fprintf(w, "ready %d\n", pods)
	if err := w.Flush(); err != nil {
		return err
	}
	<-ctx.Done()
	wg.Wait()
	// The bench reads this after the autoscaler is done: with keep-alive
	// working it is one connection per pod.
	fmt.Fprintf(w, "connections %d\n", conns.Load())
	return w.Flush()
}

// adminServer serves the queue-proxy's admin handler with the timeouts
// the queue-proxy's own admin port uses (docs/limits.md), in particular
// its one-minute keep-alive, which the scraper's connections live on.
func adminServer(h http.Handler) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: time.Minute, MaxHeaderBytes: 8 << 10}
}

// drive moves the simulated requests of pods every simStep until ctx
// ends: it finishes those whose latency has elapsed and starts Poisson
// arrivals at the rate that keeps the pod's mean concurrency on its
// revision's profile (Little's law: rate = concurrency / mean latency).
func drive(ctx context.Context, pods []*simPod, start time.Time) {
	meanLat := simMedianLat.Seconds() * math.Exp(simLatSigma*simLatSigma/2)
	t := time.NewTicker(simStep)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			for _, p := range pods {
				p.step(now, now.Sub(start), meanLat)
			}
		}
	}
}

func (p *simPod) step(now time.Time, elapsed time.Duration, meanLat float64) {
	kept := p.inFlight[:0]
	for _, r := range p.inFlight {
		if now.Before(r.end) {
			kept = append(kept, r)
			continue
		}
		p.rec.Finish(r.tag, r.started, r.status)
	}
	p.inFlight = kept
	rate := p.load * p.prof.at(elapsed) / meanLat // requests per second
	for n := poisson(p.rng, rate*simStep.Seconds()); n > 0; n-- {
		r := simRequest{started: p.rec.Start(), tag: p.untagged, status: http.StatusOK}
		if p.rng.Float64() < simCanaryShare {
			r.tag = p.canary
		}
		if p.rng.Float64() < simErrorShare {
			r.status = http.StatusServiceUnavailable
		}
		lat := time.Duration(float64(simMedianLat) * math.Exp(simLatSigma*p.rng.NormFloat64()))
		r.end = now.Add(lat)
		p.inFlight = append(p.inFlight, r)
	}
}

// poisson draws from a Poisson distribution of mean lambda (Knuth's
// method; lambda is small here, a few per step).
func poisson(rng *rand.Rand, lambda float64) int {
	if lambda <= 0 {
		return 0
	}
	l, k, p := math.Exp(-lambda), 0, 1.0
	for {
		p *= rng.Float64()
		if p <= l {
			return k
		}
		k++
	}
}

// podIP is the loopback address of simulated pod i, in 127.1.0.0/16
// (other benches use 127.0.0.0/16): 250 pods per /24, from .1 to .250.
func podIP(i int) string {
	return fmt.Sprintf("127.1.%d.%d", i/250, i%250+1)
}

func podName(i int) string { return fmt.Sprintf("pod-%04d", i) }

func revName(rev int) string { return fmt.Sprintf("rev-%03d", rev) }
