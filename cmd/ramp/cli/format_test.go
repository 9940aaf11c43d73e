package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	rolloutsv1alpha1 "github.com/rampdev/ramp/apis/rollouts/v1alpha1"
)

func TestDisplayName(t *testing.T) {
	cases := map[string]string{
		"ramp":                    "ramp",
		"/usr/local/bin/ramp":     "ramp",
		"bin/kubectl-ramp":        "kubectl ramp",
		"/home/me/go/bin/ramp.v2": "ramp",
	}
	for argv0, want := range cases {
		if got := displayName(argv0); got != want {
			t.Errorf("displayName(%q) = %q, want %q", argv0, got, want)
		}
	}
}

func TestHelpAsKubectlPlugin(t *testing.T) {
	cases := map[string]struct {
		name     string
		args     []string
		want     []string
		wantNone string
	}{
		"plugin usage and examples say kubectl ramp": {
			name: "kubectl ramp",
			args: []string{"rollout", "watch", "--help"},
			want: []string{
				"kubectl ramp rollout watch NAME [flags]",
				"  kubectl apply -f web-rollout.yaml && kubectl ramp rollout watch web\n",
				"  kubectl ramp rollout watch web --timeout 10m\n",
			},
			wantNone: "  ramp rollout",
		},
		"plugin subcommand list": {
			name: "kubectl ramp",
			args: []string{"--help"},
			want: []string{"kubectl ramp [command]", "rollout", "telemetry", "local"},
		},
		"the binary says ramp": {
			name: "ramp",
			args: []string{"rollout", "promote", "--help"},
			want: []string{"ramp rollout promote NAME [flags]", "  ramp rollout promote web --wait=0\n"},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			var out bytes.Buffer
			if err := execute(context.Background(), newRootCommand(tc.name), tc.args, &out, &out); err != nil {
				t.Fatal(err)
			}
			wantContains(t, "help", out.String(), tc.want...)
			if tc.wantNone != "" && strings.Contains(out.String(), tc.wantNone) {
				t.Errorf("help contains %q:\n%s", tc.wantNone, out.String())
			}
		})
	}
}

func TestStepLines(t *testing.T) {
	w := func(v int32) *int32 { return &v }
	canary := makeRollout("ns", "web").Obj()
	blueGreen := func(auto *metav1.Duration) *rolloutsv1alpha1.Rollout {
		ro := makeRollout("ns", "web").Obj()
		ro.Spec.Strategy = rolloutsv1alpha1.Strategy{BlueGreen: &rolloutsv1alpha1.BlueGreenStrategy{PreviewTag: "blue", AutoPromoteAfter: auto}}
		return ro
	}
	cases := map[string]struct {
		ro    *rolloutsv1alpha1.Rollout
		phase rolloutsv1alpha1.Phase
		step  *int32
		want  []string
	}{
		"canary at its first step": {
			ro: canary, phase: rolloutsv1alpha1.PhaseProgressing, step: w(0),
			want: []string{"> 1. weight 20%", "  2. weight 50%, then pause 1m0s", "  3. approval", "  4. weight 100%", "     promotion to 100%"},
		},
		"canary promoting": {
			ro: canary, phase: rolloutsv1alpha1.PhaseProgressing, step: w(4),
			want: []string{"  1. weight 20%", "  2. weight 50%, then pause 1m0s", "  3. approval", "  4. weight 100%", ">    promotion to 100%"},
		},
		"healthy has no marker": {
			ro: canary, phase: rolloutsv1alpha1.PhaseHealthy, step: w(4),
			want: []string{"  1. weight 20%", "  2. weight 50%, then pause 1m0s", "  3. approval", "  4. weight 100%", "     promotion to 100%"},
		},
		"blue/green waiting for approval": {
			ro: blueGreen(nil), phase: rolloutsv1alpha1.PhaseProgressing, step: w(0),
			want: []string{`> 1. preview at tag "blue", then wait for approve`, "     promotion to 100%"},
		},
		"blue/green with auto-promotion": {
			ro: blueGreen(&metav1.Duration{Duration: 5 * time.Minute}), phase: rolloutsv1alpha1.PhasePaused,
			want: []string{`  1. preview at tag "blue", then auto-promote after 5m0s`, "     promotion to 100%"},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			ro := tc.ro.DeepCopy()
			ro.Status.Phase, ro.Status.CurrentStepIndex = tc.phase, tc.step
			if diff := cmp.Diff(tc.want, stepLines(ro)); diff != "" {
				t.Errorf("stepLines() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMeasurementLine(t *testing.T) {
	m := rolloutsv1alpha1.Measurement{Phase: "Inconclusive", Message: "12 canary requests, want 50", Metrics: []rolloutsv1alpha1.MetricResult{
		{Name: "error-rate", Phase: "Inconclusive", Canary: "0%"},
		{Name: "p99", Phase: "Pass", Canary: "90ms", Stable: "100ms"},
	}}
	want := "measurement Inconclusive: error-rate 0% vs - (Inconclusive), p99 90ms vs 100ms (12 canary requests, want 50)"
	if got := measurementLine(m); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}
