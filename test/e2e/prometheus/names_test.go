package prometheus

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/common/model"

	"github.com/rampdev/ramp/test/framework"
)

// promise is a series the dashboard or the docs promise: a metric name (a
// prefix when Prefix) and labels it carries.
type promise struct {
	Name   string
	Prefix bool
	Labels []string
	// From says who promises it: a dashboard panel or a doc file.
	From string
}

var (
	metricName   = regexp.MustCompile(`\bramp_[a-zA-Z0-9_]+`)
	byClause     = regexp.MustCompile(`\bby\s*\(([^)]*)\)`)
	matcherLabel = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)`)
	labelValues  = regexp.MustCompile(`label_values\((.*),\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)`)
	// A doc's `ramp_name`, `ramp_prefix_*` or `ramp_name{label,...}`.
	docMetric = regexp.MustCompile("`(ramp_[a-z0-9_]+)(\\*)?(\\{([^}`]*)\\})?`")
)

// exprPromises reads the metric names of a PromQL expression (or a
// Grafana label_values query) and the labels it groups, matches or reads
// by; each name is promised all of them.
func exprPromises(expr, from string) []promise {
	var labels []string
	add := func(l string) {
		if l = strings.TrimSpace(l); l != "" && l != "__name__" && !slices.Contains(labels, l) {
			labels = append(labels, l)
		}
	}
	if m := labelValues.FindStringSubmatch(expr); m != nil {
		add(m[2])
	}
	for _, m := range byClause.FindAllStringSubmatch(expr, -1) {
		for l := range strings.SplitSeq(m[1], ",") {
			add(l)
		}
	}
	for _, sel := range regexp.MustCompile(`\{([^}]*)\}`).FindAllStringSubmatch(expr, -1) {
		for _, m := range matcherLabel.FindAllStringSubmatch(sel[1], -1) {
			add(m[1])
		}
	}
	sort.Strings(labels)
	var out []promise
	var seen []string
	for _, n := range metricName.FindAllString(expr, -1) {
		if !slices.Contains(seen, n) {
			seen = append(seen, n)
			out = append(out, promise{Name: n, Labels: labels, From: from})
		}
	}
	return out
}

// dashboardPromises reads every query of a Grafana dashboard: the panels'
// targets (rows included) and the templating variables.
func dashboardPromises(path string) ([]promise, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var d struct {
		Panels     []panel `json:"panels"`
		Templating struct {
			List []struct {
				Name  string          `json:"name"`
				Query json.RawMessage `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var out []promise
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			for _, t := range p.Targets {
				out = append(out, exprPromises(t.Expr, fmt.Sprintf("dashboard panel %q", p.Title))...)
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	for _, v := range d.Templating.List {
		var q string
		var obj struct {
			Query string `json:"query"`
		}
		if json.Unmarshal(v.Query, &q) != nil && json.Unmarshal(v.Query, &obj) == nil {
			q = obj.Query
		}
		out = append(out, exprPromises(q, fmt.Sprintf("dashboard variable %q", v.Name))...)
	}
	return out, nil
}

type panel struct {
	Title   string  `json:"title"`
	Panels  []panel `json:"panels"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
}

// docPromises reads the metric names the docs write in backquotes, with
// the labels in braces after them.
func docPromises(files ...string) ([]promise, error) {
	var out []promise
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		for _, m := range docMetric.FindAllStringSubmatch(string(b), -1) {
			p := promise{Name: m[1], Prefix: m[2] == "*", From: filepath.Base(f)}
			for l := range strings.SplitSeq(m[4], ",") {
				if l, _, _ = strings.Cut(l, "="); strings.TrimSpace(l) != "" {
					p.Labels = append(p.Labels, strings.TrimSpace(l))
				}
			}
			out = append(out, p)
		}
	}
	return out, nil
}

// unexercised are documented series this test causes none of: a counter
// with labels has no series until its first event.
var unexercised = map[string]string{
	"ramp_notifications_total":             "Slack is off in this install",
	"ramp_cloudevents_total":               "no CloudEvents sink in this install",
	"ramp_gateway_rejected_requests_total": "the gateway rejects no request here",
	// docs/performance.md (Scale from zero): series of a scale from zero,
	// which this test's revisions, started at one pod, never go through.
	"ramp_gateway_activation_wait_seconds":            "no revision scales from zero here",
	"ramp_gateway_activation_stage_seconds":           "no revision scales from zero here",
	"ramp_gateway_activation_stage_timestamp_seconds": "no revision scales from zero here",
	"ramp_revision_activation_timestamp_seconds":      "no revision scales from zero here",
}

// checkPromises asks Prometheus for the series of every promise and
// returns what is missing: a name nothing scraped, or a label none of its
// series carries.
func checkPromises(ctx context.Context, p *framework.Prometheus, promises []promise) ([]string, error) {
	var missing []string
	checked := map[string]bool{}
	for _, pr := range promises {
		key := fmt.Sprint(pr)
		if checked[key] || unexercised[pr.Name] != "" {
			continue
		}
		checked[key] = true
		match := `{__name__=~"` + pr.Name + `(_bucket|_count|_sum)?"}`
		if pr.Prefix {
			match = `{__name__=~"` + pr.Name + `.*"}`
		}
		qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		series, _, err := p.API.Series(qctx, []string{match}, time.Now().Add(-10*time.Minute), time.Now())
		cancel()
		if err != nil {
			return nil, fmt.Errorf("series %s: %w", match, err)
		}
		what := pr.Name
		if pr.Prefix {
			what += "*"
		}
		if len(series) == 0 {
			missing = append(missing, fmt.Sprintf("%s (used by %s): no series scraped", what, pr.From))
			continue
		}
		have := map[string]bool{}
		jobs := map[string]bool{}
		for _, s := range series {
			for l := range s {
				have[string(l)] = true
			}
			jobs[string(s[model.JobLabel])] = true
		}
		for _, l := range pr.Labels {
			if !have[l] {
				missing = append(missing, fmt.Sprintf("%s (used by %s): no series has label %q (scraped by %s; labels: %s)",
					what, pr.From, l, strings.Join(sortedKeys(jobs), ", "), strings.Join(sortedKeys(have), ", ")))
			}
		}
	}
	return missing, nil
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestPromiseParsing checks the readers on the chart's real dashboard and
// docs, and on expressions written here; it needs no cluster.
func TestPromiseParsing(t *testing.T) {
	got := exprPromises(`sum by (phase) (increase(ramp_rollout_analysis_measurements_total{namespace=~"$namespace"}[$__rate_interval])) / ramp_x_total{class="5xx"}`, "e")
	want := []promise{
		{Name: "ramp_rollout_analysis_measurements_total", Labels: []string{"class", "namespace", "phase"}, From: "e"},
		{Name: "ramp_x_total", Labels: []string{"class", "namespace", "phase"}, From: "e"},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("exprPromises (-want +got):\n%s", d)
	}
	got = exprPromises(`label_values({__name__=~"ramp_rollout_phase|ramp_revision_desired_pods"}, namespace)`, "v")
	want = []promise{
		{Name: "ramp_rollout_phase", Labels: []string{"namespace"}, From: "v"},
		{Name: "ramp_revision_desired_pods", Labels: []string{"namespace"}, From: "v"},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("exprPromises of label_values (-want +got):\n%s", d)
	}

	root, err := framework.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dash, err := dashboardPromises(filepath.Join(root, "charts/ramp/dashboards/ramp.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(dash, func(p promise) bool {
		return p.Name == "ramp_rollout_phase" && slices.Equal(p.Labels, []string{"namespace", "phase", "rollout"})
	}) {
		t.Errorf("the dashboard's promises miss ramp_rollout_phase by namespace, rollout and phase: %+v", dash)
	}
	docs, err := docPromises(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []promise{
		{Name: "ramp_queue_", Prefix: true, From: "README.md"},
		{Name: "ramp_revision_latency_seconds", Labels: []string{"quantile"}, From: "README.md"},
	} {
		if !slices.ContainsFunc(docs, func(p promise) bool { return cmp.Equal(p, w) }) {
			t.Errorf("README's promises miss %+v: %+v", w, docs)
		}
	}
}
