package queue

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestLoadConfigDefaults(t *testing.T) {
	c, err := LoadConfig(envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		PodIP: "127.0.0.1", ServingPort: ServingPort, AdminPort: AdminPort, MetricsPort: MetricsPort,
		UserPort: 8080, UserProtocol: UserProtocolHTTP1, QueueDepth: 10,
		RevisionTimeout: 300 * time.Second, DrainTimeout: 30 * time.Second, UserProbe: ProbeSpec{Port: 8080},
	}
	if d := cmp.Diff(want, c); d != "" {
		t.Errorf("defaults (-want +got):\n%s", d)
	}
}

func TestLoadConfigFromEnvironment(t *testing.T) {
	c, err := LoadConfig(envOf(map[string]string{
		EnvPodIP: "127.0.0.5", EnvPod: "web-abc", EnvRevision: "web-00002",
		EnvServingPort: "18012", EnvAdminPort: "18022", EnvMetricsPort: "19091", EnvUserPort: "9000",
		EnvContainerConcurrency: "4", EnvRevisionTimeout: "60", EnvUserProtocol: "h2c",
		EnvUserProbe: `{"httpPath":"/healthz","timeoutSeconds":2}`,
	}))
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		PodIP: "127.0.0.5", PodName: "web-abc", Revision: "web-00002",
		ServingPort: 18012, AdminPort: 18022, MetricsPort: 19091, UserPort: 9000,
		UserProtocol: UserProtocolH2C, ContainerConcurrency: 4, QueueDepth: 40,
		RevisionTimeout: time.Minute, DrainTimeout: 30 * time.Second,
		UserProbe: ProbeSpec{HTTPPath: "/healthz", TimeoutSeconds: 2, Port: 9000},
	}
	if d := cmp.Diff(want, c); d != "" {
		t.Errorf("config (-want +got):\n%s", d)
	}
	c, err = LoadConfig(envOf(map[string]string{EnvContainerConcurrency: "4", EnvQueueDepth: "0"}))
	if err != nil || c.QueueDepth != 0 {
		t.Errorf("explicit queue depth 0: %d, %v", c.QueueDepth, err)
	}
}

func TestLoadConfigNamesEveryBadVariable(t *testing.T) {
	bad := map[string]string{
		EnvServingPort: "http", EnvAdminPort: "-1", EnvMetricsPort: "70000", EnvUserPort: "8o8o",
		EnvContainerConcurrency: "many", EnvQueueDepth: "-3", EnvRevisionTimeout: "5m",
		EnvUserProtocol: "grpc", EnvUserProbe: "{",
	}
	_, err := LoadConfig(envOf(bad))
	if err == nil {
		t.Fatal("no error")
	}
	for name := range bad {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s:\n%v", name, err)
		}
	}
}

func TestDefaultQueueDepth(t *testing.T) {
	for cc, want := range map[int]int{0: 10, 1: 10, 2: 20, 100: 1000} {
		if got := DefaultQueueDepth(cc); got != want {
			t.Errorf("DefaultQueueDepth(%d) = %d, want %d", cc, got, want)
		}
	}
}
