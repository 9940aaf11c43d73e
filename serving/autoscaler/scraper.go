package autoscaler

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/rampdev/ramp/serving/queue/stats"
)

// Scraper defaults.
const (
	DefaultStatsPort = 8022
	// DefaultScrapeWorkers is sized so that pods that hang until the
	// scrape timeout cannot starve the others: at 2,000 pods a tick must
	// average 8 pods per second per worker, and 100 hanging pods hold 256
	// workers for 0.3 s of the 1 s tick, where they would hold 64 for
	// 1.25 s and make the tick miss the healthy pods queued behind them.
	// A worker is a goroutine; the connections are one per pod either way.
	DefaultScrapeWorkers = 256
	DefaultScrapeTimeout = 800 * time.Millisecond
	// maxStatsBytes bounds a /stats body.
	maxStatsBytes = 1 << 20
)

// Pod is a ready pod whose queue-proxy is scraped.
type Pod struct {
	// Revision is the revision the pod serves.
	Revision RevisionKey
	// Name is the pod's name, its identity in the Aggregator.
	Name string
	// IP is the pod's IP address.
	IP string
	// Port is the queue-proxy's admin port (DefaultStatsPort when 0).
	Port int
}

// Pods lists the pods to scrape; the controller backs it with
// EndpointSlices.
type Pods interface {
	// ReadyPods returns the pods that are ready to serve.
	ReadyPods(ctx context.Context) ([]Pod, error)
}

// ScraperConfig configures a Scraper. Zero fields take defaults.
type ScraperConfig struct {
	// Workers bounds the concurrent scrapes (default 256).
	Workers int
	// Timeout bounds one scrape (default 800 ms).
	Timeout time.Duration
	// TickTimeout bounds a whole tick (default 1 s, the tick interval), so
	// that hanging pods cannot make ticks overrun: pods not scraped in time
	// count as failed, and lose nothing (counters are cumulative).
	TickTimeout time.Duration
	// Client does the requests (default: a keep-alive client sized for
	// many pods).
	Client *http.Client
	// Logger logs scrape failures at debug level (default: none).
	Logger *zap.Logger
}

// Scraper scrapes the queue-proxies' /stats every tick and feeds the
// reports to an Aggregator and, optionally, a Store.
type Scraper struct {
	pods  Pods
	agg   *Aggregator
	store *Store
	cfg   ScraperConfig
	// sem holds a token per scrape running, across ticks: a scrape still
	// running when its tick ends keeps its worker until it finishes.
	sem chan struct{}

	mu       sync.Mutex
	errors   map[string]uint64   // by Pod.key
	inFlight map[string]struct{} // pods being scraped, by Pod.key
	cursor   int                 // where the next tick starts in the pod list
}

// TickResult counts the outcome of one tick.
type TickResult struct {
	// Scraped and Failed count the pods scraped and the scrapes that failed.
	Scraped, Failed int
}

// NewScraper returns a Scraper of pods feeding agg and store (which may
// be nil).
func NewScraper(pods Pods, agg *Aggregator, store *Store, cfg ScraperConfig) *Scraper {
	if cfg.Workers <= 0 {
		cfg.Workers = DefaultScrapeWorkers
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultScrapeTimeout
	}
	if cfg.TickTimeout <= 0 {
		cfg.TickTimeout = time.Second
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: cfg.Timeout, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConnsPerHost: 2,
			IdleConnTimeout:     30 * time.Second,
			DisableCompression:  true,
			// One connection per pod stays open between ticks, each with
			// these buffers: a scrape's request is about 100 bytes, its
			// answer 1 to 3 KB (the default is 4 KB each, 16 MB at 2,000
			// pods).
			WriteBufferSize: 512,
			ReadBufferSize:  4 << 10,
		}}
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	return &Scraper{pods: pods, agg: agg, store: store, cfg: cfg, sem: make(chan struct{}, cfg.Workers),
		errors: map[string]uint64{}, inFlight: map[string]struct{}{}}
}

// Run calls Tick for every time received from ticks (e.g. a
// time.Ticker's channel, or a test's) until ctx is done, then pruning the
// Aggregator and Store. Errors are logged, never fatal.
func (s *Scraper) Run(ctx context.Context, ticks <-chan time.Time) {
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-ticks:
			if _, err := s.Tick(ctx, now); err != nil {
				s.cfg.Logger.Warn("autoscaler scrape tick failed", zap.Error(err))
			}
			s.agg.Prune(now)
			if s.store != nil {
				s.store.Prune(now)
			}
		}
	}
}

// Tick scrapes every ready pod once, concurrently on at most Workers
// goroutines, and records the reports at now. A failed scrape only
// increments the pod's error count.
//
// At TickTimeout the tick stops starting scrapes and returns; the pods
// it did not start, and those still being scraped, count as failed in
// its result. A scrape still running is not cancelled (only its own
// Timeout does that): cancelling a request closes its keep-alive
// connection, and when ticks overrun (a CPU-starved controller) every
// tick would then dial again the connections the previous one
// cancelled, overrunning further. Its report is recorded when it arrives,
// and its pod is skipped by the next tick if it is still running then.
// Each tick starts where the previous one stopped starting scrapes, so
// that an overloaded scraper skips different pods each second rather
// than the same ones every time.
func (s *Scraper) Tick(ctx context.Context, now time.Time) (TickResult, error) {
	pods, err := s.pods.ReadyPods(ctx)
	if err != nil {
		return TickResult{}, fmt.Errorf("listing ready pods: %w", err)
	}
	// The tick's deadline; the scrapes themselves run on ctx.
	tickCtx, cancel := context.WithTimeout(ctx, s.cfg.TickTimeout)
	defer cancel()
	var res TickResult
	done := make(chan error, len(pods)) // buffered: late scrapes never block
	started := 0
	s.mu.Lock()
	first := s.cursor % max(len(pods), 1)
	s.mu.Unlock()
	n := 0
dispatch:
	for ; n < len(pods) && tickCtx.Err() == nil; n++ {
		p := pods[(first+n)%len(pods)]
		if !s.claim(p) {
			s.countError(p)
			res.Failed++ // its previous scrape is still running
			continue
		}
		select {
		case s.sem <- struct{}{}:
		case <-tickCtx.Done():
			s.unclaim(p)
			break dispatch
		}
		started++
		go func() {
			defer func() {
				<-s.sem
				s.unclaim(p)
			}()
			done <- s.scrape(ctx, now, p)
		}()
	}
	for i := n; i < len(pods); i++ {
		s.countError(pods[(first+i)%len(pods)])
		res.Failed++ // not started in time
	}
	s.mu.Lock()
	s.cursor = first + n
	s.mu.Unlock()
	collected := 0
	count := func(err error) {
		collected++
		if err != nil {
			res.Failed++
		} else {
			res.Scraped++
		}
	}
collect:
	for collected < started {
		select {
		case err := <-done:
			count(err)
		case <-tickCtx.Done():
			break collect
		}
	}
	// The select above picks at random between the deadline and a
	// result, so take the results that are in before giving up on the rest.
drain:
	for collected < started {
		select {
		case err := <-done:
			count(err)
		default:
			break drain
		}
	}
	res.Failed += started - collected // still running: not in time for this tick
	s.forgetErrors(pods)
	return res, nil
}

// claim marks p as being scraped, unless it already is.
func (s *Scraper) claim(p Pod) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, busy := s.inFlight[p.key()]; busy {
		return false
	}
	s.inFlight[p.key()] = struct{}{}
	return true
}

func (s *Scraper) unclaim(p Pod) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.inFlight, p.key())
}

func (s *Scraper) countError(p Pod) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.errors[p.key()]++
}

func (s *Scraper) scrape(ctx context.Context, now time.Time, p Pod) error {
	st, err := s.fetch(ctx, p)
	if err != nil {
		s.countError(p)
		s.cfg.Logger.Debug("scraping queue-proxy stats failed",
			zap.String("pod", p.Name), zap.String("ip", p.IP), zap.Error(err))
		return err
	}
	d := s.agg.Record(now, p.Revision, p.Name, st)
	if s.store != nil {
		s.store.Record(now, p.Revision, d)
	}
	return nil
}

func (s *Scraper) fetch(ctx context.Context, p Pod) (*stats.Stats, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	port := p.Port
	if port == 0 {
		port = DefaultStatsPort
	}
	url := "http://" + net.JoinHostPort(p.IP, strconv.Itoa(port)) + "/stats"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, http.NoBody)
	if err != nil {
		return nil, fmt.Errorf("scraping %s: %w", url, err)
	}
	resp, err := s.cfg.Client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scraping %s: %w", url, err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxStatsBytes))
		return nil, fmt.Errorf("scraping %s: %w", url, &StatusError{Code: resp.StatusCode})
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxStatsBytes+1))
	if err != nil {
		return nil, fmt.Errorf("scraping %s: %w", url, err)
	}
	if len(body) > maxStatsBytes {
		return nil, fmt.Errorf("scraping %s: %w", url, errTooLarge)
	}
	st, err := stats.Parse(body)
	if err != nil {
		return nil, fmt.Errorf("scraping %s: %w", url, err)
	}
	return st, nil
}

var errTooLarge = errors.New("stats body larger than 1 MiB")

// StatusError is a /stats answer other than 200 OK.
type StatusError struct {
	// Code is the HTTP status code.
	Code int
}

func (e *StatusError) Error() string {
	return "unexpected status " + strconv.Itoa(e.Code)
}

// Errors returns the number of failed scrapes of each pod still ready,
// by "namespace/name".
func (s *Scraper) Errors() map[string]uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.errors)
}

func (p Pod) key() string {
	return p.Revision.Namespace + "/" + p.Name
}

// forgetErrors drops the error counts of pods no longer listed.
func (s *Scraper) forgetErrors(pods []Pod) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.errors) == 0 {
		return
	}
	live := make(map[string]struct{}, len(pods))
	for _, p := range pods {
		live[p.key()] = struct{}{}
	}
	for name := range s.errors {
		if _, ok := live[name]; !ok {
			delete(s.errors, name)
		}
	}
}
