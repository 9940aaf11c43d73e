package resources_test

import (
	"os"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	rolloutsv1alpha1 "github.com/rampdev/ramp/apis/rollouts/v1alpha1"
	"github.com/rampdev/ramp/controllers/rollout/resources"
)

func TestValidateSpec(t *testing.T) {
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	window := func(schedule, tz string) func(*rolloutsv1alpha1.RolloutSpec) {
		return func(s *rolloutsv1alpha1.RolloutSpec) {
			s.PromotionWindows = []rolloutsv1alpha1.PromotionWindow{{Schedule: schedule, TimeZone: tz, Duration: metav1.Duration{Duration: time.Hour}}}
		}
	}
	metric := func(m rolloutsv1alpha1.Metric) func(*rolloutsv1alpha1.RolloutSpec) {
		return func(s *rolloutsv1alpha1.RolloutSpec) {
			s.Analysis = &rolloutsv1alpha1.Analysis{Metrics: []rolloutsv1alpha1.Metric{m}}
		}
	}
	th := func(s string) *rolloutsv1alpha1.Threshold { v := rolloutsv1alpha1.Threshold(s); return &v }
	ratio := func(s string) *rolloutsv1alpha1.Ratio { v := rolloutsv1alpha1.Ratio(s); return &v }
	cases := map[string]struct {
		mutate func(*rolloutsv1alpha1.RolloutSpec)
		want   string // "" for valid
	}{
		"no windows, no analysis":         {mutate: func(*rolloutsv1alpha1.RolloutSpec) {}},
		"weekdays 9 to 5 in Paris":        {mutate: window("0 9 * * 1-5", "Europe/Paris")},
		"a descriptor":                    {mutate: window("@daily", "")},
		"the 29th of February, leap year": {mutate: window("0 9 29 2 *", "")},
		"a garbage schedule":              {mutate: window("at nine every working day", ""), want: `spec.promotionWindows[0].schedule: Invalid value: "at nine every working day": not a cron schedule`},
		"a minute of 99":                  {mutate: window("99 9 * * *", ""), want: `spec.promotionWindows[0].schedule: Invalid value: "99 9 * * *": not a cron schedule: end of range (99) above maximum (59)`},
		"30 February never comes":         {mutate: window("0 9 30 2 *", ""), want: `spec.promotionWindows[0].schedule: Invalid value: "0 9 30 2 *": never opens within the next 4 years`},
		"an unknown time zone":            {mutate: window("@daily", "Mars/Olympus"), want: `spec.promotionWindows[0].timeZone: Invalid value: "Mars/Olympus": unknown time zone`},
		"a path as time zone":             {mutate: window("@daily", "../../etc/passwd"), want: `spec.promotionWindows[0].timeZone: Invalid value: "../../etc/passwd": must be an IANA time zone name`},
		"an absolute path as time zone":   {mutate: window("@daily", "/etc/localtime"), want: `spec.promotionWindows[0].timeZone: Invalid value: "/etc/localtime"`},
		"the controller's Local zone":     {mutate: window("@daily", "Local"), want: `spec.promotionWindows[0].timeZone: Invalid value: "Local"`},
		"an error rate of 150%": {mutate: metric(rolloutsv1alpha1.Metric{Name: "e", Builtin: "errorRate", Max: th("150%")}),
			want: `spec.analysis.metrics[0].max: Invalid value: "150%": errorRate threshold "150%": a percentage must be from 0% to 100%`},
		"an error rate of 1.5": {mutate: metric(rolloutsv1alpha1.Metric{Name: "e", Builtin: "errorRate", Max: th("1.5")}),
			want: `spec.analysis.metrics[0].max: Invalid value: "1.5": errorRate threshold "1.5": a fraction must be from 0 to 1`},
		"a negative latency": {mutate: metric(rolloutsv1alpha1.Metric{Name: "l", Builtin: "latencyP90", Max: th("-1")}),
			want: `spec.analysis.metrics[0].max: Invalid value: "-1"`},
		"a latency in percent": {mutate: metric(rolloutsv1alpha1.Metric{Name: "l", Builtin: "latencyP90", MaxIncrease: th("5%")}),
			want: `spec.analysis.metrics[0].maxIncrease: Invalid value: "5%"`},
		"a ratio of zero": {mutate: metric(rolloutsv1alpha1.Metric{Name: "l", Builtin: "latencyP90", MaxRatio: ratio("0")}),
			want: `spec.analysis.metrics[0].maxRatio: Invalid value: "0": ratio "0": want a number greater than 0`},
		"a margin of 150% error rate": {mutate: metric(rolloutsv1alpha1.Metric{Name: "e", Builtin: "errorRate", Margin: &rolloutsv1alpha1.MarginSpec{Absolute: th("150%")}}),
			want: `spec.analysis.metrics[0].margin: Invalid value: "": margin.absolute: errorRate threshold "150%"`},
		"a query template that does not parse": {mutate: metric(rolloutsv1alpha1.Metric{Name: "q", Prometheus: &rolloutsv1alpha1.PrometheusQuery{Query: `sum(rate(x{rev="{{.Revision}"}[1m]))`}, Max: th("1")}),
			want: `spec.analysis.metrics[0].prometheus.query: Invalid value:`},
		"a query template with an unknown variable": {mutate: metric(rolloutsv1alpha1.Metric{Name: "q", Prometheus: &rolloutsv1alpha1.PrometheusQuery{Query: `x{rev="{{.Pod}}"}`}, Max: th("1")}),
			want: `can't evaluate field Pod`},
		"a good query": {mutate: metric(rolloutsv1alpha1.Metric{Name: "q", Prometheus: &rolloutsv1alpha1.PrometheusQuery{Query: `x{rev="{{.Revision}}",ns="{{.Namespace}}"}[{{.Window}}]`}, Max: th("5%")})},
		"a disabled analysis is not checked": {mutate: func(s *rolloutsv1alpha1.RolloutSpec) {
			s.Analysis = &rolloutsv1alpha1.Analysis{Disabled: true}
		}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			spec := &rolloutsv1alpha1.RolloutSpec{}
			tc.mutate(spec)
			errs := resources.ValidateSpec(spec, now)
			switch {
			case tc.want == "" && len(errs) > 0:
				t.Fatalf("errors %v, want none", errs)
			case tc.want != "" && (len(errs) == 0 || !strings.Contains(errs.ToAggregate().Error(), tc.want)):
				t.Fatalf("errors %v, want one containing %q", errs, tc.want)
			}
		})
	}
}

// docsCountsTemplate is docs/analysis.md's ClusterAnalysisTemplate of
// Prometheus counts metrics.
func docsCountsTemplate(t *testing.T) *rolloutsv1alpha1.ClusterAnalysisTemplate {
	t.Helper()
	b, err := os.ReadFile("../../../docs/analysis.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	_, block, ok := strings.Cut(doc, "<!-- counts-example -->\n```yaml\n")
	if !ok {
		t.Fatal("docs/analysis.md has no counts example")
	}
	block, _, _ = strings.Cut(block, "```")
	tmpl := &rolloutsv1alpha1.ClusterAnalysisTemplate{}
	if err := yaml.UnmarshalStrict([]byte(block), tmpl); err != nil {
		t.Fatalf("the docs' counts example: %v", err)
	}
	return tmpl
}

func TestValidateCounts(t *testing.T) {
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	docs := docsCountsTemplate(t)
	if errs := resources.ValidateTemplate(&docs.Spec); len(errs) > 0 {
		t.Fatalf("the docs' example: %v", errs)
	}
	counts := func(kind, requests, errs, histogram string) *rolloutsv1alpha1.PrometheusQuery {
		return &rolloutsv1alpha1.PrometheusQuery{Kind: rolloutsv1alpha1.CountsKind(kind), Requests: requests, Errors: errs, Histogram: histogram}
	}
	const good = `sum(increase(x{rev="{{.Revision}}"}[{{.Window}}]))`
	cases := map[string]struct {
		m    rolloutsv1alpha1.Metric
		want string
	}{
		"the docs' error rate": {m: docs.Spec.Metrics[0]},
		"the docs' latency":    {m: docs.Spec.Metrics[1]},
		"requests that are not PromQL": {m: rolloutsv1alpha1.Metric{Name: "e", Prometheus: counts("errorRate", `sum(increase(x[{{.Window}}])`, good, "")},
			want: `spec.analysis.metrics[0].prometheus.requests: Invalid value: "sum(increase(x[{{.Window}}])": not PromQL: 1:21: parse error: unclosed left parenthesis (in the query rendered with placeholder values: ` + "`sum(increase(x[60s])`)"},
		"errors without a range": {m: rolloutsv1alpha1.Metric{Name: "e", Prometheus: counts("errorRate", good, `sum(increase(x))`, "")},
			want: `spec.analysis.metrics[0].prometheus.errors: Invalid value: "sum(increase(x))": not PromQL: 1:14: parse error: expected type range vector in call to function "increase", got instant vector`},
		"a histogram with an unknown variable": {m: rolloutsv1alpha1.Metric{Name: "l", Prometheus: counts("latencyP90", "", "", `x{le="{{.Le}}"}`)},
			want: `spec.analysis.metrics[0].prometheus.histogram: Invalid value: "x{le=\"{{.Le}}\"}": query template`},
		"a latency margin in percent is fine, an absolute one a duration": {m: rolloutsv1alpha1.Metric{Name: "l",
			Prometheus: counts("latencyP90", "", "", good), Margin: &rolloutsv1alpha1.MarginSpec{Relative: ptrTo("20%"), Absolute: th("5%")}},
			want: `spec.analysis.metrics[0].margin: Invalid value: "": margin.absolute: latencyP90 threshold "5%"`},
		"a latency max in seconds": {m: rolloutsv1alpha1.Metric{Name: "l", Prometheus: counts("latencyP99", "", "", good), Max: th("0.5")}},
		"an error rate max of 150%": {m: rolloutsv1alpha1.Metric{Name: "e", Prometheus: counts("errorRate", good, good, ""), Max: th("150%")},
			want: `spec.analysis.metrics[0].max: Invalid value: "150%": errorRate threshold "150%"`},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			spec := &rolloutsv1alpha1.RolloutSpec{Analysis: &rolloutsv1alpha1.Analysis{Metrics: []rolloutsv1alpha1.Metric{tc.m}}}
			errs := resources.ValidateSpec(spec, now)
			switch {
			case tc.want == "" && len(errs) > 0:
				t.Fatalf("errors %v, want none", errs)
			case tc.want != "" && (len(errs) == 0 || !strings.Contains(errs.ToAggregate().Error(), tc.want)):
				t.Fatalf("errors %v, want one containing %q", errs, tc.want)
			}
		})
	}
}

// A template's queries are checked with placeholders for its arguments:
// a name, a number or a duration, whichever parses.
func TestValidateTemplateQueries(t *testing.T) {
	tmpl := func(field, query string) *rolloutsv1alpha1.AnalysisTemplateSpec {
		p := &rolloutsv1alpha1.PrometheusQuery{Kind: "latencyP90", Histogram: query}
		if field == "query" {
			p = &rolloutsv1alpha1.PrometheusQuery{Query: query}
		}
		five := rolloutsv1alpha1.Threshold("5")
		return &rolloutsv1alpha1.AnalysisTemplateSpec{
			Args:    []rolloutsv1alpha1.TemplateArg{{Name: "metric"}, {Name: "window"}, {Name: "q"}},
			Metrics: []rolloutsv1alpha1.Metric{{Name: "m", Prometheus: p, Max: &five}},
		}
	}
	cases := map[string]struct {
		spec *rolloutsv1alpha1.AnalysisTemplateSpec
		want string
	}{
		"a duration argument":    {spec: tmpl("histogram", `sum by (le) (increase(x_bucket{rev="{{.Revision}}"}[{{args.window}}]))`)},
		"a metric name argument": {spec: tmpl("histogram", `sum by (le) (increase({{args.metric}}_bucket[{{.Window}}]))`)},
		"a number argument":      {spec: tmpl("query", `histogram_quantile({{ args.q }}, sum by (le) (rate(x_bucket[{{.Window}}])))`)},
		"not PromQL whatever the arguments": {spec: tmpl("histogram", `sum by (le) (increase(x_bucket[{{args.window}}])`),
			want: `spec.metrics[0].prometheus.histogram: Invalid value: "sum by (le) (increase(x_bucket[{{args.window}}])": not PromQL: 1:`},
		"an undeclared argument in a counts query": {spec: tmpl("histogram", `sum by (le) (increase(x_bucket{team="{{args.team}}"}[{{.Window}}]))`),
			want: `spec.metrics[0].prometheus.histogram: Invalid value: "sum by (le) (increase(x_bucket{team=\"{{args.team}}\"}[{{.Window}}]))": uses argument team, which spec.args does not declare`},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			errs := resources.ValidateTemplate(tc.spec)
			switch {
			case tc.want == "" && len(errs) > 0:
				t.Fatalf("errors %v, want none", errs)
			case tc.want != "" && (len(errs) == 0 || !strings.Contains(errs.ToAggregate().Error(), tc.want)):
				t.Fatalf("errors %v, want one containing %q", errs, tc.want)
			}
		})
	}
}

func th(s string) *rolloutsv1alpha1.Threshold { v := rolloutsv1alpha1.Threshold(s); return &v }

func ptrTo[T any](v T) *T { return &v }
