package autoscaler

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

type staticPods struct {
	pods []Pod
	err  error
}

func (s staticPods) ReadyPods(context.Context) ([]Pod, error) { return s.pods, s.err }

// statsServer serves a fakePod's report on 127.0.0.1 and returns it as a
// Pod.
func statsServer(t *testing.T, name string, h http.HandlerFunc) Pod {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	host, port, err := net.SplitHostPort(srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	p, _ := strconv.Atoi(port)
	return Pod{Revision: rev, Name: name, IP: host, Port: p}
}

func serveStats(fp *fakePod, mu *sync.Mutex, conc float64) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/stats" {
			http.NotFound(w, r)
			return
		}
		mu.Lock()
		s := fp.run(time.Second, conc, 10, 1, 5*time.Millisecond)
		mu.Unlock()
		_ = json.NewEncoder(w).Encode(s)
	}
}

func TestScraperTick(t *testing.T) {
	var mu sync.Mutex
	release := make(chan struct{})
	defer close(release)
	good1 := statsServer(t, "good-1", serveStats(newFakePod("good-1", t0), &mu, 3))
	good2 := statsServer(t, "good-2", serveStats(newFakePod("good-2", t0), &mu, 4))
	failing := statsServer(t, "failing", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
	})
	garbage := statsServer(t, "garbage", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`{"v":`))
	})
	hanging := statsServer(t, "hanging", func(_ http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	closed := statsServer(t, "closed", nil)
	closed.Port = func() int { // a port with nothing listening
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = l.Close() }()
		return l.Addr().(*net.TCPAddr).Port
	}()

	agg := NewAggregator(AggregatorConfig{})
	store := NewStore(0)
	pods := staticPods{pods: []Pod{good1, good2, failing, garbage, hanging, closed}}
	s := NewScraper(pods, agg, store, ScraperConfig{Workers: 3, Timeout: 200 * time.Millisecond})
	ctx := context.Background()
	for i := 1; i <= 3; i++ {
		res, err := s.Tick(ctx, t0.Add(time.Duration(i)*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(TickResult{Scraped: 2, Failed: 4}, res); diff != "" {
			t.Errorf("tick %d (-want +got):\n%s", i, diff)
		}
	}
	m := agg.Metrics(t0.Add(3*time.Second), rev)
	if m.PanicConcurrency != 7 || m.Pods != 2 {
		t.Errorf("metrics = %+v, want concurrency 7 from 2 pods", m)
	}
	sum, err := store.Window(ctx, rev.Namespace, rev.Name, AllTags, t0, t0.Add(4*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	// First reports of new pods count in full: 3 reports × 10 × 2 pods.
	if sum.Requests != 60 || sum.Errors5xx != 6 {
		t.Errorf("store window = %d requests %d 5xx, want 60, 6", sum.Requests, sum.Errors5xx)
	}
	want := map[string]uint64{"ns/failing": 3, "ns/garbage": 3, "ns/hanging": 3, "ns/closed": 3}
	if diff := cmp.Diff(want, s.Errors()); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}

	// Pods that are gone lose their error counts.
	s.pods = staticPods{pods: []Pod{good1}}
	if _, err := s.Tick(ctx, t0.Add(4*time.Second)); err != nil {
		t.Fatal(err)
	}
	if got := s.Errors(); len(got) != 0 {
		t.Errorf("errors after pods left = %v", got)
	}
}

func TestScraperPodsError(t *testing.T) {
	boom := errors.New("boom")
	s := NewScraper(staticPods{err: boom}, NewAggregator(AggregatorConfig{}), nil, ScraperConfig{})
	if _, err := s.Tick(context.Background(), t0); !errors.Is(err, boom) {
		t.Errorf("Tick error = %v, want wrapping %v", err, boom)
	}
}

func TestScraperRun(t *testing.T) {
	var mu sync.Mutex
	p := statsServer(t, "p", serveStats(newFakePod("p", t0), &mu, 2))
	agg := NewAggregator(AggregatorConfig{})
	s := NewScraper(staticPods{pods: []Pod{p}}, agg, NewStore(0), ScraperConfig{})
	ctx, cancel := context.WithCancel(context.Background())
	ticks := make(chan time.Time)
	done := make(chan struct{})
	go func() {
		s.Run(ctx, ticks)
		close(done)
	}()
	for i := 1; i <= 3; i++ {
		ticks <- t0.Add(time.Duration(i) * time.Second)
	}
	ticks <- t0.Add(4 * time.Second) // the 3rd tick is done once the 4th is taken
	cancel()
	<-done
	if m := agg.Metrics(t0.Add(4*time.Second), rev); m.PanicConcurrency != 2 {
		t.Errorf("concurrency = %g, want 2", m.PanicConcurrency)
	}
}

func TestScraperTickTimeout(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	var pods []Pod
	for i := range 5 {
		pods = append(pods, statsServer(t, "hanging-"+strconv.Itoa(i), func(_ http.ResponseWriter, r *http.Request) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}))
	}
	s := NewScraper(staticPods{pods: pods}, NewAggregator(AggregatorConfig{}), nil,
		ScraperConfig{Workers: 1, Timeout: time.Minute, TickTimeout: 100 * time.Millisecond})
	res, err := s.Tick(context.Background(), t0)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(TickResult{Failed: 5}, res); diff != "" {
		t.Errorf("tick (-want +got):\n%s", diff)
	}
}

// TestScraperLateScrapeKeepsItsConnection: a scrape still running when
// its tick ends counts as failed for that tick but is not cancelled: its
// report is recorded when it arrives, the next tick skips the pod while it
// runs, and the pod's keep-alive connection survives (cancelling would
// close it, and an overrunning scraper would redial every pod it was late
// for).
func TestScraperLateScrapeKeepsItsConnection(t *testing.T) {
	var (
		mu       sync.Mutex
		fp       = newFakePod("slow", t0)
		requests int
		conns    int
	)
	release := make(chan struct{})
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		requests++
		first := requests == 1
		mu.Unlock()
		if first {
			<-release // the first scrape outlives its tick
		}
		serveStats(fp, &mu, 2)(w, r)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			mu.Lock()
			conns++
			mu.Unlock()
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	addr := srv.Listener.Addr().(*net.TCPAddr)
	pod := Pod{Revision: rev, Name: "slow", IP: addr.IP.String(), Port: addr.Port}
	agg := NewAggregator(AggregatorConfig{})
	s := NewScraper(staticPods{pods: []Pod{pod}}, agg, nil,
		ScraperConfig{Timeout: time.Minute, TickTimeout: 100 * time.Millisecond})
	ctx := context.Background()

	res, err := s.Tick(ctx, t0)
	if err != nil || res != (TickResult{Failed: 1}) {
		t.Fatalf("tick 1 = %+v, %v; want 1 failed (late)", res, err)
	}
	res, err = s.Tick(ctx, t0.Add(time.Second))
	if err != nil || res != (TickResult{Failed: 1}) {
		t.Fatalf("tick 2 = %+v, %v; want 1 failed (still running)", res, err)
	}
	close(release)
	deadline := time.Now().Add(10 * time.Second)
	for agg.Metrics(t0, rev).Pods == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the late report was never recorded")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The claim is released just after the report is recorded.
	for {
		res, err = s.Tick(ctx, t0.Add(2*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if res.Scraped == 1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if res != (TickResult{Scraped: 1}) {
		t.Fatalf("tick 3 = %+v; want 1 scraped", res)
	}
	mu.Lock()
	defer mu.Unlock()
	if conns != 1 {
		t.Errorf("connections = %d, want 1 (the late scrape's, kept alive)", conns)
	}
}
