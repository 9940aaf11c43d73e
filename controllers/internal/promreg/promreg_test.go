package promreg

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestRegisterReusesTheFirstCollector(t *testing.T) {
	reg := prometheus.NewRegistry()
	opts := prometheus.CounterOpts{Name: "ramp_test_total", Help: "test"}
	first, err := Register(reg, prometheus.NewCounter(opts))
	if err != nil {
		t.Fatal(err)
	}
	second, err := Register(reg, prometheus.NewCounter(opts))
	if err != nil || second != first {
		t.Fatalf("second registration = %v, %v; want the first counter", second, err)
	}
	// Same name, another type: an error, not a silent mix-up.
	if _, err := Register(reg, prometheus.NewGauge(prometheus.GaugeOpts{Name: "ramp_test_total", Help: "test"})); err == nil {
		t.Errorf("registering a gauge under a counter's name succeeded")
	}
}
