package gateway

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	"go.uber.org/zap"

	"github.com/rampdev/ramp/serving/gateway/routing"
)

// Idle keep-alive connections the gateway must hold cheaply, and what they
// may cost it.
const (
	idleConns     = 10_000
	idleBudgetMB  = 200
	idleClientEnv = "RAMP_IDLE_CLIENTS_ADDR"
	idleHost      = "idle.bench.example.com"
)

// BenchmarkIdleKeepAliveConnections measures what 10,000 idle keep-alive
// client connections cost the gateway: its real listener stack (sniffing,
// fasthttp, the h2c server beside it, default limits) serves on 127.0.0.1,
// a child process (so that its descriptors and memory are not counted)
// opens the connections and sends one request on each, then leaves them
// idle. The growth of this process's RSS (VmRSS) and of the Go heap in use
// (and goroutine stacks) is reported per 10k connections; RSS, what the
// connections cost the machine, over 200 MB fails (heap and stacks count
// reserved stack memory too, so they are reported, not gated). ns/op is
// one request through the gateway meanwhile.
func BenchmarkIdleKeepAliveConnections(b *testing.B) {
	raiseFileLimit(b, idleConns+1000)
	app := helloApp(b)
	routes := []routing.Route{{Namespace: "bench", Name: "idle", Hash: "h", Rules: []routing.Rule{{
		Hosts: []string{idleHost}, Backends: []routing.Backend{{Revision: "idle-00001", Percent: 100}}}}}}
	router := routing.NewRouter(nil)
	router.Update(routing.Build(routes, map[routing.ServiceKey][]routing.Endpoint{
		{Namespace: "bench", Name: "idle-00001"}: {{IP: "127.0.0.1", Port: app.Port}}}))
	log := zap.NewNop()
	px := NewProxy(router, routing.NewActivator(router, routing.ActivatorConfig{}), log, nil)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	pl := newProxyListener(l, px, true, Limits{}.withDefaults(routing.DefaultActivationTimeout), log)
	pl.serve(make(chan error, 2))
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		drain(ctx, px, []*proxyListener{pl}, log)
	})
	addr := l.Addr().String()

	rss0, heap0 := memoryInUse(b)
	child := exec.Command(os.Args[0], "-test.run=^TestIdleClientsHelper$", "-test.count=1")
	child.Env = append(os.Environ(), idleClientEnv+"="+addr)
	child.Stderr = os.Stderr
	stdin, err := child.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := child.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := child.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = stdin.Close(); _ = child.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "ready") {
		b.Fatalf("the client process did not open its connections: %q, %v", line, err)
	}
	time.Sleep(time.Second) // let every connection go back to waiting
	rss1, heap1 := memoryInUse(b)

	c := &fasthttp.HostClient{Addr: addr, MaxConns: 1, ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second}
	b.Cleanup(c.CloseIdleConnections)
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI("http://" + addr + "/")
	req.Header.SetHost(idleHost)
	req.UseHostHeader = true
	for b.Loop() {
		if err := c.Do(req, resp); err != nil || resp.StatusCode() != 200 {
			b.Fatalf("a request beside the idle connections: %d, %v", resp.StatusCode(), err)
		}
	}
	per10k := float64(10_000) / idleConns / (1 << 20)
	rssMB, heapMB := float64(rss1-rss0)*per10k, float64(heap1-heap0)*per10k
	b.ReportMetric(rssMB, "rss-MB/10k-conns")
	b.ReportMetric(heapMB, "heap-MB/10k-conns")
	if rssMB > idleBudgetMB {
		b.Fatalf("10,000 idle connections cost %.0f MB of RSS (%.0f MB of heap and stacks), over %d MB", rssMB, heapMB, idleBudgetMB)
	}
}

// memoryInUse returns this process's resident set (VmRSS) and the Go heap
// and stacks in use, in bytes, after a garbage collection.
func memoryInUse(b *testing.B) (rss, heap int64) {
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Skipf("no /proc/self/status to read the RSS from: %v", err)
	}
	for l := range strings.SplitSeq(string(status), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				b.Fatalf("VmRSS %q: %v", v, err)
			}
			rss = kb << 10
		}
	}
	return rss, int64(ms.HeapInuse + ms.StackInuse)
}

// raiseFileLimit raises the soft limit on open files to the hard one, and
// skips when even that is below need.
func raiseFileLimit(b *testing.B, need uint64) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		b.Skipf("reading the open-file limit: %v", err)
	}
	if lim.Max < need {
		b.Skipf("the hard open-file limit (ulimit -Hn) is %d; %d connections need %d: raise it to run this benchmark", lim.Max, idleConns, need)
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			b.Skipf("raising the open-file limit to %d: %v", lim.Max, err)
		}
	}
}

// TestIdleClientsHelper is the client process of
// BenchmarkIdleKeepAliveConnections (it does nothing in a test run): it
// opens idleConns connections to the gateway, sends one request on each,
// prints "ready" and keeps them open until its stdin closes.
func TestIdleClientsHelper(t *testing.T) {
	addr := os.Getenv(idleClientEnv)
	if addr == "" {
		t.Skip("the client process of BenchmarkIdleKeepAliveConnections")
	}
	conns := make([]net.Conn, idleConns)
	errs := make(chan error, idleConns)
	var wg sync.WaitGroup
	next := make(chan int)
	for range 32 {
		wg.Go(func() {
			for i := range next {
				c, err := oneRequest(addr)
				if err != nil {
					errs <- fmt.Errorf("connection %d: %w", i, err)
					continue
				}
				conns[i] = c
			}
		})
	}
	for i := range idleConns {
		next <- i
	}
	close(next)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	fmt.Println("ready")
	_, _ = io.Copy(io.Discard, os.Stdin)
	for _, c := range conns {
		_ = c.Close()
	}
}

// oneRequest opens a connection to addr and does one keep-alive request on
// it.
func oneRequest(addr string) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: "+idleHost+"\r\n\r\n"); err != nil {
		_ = c.Close()
		return nil, err
	}
	resp, err := http.ReadResponse(bufio.NewReaderSize(c, 512), nil)
	if err == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		if err == nil && (resp.StatusCode != http.StatusOK || resp.Close) {
			err = fmt.Errorf("answered %d, close %v", resp.StatusCode, resp.Close)
		}
	}
	if err != nil {
		_ = c.Close()
		return nil, err
	}
	_ = c.SetDeadline(time.Time{})
	return c, nil
}
