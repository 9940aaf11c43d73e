package gateway

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"sync"
	"testing"

	"go.uber.org/zap"

	"github.com/rampdev/ramp/serving/gateway/routing"
)

// BenchmarkGatewayFastPath measures the gateway's HTTP/1.1 path alone:
// keep-alive clients and a revision pod that speak raw HTTP/1.1 over
// loopback sockets (no fasthttp, no net/http), so that every HTTP frame of
// a CPU profile is the gateway's own. It is the profile to read when
// working on the gateway's cost per request:
//
//	go test -run '^$' -bench GatewayFastPath -benchtime 3s -cpuprofile cpu.out -memprofile mem.out ./serving/gateway/
//
// ns/op is wall time per request with every goroutine together.
func BenchmarkGatewayFastPath(b *testing.B) {
	pod := rawPod(b)
	routes := []routing.Route{{Namespace: "bench", Name: "hello", Hash: "h", Rules: []routing.Rule{{
		Hosts: []string{"hello.bench.example.com"}, Backends: []routing.Backend{{Revision: "hello-00001", Percent: 100}}}}}}
	eps := map[routing.ServiceKey][]routing.Endpoint{{Namespace: "bench", Name: "hello-00001"}: {endpointOf(b, pod)}}
	gw := startGateway(b, routes, eps, zap.NewNop())
	request := rawRequest

	b.SetParallelism(8)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		c, err := net.Dial("tcp", gw.fast)
		if err != nil {
			b.Error(err)
			return
		}
		defer func() { _ = c.Close() }()
		br := bufio.NewReaderSize(c, 4096)
		var body []byte
		var status int
		for pb.Next() {
			if _, err := c.Write(request); err != nil {
				b.Error(err)
				return
			}
			status, body, err = readRawResponse(br, body[:0])
			if err != nil || status != 200 || string(body) != "hello" {
				b.Errorf("%d %q %v", status, body, err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}

// rawPod is a revision pod answering every request with "hello", written
// on raw sockets: it reads a bodiless request's header and writes a fixed
// response, so it costs next to nothing in a profile.
func rawPod(b testing.TB) net.Addr {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	response := []byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello")
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() {
				br := bufio.NewReaderSize(c, 4096)
				for {
					if err := skipRawHeader(br); err != nil {
						return
					}
					if _, err := c.Write(response); err != nil {
						return
					}
				}
			})
		}
	})
	b.Cleanup(func() {
		_ = l.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return l.Addr()
}

// skipRawHeader reads a header block up to its empty line.
func skipRawHeader(br *bufio.Reader) error {
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(line) <= 2 {
			return nil
		}
	}
}

// rawRequest is the bodiless keep-alive request of the raw clients.
var rawRequest = []byte("GET /hello?x=1 HTTP/1.1\r\nHost: hello.bench.example.com\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n")

// readRawResponse reads a response with a Content-Length body, appending
// the body to dst.
func readRawResponse(br *bufio.Reader, dst []byte) (status int, body []byte, err error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		return 0, nil, err
	}
	if len(line) < 12 {
		return 0, nil, fmt.Errorf("status line %q", line)
	}
	if status, err = strconv.Atoi(string(line[9:12])); err != nil {
		return 0, nil, err
	}
	length := -1
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return 0, nil, err
		}
		if len(line) <= 2 {
			break
		}
		if k, v, ok := bytes.Cut(line, []byte{':'}); ok && bytes.EqualFold(k, []byte("Content-Length")) {
			if length, err = strconv.Atoi(string(bytes.TrimSpace(v))); err != nil {
				return 0, nil, err
			}
		}
	}
	if length < 0 {
		return 0, nil, errors.New("no Content-Length")
	}
	body = slices.Grow(dst, length)[:len(dst)+length]
	_, err = io.ReadFull(br, body[len(dst):])
	return status, body, err
}
