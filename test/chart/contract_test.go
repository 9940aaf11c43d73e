package chart

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/rampdev/ramp/controllers/autoscaler"
)

// binaries maps each Deployment to the main package of its image.
var binaries = map[string]string{
	"ramp-controller": "cmd/controller/main.go",
	"ramp-gateway":    "cmd/gateway/main.go",
}

// Every flag and environment variable the chart gives a binary is one the
// binary reads (its name is a string literal of its main.go), so a renamed
// flag fails here rather than crash-looping the pod. Flags of
// controller-runtime's zap options (--zap-*) are bound by zapOpts.BindFlags.
func TestBinariesKnowTheirFlagsAndEnv(t *testing.T) {
	for name, args := range valueSets {
		t.Run(name, func(t *testing.T) {
			extra := map[string]bool{}
			if len(args) > 0 {
				for _, a := range strList(readYAML(t, args[1]), "controller", "extraArgs") {
					extra[a] = true
				}
			}
			for _, d := range ofKind(render(t, args...), "Deployment") {
				src, err := os.ReadFile(filepath.Join(repoRoot(t), binaries[d.name()]))
				if err != nil {
					t.Fatalf("%s: %v", d.id(), err)
				}
				dep := decode[appsv1.Deployment](t, d)
				c := dep.Spec.Template.Spec.Containers[0]
				for _, a := range c.Args {
					if extra[a] {
						continue // the user's, passed through
					}
					flag, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
					if strings.HasPrefix(flag, "zap-") && strings.Contains(string(src), ".BindFlags(") {
						continue
					}
					if !strings.Contains(string(src), `"`+flag+`"`) {
						t.Errorf("%s: flag --%s is not defined in %s", d.id(), flag, binaries[d.name()])
					}
				}
				for _, e := range c.Env {
					if !strings.Contains(string(src), `"`+e.Name+`"`) {
						t.Errorf("%s: environment variable %s is not read in %s", d.id(), e.Name, binaries[d.name()])
					}
				}
			}
		})
	}
}

// The ramp-autoscaler ConfigMap parses with the controller's own parser
// (which rejects unknown keys and bad values); with the chart's defaults it
// is the controller's default configuration.
func TestAutoscalerConfigMapParses(t *testing.T) {
	tests := map[string]struct {
		args        []string
		wantDefault bool
		check       func(t *testing.T, c autoscaler.Config)
	}{
		"defaults": {wantDefault: true},
		"full": {args: fullValues, check: func(t *testing.T, c autoscaler.Config) {
			d := c.Defaults
			if d.StableWindow.String() != "2m0s" || d.PanicWindowPercent != 6.5 || d.PanicThresholdPercent != 300 ||
				d.TargetUtilization != 0.8 || c.UnlimitedTarget != 50 || d.MaxScaleUpRate != 10 || d.MaxScaleDownRate != 4 ||
				d.ScaleToZeroGracePeriod.String() != "1m30s" || c.EnableScaleToZero || d.MinScale != 1 || d.MaxScale != 20 ||
				d.InitialScale != 2 {
				t.Errorf("parsed %+v, want full-values.yaml's autoscaler values", c)
			}
		}},
		"zero grace": {args: []string{"--set", "autoscaler.scaleToZeroGracePeriod=0s"}},
		// Numbers from JSON or a values file are floats, which print as 1e+06.
		"large numbers": {args: []string{"--set-json", "autoscaler.maxScaleUpRate=1000000", "--set-json", "autoscaler.maxScale=2000000"},
			check: func(t *testing.T, c autoscaler.Config) {
				if c.Defaults.MaxScaleUpRate != 1e6 || c.Defaults.MaxScale != 2000000 {
					t.Errorf("parsed %+v, want max-scale-up-rate 1e6 and max-scale 2000000", c.Defaults)
				}
			}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			cm := decode[corev1.ConfigMap](t, named(t, render(t, tc.args...), "ConfigMap", autoscaler.ConfigMapName))
			c, err := autoscaler.ParseConfig(cm.Data)
			if err != nil {
				t.Fatalf("the controller rejects %v: %v", cm.Data, err)
			}
			if tc.wantDefault && !reflect.DeepEqual(c, autoscaler.DefaultConfig()) {
				t.Errorf("the chart's defaults parse to %+v, the controller's are %+v", c, autoscaler.DefaultConfig())
			}
			if tc.check != nil {
				tc.check(t, c)
			}
		})
	}
}
