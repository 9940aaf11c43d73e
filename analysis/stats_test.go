package analysis

import (
	"hash/fnv"
	"math"
	"math/rand/v2"
	"testing"
)

// newRand is a seeded generator: every simulation here is deterministic.
func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0x5eed_cafe)) }

// seedOf is a seed for a named case, independent of map order.
func seedOf(name string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(name))
	return h.Sum64()
}

// poisson draws a Poisson(lambda) count (Knuth's method, fine for the
// small means of these tests).
func poisson(r *rand.Rand, lambda float64) int64 {
	if lambda <= 0 {
		return 0
	}
	limit, p := math.Exp(-lambda), 1.0
	var k int64
	for {
		p *= r.Float64()
		if p <= limit {
			return k
		}
		k++
	}
}

// binomial draws a Binomial(n, p) count by inversion (fast for small n·p).
func binomial(r *rand.Rand, n int64, p float64) int64 {
	switch {
	case n <= 0 || p <= 0:
		return 0
	case p >= 1:
		return n
	case p > 0.5:
		return n - binomial(r, n, 1-p)
	}
	q := 1 - p
	s, a := p/q, float64(n+1)*p/q
	f := math.Pow(q, float64(n))
	u := r.Float64()
	var x int64
	for u > f && x < n {
		u -= f
		x++
		f *= a/float64(x) - s
	}
	return x
}

// slack is a binomial allowance (3 standard errors) for a simulated rate
// that should be at most p over runs trials.
func slack(p float64, runs int) float64 { return 3 * math.Sqrt(p*(1-p)/float64(runs)) }

// The simulations are only as good as their samplers.
func TestSimulationSamplers(t *testing.T) {
	r := newRand(7)
	const draws = 20000
	for _, tc := range []struct {
		n int64
		p float64
	}{{100, 0.01}, {900, 0.01}, {100, 0.02}, {50, 0.3}, {20, 0.8}} {
		var sum, sq float64
		for range draws {
			x := float64(binomial(r, tc.n, tc.p))
			if x < 0 || x > float64(tc.n) {
				t.Fatalf("binomial(%d, %v) = %v, out of range", tc.n, tc.p, x)
			}
			sum += x
			sq += x * x
		}
		mean, v := sum/draws, sq/draws-(sum/draws)*(sum/draws)
		wantMean, wantVar := float64(tc.n)*tc.p, float64(tc.n)*tc.p*(1-tc.p)
		if math.Abs(mean-wantMean) > 5*math.Sqrt(wantVar/draws) || math.Abs(v-wantVar) > 0.1*wantVar {
			t.Errorf("binomial(%d, %v): mean %v, variance %v; want %v, %v", tc.n, tc.p, mean, v, wantMean, wantVar)
		}
	}
	for _, lambda := range []float64{0.1, 1, 9} {
		var sum, sq float64
		for range draws {
			x := float64(poisson(r, lambda))
			sum += x
			sq += x * x
		}
		mean, v := sum/draws, sq/draws-(sum/draws)*(sum/draws)
		if math.Abs(mean-lambda) > 5*math.Sqrt(lambda/draws) || math.Abs(v-lambda) > 0.1*lambda {
			t.Errorf("poisson(%v): mean %v, variance %v; want both %v", lambda, mean, v, lambda)
		}
	}
}

func TestNewGrid(t *testing.T) {
	g := NewGrid(5, 1.5, 24)
	if len(g) != 5 {
		t.Fatalf("len = %d, want 5", len(g))
	}
	if math.Abs(g[0]-math.Log(1.5)) > 1e-12 || math.Abs(g[4]-math.Log(24)) > 1e-12 {
		t.Errorf("ends = %v, %v; want log 1.5, log 24", g[0], g[4])
	}
	for i := 1; i < len(g); i++ {
		if d := g[i] - g[i-1]; math.Abs(d-math.Log(2)) > 1e-12 {
			t.Errorf("step %d = %v, want log 2 (even in log)", i, d)
		}
	}
	if g := NewGrid(1, 2, 8); len(g) != 1 || math.Abs(g[0]-math.Log(2)) > 1e-12 {
		t.Errorf("NewGrid(1, 2, 8) = %v, want [log 2]", g)
	}
	for name, g := range map[string]Grid{"errorGrid": errorGrid, "latencyGrid": latencyGrid} {
		for i, b := range g {
			if !(b > 0) {
				t.Errorf("%s[%d] = %v: every alternative must be strictly beyond the null boundary", name, i, b)
			}
		}
	}
}

func TestLogConditionalENoEvidence(t *testing.T) {
	tests := map[string]struct {
		kc, nc, ks, ns int64
		rho0           float64
	}{
		"no data":            {},
		"no canary trials":   {kc: 0, nc: 0, ks: 5, ns: 1000, rho0: 1},
		"no stable trials":   {kc: 5, nc: 1000, ks: 0, ns: 0, rho0: 1},
		"no events":          {kc: 0, nc: 1000, ks: 0, ns: 9000, rho0: 1},
		"zero rho0":          {kc: 30, nc: 300, ks: 10, ns: 2700, rho0: 0},
		"negative rho0":      {kc: 30, nc: 300, ks: 10, ns: 2700, rho0: -1},
		"NaN rho0":           {kc: 30, nc: 300, ks: 10, ns: 2700, rho0: math.NaN()},
		"negative trials":    {kc: 3, nc: -10, ks: 1, ns: 100, rho0: 1},
		"events, no trials":  {kc: 3, nc: 0, ks: 3, ns: 0, rho0: 1},
		"no events, big rho": {kc: 0, nc: 50, ks: 0, ns: 50, rho0: 7},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			for _, side := range []Sided{Above, Below} {
				if got := LogConditionalE(tc.kc, tc.nc, tc.ks, tc.ns, tc.rho0, side, errorGrid); got != 0 {
					t.Errorf("LogConditionalE(%d, %d, %d, %d, %v, %d) = %v, want 0 (e = 1: no evidence)",
						tc.kc, tc.nc, tc.ks, tc.ns, tc.rho0, side, got)
				}
			}
		})
	}
}

func TestLogConditionalEMonotoneInCanaryEvents(t *testing.T) {
	const nc, ks, ns = 1000, 20, 9000
	prevAbove, prevBelow := math.Inf(-1), math.Inf(1)
	for kc := int64(0); kc <= 40; kc++ {
		above := LogConditionalE(kc, nc, ks, ns, 1, Above, errorGrid)
		below := LogConditionalE(kc, nc, ks, ns, 1, Below, errorGrid)
		if !(above > prevAbove) {
			t.Errorf("kc=%d: Above log e = %v, not above %v at kc-1: more canary events must be more evidence of regression", kc, above, prevAbove)
		}
		if !(below < prevBelow) {
			t.Errorf("kc=%d: Below log e = %v, not below %v at kc-1: more canary events must be less evidence of non-regression", kc, below, prevBelow)
		}
		prevAbove, prevBelow = above, below
	}
	// More stable events at the same canary count: less evidence of
	// regression.
	if a, b := LogConditionalE(10, nc, 20, ns, 1, Above, errorGrid), LogConditionalE(10, nc, 40, ns, 1, Above, errorGrid); !(b < a) {
		t.Errorf("Above log e with ks=40 is %v, not below %v with ks=20", b, a)
	}
	// A stricter null (a larger rho0) needs more evidence.
	if a, b := LogConditionalE(10, nc, 20, ns, 1, Above, errorGrid), LogConditionalE(10, nc, 20, ns, 2, Above, errorGrid); !(b < a) {
		t.Errorf("Above log e with rho0=2 is %v, not below %v with rho0=1", b, a)
	}
}

func TestLogConditionalESymmetry(t *testing.T) {
	// Swapping canary and stable turns "canary above rho0 × stable" into
	// "stable below 1/rho0 × canary": the same e-value.
	tests := []struct {
		kc, nc, ks, ns int64
		rho0           float64
	}{
		{30, 300, 10, 2700, 1},
		{3, 300, 40, 2700, 1},
		{0, 500, 12, 4500, 1.5},
		{7, 100, 0, 100, 0.8},
		{1000, 100000, 9000, 900000, 1.1},
	}
	for _, grid := range []Grid{errorGrid, latencyGrid} {
		for _, tc := range tests {
			a := LogConditionalE(tc.kc, tc.nc, tc.ks, tc.ns, tc.rho0, Above, grid)
			b := LogConditionalE(tc.ks, tc.ns, tc.kc, tc.nc, 1/tc.rho0, Below, grid)
			if math.Abs(a-b) > 1e-9*math.Max(1, math.Abs(a)) {
				t.Errorf("%+v: Above %v != swapped Below %v", tc, a, b)
			}
		}
	}
	// A canary with the same share of events on either side of the null
	// gives the same evidence for the one side as its mirror image for the
	// other: kc/nc = 2 ks/ns against kc/nc = ks/(2 ns).
	up := LogConditionalE(40, 1000, 20, 1000, 1, Above, errorGrid)
	down := LogConditionalE(20, 1000, 40, 1000, 1, Below, errorGrid)
	if math.Abs(up-down) > 1e-9 {
		t.Errorf("mirror images: Above %v, Below %v; want equal", up, down)
	}
	// The side matters: a regression is no evidence of non-regression.
	if above, below := LogConditionalE(30, 300, 10, 2700, 1, Above, errorGrid), LogConditionalE(30, 300, 10, 2700, 1, Below, errorGrid); !(above > 0 && below < 0) {
		t.Errorf("regression: Above log e = %v (want > 0), Below log e = %v (want < 0)", above, below)
	}
}

func TestLogConditionalEObviousRegression(t *testing.T) {
	// 10% of canary requests fail against 0.37% of stable ones.
	e := math.Exp(LogConditionalE(30, 300, 10, 2700, 1, Above, errorGrid))
	if !(e > 1e6) {
		t.Errorf("e = %v, want ≫ 100 for kc=30/300 against ks=10/2700", e)
	}
	// Only a handful of events can still be decisive when all are the
	// canary's with a tenth of the traffic.
	if e := math.Exp(LogConditionalE(8, 300, 0, 2700, 1, Above, errorGrid)); !(e > 100) {
		t.Errorf("e = %v, want > 100 for 8 canary events, 0 stable events at 1:9 traffic", e)
	}
	// The mirror image: a canary much better than the stable is strong
	// evidence for Below.
	if e := math.Exp(LogConditionalE(0, 3000, 300, 27000, 1, Below, latencyGrid)); !(e > 1e6) {
		t.Errorf("Below e = %v, want ≫ 100 for 0/3000 canary events against 300/27000", e)
	}
}

func TestLogConditionalEEqualRatesStaySmall(t *testing.T) {
	tests := []struct{ kc, nc, ks, ns int64 }{
		{10, 1000, 90, 9000},
		{100, 10000, 900, 90000},
		{1, 100, 9, 900},
		{500, 5000, 500, 5000},
	}
	for _, tc := range tests {
		for _, side := range []Sided{Above, Below} {
			for name, grid := range map[string]Grid{"errors": errorGrid, "latency": latencyGrid} {
				if l := LogConditionalE(tc.kc, tc.nc, tc.ks, tc.ns, 1, side, grid); !(l < 0) {
					t.Errorf("%+v side %d %s grid: log e = %v, want < 0 (e < 1) for exactly equal rates", tc, side, name, l)
				}
			}
		}
	}
}

func TestLogConditionalEFiniteForHugeCounts(t *testing.T) {
	l := LogConditionalE(1_000_000, 10_000_000, 0, 90_000_000, 1, Above, errorGrid)
	if math.IsNaN(l) || math.IsInf(l, 0) || l <= 0 {
		t.Errorf("log e = %v, want a large finite number", l)
	}
	l = LogConditionalE(0, 10_000_000, 1_000_000, 90_000_000, 1, Above, errorGrid)
	if math.IsNaN(l) || math.IsInf(l, 0) || l >= 0 {
		t.Errorf("log e = %v, want a finite negative number", l)
	}
}

// crossRate simulates runs of a step: every look adds nc canary and ns
// stable trials with event rates pc and ps (Poisson counts, or binomial
// ones when bernoulli), and reports the fraction of runs whose e-value
// ever reaches 1/alpha.
func crossRate(seed uint64, runs, looks int, nc, ns int64, pc, ps, rho0 float64, side Sided, grid Grid, bernoulli bool, alpha float64) float64 {
	return crossRateVarying(seed, runs, looks, nc, ns, false, pc, ps, rho0, side, grid, bernoulli, alpha)
}

// crossRateVarying is crossRate where, when vary, each look's traffic is
// drawn uniformly from half to one and a half times nc and ns.
func crossRateVarying(seed uint64, runs, looks int, nc0, ns0 int64, vary bool, pc, ps, rho0 float64, side Sided, grid Grid, bernoulli bool, alpha float64) float64 {
	r := newRand(seed)
	bar := math.Log(1 / alpha)
	crossed := 0
	for range runs {
		var kc, ks, tc, ts int64
		for range looks {
			nc, ns := nc0, ns0
			if vary {
				nc, ns = nc0/2+r.Int64N(nc0+1), ns0/2+r.Int64N(ns0+1)
			}
			tc += nc
			ts += ns
			if bernoulli {
				kc += binomial(r, nc, pc)
				ks += binomial(r, ns, ps)
			} else {
				kc += poisson(r, float64(nc)*pc)
				ks += poisson(r, float64(ns)*ps)
			}
			if LogConditionalE(kc, tc, ks, ts, rho0, side, grid) >= bar {
				crossed++
				break
			}
		}
	}
	return float64(crossed) / float64(runs)
}

func TestLogConditionalEIsAnytimeValid(t *testing.T) {
	const (
		alpha = 0.05
		looks = 60
	)
	// 1:9 canary:stable traffic, 100 canary requests a look. The cases of
	// the judge's own nulls get the full 2000 runs under both models; the
	// rest fewer, Poisson only, to keep the package fast under -race.
	tests := map[string]struct {
		pc, ps, rho0 float64
		side         Sided
		grid         Grid
		runs         int
		bothModels   bool
		vary         bool
	}{
		"equal rates, above":            {pc: 0.01, ps: 0.01, rho0: 1, side: Above, grid: errorGrid, runs: 2000, bothModels: true},
		"equal rates, below":            {pc: 0.01, ps: 0.01, rho0: 1, side: Below, grid: errorGrid, runs: 2000, bothModels: true},
		"boundary rho0=2, above":        {pc: 0.02, ps: 0.01, rho0: 2, side: Above, grid: errorGrid, runs: 2000, bothModels: true},
		"boundary rho0=0.5, below":      {pc: 0.005, ps: 0.01, rho0: 0.5, side: Below, grid: errorGrid, runs: 2000, bothModels: true},
		"boundary rho0=1.1, above":      {pc: 0.011, ps: 0.01, rho0: 1.1, side: Above, grid: errorGrid, runs: 500},
		"latency grid, above":           {pc: 0.1, ps: 0.1, rho0: 1, side: Above, grid: latencyGrid, runs: 500},
		"latency grid, below":           {pc: 0.1, ps: 0.1, rho0: 1, side: Below, grid: latencyGrid, runs: 500},
		"inside the null, above":        {pc: 0.005, ps: 0.01, rho0: 1, side: Above, grid: errorGrid, runs: 500},
		"inside the null, below":        {pc: 0.02, ps: 0.01, rho0: 1, side: Below, grid: errorGrid, runs: 500},
		"rare events, equal, above":     {pc: 0.001, ps: 0.001, rho0: 1, side: Above, grid: errorGrid, runs: 500},
		"frequent events, equal, below": {pc: 0.05, ps: 0.05, rho0: 1, side: Below, grid: latencyGrid, runs: 500},
		// The split of traffic between looks is not exact.
		"varying traffic, above": {pc: 0.01, ps: 0.01, rho0: 1, side: Above, grid: errorGrid, runs: 500, vary: true},
		"varying traffic, below": {pc: 0.01, ps: 0.01, rho0: 1, side: Below, grid: errorGrid, runs: 500, vary: true},
	}
	for name, tc := range tests {
		for _, bernoulli := range []bool{false, true} {
			if bernoulli && !tc.bothModels {
				continue
			}
			model := "poisson"
			if bernoulli {
				model = "bernoulli"
			}
			t.Run(name+"/"+model, func(t *testing.T) {
				t.Parallel()
				got := crossRateVarying(seedOf(t.Name()), tc.runs, looks, 100, 900, tc.vary, tc.pc, tc.ps, tc.rho0, tc.side, tc.grid, bernoulli, alpha)
				if limit := alpha + slack(alpha, tc.runs); got > limit {
					t.Errorf("under the null %d of %d runs (%.2f%%) reached 1/alpha at some look, want at most %.2f%%",
						int(math.Round(got*float64(tc.runs))), tc.runs, got*100, limit*100)
				}
			})
		}
	}
}

// The validity test means something only if the same test finds real
// regressions.
func TestLogConditionalEHasPower(t *testing.T) {
	const alpha, runs, looks = 0.05, 300, 60
	tests := map[string]struct {
		pc, ps   float64
		side     Sided
		grid     Grid
		minPower float64
	}{
		"3x errors":           {pc: 0.03, ps: 0.01, side: Above, grid: errorGrid, minPower: 0.95},
		"10x errors":          {pc: 0.01, ps: 0.001, side: Above, grid: errorGrid, minPower: 0.95},
		"half the slow tail":  {pc: 0.05, ps: 0.1, side: Below, grid: latencyGrid, minPower: 0.95},
		"twice the slow tail": {pc: 0.2, ps: 0.1, side: Above, grid: latencyGrid, minPower: 0.95},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got := crossRate(seedOf(t.Name()), runs, looks, 100, 900, tc.pc, tc.ps, 1, tc.side, tc.grid, true, alpha)
			if got < tc.minPower {
				t.Errorf("only %.1f%% of runs reached 1/alpha, want at least %.0f%%", got*100, tc.minPower*100)
			}
		})
	}
}

func TestRatioLowerBound(t *testing.T) {
	const alpha = 0.01
	limit := math.Log(1 / alpha)
	// No canary events are no evidence of any ratio: 0.
	for _, tc := range []struct{ kc, nc, ks, ns int64 }{
		{0, 0, 0, 0}, {0, 1000, 0, 9000}, {0, 1000, 50, 9000}, {1, 10, 0, 90},
	} {
		if got := RatioLowerBound(tc.kc, tc.nc, tc.ks, tc.ns, alpha, errorGrid); got != 0 {
			t.Errorf("RatioLowerBound(%+v) = %v, want 0", tc, got)
		}
	}
	// Equal rates bound the ratio from below, but below 1.
	if got := RatioLowerBound(100, 10000, 900, 90000, alpha, errorGrid); !(got > 0 && got < 1) {
		t.Errorf("RatioLowerBound at equal rates = %v, want in (0, 1)", got)
	}
	// An obvious regression: 10% against 0.37%, a ratio of 27.
	lb := RatioLowerBound(30, 300, 10, 2700, alpha, errorGrid)
	if !(lb > 1 && lb < 27) {
		t.Errorf("RatioLowerBound(30/300 vs 10/2700) = %v, want above 1 and below the observed ratio 27", lb)
	}
	if lb2 := RatioLowerBound(30, 300, 10, 2700, 0.0001, errorGrid); !(lb2 < lb) {
		t.Errorf("a smaller alpha gives %v, not below %v", lb2, lb)
	}
	// Overwhelming evidence is capped.
	if got := RatioLowerBound(1000, 1000, 0, 1_000_000_000_000, alpha, errorGrid); math.Abs(got-1e6) > 1e-3 {
		t.Errorf("RatioLowerBound at the cap = %v, want 1e6", got)
	}
	// The bound is where the conditional test stops rejecting: a verdict
	// against rho0 holds exactly when the bound is above rho0.
	for _, tc := range []struct{ kc, nc, ks, ns int64 }{
		{30, 300, 10, 2700}, {12, 1000, 20, 9000}, {50, 5000, 100, 45000}, {8, 300, 0, 2700}, {400, 2000, 900, 18000},
	} {
		for _, grid := range []Grid{errorGrid, latencyGrid} {
			lb := RatioLowerBound(tc.kc, tc.nc, tc.ks, tc.ns, alpha, grid)
			if lb == 0 {
				continue
			}
			if e := LogConditionalE(tc.kc, tc.nc, tc.ks, tc.ns, lb*0.999, Above, grid); e < limit {
				t.Errorf("%+v: just under the bound %v the test does not reject (log e %v < %v)", tc, lb, e, limit)
			}
			if e := LogConditionalE(tc.kc, tc.nc, tc.ks, tc.ns, lb*1.001, Above, grid); e >= limit {
				t.Errorf("%+v: just over the bound %v the test still rejects (log e %v)", tc, lb, e)
			}
			for _, rho0 := range []float64{1, 1.1, 1.5, 2, 5} {
				rejects := LogConditionalE(tc.kc, tc.nc, tc.ks, tc.ns, rho0, Above, grid) >= limit
				if math.Abs(lb/rho0-1) > 1e-6 && rejects != (lb > rho0) {
					t.Errorf("%+v rho0 %v: the test rejects = %v, but the bound is %v", tc, rho0, rejects, lb)
				}
			}
		}
	}
}

func TestFormatRatio(t *testing.T) {
	for v, want := range map[float64]string{3.14159: "3.14x", 1: "1x", 27.5: "27.5x", 1234: "1.23e+03x", 99999: "1e+05x", 1e5: "100000x", 1e9: "100000x"} {
		if got := ratio(v); got != want {
			t.Errorf("ratio(%v) = %q, want %q", v, got, want)
		}
	}
}

func TestRateBoundsNoTrials(t *testing.T) {
	for _, k := range []int64{0, 3} {
		for _, n := range []int64{0, -5} {
			if lo, hi := RateBounds(k, n, 0.05, errorPrior); lo != 0 || hi != 1 {
				t.Errorf("RateBounds(%d, %d) = [%v, %v], want [0, 1]", k, n, lo, hi)
			}
		}
	}
}

func TestRateBoundsContainEstimate(t *testing.T) {
	priors := map[string]RatePrior{"errors": errorPrior, "p90 tail": tailPrior(0.9), "p99 tail": tailPrior(0.99), "flat": {Mean: 0.5, Strength: 2}}
	for pname, prior := range priors {
		for _, n := range []int64{1, 2, 10, 100, 1000, 100000} {
			for _, frac := range []float64{0, 0.001, 0.01, 0.1, 0.5, 0.9, 1} {
				k := int64(math.Round(frac * float64(n)))
				for _, alpha := range []float64{0.001, 0.05, 0.5} {
					lo, hi := RateBounds(k, n, alpha, prior)
					mle := float64(k) / float64(n)
					if !(0 <= lo && lo <= mle && mle <= hi && hi <= 1) {
						t.Errorf("%s: RateBounds(%d, %d, %v) = [%v, %v], want 0 ≤ lo ≤ %v ≤ hi ≤ 1", pname, k, n, alpha, lo, hi, mle)
					}
					if k == 0 && lo != 0 {
						t.Errorf("%s: RateBounds(0, %d, %v) lower = %v, want 0", pname, n, alpha, lo)
					}
					if k == n && hi != 1 {
						t.Errorf("%s: RateBounds(%d, %d, %v) upper = %v, want 1", pname, k, n, alpha, hi)
					}
				}
			}
		}
	}
}

func TestRateBoundsClampsEvents(t *testing.T) {
	lo, hi := RateBounds(15, 10, 0.05, errorPrior)
	wlo, whi := RateBounds(10, 10, 0.05, errorPrior)
	if lo != wlo || hi != whi {
		t.Errorf("RateBounds(15, 10) = [%v, %v], want as for 10 of 10: [%v, %v]", lo, hi, wlo, whi)
	}
	lo, hi = RateBounds(-3, 10, 0.05, errorPrior)
	wlo, whi = RateBounds(0, 10, 0.05, errorPrior)
	if lo != wlo || hi != whi {
		t.Errorf("RateBounds(-3, 10) = [%v, %v], want as for 0 of 10: [%v, %v]", lo, hi, wlo, whi)
	}
}

func TestRateBoundsTighten(t *testing.T) {
	const rate = 0.02
	prevLo, prevHi := 0.0, 1.0
	for _, n := range []int64{100, 300, 1000, 3000, 10000, 30000, 100000, 1000000} {
		k := int64(rate * float64(n))
		lo, hi := RateBounds(k, n, 0.05, errorPrior)
		if !(hi-lo < prevHi-prevLo) {
			t.Errorf("n=%d: width %v not below %v at fewer trials", n, hi-lo, prevHi-prevLo)
		}
		if !(lo >= prevLo && hi <= prevHi) {
			t.Errorf("n=%d: [%v, %v] not inside [%v, %v] at fewer trials", n, lo, hi, prevLo, prevHi)
		}
		prevLo, prevHi = lo, hi
	}
	if prevHi-prevLo > 0.002 {
		t.Errorf("at a million trials the width is %v, want under 0.2 points", prevHi-prevLo)
	}
	// A smaller alpha widens the bounds.
	lo1, hi1 := RateBounds(20, 1000, 0.05, errorPrior)
	lo2, hi2 := RateBounds(20, 1000, 0.001, errorPrior)
	if !(lo2 < lo1 && hi2 > hi1) {
		t.Errorf("alpha 0.001 gives [%v, %v], not wider than [%v, %v] at alpha 0.05", lo2, hi2, lo1, hi1)
	}
}

func TestRateBoundsEdges(t *testing.T) {
	// The bounds are where the mixture martingale crosses 1/alpha.
	for _, tc := range []struct{ k, n int64 }{{0, 100}, {2, 100}, {20, 1000}, {500, 1000}} {
		lo, hi := RateBounds(tc.k, tc.n, 0.05, errorPrior)
		limit := math.Log(1 / 0.05)
		if hi < 1 {
			if got := logBB(tc.k, tc.n, hi, errorPrior); got < limit || got > limit+1e-6 {
				t.Errorf("%+v: log martingale at the upper bound %v = %v, want just at %v", tc, hi, got, limit)
			}
		}
		if lo > 0 {
			if got := logBB(tc.k, tc.n, lo, errorPrior); got < limit || got > limit+1e-6 {
				t.Errorf("%+v: log martingale at the lower bound %v = %v, want just at %v", tc, lo, got, limit)
			}
		}
	}
}

func TestRateBoundsCoverage(t *testing.T) {
	const (
		alpha = 0.05
		step  = 100
		maxN  = 2000
	)
	tests := map[string]struct {
		rate  float64
		prior RatePrior
		runs  int
	}{
		"2% errors":          {rate: 0.02, prior: errorPrior, runs: 1000},
		"0.5% errors":        {rate: 0.005, prior: errorPrior, runs: 300},
		"p90 tail":           {rate: 0.1, prior: tailPrior(0.9), runs: 300},
		"far from the prior": {rate: 0.2, prior: errorPrior, runs: 300},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := newRand(seedOf(t.Name()))
			left := 0
			for range tc.runs {
				var k, n int64
				for n < maxN {
					k += binomial(r, step, tc.rate)
					n += step
					if lo, hi := RateBounds(k, n, alpha, tc.prior); tc.rate < lo || tc.rate > hi {
						left++
						break
					}
				}
			}
			got := float64(left) / float64(tc.runs)
			if limit := alpha + slack(alpha, tc.runs); got > limit {
				t.Errorf("the true rate %v left the bounds in %d of %d runs (%.1f%%), want at most %.1f%%",
					tc.rate, left, tc.runs, got*100, limit*100)
			}
		})
	}
}
