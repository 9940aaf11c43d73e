package analysis

import (
	"bytes"
	"errors"
	"math"
	"testing"
)

// FuzzParseThreshold: no threshold a user writes may panic; an accepted
// one is a finite value in its metric's range, and what FormatValue shows
// of it parses again.
func FuzzParseThreshold(f *testing.F) {
	for _, s := range []string{"1%", "0.5%", "0.01", "150%", "-1", "500ms", "1.5s", "0.5", "10 req/s", "10/s", "NaN", "1e309", "Inf%", " 2 % ", "%", ""} {
		for i := range len(Builtins) + 1 {
			f.Add(uint8(i), s)
		}
	}
	f.Fuzz(func(t *testing.T, kind uint8, s string) {
		k := ""
		if int(kind)%(len(Builtins)+1) < len(Builtins) {
			k = Builtins[int(kind)%(len(Builtins)+1)]
		}
		v, err := ParseThreshold(k, s)
		if err != nil {
			return
		}
		if math.IsNaN(v) || math.IsInf(v, 0) {
			t.Fatalf("ParseThreshold(%q, %q) = %v: not finite", k, s, v)
		}
		switch k {
		case ErrorRate:
			if v < 0 || v > 1 {
				t.Fatalf("ParseThreshold(%q, %q) = %v: an error rate outside 0..1", k, s, v)
			}
		case LatencyP50, LatencyP90, LatencyP99, RequestRate:
			if v < 0 {
				t.Fatalf("ParseThreshold(%q, %q) = %v: negative", k, s, v)
			}
		}
		if k == ErrorRate || k == RequestRate {
			shown := FormatValue(k, v)
			if _, err := ParseThreshold(k, shown); err != nil {
				t.Fatalf("FormatValue(%q, %v) = %q, which does not parse: %v", k, v, shown, err)
			}
		}
	})
}

// FuzzParseRatio: an accepted ratio is finite and above 0.
func FuzzParseRatio(f *testing.F) {
	for _, s := range []string{"1.2", "0", "-1", "NaN", "+Inf", "1e-320", " 3 "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseRatio(s)
		if err == nil && (v <= 0 || math.IsNaN(v) || math.IsInf(v, 0)) {
			t.Fatalf("ParseRatio(%q) = %v", s, v)
		}
	})
}

// FuzzReadTrace: a trace file of any content is read or refused with a
// TraceError naming the line; an accepted trace replays without a panic.
func FuzzReadTrace(f *testing.F) {
	f.Add([]byte(`{"run":"a","second":0,"revision":"stable","requests":2,"errors":1,"latencies":[0.05,0.07]}
{"run":"a","second":0,"revision":"canary","requests":1,"errors":0,"latencies":[0.06]}
{"run":"a","second":3,"revision":"canary","requests":1,"errors":1,"latencies":[1e9]}
{"run":"b","second":0,"revision":"canary","requests":0,"errors":0,"latencies":[]}
`))
	f.Add([]byte(`{"run":"a","second":-1,"revision":"x","requests":1,"errors":2,"latencies":[-1]}`))
	f.Add([]byte("{}\n{\"step\":\n"))
	f.Add([]byte(`{"canary":{"requests":-1}}`))
	f.Add([]byte("\n\n\xff\xfe"))
	f.Fuzz(func(t *testing.T, data []byte) {
		runs, err := ReadTrace(bytes.NewReader(data), "fuzz.jsonl")
		if err != nil {
			var te *TraceError
			if !errors.As(err, &te) {
				t.Fatalf("ReadTrace error %v (%T) is not a TraceError", err, err)
			}
			return
		}
		for _, r := range runs {
			if r == nil {
				t.Fatal("ReadTrace returned a nil run")
			}
		}
	})
}
