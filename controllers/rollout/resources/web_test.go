package resources_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/rampdev/ramp/analysis"
	rolloutsv1alpha1 "github.com/rampdev/ramp/apis/rollouts/v1alpha1"
	"github.com/rampdev/ramp/controllers/rollout/resources"
)

// webMetric is a valid web metric with mutate applied.
func webMetric(mutate func(*rolloutsv1alpha1.WebMetric)) rolloutsv1alpha1.Metric {
	w := &rolloutsv1alpha1.WebMetric{URL: "http://metrics.shop/api/ok?rev={{.Revision}}", JSONPath: "$.data.ok"}
	mutate(w)
	return rolloutsv1alpha1.Metric{Name: "checkout-ok", Web: w, Min: ptr.To(rolloutsv1alpha1.Threshold("0.95"))}
}

func TestMakeAnalysisSpecWeb(t *testing.T) {
	ro := &rolloutsv1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web"},
		Spec: rolloutsv1alpha1.RolloutSpec{Analysis: &rolloutsv1alpha1.Analysis{Metrics: []rolloutsv1alpha1.Metric{webMetric(func(w *rolloutsv1alpha1.WebMetric) {
			w.Method, w.Body = "POST", `{"rev":"{{.Revision}}"}`
			w.Timeout = &metav1.Duration{Duration: 3 * time.Second}
			w.Headers = []rolloutsv1alpha1.WebHeader{
				{Name: "X-Team", Value: ptr.To("payments")},
				{Name: "Authorization", ValueFrom: &rolloutsv1alpha1.WebHeaderSource{SecretKeyRef: rolloutsv1alpha1.KeyRef{Name: "api", Key: "token"}}},
			}
		})}}},
		Status: rolloutsv1alpha1.RolloutStatus{CanaryRevision: "web-00002", StableRevision: "web-00001"},
	}
	spec, err := resources.MakeAnalysisSpec(ro)
	if err != nil {
		t.Fatal(err)
	}
	minOK := 0.95
	want := []analysis.Metric{{
		Name: "checkout-ok", Provider: analysis.WebProvider, Thresholds: analysis.Thresholds{Min: &minOK},
		Web: &analysis.WebRequest{
			URL: "http://metrics.shop/api/ok?rev={{.Revision}}", Method: "POST", Body: `{"rev":"{{.Revision}}"}`,
			JSONPath: "$.data.ok", Timeout: 3 * time.Second,
			Headers: []analysis.WebHeader{
				{Name: "X-Team", Value: "payments"},
				{Name: "Authorization", Secret: &analysis.WebSecret{Name: "api", Key: "token"}},
			},
		},
	}}
	if d := cmp.Diff(want, spec.Metrics); d != "" {
		t.Errorf("metrics (-want +got):\n%s", d)
	}
}

func TestValidateWeb(t *testing.T) {
	const m0 = "spec.analysis.metrics[0]"
	header := func(name, value string) rolloutsv1alpha1.WebHeader {
		return rolloutsv1alpha1.WebHeader{Name: name, Value: ptr.To(value)}
	}
	fromSecret := func(name, secret, key string) rolloutsv1alpha1.WebHeader {
		return rolloutsv1alpha1.WebHeader{Name: name, ValueFrom: &rolloutsv1alpha1.WebHeaderSource{SecretKeyRef: rolloutsv1alpha1.KeyRef{Name: secret, Key: key}}}
	}
	for name, tc := range map[string]struct {
		metric rolloutsv1alpha1.Metric
		want   []string // "" entries: valid
	}{
		"a good GET": {metric: webMetric(func(*rolloutsv1alpha1.WebMetric) {})},
		"a good POST with headers": {metric: webMetric(func(w *rolloutsv1alpha1.WebMetric) {
			w.Method, w.Body = "POST", `{"rev":"{{.Revision}}"}`
			w.Headers = []rolloutsv1alpha1.WebHeader{header("X-Ns", "{{.Namespace}}"), fromSecret("Authorization", "api", "token")}
			w.Timeout = &metav1.Duration{Duration: time.Minute}
		})},
		"web and builtin": {metric: func() rolloutsv1alpha1.Metric {
			m := webMetric(func(*rolloutsv1alpha1.WebMetric) {})
			m.Builtin = "errorRate"
			return m
		}(), want: []string{m0 + `: Invalid value: "checkout-ok": exactly one of builtin, prometheus and web must be set`}},
		"web and prometheus": {metric: func() rolloutsv1alpha1.Metric {
			m := webMetric(func(*rolloutsv1alpha1.WebMetric) {})
			m.Prometheus = &rolloutsv1alpha1.PrometheusQuery{Query: "up"}
			return m
		}(), want: []string{"exactly one of builtin, prometheus and web must be set"}},
		"an ftp url": {metric: webMetric(func(w *rolloutsv1alpha1.WebMetric) { w.URL = "ftp://metrics.shop/x" }),
			want: []string{m0 + `.web.url: Invalid value: "ftp://metrics.shop/x": url ftp://metrics.shop/x: want an http:// or https:// URL`}},
		"a url that does not parse, shown without its secrets": {metric: webMetric(func(w *rolloutsv1alpha1.WebMetric) { w.URL = "http://u:pw@metrics.shop/%zz?key=s3cret" }),
			want: []string{m0 + `.web.url: Invalid value: "http://metrics.shop/%zz?key=redacted": url http://metrics.shop/%zz?key=redacted does not parse: invalid URL escape "%zz"`}},
		"a url template with an unknown variable": {metric: webMetric(func(w *rolloutsv1alpha1.WebMetric) { w.URL = "http://x/{{.Pod}}" }),
			want: []string{m0 + `.web.url: Invalid value: "http://x/{{.Pod}}": url template (variables: .Namespace .Revision .Tag)`}},
		"a method of DELETE": {metric: webMetric(func(w *rolloutsv1alpha1.WebMetric) { w.Method = "DELETE" }),
			want: []string{m0 + `.web.method: Unsupported value: "DELETE": supported values: "GET", "POST"`}},
		"a body with GET": {metric: webMetric(func(w *rolloutsv1alpha1.WebMetric) { w.Body = "{}" }),
			want: []string{m0 + `.web.body: Invalid value: body is sent only with method POST`}},
		"a body template that does not parse": {metric: webMetric(func(w *rolloutsv1alpha1.WebMetric) { w.Method, w.Body = "POST", "{{.Revision" }),
			want: []string{m0 + `.web.body: Invalid value: body template:`}},
		"a json path with a wildcard": {metric: webMetric(func(w *rolloutsv1alpha1.WebMetric) { w.JSONPath = "$.data[*].ok" }),
			want: []string{m0 + `.web.jsonPath: Invalid value: "$.data[*].ok": json path "$.data[*].ok": want an array index or a quoted key in [*]`}},
		"a timeout of 2m": {metric: webMetric(func(w *rolloutsv1alpha1.WebMetric) { w.Timeout = &metav1.Duration{Duration: 2 * time.Minute} }),
			want: []string{m0 + `.web.timeout: Invalid value: "2m0s": must be a positive duration of at most 1m0s`}},
		"header problems, each at its field, no value shown": {metric: webMetric(func(w *rolloutsv1alpha1.WebMetric) {
			w.Headers = []rolloutsv1alpha1.WebHeader{
				header("Bad Name", "x"), header("Host", "x"), header("X-A", "1"), header("x-a", "2"),
				header("X-Token", "s3cret\r\nX-Evil: 1"), {Name: "X-None"},
				fromSecret("X-Key", "", ""),
			}
		}), want: []string{
			m0 + `.web.headers[0].name: Invalid value: "Bad Name": header name "Bad Name" is not a valid HTTP header name`,
			m0 + `.web.headers[1].name: Invalid value: "Host": header Host may not be set: set the host in url`,
			m0 + `.web.headers[3].name: Duplicate value: "x-a"`,
			m0 + `.web.headers[4].value: Invalid value: header X-Token: the value is not a valid header value`,
			m0 + `.web.headers[5]: Invalid value: set exactly one of value and valueFrom`,
			m0 + `.web.headers[6].valueFrom.secretKeyRef.name: Required value`,
			m0 + `.web.headers[6].valueFrom.secretKeyRef.key: Required value`,
		}},
		"a web threshold that is a duration": {metric: func() rolloutsv1alpha1.Metric {
			m := webMetric(func(*rolloutsv1alpha1.WebMetric) {})
			m.Max = ptr.To(rolloutsv1alpha1.Threshold("10ms"))
			return m
		}(), want: []string{m0 + `.max: Invalid value: "10ms"`}},
	} {
		t.Run(name, func(t *testing.T) {
			spec := &rolloutsv1alpha1.RolloutSpec{Analysis: &rolloutsv1alpha1.Analysis{Metrics: []rolloutsv1alpha1.Metric{tc.metric}}}
			errs := resources.ValidateSpec(spec, time.Now())
			got := errs.ToAggregate()
			if len(tc.want) == 0 {
				if got != nil {
					t.Fatalf("errors %v, want none", got)
				}
				return
			}
			if len(errs) != len(tc.want) {
				t.Errorf("%d errors, want %d: %v", len(errs), len(tc.want), got)
			}
			for _, w := range tc.want {
				if got == nil || !strings.Contains(got.Error(), w) {
					t.Errorf("errors %v, want one containing %q", got, w)
				}
			}
			if got != nil && strings.Contains(got.Error(), "s3cret") {
				t.Errorf("errors %v show a secret", got)
			}
		})
	}
}

func TestValidateTemplateWeb(t *testing.T) {
	spec := &rolloutsv1alpha1.AnalysisTemplateSpec{
		Args: []rolloutsv1alpha1.TemplateArg{{Name: "host"}, {Name: "team"}},
		Metrics: []rolloutsv1alpha1.Metric{webMetric(func(w *rolloutsv1alpha1.WebMetric) {
			w.URL = "http://{{args.host}}/ok?rev={{.Revision}}&team={{ args.team }}"
			w.Method, w.Body = "POST", `{"token":"{{args.token}}"}`
			w.Headers = []rolloutsv1alpha1.WebHeader{{Name: "X-Team", Value: ptr.To("{{args.team}}-{{args.owner}}")}}
		})},
	}
	errs := resources.ValidateTemplate(spec)
	want := []string{
		"spec.metrics[0].web.body: Invalid value: uses argument token, which spec.args does not declare",
		"spec.metrics[0].web.headers[0].value: Invalid value: uses argument owner, which spec.args does not declare",
	}
	if len(errs) != len(want) {
		t.Errorf("errors %v, want %d", errs, len(want))
	}
	for _, w := range want {
		if !strings.Contains(errs.ToAggregate().Error(), w) {
			t.Errorf("errors %v, want one containing %q", errs, w)
		}
	}
	// The template itself is left as written.
	if u := spec.Metrics[0].Web.URL; !strings.Contains(u, "{{args.host}}") {
		t.Errorf("url %q: ValidateTemplate changed the template", u)
	}
}
