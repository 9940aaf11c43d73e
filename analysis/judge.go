package analysis

import (
	"fmt"
	"strings"
)

// Judge judges one measurement of m against m's thresholds. It is pure.
//
// The rules, in order:
//
//  1. No canary data (canary not Valid): Inconclusive.
//  2. Fewer than minRequests canary requests (when the provider knows the
//     count, Requests >= 0): Inconclusive.
//  3. Max and Min are checked on the canary alone; crossing one is Fail,
//     whatever the stable did.
//  4. MaxIncrease and MaxRatio compare with the stable. Without stable data
//     (stable not Valid, e.g. the first rollout) they are Inconclusive.
//     canary - stable > MaxIncrease is Fail.
//  5. canary / stable > MaxRatio is Fail when stable > 0. When stable <= 0
//     the ratio is undefined: a canary <= 0 passes (nothing grew from
//     zero); a canary > 0 is left to MaxIncrease when it is set, and is
//     Inconclusive otherwise, since a ratio alone cannot say how much
//     worse than nothing is too much (set MaxIncrease or Max as well).
//  6. Otherwise Pass.
//
// The first rule that decides gives the Phase and a one-line Message that
// names the metric, the values and the threshold, e.g.
//
//	error-rate: canary 5.20% > max 1.00% (stable 0.10%)
func Judge(m Metric, meas Measurement, minRequests int64) Result {
	r := Result{Metric: m.Name, Canary: meas.Canary, Stable: meas.Stable}
	name := m.Name
	if name == "" {
		name = m.Builtin
	}
	kind := m.Builtin
	f := func(v float64) string { return FormatValue(kind, v) }
	c, s := meas.Canary, meas.Stable
	stable := "no stable"
	if s.Valid {
		stable = "stable " + f(s.Value)
	}
	decide := func(p Phase, format string, args ...any) Result {
		r.Phase, r.Message = p, name+": "+fmt.Sprintf(format, args...)
		return r
	}

	if !c.Valid {
		return decide(Inconclusive, "no data for canary")
	}
	if c.Requests >= 0 && c.Requests < minRequests {
		return decide(Inconclusive, "only %d canary requests in window, need %d", c.Requests, minRequests)
	}
	if m.Max != nil && c.Value > *m.Max {
		return decide(Fail, "canary %s > max %s (%s)", f(c.Value), f(*m.Max), stable)
	}
	if m.Min != nil && c.Value < *m.Min {
		return decide(Fail, "canary %s < min %s (%s)", f(c.Value), f(*m.Min), stable)
	}
	if m.MaxIncrease != nil || m.MaxRatio != nil {
		if !s.Valid {
			return decide(Inconclusive, "no stable data to compare canary %s with (%s)",
				f(c.Value), describeRelative(m.Thresholds, f))
		}
		if m.MaxIncrease != nil && c.Value-s.Value > *m.MaxIncrease {
			return decide(Fail, "canary %s > stable %s + max increase %s",
				f(c.Value), f(s.Value), f(*m.MaxIncrease))
		}
		if m.MaxRatio != nil {
			switch {
			case s.Value > 0:
				if ratio := c.Value / s.Value; ratio > *m.MaxRatio {
					return decide(Fail, "canary %s > %s stable %s (%s)",
						f(c.Value), formatRatio(*m.MaxRatio), f(s.Value), formatRatio(ratio))
				}
			case c.Value > 0 && m.MaxIncrease == nil:
				return decide(Inconclusive, "stable is %s, so max ratio %s cannot judge canary %s (set a max increase)",
					f(s.Value), formatRatio(*m.MaxRatio), f(c.Value))
			}
		}
	}
	limits := describeAbsolute(m.Thresholds, f)
	if rel := describeRelative(m.Thresholds, f); rel != "" {
		limits = append(limits, rel)
	}
	if len(limits) == 0 {
		return decide(Pass, "canary %s, no thresholds (%s)", f(c.Value), stable)
	}
	return decide(Pass, "canary %s within %s (%s)", f(c.Value), strings.Join(limits, ", "), stable)
}

func describeAbsolute(t Thresholds, f func(float64) string) []string {
	var out []string
	if t.Max != nil {
		out = append(out, "max "+f(*t.Max))
	}
	if t.Min != nil {
		out = append(out, "min "+f(*t.Min))
	}
	return out
}

func describeRelative(t Thresholds, f func(float64) string) string {
	var out []string
	if t.MaxIncrease != nil {
		out = append(out, "max increase "+f(*t.MaxIncrease))
	}
	if t.MaxRatio != nil {
		out = append(out, "max ratio "+formatRatio(*t.MaxRatio))
	}
	return strings.Join(out, ", ")
}
