package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Metrics is one scrape of the controller's /metrics.
type Metrics map[string]*dto.MetricFamily

// scrape reads the controller's metrics. The controller serves them with
// controller-runtime's metrics server, plain HTTP without authentication
// (docs/security.md), so the bench sends no credentials.
func scrape(ctx context.Context, url string) (Metrics, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scraping %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, fmt.Errorf("scraping %s: %s %s", url, resp.Status, b)
	}
	return parseMetrics(resp.Body)
}

func parseMetrics(r io.Reader) (Metrics, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	mf, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("parsing metrics: %w", err)
	}
	return Metrics(mf), nil
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// CounterBy sums a counter (or gauge) by one label's value.
func (ms Metrics) CounterBy(name, by string) map[string]float64 {
	out := map[string]float64{}
	f := ms[name]
	if f == nil {
		return out
	}
	for _, m := range f.GetMetric() {
		v := m.GetCounter().GetValue()
		if f.GetType() == dto.MetricType_GAUGE {
			v = m.GetGauge().GetValue()
		}
		out[label(m, by)] += v
	}
	return out
}

// Histogram is a cumulative histogram: counts of observations ≤ each
// upper bound, ascending, the last one +Inf.
type Histogram struct {
	Bounds []float64
	Counts []float64
	Sum    float64
}

// Count is the number of observations.
func (h Histogram) Count() float64 {
	if len(h.Counts) == 0 {
		return 0
	}
	return h.Counts[len(h.Counts)-1]
}

// HistogramsBy merges a histogram's series by one label's value.
func (ms Metrics) HistogramsBy(name, by string) map[string]Histogram {
	out := map[string]Histogram{}
	f := ms[name]
	if f == nil {
		return out
	}
	for _, m := range f.GetMetric() {
		k := label(m, by)
		h := out[k]
		hist := m.GetHistogram()
		bounds := make([]float64, 0, len(hist.GetBucket())+1)
		counts := make([]float64, 0, len(hist.GetBucket())+1)
		for _, b := range hist.GetBucket() {
			bounds = append(bounds, b.GetUpperBound())
			counts = append(counts, float64(b.GetCumulativeCount()))
		}
		if len(bounds) == 0 || !math.IsInf(bounds[len(bounds)-1], 1) {
			bounds = append(bounds, math.Inf(1))
			counts = append(counts, float64(hist.GetSampleCount()))
		}
		if h.Bounds == nil {
			h = Histogram{Bounds: bounds, Counts: counts}
		} else {
			for i := range h.Counts {
				h.Counts[i] += counts[i]
			}
		}
		h.Sum += hist.GetSampleSum()
		out[k] = h
	}
	return out
}

// Sub is h minus an earlier scrape of the same histogram: the
// observations in between.
func (h Histogram) Sub(before Histogram) Histogram {
	out := Histogram{Bounds: h.Bounds, Counts: append([]float64(nil), h.Counts...), Sum: h.Sum - before.Sum}
	if len(before.Counts) == len(h.Counts) {
		for i := range out.Counts {
			out.Counts[i] -= before.Counts[i]
		}
	}
	return out
}

// Quantile estimates the q-quantile as Prometheus' histogram_quantile
// does: linear interpolation inside the bucket that holds it, from 0 for
// the first bucket; in the +Inf bucket, the highest finite bound. NaN for
// an empty histogram.
func (h Histogram) Quantile(q float64) float64 {
	n := h.Count()
	if n == 0 {
		return math.NaN()
	}
	rank := q * n
	i := sort.Search(len(h.Counts), func(i int) bool { return h.Counts[i] >= rank })
	if i == len(h.Bounds)-1 && math.IsInf(h.Bounds[i], 1) {
		if i == 0 {
			return math.NaN()
		}
		return h.Bounds[i-1]
	}
	lo, below := 0.0, 0.0
	if i > 0 {
		lo, below = h.Bounds[i-1], h.Counts[i-1]
	}
	inBucket := h.Counts[i] - below
	if inBucket == 0 {
		return h.Bounds[i]
	}
	return lo + (h.Bounds[i]-lo)*(rank-below)/inBucket
}

// ProcStats is what /proc says of the controller process.
type ProcStats struct {
	RSS, HWM int64   // bytes: resident now, and its peak (VmHWM)
	CPU      float64 // user + system seconds since the process started
}

// clockTicks is USER_HZ, which /proc/<pid>/stat counts CPU time in; it
// is 100 on every Linux architecture Go supports.
const clockTicks = 100

func readProc(pid int) (ProcStats, error) {
	var ps ProcStats
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return ps, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		fields := strings.Fields(v)
		if len(fields) < 1 {
			continue
		}
		kb, _ := strconv.ParseInt(fields[0], 10, 64)
		switch k {
		case "VmRSS":
			ps.RSS = kb * 1024
		case "VmHWM":
			ps.HWM = kb * 1024
		}
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ps, err
	}
	// The command name (field 2) may hold spaces: count from its ")".
	s := string(stat)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 13 {
		return ps, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	utime, _ := strconv.ParseFloat(fields[11], 64)
	stime, _ := strconv.ParseFloat(fields[12], 64)
	ps.CPU = (utime + stime) / clockTicks
	return ps, nil
}

// percentile of sorted durations, nearest rank.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}
