package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
)

// Scenario is one simulated canary step: traffic, the stable's and the
// canary's error rates and the canary's latency factor.
type Scenario struct {
	Name string
	// Rate is the total requests per second, Weight the canary's share.
	Rate, Weight float64
	// StableErrors and CanaryErrors are 5xx rates (fractions).
	StableErrors, CanaryErrors float64
	// LatencyFactor multiplies the canary's latencies (1: as the stable).
	LatencyFactor float64
	// Bad says whether the canary should be rolled back.
	Bad bool
	// NoCanary sends the canary no traffic at all.
	NoCanary bool
}

// Simulated latency: log-normal with a 50 ms median, as the issue fixes,
// and σ = 0.4 (p90 ≈ 83 ms, p99 ≈ 127 ms).
const (
	latencyMedian = 0.050
	latencySigma  = 0.4
)

// Scenarios are the ones the statistical-judge issue names.
func Scenarios() []Scenario {
	var out []Scenario
	for _, b := range []float64{0, 0.001, 0.005, 0.01, 0.02} {
		out = append(out, Scenario{Name: fmt.Sprintf("healthy, %s baseline", pctName(b)), Rate: 50, Weight: 0.1,
			StableErrors: b, CanaryErrors: b, LatencyFactor: 1})
	}
	for _, b := range []float64{0, 0.001, 0.005, 0.01} {
		out = append(out, Scenario{Name: fmt.Sprintf("+2 pts over %s", pctName(b)), Rate: 50, Weight: 0.1,
			StableErrors: b, CanaryErrors: b + 0.02, LatencyFactor: 1, Bad: true})
	}
	out = append(out,
		Scenario{Name: "latency x1.3", Rate: 50, Weight: 0.1, StableErrors: 0.001, CanaryErrors: 0.001, LatencyFactor: 1.3, Bad: true},
		Scenario{Name: "latency x1.05", Rate: 50, Weight: 0.1, StableErrors: 0.001, CanaryErrors: 0.001, LatencyFactor: 1.05},
		Scenario{Name: "no canary traffic", Rate: 50, Weight: 0.1, StableErrors: 0.001, CanaryErrors: 0.001, LatencyFactor: 1, NoCanary: true},
		Scenario{Name: "5 req/s healthy, 0.1%", Rate: 5, Weight: 0.1, StableErrors: 0.001, CanaryErrors: 0.001, LatencyFactor: 1},
		Scenario{Name: "5 req/s +2 pts over 0.1%", Rate: 5, Weight: 0.1, StableErrors: 0.001, CanaryErrors: 0.021, LatencyFactor: 1, Bad: true},
		Scenario{Name: "5 req/s latency x1.3", Rate: 5, Weight: 0.1, StableErrors: 0.001, CanaryErrors: 0.001, LatencyFactor: 1.3, Bad: true},
	)
	return out
}

func pctName(v float64) string { return fmt.Sprintf("%g%%", v*100) }

// ErrorScenario reports whether s differs from healthy by its error rate,
// so that the oracle applies.
func (s Scenario) ErrorScenario() bool { return s.CanaryErrors != s.StableErrors }

// runTrace writes one run of s, seconds [0, seconds), as trace lines to
// buf, and returns the canary's requests and errors in [0, oracleAt) for
// the oracle.
func runTrace(buf *bytes.Buffer, s Scenario, id string, seconds, oracleAt int, rng *rand.Rand) (canaryN, canaryErr, stableN, stableErr int64) {
	enc := json.NewEncoder(buf)
	lat := make([]float64, 0, 256)
	for sec := range seconds {
		for _, rev := range []string{"stable", "canary"} {
			mean, errRate, factor := s.Rate*(1-s.Weight), s.StableErrors, 1.0
			if rev == "canary" {
				if s.NoCanary {
					continue
				}
				mean, errRate, factor = s.Rate*s.Weight, s.CanaryErrors, s.LatencyFactor
			}
			n := poisson(rng, mean)
			if n == 0 {
				continue
			}
			var errs int64
			lat = lat[:0]
			for range n {
				if rng.Float64() < errRate {
					errs++
				}
				v := latencyMedian * factor * math.Exp(latencySigma*rng.NormFloat64())
				lat = append(lat, math.Round(v*1e6)/1e6)
			}
			switch {
			case sec >= oracleAt:
			case rev == "canary":
				canaryN += int64(n)
				canaryErr += errs
			default:
				stableN += int64(n)
				stableErr += errs
			}
			// The encoder cannot fail on these values.
			_ = enc.Encode(struct {
				Run       string    `json:"run"`
				Second    int       `json:"second"`
				Revision  string    `json:"revision"`
				Requests  int       `json:"requests"`
				Errors    int64     `json:"errors"`
				Latencies []float64 `json:"latencies"`
			}{id, sec, rev, n, errs, lat})
		}
	}
	return canaryN, canaryErr, stableN, stableErr
}

// poisson draws from a Poisson distribution of mean m (Knuth's method;
// a large mean is split, since a sum of Poissons is Poisson).
func poisson(rng *rand.Rand, m float64) int {
	if m <= 0 {
		return 0
	}
	if m > 30 {
		return poisson(rng, m/2) + poisson(rng, m/2)
	}
	l, k, p := math.Exp(-m), 0, 1.0
	for {
		p *= rng.Float64()
		if p <= l {
			return k
		}
		k++
	}
}

// oracleRejects is an exact one-sided binomial test at level alpha that
// knows the stable's true error rate p: is k errors in n canary requests
// more than p explains?
func oracleRejects(k, n int64, p, alpha float64) bool {
	if n == 0 {
		return false
	}
	if p == 0 {
		return k > 0
	}
	if k == 0 {
		return false
	}
	// P(X ≥ k) for X ~ Binomial(n, p).
	tail := 0.0
	for x := k; x <= n; x++ {
		lt := lchoose(n, x) + float64(x)*math.Log(p) + float64(n-x)*math.Log1p(-p)
		term := math.Exp(lt)
		tail += term
		if term < 1e-300 && x > k+10 {
			break
		}
	}
	return tail <= alpha
}

// singleLookRejects is the best single-look test that does not know the
// stable's rate: the exact conditional (Fisher-type) binomial test at
// level alpha that the canary's share of all errors, kc of kc+ks, is more
// than its share of the requests, nc / (nc+ns). It looks once, at a time
// fixed in advance, so it cannot be used to stop early; it shows what the
// data of that one look can tell.
func singleLookRejects(kc, nc, ks, ns int64, alpha float64) bool {
	if nc == 0 || ns == 0 || kc == 0 {
		return false
	}
	return oracleRejects(kc, kc+ks, float64(nc)/float64(nc+ns), alpha)
}

func lchoose(n, k int64) float64 {
	a, _ := math.Lgamma(float64(n + 1))
	b, _ := math.Lgamma(float64(k + 1))
	c, _ := math.Lgamma(float64(n - k + 1))
	return a - b - c
}
