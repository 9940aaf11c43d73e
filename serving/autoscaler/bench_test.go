//go:build unix

package autoscaler

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/rampdev/ramp/serving/queue/stats"
)

const benchPods = 2000

// benchReport is a realistic /stats body: latencies over ~20 buckets, two
// tags.
func benchReport(b *testing.B, name string) []byte {
	b.Helper()
	fp := newFakePod(name, t0)
	for i := range 20 {
		fp.run(time.Second, 5, 100, 1, time.Duration(i+1)*3*time.Millisecond)
	}
	s := fp.run(time.Second, 5, 100, 1, 10*time.Millisecond)
	s.ByTag = map[string]stats.TagStats{
		"":       {Requests: s.RequestCount - 10, Latency: s.Latency},
		"canary": {Requests: 10, Errors5xx: 1, Latency: s.Latency},
	}
	body, err := json.Marshal(s)
	if err != nil {
		b.Fatal(err)
	}
	return body
}

// memTransport answers /stats from memory by host, so only the scraper's
// CPU is measured.
type memTransport map[string][]byte

func (m memTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	body, ok := m[r.URL.Host]
	if !ok {
		return nil, fmt.Errorf("no pod at %s", r.URL.Host)
	}
	return &http.Response{StatusCode: http.StatusOK, Header: http.Header{}, ContentLength: int64(len(body)),
		Body: io.NopCloser(bytes.NewReader(body)), Request: r}, nil
}

// cpuTime is the CPU time (user + system) this process has used.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// measureCores runs tick b.N times and reports the CPU it used per tick
// in seconds, which at one tick a second is the share of a core used.
func measureCores(b *testing.B, tick func(i int)) {
	b.ReportAllocs()
	b.ResetTimer()
	start := cpuTime(b)
	for i := 0; b.Loop(); i++ {
		tick(i)
	}
	b.ReportMetric((cpuTime(b)-start).Seconds()/float64(b.N), "cpu-cores@1Hz")
}

// BenchmarkScrape2000Pods is one tick over 2,000 pods with in-memory
// responses: ns/op / 1e9 is the CPU share at one tick a second.
func BenchmarkScrape2000Pods(b *testing.B) {
	mt := memTransport{}
	pods := make([]Pod, benchPods)
	for i := range pods {
		name := "pod-" + strconv.Itoa(i)
		ip := fmt.Sprintf("10.0.%d.%d", i/250, i%250+1)
		pods[i] = Pod{Revision: RevisionKey{"ns", "rev-" + strconv.Itoa(i%50)}, Name: name, IP: ip}
		mt[net.JoinHostPort(ip, strconv.Itoa(DefaultStatsPort))] = benchReport(b, name)
	}
	// These benchmarks measure CPU per tick, not timeliness (that is
	// test/benchautoscaler's): a generous TickTimeout keeps a busy machine
	// from failing them.
	s := NewScraper(staticPods{pods: pods}, NewAggregator(AggregatorConfig{}), NewStore(0),
		ScraperConfig{Client: &http.Client{Transport: mt}, TickTimeout: time.Minute})
	ctx := context.Background()
	measureCores(b, func(i int) {
		res, err := s.Tick(ctx, t0.Add(time.Duration(i)*time.Second))
		if err != nil || res.Scraped != benchPods {
			b.Fatalf("tick: %+v, %v", res, err)
		}
	})
}

// BenchmarkScrape2000PodsLoopback is the same over real HTTP: 20 loopback
// listeners, each standing in for 100 pods. The handlers' CPU is included.
func BenchmarkScrape2000PodsLoopback(b *testing.B) {
	pods := make([]Pod, 0, benchPods)
	for l := range 20 {
		body := benchReport(b, "pod")
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write(body)
		}))
		b.Cleanup(srv.Close)
		addr := srv.Listener.Addr().(*net.TCPAddr)
		for i := range 100 {
			pods = append(pods, Pod{Revision: RevisionKey{"ns", "rev"}, Name: fmt.Sprintf("pod-%d-%d", l, i),
				IP: addr.IP.String(), Port: addr.Port})
		}
	}
	// Two workers per listener, as many as the connections the scraper
	// keeps per host: a pod is a host of its own in a cluster, and more
	// concurrent scrapes of one listener would measure redials instead.
	s := NewScraper(staticPods{pods: pods}, NewAggregator(AggregatorConfig{}), NewStore(0), ScraperConfig{Workers: 40, TickTimeout: time.Minute})
	ctx := context.Background()
	measureCores(b, func(i int) {
		res, err := s.Tick(ctx, t0.Add(time.Duration(i)*time.Second))
		if err != nil || res.Scraped != benchPods {
			b.Fatalf("tick: %+v, %v", res, err)
		}
	})
}
