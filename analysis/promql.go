package analysis

import (
	"fmt"
	"time"

	"github.com/prometheus/prometheus/promql/parser"
)

// promql parses PromQL as Prometheus does, with every optional language
// feature on (experimental functions, duration expressions, extended range
// selectors, fill modifiers): a query is refused only if no Prometheus
// this parser knows would run it. It is the parser of Prometheus 3.11
// (github.com/prometheus/prometheus v0.311): a function added later is
// unknown to it.
var promql = parser.NewParser(parser.Options{
	EnableExperimentalFunctions:  true,
	ExperimentalDurationExpr:     true,
	EnableExtendedRangeSelectors: true,
	EnableBinopFillModifiers:     true,
})

// placeholderTarget and placeholderWindow are what CheckQuery renders a
// template with.
var placeholderTarget = Target{Namespace: "default", Revision: "app-00001", Tag: "canary"}

const placeholderWindow = time.Minute

// CheckQuery reports whether a query template renders (it parses, names
// only the known variables and is not empty) and what it renders to with
// placeholder values is PromQL, with Prometheus's own parser message
// (positions count in the rendered query, which the message shows). The
// controller checks every query at admission so that a bad one never
// reaches a measurement.
func CheckQuery(tmpl string) error {
	expr, err := renderQuery(tmpl, placeholderTarget, placeholderWindow)
	if err != nil {
		return err
	}
	if _, err := promql.ParseExpr(expr); err != nil {
		return fmt.Errorf("not PromQL: %w (in the query rendered with placeholder values: `%s`)", err, oneLine(expr))
	}
	return nil
}
