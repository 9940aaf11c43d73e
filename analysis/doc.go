// Package analysis judges a canary against its stable revision: providers
// measure metrics over a window, a threshold judge turns each measurement
// into Pass, Fail, Inconclusive or Error with a one-line explanation, and
// Evaluate combines them.
//
// It is pure Go: nothing from k8s.io or sigs.k8s.io (enforced by a test),
// and no CRD types. Time is always passed in.
//
// # Metrics
//
// A metric is either a builtin, measured by the "builtin" provider from
// the request telemetry of Ramp's own queue-proxies, a query run by
// another provider ("prometheus"), or an HTTP request ("web"). The builtins are:
//
//	errorRate    share of requests answered with a 5xx status
//	latencyP50   median latency
//	latencyP90   90th percentile latency
//	latencyP99   99th percentile latency
//	requestRate  requests per second
//
// A comparative metric (errorRate or a latency) may also be measured by
// Prometheus from counts queries (Metric.Counts; Prometheus.SamplerFor): the
// provider then gives the sequential judge the same counts, and the metric
// is judged exactly as the builtin of its kind.
//
// A window with no canary request has no data: the metric is
// Inconclusive, never a pass. So is a window with fewer canary requests
// than the analysis' minimum.
//
// # Thresholds
//
// Each metric needs at least one threshold:
//
//	max          the canary must be at most this
//	min          the canary must be at least this
//	maxIncrease  canary - stable must be at most this
//	maxRatio     canary / stable must be at most this ("1.2": 20% worse)
//
// max and min hold on their own. maxIncrease and maxRatio need the stable
// revision's data for the same window; without it (the first rollout, or a
// stable without traffic) they are Inconclusive. When the stable's value is
// 0, maxRatio cannot tell how much worse is too much: a canary at 0 passes,
// a canary above 0 is judged by maxIncrease if set, else Inconclusive.
//
// Threshold values are written in the metric's natural unit:
//
//	errorRate              "1%", "0.5%", or a fraction "0.01" (0 to 1)
//	latencyP50/P90/P99     a duration "500ms", "1.5s", or seconds "0.5"
//	requestRate            "10", "10/s", "10 req/s"
//	query metrics          a number "0.5", "120", or a percentage "5%" (0.05)
//	maxRatio (any metric)  a number greater than 0, "1.5"
//
// Percentages are divided by 100: a query threshold "5%" is compared with
// a query result of 0.05.
//
// # Prometheus queries
//
// A query metric is a PromQL expression written as a Go text/template. It
// is rendered once for the canary and once for the stable with:
//
//	{{.Namespace}}  the namespace of the revisions
//	{{.Revision}}   the revision's name
//	{{.Tag}}        the route tag measured ("" for all traffic)
//	{{.Window}}     the analysis window as a Prometheus duration, "60s"
//
// and evaluated at the end of the window. It must return one number: a
// scalar or a vector with one sample (aggregate with sum, avg, ...). An
// empty vector or NaN means no data. For example:
//
//	sum(rate(http_requests_total{namespace="{{.Namespace}}",revision="{{.Revision}}",code=~"5.."}[{{.Window}}]))
//	  / sum(rate(http_requests_total{namespace="{{.Namespace}}",revision="{{.Revision}}"}[{{.Window}}]))
//
// # Web metrics
//
// A web metric (provider "web", see Web) sends an HTTP request and reads a
// number at a JSONPath of the JSON answer. Its URL, body and header values
// are templates with {{.Namespace}}, {{.Revision}} and {{.Tag}}: a request
// that uses them is sent for the canary and for the stable, one that does
// not is sent once and measures the canary only. Anything but a 2xx JSON
// answer of at most 1 MiB with a number (or a numeric string, or a
// boolean) at the path is an error.
//
// # Outcome
//
// A round is Fail if any metric failed, else Error if any measurement
// failed, else Inconclusive if any metric lacked data, else Pass. Its
// message is the deciding metric's, e.g.
//
//	error-rate: canary 5.20% > max 1.00% (stable 0.10%)
package analysis
