package analysis

import (
	"errors"
	"math"
	"strings"
	"testing"
)

func TestParseThreshold(t *testing.T) {
	tests := map[string]struct {
		kind, in string
		want     float64
		wantErr  string // substring; "" means no error
	}{
		"error rate percent":            {kind: ErrorRate, in: "1%", want: 0.01},
		"error rate fractional percent": {kind: ErrorRate, in: "0.5%", want: 0.005},
		"error rate fraction":           {kind: ErrorRate, in: "0.01", want: 0.01},
		"error rate with spaces":        {kind: ErrorRate, in: " 2.5 % ", want: 0.025},
		"error rate 100%":               {kind: ErrorRate, in: "100%", want: 1},
		"error rate fraction above 1":   {kind: ErrorRate, in: "5", wantErr: `a fraction must be from 0 to 1 (write "5%" for a percentage)`},
		"error rate percent above 100":  {kind: ErrorRate, in: "150%", wantErr: "from 0% to 100%"},
		"error rate negative":           {kind: ErrorRate, in: "-1%", wantErr: "from 0% to 100%"},
		"error rate garbage":            {kind: ErrorRate, in: "one", wantErr: `errorRate threshold "one": want a percentage`},
		"error rate NaN":                {kind: ErrorRate, in: "NaN", wantErr: "want a percentage"},
		"error rate empty":              {kind: ErrorRate, in: "", wantErr: "want a percentage"},
		"latency milliseconds":          {kind: LatencyP99, in: "500ms", want: 0.5},
		"latency seconds duration":      {kind: LatencyP50, in: "1.5s", want: 1.5},
		"latency plain seconds":         {kind: LatencyP90, in: "0.25", want: 0.25},
		"latency compound duration":     {kind: LatencyP90, in: "1m30s", want: 90},
		"latency negative":              {kind: LatencyP99, in: "-1s", wantErr: "not negative"},
		"latency missing unit garbage":  {kind: LatencyP99, in: "fast", wantErr: `latencyP99 threshold "fast": want a duration ("500ms", "1.5s") or a number of seconds`},
		"latency infinite":              {kind: LatencyP99, in: "+Inf", wantErr: "not negative"},
		"request rate plain":            {kind: RequestRate, in: "10", want: 10},
		"request rate per second":       {kind: RequestRate, in: "10/s", want: 10},
		"request rate req/s":            {kind: RequestRate, in: "12.5 req/s", want: 12.5},
		"request rate rps":              {kind: RequestRate, in: "3rps", want: 3},
		"request rate per minute":       {kind: RequestRate, in: "10/m", wantErr: `requestRate threshold "10/m": want requests per second`},
		"request rate negative":         {kind: RequestRate, in: "-2", wantErr: "not negative"},
		"query plain":                   {kind: "", in: "120", want: 120},
		"query negative":                {kind: "", in: "-0.5", want: -0.5},
		"query percent":                 {kind: "", in: "5%", want: 0.05},
		"query scientific":              {kind: "", in: "1e-3", want: 0.001},
		"query garbage":                 {kind: "", in: "5ms", wantErr: `query metric threshold "5ms": want a number`},
		"unknown kind":                  {kind: "cpu", in: "1", wantErr: `for metric "cpu": unknown metric (want one of errorRate`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := ParseThreshold(tc.kind, tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ParseThreshold(%q, %q) = %v, %v; want error containing %q", tc.kind, tc.in, got, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseThreshold(%q, %q): %v", tc.kind, tc.in, err)
			}
			if math.Abs(got-tc.want) > 1e-12 {
				t.Errorf("ParseThreshold(%q, %q) = %v, want %v", tc.kind, tc.in, got, tc.want)
			}
		})
	}
}

func TestParseThresholdUnknownKindWrapsSentinel(t *testing.T) {
	if _, err := ParseThreshold("cpu", "1"); !errors.Is(err, ErrUnknownMetric) {
		t.Errorf("error %v does not wrap ErrUnknownMetric", err)
	}
}

func TestParseRatio(t *testing.T) {
	tests := map[string]struct {
		in      string
		want    float64
		wantErr bool
	}{
		"plain":    {in: "1.2", want: 1.2},
		"spaces":   {in: " 2 ", want: 2},
		"small":    {in: "0.5", want: 0.5},
		"zero":     {in: "0", wantErr: true},
		"negative": {in: "-1", wantErr: true},
		"infinite": {in: "Inf", wantErr: true},
		"NaN":      {in: "NaN", wantErr: true},
		"percent":  {in: "120%", wantErr: true},
		"empty":    {in: "", wantErr: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := ParseRatio(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("ParseRatio(%q) = %v, %v; want error: %v", tc.in, got, err, tc.wantErr)
			}
			if err != nil {
				if !strings.Contains(err.Error(), strings.TrimSpace(tc.in)) || !strings.Contains(err.Error(), "greater than 0") {
					t.Errorf("ParseRatio(%q) error %q should name the value and what is accepted", tc.in, err)
				}
				return
			}
			if got != tc.want {
				t.Errorf("ParseRatio(%q) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}

func TestFormatValue(t *testing.T) {
	tests := map[string]struct {
		kind string
		v    float64
		want string
	}{
		"error rate":             {kind: ErrorRate, v: 0.052, want: "5.20%"},
		"error rate zero":        {kind: ErrorRate, v: 0, want: "0.00%"},
		"error rate tiny":        {kind: ErrorRate, v: 0.0001, want: "0.01%"},
		"latency ms":             {kind: LatencyP99, v: 0.512345, want: "512ms"},
		"latency seconds":        {kind: LatencyP50, v: 1.5, want: "1.5s"},
		"latency fractional ms":  {kind: LatencyP90, v: 0.0123456, want: "12.3ms"},
		"latency microseconds":   {kind: LatencyP90, v: 0.000042, want: "42µs"},
		"latency minutes":        {kind: LatencyP99, v: 65.4321, want: "1m5.4s"},
		"latency zero":           {kind: LatencyP99, v: 0, want: "0s"},
		"latency negative delta": {kind: LatencyP99, v: -0.25, want: "-250ms"},
		"latency huge":           {kind: LatencyP99, v: 1e12, want: "1e+12s"},
		"request rate":           {kind: RequestRate, v: 12.34, want: "12.3 req/s"},
		"request rate whole":     {kind: RequestRate, v: 10, want: "10.0 req/s"},
		"request rate slow":      {kind: RequestRate, v: 0.0516, want: "0.0516 req/s"},
		"request rate zero":      {kind: RequestRate, v: 0, want: "0.0 req/s"},
		"query":                  {kind: "", v: 0.042, want: "0.042"},
		"query large":            {kind: "", v: 123456, want: "1.235e+05"},
		"NaN":                    {kind: ErrorRate, v: math.NaN(), want: "NaN"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := FormatValue(tc.kind, tc.v); got != tc.want {
				t.Errorf("FormatValue(%q, %v) = %q, want %q", tc.kind, tc.v, got, tc.want)
			}
		})
	}
}

// What FormatValue writes, ParseThreshold reads back (to the precision
// shown), so messages can be pasted into a spec.
func TestFormatValueParsesBack(t *testing.T) {
	tests := map[string]struct {
		kind string
		v    float64
	}{
		"error rate":   {kind: ErrorRate, v: 0.052},
		"latency":      {kind: LatencyP99, v: 0.512},
		"request rate": {kind: RequestRate, v: 12.3},
		"query":        {kind: "", v: 0.042},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s := FormatValue(tc.kind, tc.v)
			got, err := ParseThreshold(tc.kind, s)
			if err != nil {
				t.Fatalf("ParseThreshold(%q, %q): %v", tc.kind, s, err)
			}
			if math.Abs(got-tc.v) > 1e-9 {
				t.Errorf("ParseThreshold(FormatValue(%v) = %q) = %v", tc.v, s, got)
			}
		})
	}
}
