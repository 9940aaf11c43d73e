package main

import (
	"fmt"
	"math"
	"runtime"
	"sort"
	"strings"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	rolloutsv1alpha1 "github.com/rampdev/ramp/apis/rollouts/v1alpha1"
)

// Goals of issue 17.
const (
	goalStep   = 60 * time.Second
	goalRSS    = 300 << 20
	goalErrors = 0
)

// result is what one run measured.
type result struct {
	opts                              options
	pid                               int
	start, created, settled           time.Time
	updateStart, updateEnd, stepsDone time.Time
	updatedAt                         []time.Time
	procStart, procSettled, procEnd   ProcStats
	m0, m1                            Metrics // at settle, and once the first steps started
	fromBurst, fromOwn, entered       []time.Duration
	missing                           int
	badRoutes                         int
	badRoute                          string
}

// collect turns the watch's marks into latencies: from the start of the
// update burst (what a user who changed everything at once waits) and
// from each Rollout's own accepted update.
func (r *result) collect(w *stepWatch, ros []*rolloutsv1alpha1.Rollout) {
	for i, ro := range ros {
		fs := w.get(client.ObjectKeyFromObject(ro))
		if fs.applied.IsZero() {
			r.missing++
			continue
		}
		r.fromBurst = append(r.fromBurst, fs.applied.Sub(r.updateStart))
		r.fromOwn = append(r.fromOwn, fs.applied.Sub(r.updatedAt[i]))
		r.entered = append(r.entered, fs.entered.Sub(r.updatedAt[i]))
	}
	for _, s := range [][]time.Duration{r.fromBurst, r.fromOwn, r.entered} {
		sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	}
}

func (r *result) maxStep() time.Duration {
	if len(r.fromBurst) == 0 {
		return 0
	}
	return r.fromBurst[len(r.fromBurst)-1]
}

func (r *result) errorsTotal() float64 {
	var n float64
	for _, v := range r.m1.CounterBy("controller_runtime_reconcile_errors_total", "controller") {
		n += v
	}
	return n
}

func (r *result) stepMet() bool   { return r.missing == 0 && r.maxStep() <= goalStep && r.badRoutes == 0 }
func (r *result) rssMet() bool    { return r.procEnd.HWM <= goalRSS }
func (r *result) errorsMet() bool { return r.errorsTotal() <= goalErrors }
func (r *result) p99Met() bool {
	h := r.m1.HistogramsBy("controller_runtime_reconcile_time_seconds", "controller")["rollout"]
	return h.Count() > 0
}

func (r *result) missed() bool { return !r.stepMet() || !r.rssMet() || !r.errorsMet() || !r.p99Met() }

func metWord(ok bool) string {
	if ok {
		return "**met**"
	}
	return "**missed**"
}

func mb(b int64) string { return fmt.Sprintf("%.0f MB", float64(b)/(1<<20)) }

func secs(d time.Duration) string { return fmt.Sprintf("%.1f s", d.Seconds()) }

func ms(v float64) string {
	if math.IsNaN(v) {
		return "–"
	}
	if v >= 1 {
		return fmt.Sprintf("%.2f s", v)
	}
	return fmt.Sprintf("%.1f ms", v*1000)
}

func dist(s []time.Duration) string {
	if len(s) == 0 {
		return "– | – | –"
	}
	return fmt.Sprintf("%s | %s | %s", secs(percentile(s, 0.5)), secs(percentile(s, 0.99)), secs(s[len(s)-1]))
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func (r *result) markdown() string {
	var b strings.Builder
	o := r.opts
	fmt.Fprintf(&b, "# Controller at %d Rollouts (%s, %d cores)\n\n", o.rollouts, r.start.UTC().Format("2006-01-02T15:04Z"), runtime.NumCPU())
	fmt.Fprintf(&b, "Local cluster, Ramp installed with its chart (one controller pod, one gateway pod, `autoscaler.allowZeroInitialScale=true`%s). "+
		"%d Rollouts in %d namespaces, each a revision with initial scale 0 (no pod), analysis off, one step: %d%% then a 1h pause. "+
		"Created in %s, all Healthy %s later; then every template changed at once (%d writers, %s to send them all).\n\n",
		setsNote(o.sets), o.rollouts, o.namespaces, canaryWeight, secs(r.created.Sub(r.start)), secs(r.settled.Sub(r.created)),
		o.workers, secs(r.updateEnd.Sub(r.updateStart)))
	b.WriteString("\"First step started\": the Rollout's status shows the new canary revision at `currentStepIndex` 0, weight 10, with " +
		"`stepReadyAt` set, which the controller sets once the Route is Ready with that traffic split (the gateway applied it); " +
		"the bench also checks every Route's `status.traffic` at the end.\n\n")

	b.WriteString("| goal | measured | target | |\n|---|---|---|---|\n")
	stepMeasured := fmt.Sprintf("max %s after the update began (%d of %d started)", secs(r.maxStep()), len(r.fromBurst), o.rollouts)
	if r.badRoutes > 0 {
		stepMeasured += fmt.Sprintf("; %d Routes without the 10/90 split (%s)", r.badRoutes, r.badRoute)
	}
	fmt.Fprintf(&b, "| every Rollout's first step started | %s | ≤ %s | %s |\n", stepMeasured, secs(goalStep), metWord(r.stepMet()))
	fmt.Fprintf(&b, "| controller peak RSS (VmHWM, whole run) | %s | ≤ %s | %s |\n", mb(r.procEnd.HWM), mb(goalRSS), metWord(r.rssMet()))
	rh := r.m1.HistogramsBy("controller_runtime_reconcile_time_seconds", "controller")
	p99 := rh["rollout"].Sub(r.m0.HistogramsBy("controller_runtime_reconcile_time_seconds", "controller")["rollout"]).Quantile(0.99)
	fmt.Fprintf(&b, "| reconcile p99 from the controller's metrics | rollout: %s during the update (per controller below) | reported | %s |\n",
		ms(p99), metWord(r.p99Met()))
	fmt.Fprintf(&b, "| reconcile errors (whole run) | %.0f | %d | %s |\n\n", r.errorsTotal(), goalErrors, metWord(r.errorsMet()))

	b.WriteString("Time to the first step, per Rollout (p50 | p99 | max):\n\n| measured from | to | p50 | p99 | max |\n|---|---|---|---|---|\n")
	fmt.Fprintf(&b, "| the start of the update burst | traffic applied | %s |\n", dist(r.fromBurst))
	fmt.Fprintf(&b, "| its own update | traffic applied | %s |\n", dist(r.fromOwn))
	fmt.Fprintf(&b, "| its own update | step entered (canary Ready) | %s |\n\n", dist(r.entered))

	b.WriteString("Reconciles per controller (`controller_runtime_reconcile_time_seconds`, p50/p99 interpolated in its buckets; " +
		"queue wait from `workqueue_queue_duration_seconds`):\n\n")
	b.WriteString("| controller | reconciles during update | p50 | p99 | queue wait p99 | reconciles whole run | p99 whole run | errors | retries |\n|---|---|---|---|---|---|---|---|---|\n")
	h0 := r.m0.HistogramsBy("controller_runtime_reconcile_time_seconds", "controller")
	q0 := r.m0.HistogramsBy("workqueue_queue_duration_seconds", "name")
	q1 := r.m1.HistogramsBy("workqueue_queue_duration_seconds", "name")
	errs := r.m1.CounterBy("controller_runtime_reconcile_errors_total", "controller")
	retries := r.m1.CounterBy("workqueue_retries_total", "name")
	for _, name := range sortedKeys(rh) {
		d := rh[name].Sub(h0[name])
		q := q1[name].Sub(q0[name])
		fmt.Fprintf(&b, "| %s | %.0f | %s | %s | %s | %.0f | %s | %.0f | %.0f |\n", name, d.Count(), ms(d.Quantile(0.5)), ms(d.Quantile(0.99)),
			ms(q.Quantile(0.99)), rh[name].Count(), ms(rh[name].Quantile(0.99)), errs[name], retries[name])
	}
	b.WriteString("\n")

	req0 := r.m0.CounterBy("rest_client_requests_total", "method")
	req1 := r.m1.CounterBy("rest_client_requests_total", "method")
	b.WriteString("Controller API requests (`rest_client_requests_total`):\n\n| method | create + settle | update until first steps |\n|---|---|---|\n")
	for _, m := range sortedKeys(req1) {
		fmt.Fprintf(&b, "| %s | %.0f | %.0f |\n", m, req0[m], req1[m]-req0[m])
	}
	b.WriteString("\n")

	cpuSettle := r.procSettled.CPU - r.procStart.CPU
	cpuUpdate := r.procEnd.CPU - r.procSettled.CPU
	fmt.Fprintf(&b, "Controller process (pid %d, /proc): RSS %s at install, %s once settled, %s at the end; peak %s. "+
		"CPU %.1f s to create and settle (%s), %.1f s for the update (%s).\n",
		r.pid, mb(r.procStart.RSS), mb(r.procSettled.RSS), mb(r.procEnd.RSS), mb(r.procEnd.HWM),
		cpuSettle, secs(r.settled.Sub(r.start)), cpuUpdate, secs(r.stepsDone.Sub(r.updateStart)))
	return b.String()
}

func setsNote(sets []string) string {
	if len(sets) == 0 {
		return ""
	}
	return ", " + strings.Join(sets, ", ")
}
