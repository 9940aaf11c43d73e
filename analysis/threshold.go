package analysis

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ParseThreshold parses a threshold written by a user for a metric of kind
// metricKind: a builtin name (ErrorRate, LatencyP50, ...) or "" for query
// metrics. The result is in the metric's unit (see Thresholds). The
// accepted forms are listed in the package documentation; an unknown
// metricKind wraps ErrUnknownMetric.
func ParseThreshold(metricKind, s string) (float64, error) {
	t := strings.TrimSpace(s)
	switch metricKind {
	case ErrorRate:
		const want = `a percentage ("1%", "0.5%") or a fraction from 0 to 1 ("0.01")`
		v, pct, err := parseNumberOrPercent(t)
		switch {
		case err != nil:
			return 0, fmt.Errorf("%s threshold %q: want %s", metricKind, s, want)
		case v < 0 || v > 1:
			if pct {
				return 0, fmt.Errorf("%s threshold %q: a percentage must be from 0%% to 100%%", metricKind, s)
			}
			return 0, fmt.Errorf("%s threshold %q: a fraction must be from 0 to 1 (write %q for a percentage)",
				metricKind, s, t+"%")
		}
		return v, nil
	case LatencyP50, LatencyP90, LatencyP99:
		const want = `a duration ("500ms", "1.5s") or a number of seconds ("0.5")`
		v, err := strconv.ParseFloat(t, 64)
		if err != nil {
			d, derr := time.ParseDuration(t)
			if derr != nil {
				return 0, fmt.Errorf("%s threshold %q: want %s", metricKind, s, want)
			}
			v = d.Seconds()
		}
		if !finite(v) || v < 0 {
			return 0, fmt.Errorf("%s threshold %q: want %s, not negative", metricKind, s, want)
		}
		return v, nil
	case RequestRate:
		const want = `requests per second ("10", "10/s", "10 req/s")`
		n := t
		for _, unit := range []string{"req/s", "/s", "rps"} {
			if cut, ok := strings.CutSuffix(n, unit); ok {
				n = strings.TrimSpace(cut)
				break
			}
		}
		v, err := strconv.ParseFloat(n, 64)
		if err != nil || !finite(v) || v < 0 {
			return 0, fmt.Errorf("%s threshold %q: want %s, not negative", metricKind, s, want)
		}
		return v, nil
	case "":
		v, _, err := parseNumberOrPercent(t)
		if err != nil {
			return 0, fmt.Errorf("query metric threshold %q: want a number (\"0.5\", \"120\") or a percentage (\"5%%\")", s)
		}
		return v, nil
	}
	return 0, fmt.Errorf("threshold %q for metric %q: %w (want one of %s, or \"\" for a query)",
		s, metricKind, ErrUnknownMetric, strings.Join(Builtins, ", "))
}

// ParseRatio parses a MaxRatio threshold: a number greater than 0 ("1.2"
// means the canary may be at most 20% above the stable).
func ParseRatio(s string) (float64, error) {
	v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || !finite(v) || v <= 0 {
		return 0, fmt.Errorf("ratio %q: want a number greater than 0 (\"1.2\")", s)
	}
	return v, nil
}

// parseNumberOrPercent parses "0.05" or "5%" (as 0.05); pct tells which.
func parseNumberOrPercent(s string) (v float64, pct bool, err error) {
	num, pct := strings.CutSuffix(s, "%")
	v, err = strconv.ParseFloat(strings.TrimSpace(num), 64)
	if err != nil {
		return 0, pct, err
	}
	if !finite(v) {
		return 0, pct, fmt.Errorf("%q is not a finite number", s)
	}
	if pct {
		v /= 100
	}
	return v, pct, nil
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// FormatValue formats v, in the unit of metricKind (a builtin name or ""
// for query metrics), for humans: error rates as percentages ("5.20%"),
// latencies as durations ("512ms"), request rates as "12.3 req/s" and
// query values as plain numbers ("0.042").
func FormatValue(metricKind string, v float64) string {
	if !finite(v) {
		return strconv.FormatFloat(v, 'g', -1, 64)
	}
	switch metricKind {
	case ErrorRate:
		return strconv.FormatFloat(v*100, 'f', 2, 64) + "%"
	case LatencyP50, LatencyP90, LatencyP99:
		if math.Abs(v) >= float64(math.MaxInt64/time.Second) {
			return strconv.FormatFloat(v, 'g', 4, 64) + "s"
		}
		return roundDuration(time.Duration(v * float64(time.Second))).String()
	case RequestRate:
		if math.Abs(v) >= 1 || v == 0 {
			return strconv.FormatFloat(v, 'f', 1, 64) + " req/s"
		}
		return strconv.FormatFloat(v, 'g', 3, 64) + " req/s"
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}

// formatRatio formats a ratio as "1.50x".
func formatRatio(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) + "x" }

// roundDuration rounds d to three significant digits (512.345ms → 512ms),
// keeping whole nanoseconds below a microsecond.
func roundDuration(d time.Duration) time.Duration {
	a := d.Abs()
	unit := time.Duration(1)
	for unit <= a/1000 {
		unit *= 10
	}
	return d.Round(unit)
}

// knownBuiltin reports whether name is one of Builtins.
func knownBuiltin(name string) bool { return slices.Contains(Builtins, name) }
