package analysis

import (
	"math"
)

// The statistics behind the sequential judge. Every function here is
// anytime-valid: its guarantee holds however often it is evaluated on data
// that keeps growing, which is what a canary step does every interval.
// docs/analysis.md derives each one and gives the references.

// Sided says which alternative an e-value looks for.
type Sided int

const (
	// Above looks for evidence that the canary's rate is above the null
	// boundary (a regression).
	Above Sided = 1
	// Below looks for evidence that it is below (non-regression).
	Below Sided = -1
)

// Grid is the set of alternatives of a conditional mixture, as log
// factors of the rate ratio beyond the null boundary, with equal prior
// weights. A fixed grid keeps the mixture a martingale (the prior may not
// depend on the data).
type Grid []float64

// NewGrid spaces n alternatives evenly in log from lo to hi times the null
// boundary.
func NewGrid(n int, lo, hi float64) Grid {
	g := make(Grid, n)
	for i := range g {
		g[i] = math.Log(lo) + (math.Log(hi)-math.Log(lo))*float64(i)/float64(max(n-1, 1))
	}
	return g
}

// Alternatives of the judge: errors regress by whole multiples (a canary
// that fails 2% of requests over a stable that fails 0.1% is 21x worse);
// latency tails by less.
var (
	errorGrid   = NewGrid(12, 1.5, 50)
	latencyGrid = NewGrid(8, 1.2, 3)
)

// LogConditionalE is the log of an e-value for the null hypothesis that
// the canary's event rate is at most (Above) or at least (Below) rho0
// times the stable's, given kc events in nc canary trials and ks events in
// ns stable trials.
//
// It conditions on the total number of events K = kc + ks: when events
// are rare next to trials (errors, the slow tail of latency), each event
// is the canary's with probability θ = ρ·nc / (ρ·nc + ns), where ρ is the
// true rate ratio, whatever the stable's own rate is. The stable's rate
// (the nuisance) drops out. Under the null boundary θ0 uses ρ0; the e-value
// is the likelihood ratio of the K labels, mixed over alternatives ρ0·r
// (r on the grid, equal weights), against θ0. It is a nonnegative
// martingale under the boundary and a supermartingale under the rest of
// the null, so by Ville's inequality P(ever ≥ 1/α) ≤ α: reject when it
// reaches 1/α, at any look. This is the mixture sequential probability
// ratio test on the conditional binomial of Lindon & Malek (2022).
func LogConditionalE(kc, nc, ks, ns int64, rho0 float64, side Sided, grid Grid) float64 {
	if nc <= 0 || ns <= 0 || kc+ks <= 0 || !(rho0 > 0) {
		return 0
	}
	logit0 := math.Log(rho0) + math.Log(float64(nc)) - math.Log(float64(ns))
	l0c, l0s := logSigmoid(logit0), logSigmoid(-logit0)
	fc, fs := float64(kc), float64(ks)
	best := math.Inf(-1)
	terms := make([]float64, len(grid))
	for i, b := range grid {
		l := logit0 + float64(side)*b
		t := fc*(logSigmoid(l)-l0c) + fs*(logSigmoid(-l)-l0s)
		terms[i] = t
		best = math.Max(best, t)
	}
	var sum float64
	for _, t := range terms {
		sum += math.Exp(t - best)
	}
	return best + math.Log(sum/float64(len(terms)))
}

// logSigmoid is log(1 / (1 + e^-x)), stable for large |x|.
func logSigmoid(x float64) float64 {
	if x >= 0 {
		return -math.Log1p(math.Exp(-x))
	}
	return x - math.Log1p(math.Exp(x))
}

// RatePrior is the Beta prior of a beta-binomial confidence sequence:
// Mean is where it expects the rate, Strength its weight in trials. It is
// fixed before any data is seen; it changes how fast the bounds tighten,
// never their validity.
type RatePrior struct {
	Mean, Strength float64
}

func (p RatePrior) ab() (a, b float64) { return p.Mean * p.Strength, (1 - p.Mean) * p.Strength }

// logBB is the log of Robbins' beta-binomial mixture martingale for k
// events in n trials against the point rate p: the marginal likelihood of
// the data under the prior over the likelihood under p.
func logBB(k, n int64, p float64, prior RatePrior) float64 {
	a, b := prior.ab()
	fk, fn := float64(k), float64(n)
	lm := lbeta(a+fk, b+fn-fk) - lbeta(a, b)
	switch {
	case p <= 0:
		if k > 0 {
			return math.Inf(1)
		}
		return lm
	case p >= 1:
		if k < n {
			return math.Inf(1)
		}
		return lm
	}
	return lm - fk*math.Log(p) - (fn-fk)*math.Log1p(-p)
}

func lbeta(a, b float64) float64 {
	la, _ := math.Lgamma(a)
	lb, _ := math.Lgamma(b)
	lab, _ := math.Lgamma(a + b)
	return la + lb - lab
}

// RateBounds is an anytime-valid confidence sequence for a binomial rate
// from k events in n trials: with probability at least 1-alpha, the true
// rate is inside [lower, upper] at every n at once (Robbins 1970; Howard
// et al. 2021). With no trials it is [0, 1].
func RateBounds(k, n int64, alpha float64, prior RatePrior) (lower, upper float64) {
	if n <= 0 {
		return 0, 1
	}
	k = min(max(k, 0), n)
	limit := math.Log(1 / alpha)
	mle := float64(k) / float64(n)
	out := func(p float64) bool { return logBB(k, n, p, prior) >= limit }
	// The martingale grows as p moves away from the MLE on either side:
	// bisect for where it crosses 1/alpha.
	upper = 1
	if out(1) {
		_, upper = bisect(mle, 1, func(p float64) bool { return !out(p) })
	}
	if k > 0 && out(0) {
		lower, _ = bisect(0, mle, out)
	}
	return lower, upper
}

// bisect narrows [lo, hi] to the point where atLo (true at lo, false at
// hi) changes, and returns the final bracket.
func bisect(lo, hi float64, atLo func(float64) bool) (float64, float64) {
	for range 60 {
		mid := (lo + hi) / 2
		if atLo(mid) {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo, hi
}

// RatioLowerBound is the anytime-valid lower confidence bound on the rate
// ratio that the conditional e-value gives: the largest ρ0 whose null
// "ratio ≤ ρ0" it rejects at alpha (0 when it rejects none). It is the
// interval behind a regression verdict: the verdict holds exactly when
// the bound is above the tolerance.
func RatioLowerBound(kc, nc, ks, ns int64, alpha float64, grid Grid) float64 {
	limit := math.Log(1 / alpha)
	rejects := func(logRho float64) bool {
		return LogConditionalE(kc, nc, ks, ns, math.Exp(logRho), Above, grid) >= limit
	}
	lo, hi := math.Log(1e-4), math.Log(1e6)
	if !rejects(lo) {
		return 0
	}
	if rejects(hi) {
		return math.Exp(hi)
	}
	lo, _ = bisect(lo, hi, rejects)
	return math.Exp(lo)
}
