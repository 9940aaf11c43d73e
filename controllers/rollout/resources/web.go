package resources

import (
	"fmt"
	"net/http"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/rampdev/ramp/analysis"
	rolloutsv1alpha1 "github.com/rampdev/ramp/apis/rollouts/v1alpha1"
)

// makeWeb is the analysis request of a web metric. A header whose value
// is in a Secret gets an analysis.WebSecret that is not Loaded: the
// controller reads it at each look (the provider refuses to send the
// request without it).
func makeWeb(w *rolloutsv1alpha1.WebMetric) *analysis.WebRequest {
	out := &analysis.WebRequest{URL: w.URL, Method: w.Method, Body: w.Body, JSONPath: w.JSONPath}
	if w.Timeout != nil {
		out.Timeout = w.Timeout.Duration
	}
	for _, h := range w.Headers {
		wh := analysis.WebHeader{Name: h.Name}
		switch {
		case h.ValueFrom != nil:
			ref := h.ValueFrom.SecretKeyRef
			wh.Secret = &analysis.WebSecret{Name: ref.Name, Key: ref.Key}
		case h.Value != nil:
			wh.Value = *h.Value
		}
		out.Headers = append(out.Headers, wh)
	}
	return out
}

// webSources counts what a metric measures: builtin, prometheus, web.
func webSources(m *rolloutsv1alpha1.Metric) int {
	n := 0
	for _, set := range []bool{m.Builtin != "", m.Prometheus != nil, m.Web != nil} {
		if set {
			n++
		}
	}
	return n
}

// validateWeb checks a web metric's request, each problem at its field.
// Header values and bodies are never echoed (they may hold secrets), nor
// are the URL's user info and query values.
func validateWeb(w *rolloutsv1alpha1.WebMetric, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	if err := analysis.CheckWebURL(w.URL); err != nil {
		errs = append(errs, field.Invalid(fld.Child("url"), analysis.RedactURL(w.URL), err.Error()))
	}
	method := w.Method
	switch method {
	case "":
		method = http.MethodGet
	case http.MethodGet, http.MethodPost:
	default:
		errs = append(errs, field.NotSupported(fld.Child("method"), w.Method, []string{http.MethodGet, http.MethodPost}))
	}
	if w.Body != "" {
		if method != http.MethodPost {
			errs = append(errs, field.Invalid(fld.Child("body"), field.OmitValueType{}, "body is sent only with method POST"))
		} else if err := analysis.CheckWebTemplate("body", w.Body, false); err != nil {
			errs = append(errs, field.Invalid(fld.Child("body"), field.OmitValueType{}, err.Error()))
		}
	}
	if _, err := analysis.ParseJSONPath(w.JSONPath); err != nil {
		errs = append(errs, field.Invalid(fld.Child("jsonPath"), w.JSONPath, err.Error()))
	}
	if w.Timeout != nil && (w.Timeout.Duration <= 0 || w.Timeout.Duration > analysis.MaxWebTimeout) {
		errs = append(errs, field.Invalid(fld.Child("timeout"), w.Timeout.Duration.String(),
			fmt.Sprintf("must be a positive duration of at most %s, such as 10s", analysis.MaxWebTimeout)))
	}
	seen := map[string]bool{}
	for i, h := range w.Headers {
		p := fld.Child("headers").Index(i)
		if err := analysis.CheckWebHeaderName(h.Name); err != nil {
			errs = append(errs, field.Invalid(p.Child("name"), h.Name, err.Error()))
		}
		canon := http.CanonicalHeaderKey(h.Name)
		if seen[canon] {
			errs = append(errs, field.Duplicate(p.Child("name"), h.Name))
		}
		seen[canon] = true
		switch {
		case (h.Value == nil) == (h.ValueFrom == nil):
			errs = append(errs, field.Invalid(p, field.OmitValueType{}, "set exactly one of value and valueFrom"))
		case h.Value != nil:
			if err := analysis.CheckWebTemplate("header "+h.Name, *h.Value, true); err != nil {
				errs = append(errs, field.Invalid(p.Child("value"), field.OmitValueType{}, err.Error()))
			}
		default:
			ref := h.ValueFrom.SecretKeyRef
			if ref.Name == "" {
				errs = append(errs, field.Required(p.Child("valueFrom", "secretKeyRef", "name"), "the Secret's name"))
			}
			if ref.Key == "" {
				errs = append(errs, field.Required(p.Child("valueFrom", "secretKeyRef", "key"), "the Secret's key"))
			}
		}
	}
	return errs
}

// templateWebArgs checks that a template's web metric uses only declared
// arguments, and puts a placeholder in their place (their values are only
// known at each look) so that the request can be checked.
func templateWebArgs(w *rolloutsv1alpha1.WebMetric, declared map[string]bool, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	check := func(p *field.Path, s string) string {
		for _, ref := range ArgRef.FindAllStringSubmatch(s, -1) {
			if !declared[ref[1]] {
				errs = append(errs, field.Invalid(p, field.OmitValueType{},
					fmt.Sprintf("uses argument %s, which spec.args does not declare", ref[1])))
			}
		}
		return ArgRef.ReplaceAllString(s, "arg")
	}
	w.URL = check(fld.Child("url"), w.URL)
	w.Body = check(fld.Child("body"), w.Body)
	for i := range w.Headers {
		if v := w.Headers[i].Value; v != nil {
			*v = check(fld.Child("headers").Index(i).Child("value"), *v)
		}
	}
	return errs
}
