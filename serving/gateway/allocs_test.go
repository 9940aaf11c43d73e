package gateway

import (
	"bufio"
	"net"
	"testing"

	"go.uber.org/zap"

	"github.com/rampdev/ramp/serving/gateway/routing"
)

// maxFastPathAllocs bounds the allocations of one bodiless request through
// the HTTP/1.1 path (routing, metrics, headers, the upstream call and the
// response copy). The three left are fasthttp's, for a response read with
// StreamResponseBody; the routing and the metrics allocate nothing.
const maxFastPathAllocs = 3

// TestFastPathAllocations locks in the cost of the HTTP/1.1 path: a
// request proxied to a pod (raw loopback sockets on both sides, so that
// only the gateway allocates) allocates at most maxFastPathAllocs times,
// process-wide, on average.
func TestFastPathAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	pod := rawPod(t)
	routes := []routing.Route{{Namespace: "bench", Name: "hello", Hash: "h", Rules: []routing.Rule{{
		Hosts: []string{"hello.bench.example.com"}, Backends: []routing.Backend{{Revision: "hello-00001", Percent: 100}}}}}}
	eps := map[routing.ServiceKey][]routing.Endpoint{{Namespace: "bench", Name: "hello-00001"}: {endpointOf(t, pod)}}
	gw := startGateway(t, routes, eps, zap.NewNop())
	c, err := net.Dial("tcp", gw.fast)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	br := bufio.NewReaderSize(c, 4096)
	body := make([]byte, 0, 64)
	roundTrip := func() {
		if _, err := c.Write(rawRequest); err != nil {
			t.Fatal(err)
		}
		status, b, err := readRawResponse(br, body[:0])
		if err != nil || status != 200 || string(b) != "hello" {
			t.Fatalf("%d %q %v", status, b, err)
		}
	}
	for range 100 { // fill fasthttp's pools
		roundTrip()
	}
	if allocs := testing.AllocsPerRun(1000, roundTrip); allocs > maxFastPathAllocs {
		t.Errorf("a proxied request allocates %.1f times, want at most %d", allocs, maxFastPathAllocs)
	}
}
