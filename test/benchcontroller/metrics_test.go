package main

import (
	"math"
	"strings"
	"testing"
	"time"
)

const sample = `# TYPE controller_runtime_reconcile_time_seconds histogram
controller_runtime_reconcile_time_seconds_bucket{controller="rollout",le="0.01"} 50
controller_runtime_reconcile_time_seconds_bucket{controller="rollout",le="0.1"} 90
controller_runtime_reconcile_time_seconds_bucket{controller="rollout",le="1"} 100
controller_runtime_reconcile_time_seconds_bucket{controller="rollout",le="+Inf"} 100
controller_runtime_reconcile_time_seconds_sum{controller="rollout"} 3
controller_runtime_reconcile_time_seconds_count{controller="rollout"} 100
controller_runtime_reconcile_time_seconds_bucket{controller="route",le="0.01"} 0
controller_runtime_reconcile_time_seconds_bucket{controller="route",le="0.1"} 0
controller_runtime_reconcile_time_seconds_bucket{controller="route",le="1"} 0
controller_runtime_reconcile_time_seconds_bucket{controller="route",le="+Inf"} 4
controller_runtime_reconcile_time_seconds_sum{controller="route"} 20
controller_runtime_reconcile_time_seconds_count{controller="route"} 4
# TYPE controller_runtime_reconcile_errors_total counter
controller_runtime_reconcile_errors_total{controller="rollout"} 2
controller_runtime_reconcile_errors_total{controller="route"} 0
`

func TestQuantileInterpolates(t *testing.T) {
	m, err := parseMetrics(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	hs := m.HistogramsBy("controller_runtime_reconcile_time_seconds", "controller")
	ro := hs["rollout"]
	cases := map[float64]float64{
		0.5:  0.01,  // the 50th of 100 is the top of the first bucket
		0.25: 0.005, // half-way into the first bucket, from 0
		0.7:  0.055, // 20 of the 40 in (0.01, 0.1]
		0.99: 0.91,  // 9 of the 10 in (0.1, 1]
	}
	for q, want := range cases {
		if got := ro.Quantile(q); math.Abs(got-want) > 1e-9 {
			t.Errorf("rollout Quantile(%g) = %g, want %g", q, got, want)
		}
	}
	// Everything above the last finite bound: that bound, as Prometheus.
	if got := hs["route"].Quantile(0.99); got != 1 {
		t.Errorf("route Quantile(0.99) = %g, want 1", got)
	}
	if got := (Histogram{}).Quantile(0.99); !math.IsNaN(got) {
		t.Errorf("empty Quantile = %g, want NaN", got)
	}
	if got := m.CounterBy("controller_runtime_reconcile_errors_total", "controller"); got["rollout"] != 2 || got["route"] != 0 {
		t.Errorf("errors = %v", got)
	}
}

func TestHistogramSub(t *testing.T) {
	before := Histogram{Bounds: []float64{1, math.Inf(1)}, Counts: []float64{5, 6}, Sum: 4}
	after := Histogram{Bounds: []float64{1, math.Inf(1)}, Counts: []float64{5, 16}, Sum: 54}
	d := after.Sub(before)
	if d.Count() != 10 || d.Counts[0] != 0 || d.Sum != 50 {
		t.Errorf("Sub = %+v", d)
	}
	if got := d.Quantile(0.5); got != 1 {
		t.Errorf("Quantile of the difference = %g, want 1 (all above the last finite bound)", got)
	}
}

func TestPercentile(t *testing.T) {
	var s []time.Duration
	for i := 1; i <= 200; i++ {
		s = append(s, time.Duration(i)*time.Second)
	}
	if got := percentile(s, 0.5); got != 100*time.Second {
		t.Errorf("p50 = %s", got)
	}
	if got := percentile(s, 0.99); got != 198*time.Second {
		t.Errorf("p99 = %s", got)
	}
	if got := percentile(s, 1); got != 200*time.Second {
		t.Errorf("p100 = %s", got)
	}
}
