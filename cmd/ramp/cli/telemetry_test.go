package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	autoscaling "github.com/rampdev/ramp/controllers/autoscaler"
)

// fakeAutoscaler serves the autoscaler API's two GET endpoints with fixed
// answers, and records the queries it got.
func fakeAutoscaler(queries chan<- string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+autoscaling.TelemetryPath+"{namespace}/{revision}", func(w http.ResponseWriter, r *http.Request) {
		queries <- r.URL.RequestURI()
		if r.PathValue("revision") == "bad" {
			http.Error(w, "window must be a duration from 1s to 5m0s", http.StatusBadRequest)
			return
		}
		_ = json.NewEncoder(w).Encode(autoscaling.Telemetry{
			Namespace: r.PathValue("namespace"), Revision: r.PathValue("revision"), Tag: r.URL.Query().Get("tag"), WindowSeconds: 300,
			Requests: 1200, Errors5xx: 3, ErrorRate: 0.0025, RequestRate: 4, P50Seconds: 0.012, P90Seconds: 0.0405, P99Seconds: 0.095, Pods: 2,
		})
	})
	mux.HandleFunc("GET "+autoscaling.RevisionsPath, func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode([]autoscaling.Status{
			{Namespace: "team-a", Revision: "web-00002", DesiredPods: 3, ReadyPods: 2, StableConcurrency: 4.5, PanicConcurrency: 6,
				Target: 10, Panicking: true, LastTraffic: time.Now().Add(-5 * time.Second), Reason: "panic: 6 > 2x target"},
			{Namespace: "team-b", Revision: "api-00001", Target: 10, Reason: "idle"},
		})
	})
	return mux
}

func (s *suite) testTelemetry(t *testing.T) {
	queries := make(chan string, 10)
	srv := httptest.NewServer(s.guarded(t, fakeAutoscaler(queries)))
	defer srv.Close()

	t.Run("a revision", func(t *testing.T) {
		r := s.run(t, "telemetry", "web-00002", "--autoscaler-url", srv.URL+"/", "--window", "5m", "--tag", "canary")
		if r.err != nil {
			t.Fatal(r.err)
		}
		if q := <-queries; q != "/api/v1/telemetry/team-a/web-00002?tag=canary&window=5m0s" {
			t.Errorf("query %s", q)
		}
		wantContains(t, "output", r.out,
			"NAMESPACE   REVISION    TAG      WINDOW   REQUESTS   RPS    ERRORS   ERROR RATE   P50      P90      P99      PODS\n",
			"team-a      web-00002   canary   5m0s     1200       4.00   3        0.25%        12.0ms   40.5ms   95.0ms   2\n")
	})
	t.Run("without --tag the query has none", func(t *testing.T) {
		r := s.run(t, "telemetry", "web-00002", "-n", "team-b", "--autoscaler-url", srv.URL)
		if r.err != nil {
			t.Fatal(r.err)
		}
		if q := <-queries; q != "/api/v1/telemetry/team-b/web-00002?window=1m0s" {
			t.Errorf("query %s", q)
		}
	})
	t.Run("every revision", func(t *testing.T) {
		r := s.run(t, "telemetry", "--autoscaler-url", srv.URL)
		if r.err != nil {
			t.Fatal(r.err)
		}
		wantContains(t, "output", r.out,
			"NAMESPACE   REVISION    DESIRED   READY   STABLE CONC   PANIC CONC   TARGET/POD   PANICKING   LAST TRAFFIC   REASON\n",
			"team-a      web-00002   3         2       4.50          6.00         10.00        true        5s ago         panic: 6 > 2x target\n",
			"team-b      api-00001   0         0       0.00          0.00         10.00        false       -              idle\n")
	})
	t.Run("every revision of one namespace", func(t *testing.T) {
		r := s.run(t, "telemetry", "--autoscaler-url", srv.URL, "-n", "team-b")
		if r.err != nil || strings.Contains(r.out, "team-a") || !strings.Contains(r.out, "api-00001") {
			t.Errorf("error %v, output:\n%s", r.err, r.out)
		}
	})
	t.Run("the API's refusal is shown", func(t *testing.T) {
		r := s.run(t, "telemetry", "bad", "--autoscaler-url", srv.URL)
		<-queries
		if r.err == nil || r.err.Error() != "the autoscaler API answered 400 Bad Request: window must be a duration from 1s to 5m0s" {
			t.Errorf("got %v", r.err)
		}
	})
	t.Run("an unreachable API says where it looked", func(t *testing.T) {
		dead := httptest.NewServer(http.NotFoundHandler())
		dead.Close()
		r := s.run(t, "telemetry", "--autoscaler-url", dead.URL)
		if !errors.Is(r.err, errAutoscalerUnreachable) || !strings.Contains(r.err.Error(), dead.URL) {
			t.Errorf("got %v", r.err)
		}
	})
}

// testTelemetryLeader resolves the leader from its Lease and pod.
func (s *suite) testTelemetryLeader(t *testing.T) {
	ctx := context.Background()
	ns := "ramp-system"
	k, err := (&kubeOptions{kubeconfig: s.kubeconfig}).connect(os.Stderr)
	if err != nil {
		t.Fatal(err)
	}

	// Given no Lease
	if _, err := leaderURL(ctx, k.client, ns); !errors.Is(err, errNoLeader) || !strings.Contains(err.Error(), "no Lease ramp-controller in namespace ramp-system") {
		t.Errorf("without a Lease: %v", err)
	}
	r := s.run(t, "telemetry")
	if !errors.Is(r.err, errNoLeader) {
		t.Errorf("the command without a Lease: %v", r.err)
	}

	// Given a Lease held by a pod that does not exist
	holder := "ramp-controller-7d9f-abcde_4f1c7a2e-3a55-4f43-9d1e-2b8f1f0d9c11"
	lease := &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: leaseName},
		Spec:       coordinationv1.LeaseSpec{HolderIdentity: &holder, RenewTime: &metav1.MicroTime{Time: time.Now()}},
	}
	if err := s.k8s.Create(ctx, lease); err != nil {
		t.Fatal(err)
	}
	if _, err := leaderURL(ctx, k.client, ns); !errors.Is(err, errNoLeader) || !strings.Contains(err.Error(), "the leader pod ramp-controller-7d9f-abcde") {
		t.Errorf("without the pod: %v", err)
	}

	// Given the pod, without then with an IP
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "ramp-controller-7d9f-abcde"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "controller", Image: "ramp/controller"}}},
	}
	if err := s.k8s.Create(ctx, pod); err != nil {
		t.Fatal(err)
	}
	if _, err := leaderURL(ctx, k.client, ns); !errors.Is(err, errNoLeader) || !strings.Contains(err.Error(), "has no IP yet") {
		t.Errorf("without an IP: %v", err)
	}
	ln, ip := listenOnLoopback(t)
	pod.Status.PodIP = ip
	pod.Status.PodIPs = []corev1.PodIP{{IP: ip}}
	if err := s.k8s.Status().Update(ctx, pod); err != nil {
		t.Fatal(err)
	}
	got, err := leaderURL(ctx, k.client, ns)
	if want := "http://" + ip + ":8099"; err != nil || got != want {
		t.Fatalf("got %q, %v, want %q", got, err, want)
	}

	// Then the command reads the leader's API
	if ln == nil {
		t.Skipf("no free loopback address for port %d; the URL resolution was checked", autoscaling.Port)
	}
	queries := make(chan string, 1)
	srv := &http.Server{Handler: s.guarded(t, fakeAutoscaler(queries)), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	r = s.run(t, "telemetry", "web-00002", "--controller-namespace", ns)
	if r.err != nil {
		t.Fatal(r.err)
	}
	wantContains(t, "output", r.out, "team-a      web-00002   -     5m0s     1200")
}

// listenOnLoopback picks a random 127.x.y.z address, as the local
// cluster's pod IPs are, and listens on its port 8099; the listener is
// nil when it could not find a free one.
func listenOnLoopback(t *testing.T) (net.Listener, string) {
	t.Helper()
	var ip string
	for range 10 {
		ip = fmt.Sprintf("127.%d.%d.%d", 200+rand.IntN(50), rand.IntN(256), 1+rand.IntN(254))
		ln, err := net.Listen("tcp", net.JoinHostPort(ip, fmt.Sprint(autoscaling.Port)))
		if err == nil {
			t.Cleanup(func() { _ = ln.Close() })
			return ln, ip
		}
	}
	return nil, ip
}

func (s *suite) testNoKubeconfig(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("KUBECONFIG", filepath.Join(home, "missing"))
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	run := func() error {
		return execute(context.Background(), newRootCommand("ramp"), []string{"rollout", "list"}, &syncBuffer{}, &syncBuffer{})
	}

	err := run()
	if !errors.Is(err, errNoKubeconfig) || !strings.Contains(err.Error(), "for a local cluster, `ramp local up` writes .ramp/local/kubeconfig") {
		t.Errorf("without a local cluster: %v", err)
	}

	t.Chdir(home)
	if err := os.MkdirAll(filepath.Join(".ramp", "local"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(".ramp", "local", "kubeconfig"), []byte("apiVersion: v1\nkind: Config\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	err = run()
	if !errors.Is(err, errNoKubeconfig) || !strings.Contains(err.Error(), "`ramp local up` wrote .ramp/local/kubeconfig: use --kubeconfig .ramp/local/kubeconfig") {
		t.Errorf("with a local cluster: %v", err)
	}
}
