package resources_test

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

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
