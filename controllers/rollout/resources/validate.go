package resources

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	// The controller resolves time zones from the embedded IANA database,
	// so that admission and the controller agree whatever the image has.
	_ "time/tzdata"

	"github.com/robfig/cron/v3"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/rampdev/ramp/analysis"
	rolloutsv1alpha1 "github.com/rampdev/ramp/apis/rollouts/v1alpha1"
)

// WindowHorizon is how far ahead a promotion window must open at least
// once: a schedule that never fires within it (such as 30 February) is
// refused, since it would hold every rollout forever.
const WindowHorizon = 4 * 365 * 24 * time.Hour

// PromotionWindow is a parsed promotion window.
type PromotionWindow struct {
	Schedule cron.Schedule
	Location *time.Location
	Duration time.Duration
}

// ParseWindow parses a promotion window with the parser the controller
// uses (robfig/cron's standard five fields and descriptors), resolving its
// time zone from the IANA database.
func ParseWindow(w *rolloutsv1alpha1.PromotionWindow, fld *field.Path) (PromotionWindow, *field.Error) {
	out := PromotionWindow{Location: time.UTC, Duration: w.Duration.Duration}
	if tz := w.TimeZone; tz != "" {
		if tz == "Local" || strings.HasPrefix(tz, "/") || strings.Contains(tz, "..") || strings.Contains(tz, `\`) {
			return out, field.Invalid(fld.Child("timeZone"), tz, "must be an IANA time zone name such as Europe/Paris or UTC")
		}
		loc, err := time.LoadLocation(tz)
		if err != nil {
			return out, field.Invalid(fld.Child("timeZone"), tz, "unknown time zone: must be an IANA time zone name such as Europe/Paris or UTC")
		}
		out.Location = loc
	}
	if strings.HasPrefix(w.Schedule, "TZ=") || strings.HasPrefix(w.Schedule, "CRON_TZ=") {
		return out, field.Invalid(fld.Child("schedule"), w.Schedule, "must not name a time zone: set timeZone")
	}
	sched, err := cron.ParseStandard(w.Schedule)
	if err != nil {
		return out, field.Invalid(fld.Child("schedule"), w.Schedule, fmt.Sprintf("not a cron schedule: %v", err))
	}
	out.Schedule = sched
	if out.Duration <= 0 {
		return out, field.Invalid(fld.Child("duration"), w.Duration.Duration.String(), "must be a positive duration such as 90s, 10m or 1h30m")
	}
	return out, nil
}

// ValidateSpec checks what the CRD's CEL rules cannot: promotion windows
// (schedules, time zones, windows that never open), thresholds in range,
// and query templates. The webhook refuses a spec with errors; the
// controller does not act on one that got in anyway. now anchors the
// "never opens" check.
func ValidateSpec(spec *rolloutsv1alpha1.RolloutSpec, now time.Time) field.ErrorList {
	fld := field.NewPath("spec")
	var errs field.ErrorList
	for i := range spec.PromotionWindows {
		p := fld.Child("promotionWindows").Index(i)
		w, err := ParseWindow(&spec.PromotionWindows[i], p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		local := now.In(w.Location)
		if next := w.Schedule.Next(local); next.IsZero() || next.Sub(local) > WindowHorizon {
			errs = append(errs, field.Invalid(p.Child("schedule"), spec.PromotionWindows[i].Schedule,
				"never opens within the next 4 years: a window that cannot open would hold every rollout"))
		}
	}
	if spec.Analysis != nil && !spec.Analysis.Disabled {
		errs = append(errs, validateAnalysis(spec.Analysis, fld.Child("analysis"))...)
	}
	return errs
}

// ArgRef matches {{args.<name>}} (spaces allowed inside the braces) in a
// template's Prometheus query and web request.
var ArgRef = regexp.MustCompile(`\{\{\s*args\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}`)

// argPlaceholders stand in for a template's arguments when its queries are
// checked at admission: a name or label value, a number, a duration.
var argPlaceholders = []string{"arg", "1", "1m"}

// PrometheusQueries are the query templates of a Prometheus metric, by
// field name: query, or the counts queries requests, errors and histogram
// (only those set).
func PrometheusQueries(p *rolloutsv1alpha1.PrometheusQuery) []NamedQuery {
	if p == nil {
		return nil
	}
	var out []NamedQuery
	for _, q := range []NamedQuery{{"query", &p.Query}, {"requests", &p.Requests}, {"errors", &p.Errors}, {"histogram", &p.Histogram}} {
		if *q.Query != "" {
			out = append(out, q)
		}
	}
	return out
}

// NamedQuery is one query template of a Prometheus metric and its field.
type NamedQuery struct {
	Field string
	Query *string
}

// ValidateTemplate checks an AnalysisTemplate's or ClusterAnalysisTemplate's
// spec as ValidateSpec checks a Rollout's metrics, with every argument a
// query uses declared. An argument's value is only known at each look, so
// a query is checked with placeholders in place of its arguments (arg, 1
// or 1m: it must be PromQL with one of them), and checked again, filled
// in, at each look.
func ValidateTemplate(spec *rolloutsv1alpha1.AnalysisTemplateSpec) field.ErrorList {
	fld := field.NewPath("spec")
	declared := map[string]bool{}
	for _, a := range spec.Args {
		declared[a.Name] = true
	}
	var errs field.ErrorList
	for i := range spec.Metrics {
		m := spec.Metrics[i].DeepCopy() // web fields get placeholders for their arguments
		p := fld.Child("metrics").Index(i)
		for _, q := range PrometheusQueries(m.Prometheus) {
			for _, ref := range ArgRef.FindAllStringSubmatch(*q.Query, -1) {
				if !declared[ref[1]] {
					errs = append(errs, field.Invalid(p.Child("prometheus", q.Field), *q.Query,
						fmt.Sprintf("uses argument %s, which spec.args does not declare", ref[1])))
				}
			}
		}
		if m.Web != nil {
			errs = append(errs, templateWebArgs(m.Web, declared, p.Child("web"))...)
		}
		errs = append(errs, validateMetric(m, p, checkTemplateQuery)...)
	}
	return errs
}

// checkTemplateQuery checks a template's query with each placeholder for
// its arguments, and returns the first placeholder's error if none does.
func checkTemplateQuery(q string) error {
	if !ArgRef.MatchString(q) {
		return analysis.CheckQuery(q)
	}
	var first error
	for _, ph := range argPlaceholders {
		err := analysis.CheckQuery(ArgRef.ReplaceAllLiteralString(q, ph))
		if err == nil {
			return nil
		}
		if first == nil {
			first = fmt.Errorf("%w (its arguments replaced by %s; %s and %s did not parse either)", err, argPlaceholders[0], argPlaceholders[1], argPlaceholders[2])
		}
	}
	return first
}

func validateAnalysis(a *rolloutsv1alpha1.Analysis, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	if _, err := parseFraction("alpha", a.Alpha, analysis.DefaultAlpha); err != nil {
		errs = append(errs, field.Invalid(fld.Child("alpha"), deref(a.Alpha), err.Error()))
	}
	if _, err := parseFraction("beta", a.Beta, analysis.DefaultBeta); err != nil {
		errs = append(errs, field.Invalid(fld.Child("beta"), deref(a.Beta), err.Error()))
	}
	if _, err := StepPolicy(a); err != nil {
		errs = append(errs, field.Invalid(fld, "", err.Error()))
	}
	for i := range a.Metrics {
		errs = append(errs, validateMetric(&a.Metrics[i], fld.Child("metrics").Index(i), analysis.CheckQuery)...)
	}
	return errs
}

// validateMetric checks a metric; check checks each of its Prometheus
// queries (analysis.CheckQuery, or checkTemplateQuery in a template).
func validateMetric(m *rolloutsv1alpha1.Metric, fld *field.Path, check func(string) error) field.ErrorList {
	var errs field.ErrorList
	kind := MetricKind(m)
	if webSources(m) != 1 {
		return append(errs, field.Invalid(fld, m.Name, "exactly one of builtin, prometheus and web must be set"))
	}
	if m.Prometheus != nil {
		for _, q := range PrometheusQueries(m.Prometheus) {
			if err := check(*q.Query); err != nil {
				errs = append(errs, field.Invalid(fld.Child("prometheus", q.Field), *q.Query, err.Error()))
			}
		}
	} else if m.Web != nil {
		errs = append(errs, validateWeb(m.Web, fld.Child("web"))...)
	} else if !isBuiltin(kind) {
		return append(errs, field.NotSupported(fld.Child("builtin"), kind, analysis.Builtins))
	}
	for _, th := range []struct {
		name string
		v    *rolloutsv1alpha1.Threshold
	}{{"max", m.Max}, {"min", m.Min}, {"maxIncrease", m.MaxIncrease}} {
		if th.v == nil {
			continue
		}
		if _, err := analysis.ParseThreshold(kind, string(*th.v)); err != nil {
			errs = append(errs, field.Invalid(fld.Child(th.name), string(*th.v), err.Error()))
		}
	}
	if m.MaxRatio != nil {
		if _, err := analysis.ParseRatio(string(*m.MaxRatio)); err != nil {
			errs = append(errs, field.Invalid(fld.Child("maxRatio"), string(*m.MaxRatio), err.Error()))
		}
	}
	if analysis.Comparative(kind) {
		for _, mg := range []struct {
			name string
			v    *rolloutsv1alpha1.MarginSpec
		}{{"margin", m.Margin}, {"tolerance", m.Tolerance}} {
			if _, err := makeMargin(mg.name, kind, mg.v, analysis.Margin{}); err != nil {
				errs = append(errs, field.Invalid(fld.Child(mg.name), "", err.Error()))
			}
		}
	}
	return errs
}

func isBuiltin(kind string) bool { return slices.Contains(analysis.Builtins, kind) }

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
