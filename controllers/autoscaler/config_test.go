package autoscaler

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	servingv1 "github.com/rampdev/ramp/apis/serving/v1"
	"github.com/rampdev/ramp/serving/autoscaler"
)

func TestParseConfig(t *testing.T) {
	cases := map[string]struct {
		data     map[string]string
		want     func(*Config)
		wantErrs []string
	}{
		"empty is the defaults": {data: nil, want: func(*Config) {}},
		"every key": {
			data: map[string]string{
				"container-concurrency-target-default": "50", "container-concurrency-target-percentage": "80",
				"max-scale-up-rate": "10", "max-scale-down-rate": "4", "stable-window": "6s",
				"panic-window-percentage": "20", "panic-threshold-percentage": "300",
				"scale-to-zero-grace-period": "0s", "enable-scale-to-zero": "false",
				"min-scale": "1", "max-scale": "9", "initial-scale": "2", "allow-zero-initial-scale": "true",
			},
			want: func(c *Config) {
				c.UnlimitedTarget, c.Defaults.TargetUtilization = 50, 0.8
				c.Defaults.MaxScaleUpRate, c.Defaults.MaxScaleDownRate = 10, 4
				c.Defaults.StableWindow, c.Defaults.PanicWindowPercent, c.Defaults.PanicThresholdPercent = 6*time.Second, 20, 300
				c.Defaults.ScaleToZeroGracePeriod, c.EnableScaleToZero = time.Nanosecond, false
				c.Defaults.MinScale, c.Defaults.MaxScale, c.Defaults.InitialScale = 1, 9, 2
				c.AllowZeroInitialScale = true
			},
		},
		"every problem is reported by key": {
			data: map[string]string{
				"stable-window": "2s", "max-scale-down-rate": "1", "enable-scale-to-zero": "maybe", "allow-zero-initial-scale": "yes please",
				"container-concurrency-target-percentage": "0", "stabel-window": "60s",
			},
			wantErrs: []string{`stable-window "2s"`, `max-scale-down-rate "1"`, `enable-scale-to-zero "maybe"`, `allow-zero-initial-scale "yes please"`,
				`container-concurrency-target-percentage "0"`, `unknown key "stabel-window"`},
		},
		"min above max": {
			data:     map[string]string{"min-scale": "5", "max-scale": "2"},
			wantErrs: []string{"min-scale 5 is above max-scale 2"},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := ParseConfig(tc.data)
			if len(tc.wantErrs) > 0 {
				if err == nil {
					t.Fatalf("ParseConfig = %+v, want an error", got)
				}
				for _, w := range tc.wantErrs {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not mention %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := DefaultConfig()
			tc.want(&want)
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("ParseConfig (-want +got):\n%s", d)
			}
		})
	}
}

func TestRevisionConfig(t *testing.T) {
	rev := func(cc int64, ann map[string]string) *servingv1.Revision {
		r := &servingv1.Revision{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "r", Annotations: ann}}
		if cc >= 0 {
			r.Spec.ContainerConcurrency = ptr.To(cc)
		}
		return r
	}
	noZero := DefaultConfig()
	noZero.EnableScaleToZero = false
	zeroStart := DefaultConfig()
	zeroStart.AllowZeroInitialScale = true
	cases := map[string]struct {
		cfg     Config
		rev     *servingv1.Revision
		want    func(*autoscaler.Config)
		wantErr string
	}{
		"unlimited concurrency targets 100": {cfg: DefaultConfig(), rev: rev(-1, nil),
			want: func(c *autoscaler.Config) { c.Target = 100 }},
		"containerConcurrency 10 targets 7": {cfg: DefaultConfig(), rev: rev(10, nil),
			want: func(c *autoscaler.Config) { c.ContainerConcurrency, c.Target = 10, 7 }},
		"annotations override, Knative's alias too": {cfg: zeroStart, rev: rev(4, map[string]string{
			"autoscaling.ramp.dev/target": "3", "autoscaling.knative.dev/min-scale": "1",
			"autoscaling.ramp.dev/max-scale": "5", "autoscaling.ramp.dev/initial-scale": "0",
			"autoscaling.ramp.dev/window": "10s",
		}), want: func(c *autoscaler.Config) {
			c.ContainerConcurrency, c.Target, c.MinScale, c.MaxScale, c.InitialScale = 4, 3, 1, 5, 0
			c.StableWindow = 10 * time.Second
		}},
		"initial scale 0 counts as 1 unless allowed": {cfg: DefaultConfig(), rev: rev(1, map[string]string{
			"autoscaling.ramp.dev/initial-scale": "0",
		}), want: func(c *autoscaler.Config) { c.ContainerConcurrency, c.Target, c.InitialScale = 1, 0.7, 1 }},
		"scale to zero off keeps one": {cfg: noZero, rev: rev(1, nil),
			want: func(c *autoscaler.Config) { c.ContainerConcurrency, c.Target, c.MinScale = 1, 0.7, 1 }},
		"bad annotation": {cfg: DefaultConfig(), rev: rev(1, map[string]string{"autoscaling.ramp.dev/window": "1s"}),
			wantErr: `annotation autoscaling.ramp.dev/window "1s": must be a duration from 6s to 5m`},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := revisionConfig(tc.cfg, tc.rev)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := tc.cfg.Defaults
			tc.want(&want)
			if d := cmp.Diff(want.WithDefaults(), got); d != "" {
				t.Errorf("revisionConfig (-want +got):\n%s", d)
			}
		})
	}
}
