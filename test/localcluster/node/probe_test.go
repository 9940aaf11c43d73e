package node

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// A container whose process listens a moment after it starts is Ready
// within milliseconds of listening, not a whole periodSeconds later.
func TestReadinessProbesAStartingContainerQuickly(t *testing.T) {
	// Given a running container whose readiness probe has a 5 s period
	// and whose port nobody listens on yet
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	a := &Agent{opts: Options{PodsDir: t.TempDir()}, log: logr.Discard(),
		dirty: map[types.NamespacedName]struct{}{}, kick: make(chan struct{}, 1)}
	pod := &podRuntime{agent: a, key: types.NamespacedName{Namespace: "ns", Name: "p"}, ip: "127.0.0.1",
		spec: &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p", UID: "u"}}}
	c := &container{pod: pod, spec: corev1.Container{Name: "app", ReadinessProbe: &corev1.Probe{
		ProbeHandler:  corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt(port)}},
		PeriodSeconds: 5,
	}}}
	c.state = corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go c.readinessLoop(ctx)

	// When the process starts listening 100 ms later
	time.Sleep(100 * time.Millisecond)
	l, err = net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Skipf("the port was taken meanwhile: %v", err)
	}
	defer l.Close()
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			_ = conn.Close()
		}
	}()
	listening := time.Now()

	// Then it is ready well within the probe's period
	for !isReady(c) {
		if time.Since(listening) > 2*time.Second {
			t.Fatalf("not ready %s after the process listened (period 5 s)", time.Since(listening))
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got, err := ReadTimeline(a.opts.PodsDir, pod.spec); err != nil || len(got) != 1 || got[0].Stage != "ready:app" {
		t.Errorf("timeline = %+v, %v; want one ready:app", got, err)
	}
}

func isReady(c *container) bool {
	c.pod.mu.Lock()
	defer c.pod.mu.Unlock()
	return c.ready
}
