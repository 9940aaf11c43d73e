package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/rampdev/ramp/analysis"
	rolloutsv1alpha1 "github.com/rampdev/ramp/apis/rollouts/v1alpha1"
	"github.com/rampdev/ramp/controllers/rollout/resources"
)

// DefaultReplayRollout is a Rollout without an analysis block: replaying
// it measures the defaults every such Rollout gets.
const DefaultReplayRollout = `apiVersion: rollouts.ramp.dev/v1alpha1
kind: Rollout
metadata:
  name: defaults
spec:
  template:
    spec:
      containers:
      - image: app
  strategy:
    canary:
      steps:
      - weight: 10
`

func newAnalysisCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "analysis",
		Short: "Test analysis settings offline: replay recorded or simulated telemetry through the real judge",
	}
	cmd.AddCommand(newReplayCommand(), newRecordCommand())
	return cmd
}

type replayOptions struct {
	file, telemetry string
}

func newReplayCommand() *cobra.Command {
	o := &replayOptions{}
	cmd := &cobra.Command{
		Use:   "replay -f ROLLOUT.yaml --telemetry TRACE.jsonl",
		Short: "Run the controller's judge and step logic on a telemetry trace, with a simulated clock",
		Long: `Replay a telemetry trace through the same judge and step logic the
controller runs, with the analysis of a Rollout manifest (its spec.analysis,
or the defaults when it has none, for its first canary step).

TRACE.jsonl has one JSON object per line and per revision and second that
had traffic:

  {"run":"ID","second":S,"revision":"stable"|"canary","requests":N,"errors":E,"latencies":[0.051,...]}

errors counts the 5xx answers among the N requests; latencies holds exactly
N values in seconds. The lines of a run are contiguous, with non-decreasing
seconds; second 0 is when the step's traffic starts. One file may hold many
runs. ` + "`ramp analysis record`" + ` writes this format from a live cluster.

Looks happen every analysis interval from second 0; a look at second S sees
the seconds before S. The output is JSON lines: one per look,
{"run","second","phase","metrics":[...]}, then one per run,
{"run","outcome":"advance"|"rollback"|"undecided","second"}: the first look
at which the step would advance or roll back.

Bad input exits 2 naming the file, the line and the field; nothing is
printed then.`,
		Example: `  ramp analysis replay -f rollout.yaml --telemetry trace.jsonl
  ramp analysis replay -f rollout.yaml --telemetry - < trace.jsonl | grep outcome`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.run(cmd, cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVarP(&o.file, "filename", "f", "", "Rollout manifest whose analysis to replay (required)")
	cmd.Flags().StringVar(&o.telemetry, "telemetry", "", "telemetry trace, JSON lines ('-' for standard input) (required)")
	_ = cmd.MarkFlagRequired("filename")
	_ = cmd.MarkFlagRequired("telemetry")
	return cmd
}

func (o *replayOptions) run(cmd *cobra.Command, out io.Writer) error {
	manifest, err := os.ReadFile(o.file)
	if err != nil {
		return &ExitError{Code: 2, Err: err}
	}
	cfg, err := ReplayConfigFromManifest(manifest, o.file)
	if err != nil {
		return &ExitError{Code: 2, Err: err}
	}
	trace := cmd.InOrStdin()
	name := "<stdin>"
	if o.telemetry != "-" {
		f, err := os.Open(o.telemetry)
		if err != nil {
			return &ExitError{Code: 2, Err: err}
		}
		defer f.Close()
		trace, name = f, o.telemetry
	}
	// Replay buffers its output and writes nothing when the trace is bad.
	var buf bytes.Buffer
	if err := analysis.Replay(cmd.Context(), cfg, trace, name, &buf); err != nil {
		var te *analysis.TraceError
		if errors.As(err, &te) {
			return &ExitError{Code: 2, Err: err}
		}
		return err
	}
	_, err = buf.WriteTo(out)
	return err
}

// ReplayConfigFromManifest reads a Rollout manifest and builds the
// analysis the controller would run for its first canary step, with the
// controller's defaults for what it leaves out.
func ReplayConfigFromManifest(manifest []byte, name string) (analysis.ReplayConfig, error) {
	ro := &rolloutsv1alpha1.Rollout{}
	if err := yaml.UnmarshalStrict(manifest, ro); err != nil {
		return analysis.ReplayConfig{}, fmt.Errorf("%s: not a Rollout manifest: %w", name, err)
	}
	if ro.Kind != "" && ro.Kind != "Rollout" {
		return analysis.ReplayConfig{}, fmt.Errorf("%s: kind %s, want Rollout", name, ro.Kind)
	}
	if ro.Spec.Analysis != nil && ro.Spec.Analysis.Disabled {
		return analysis.ReplayConfig{}, fmt.Errorf("%s: spec.analysis.disabled is true: there is no analysis to replay", name)
	}
	resources.ApplySpecDefaults(&ro.Spec, resources.Defaults{})
	cfg, err := resources.ReplayConfig(ro.Spec.Analysis)
	if err != nil {
		return cfg, fmt.Errorf("%s: spec.analysis.%w", name, err)
	}
	return cfg, nil
}
