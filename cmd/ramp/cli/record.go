package cli

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/rampdev/ramp/analysis"
	autoscaling "github.com/rampdev/ramp/controllers/autoscaler"
	"github.com/rampdev/ramp/serving/queue/stats"
)

type recordOptions struct {
	telemetry telemetryOptions
	duration  time.Duration
	output    string
	run       string
	// now and sleep are the clock; tests replace them.
	now   func() time.Time
	sleep func(time.Duration)
}

func newRecordCommand() *cobra.Command {
	o := &recordOptions{now: time.Now, sleep: time.Sleep}
	cmd := &cobra.Command{
		Use:   "record ROLLOUT --for 2m -o trace.jsonl",
		Short: "Write a Rollout's live canary and stable telemetry as a trace for `ramp analysis replay`",
		Long: `Record the current step of a Rollout: its canary's and stable's telemetry,
second by second, from the moment the step's traffic was applied
(status.stepReadyAt; now if the step has none) for --for, as the trace
format of ` + "`ramp analysis replay`" + `. Replaying the trace with the Rollout's
manifest reproduces the controller's verdicts on the same traffic.

Latencies are written as the midpoints of the queue-proxy's histogram
buckets, which replay places back into the same buckets. The controller
keeps 15 minutes of telemetry: --for is at most 15m, and the command waits
until the recorded span has passed.

` + tokenHelp,
		Example: `  ramp analysis record shop --for 2m -o trace.jsonl
  ramp analysis replay -f shop.yaml --telemetry trace.jsonl`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return o.record(cmd, args[0]) },
	}
	f := cmd.Flags()
	o.telemetry.kube.addFlags(f)
	o.telemetry.addAPIFlags(f)
	f.DurationVar(&o.duration, "for", 2*time.Minute, "how long to record, from the step's start (1s to 15m)")
	f.StringVarP(&o.output, "output", "o", "-", "trace file to write ('-' for standard output)")
	f.StringVar(&o.run, "run", "", "run id of the trace's lines (default <rollout>-<canary revision>)")
	return cmd
}

func (o *recordOptions) record(cmd *cobra.Command, name string) error {
	if o.duration < time.Second || o.duration > 15*time.Minute {
		return fmt.Errorf("--for %s: want 1s to 15m (the controller keeps 15 minutes of telemetry)", o.duration)
	}
	kc, err := o.telemetry.kube.connect(cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	ro, err := kc.getRollout(cmd, name)
	if err != nil {
		return err
	}
	st := ro.Status
	if st.CanaryRevision == "" || st.StableRevision == "" {
		return fmt.Errorf("rollout %s/%s has no canary step running (phase %s): record while a canary is rolled out", ro.Namespace, ro.Name, orDash(string(st.Phase)))
	}
	base := strings.TrimRight(o.telemetry.autoscalerURL, "/")
	if base == "" {
		if base, err = leaderURL(cmd.Context(), kc.client, o.telemetry.controllerNamespace); err != nil {
			return err
		}
	}
	start := o.now().Truncate(time.Second)
	if st.StepReadyAt != nil && o.now().Sub(st.StepReadyAt.Time) < 15*time.Minute {
		start = st.StepReadyAt.Truncate(time.Second)
	}
	end := start.Add(o.duration)
	if wait := end.Sub(o.now()) + 2*time.Second; wait > 0 {
		fmt.Fprintf(cmd.ErrOrStderr(), "Recording %s (canary) and %s (stable) from %s for %s: %s to go\n",
			st.CanaryRevision, st.StableRevision, start.UTC().Format(time.RFC3339), o.duration, wait.Round(time.Second))
		o.sleep(wait)
	}
	// The token is requested after the wait: it lives 10 minutes.
	token, err := o.telemetry.telemetryToken(cmd.Context(), kc)
	if err != nil {
		return err
	}
	api := autoscalerAPI{base: base, token: token}
	canaryTag := ""
	if !ro.Spec.IsCanary() {
		canaryTag = ro.Spec.PreviewTag()
	}
	sides := []struct {
		rev, revision, tag string
	}{{analysis.TraceStable, st.StableRevision, ""}, {analysis.TraceCanary, st.CanaryRevision, canaryTag}}
	series := make([][]autoscaling.Second, len(sides))
	for i, s := range sides {
		q := url.Values{"from": {strconv.FormatInt(start.Unix(), 10)}, "to": {strconv.FormatInt(end.Unix(), 10)}}
		if s.tag != "" {
			q.Set("tag", s.tag)
		}
		path := autoscaling.SeriesPath + url.PathEscape(ro.Namespace) + "/" + url.PathEscape(s.revision) + "?" + q.Encode()
		if err := api.getJSON(cmd.Context(), path, &series[i]); err != nil {
			return err
		}
	}
	run := o.run
	if run == "" {
		run = ro.Name + "-" + st.CanaryRevision
	}
	out := cmd.OutOrStdout()
	if o.output != "-" {
		f, err := os.Create(o.output)
		if err != nil {
			return err
		}
		defer f.Close()
		out = f
	}
	n, err := writeTrace(out, run, start, sides[0].rev, series[0], sides[1].rev, series[1])
	if err != nil {
		return fmt.Errorf("writing %s: %w", o.output, err)
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "Wrote %d trace lines (%s of telemetry) for run %s\n", n, o.duration, run)
	return nil
}

// writeTrace writes two revisions' seconds as trace lines, seconds
// counted from start, in order of second then revision.
func writeTrace(w io.Writer, run string, start time.Time, aName string, a []autoscaling.Second, bName string, b []autoscaling.Second) (int, error) {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	lines := 0
	write := func(rev string, s autoscaling.Second) error {
		lines++
		return enc.Encode(analysis.TraceLine{Run: run, Second: s.Unix - start.Unix(), Revision: rev,
			Requests: s.Requests, Errors: s.Errors5xx, Latencies: bucketLatencies(s.Latency, s.Requests)})
	}
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		var err error
		switch {
		case j >= len(b) || (i < len(a) && a[i].Unix <= b[j].Unix):
			err = write(aName, a[i])
			i++
		default:
			err = write(bName, b[j])
			j++
		}
		if err != nil {
			return lines, err
		}
	}
	return lines, errors.Join(bw.Flush())
}

// bucketLatencies expands a histogram into n latencies in seconds: each
// bucket's midpoint, as often as the bucket counts (so replay puts them
// back into the same buckets). Requests without a latency (there should be
// none) get the median bucket's.
func bucketLatencies(h stats.Histogram, n int64) []float64 {
	out := make([]float64, 0, n)
	for i, c := range h.Counts {
		if c == 0 {
			continue
		}
		lo := stats.BucketLowerBound(i)
		mid := lo
		if i < stats.OverflowBucket {
			mid = lo + (stats.BucketUpperBound(i)-lo)/2
		}
		for range c {
			out = append(out, mid.Seconds())
		}
	}
	fill := h.Quantile(0.5).Seconds()
	for int64(len(out)) < n {
		out = append(out, fill)
	}
	return out[:n]
}
