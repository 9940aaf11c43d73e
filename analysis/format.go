package analysis

import (
	"math"
	"strconv"
	"strings"
)

// Formatting of the sequential judge's evidence for humans.

// count formats n with thousands separators: 12,345.
func count(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// points formats a difference of rates in percentage points: "+1.23 pts".
func points(v float64) string {
	s := strconv.FormatFloat(v*100, 'f', 2, 64) + " pts"
	if v >= 0 {
		return "+" + s
	}
	return s
}

// ratio formats a rate ratio: "3.1x".
func ratio(v float64) string {
	if v >= 1e5 {
		return "100000x"
	}
	return strconv.FormatFloat(v, 'g', 3, 64) + "x"
}

func pct(v float64) string { return strconv.FormatFloat(v*100, 'f', 1, 64) + "%" }

// evalue formats an e-value: "212", "3.4e+05".
func evalue(v float64) string {
	switch {
	case math.IsInf(v, 1) || v > 1e6:
		return strconv.FormatFloat(math.Min(v, math.MaxFloat64), 'e', 1, 64)
	case v >= 10:
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}

// FormatEvidence formats an e-value against its bar: "212 / 100".
func FormatEvidence(e, bar float64) string {
	if bar == 0 {
		return ""
	}
	return evalue(e) + " / " + evalue(bar)
}

// FormatPoints formats a difference of rates in percentage points.
func FormatPoints(v float64) string { return points(v) }

// FormatPercent formats a fraction as a percentage with one decimal.
func FormatPercent(v float64) string { return pct(v) }
