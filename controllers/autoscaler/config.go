package autoscaler

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	servingv1 "github.com/rampdev/ramp/apis/serving/v1"
	"github.com/rampdev/ramp/serving/autoscaler"
)

// ConfigMapName is the ConfigMap holding the autoscaler's cluster defaults.
const ConfigMapName = "ramp-autoscaler"

// Config is the autoscaler's cluster configuration: defaults for every
// revision, which annotations on the revision template override.
type Config struct {
	// Defaults applies to every revision (autoscaler.Config's zero fields
	// take the package defaults).
	Defaults autoscaler.Config
	// UnlimitedTarget is the target concurrency per pod of revisions
	// without a containerConcurrency limit.
	UnlimitedTarget float64
	// EnableScaleToZero lets idle revisions go to zero pods; when false
	// every revision keeps at least one.
	EnableScaleToZero bool
	// AllowZeroInitialScale lets a revision start with no pod (initial
	// scale 0, Knative's allow-zero-initial-scale): it is Ready without
	// ever running one, and its first pod comes with its first request.
	// When false an initial scale of 0 counts as 1, as a revision must
	// show a ready pod to become Ready.
	AllowZeroInitialScale bool
}

// DefaultConfig is the configuration with an empty ConfigMap.
func DefaultConfig() Config {
	d := autoscaler.Config{InitialScale: 1}.WithDefaults()
	d.Target = 0 // derived per revision from its containerConcurrency
	return Config{Defaults: d, UnlimitedTarget: autoscaler.DefaultUnlimitedTarget, EnableScaleToZero: true}
}

// Bounds of the stable window. Knative allows up to an hour; Ramp keeps
// five minutes of per-second history per revision (19 KB each), so that
// 2,000 revisions fit in 40 MB.
const (
	minStableWindow = 6 * time.Second
	maxStableWindow = 5 * time.Minute
)

// ParseConfig reads the ConfigMap's data (Knative's key names). Every bad
// key is reported, by name; unknown keys are errors too, so a typo is not
// silently ignored.
func ParseConfig(data map[string]string) (Config, error) {
	c := DefaultConfig()
	d := &c.Defaults
	var errs []string
	bad := func(key, v, want string) { errs = append(errs, fmt.Sprintf("%s %q: %s", key, v, want)) }
	keys := make([]string, 0, len(data))
	for k := range data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, key := range keys {
		v := strings.TrimSpace(data[key])
		switch key {
		case "container-concurrency-target-default":
			f, err := parseFinite(v)
			if err != nil || f < 0.01 {
				bad(key, v, "must be a number ≥ 0.01")
				continue
			}
			c.UnlimitedTarget = f
		case "container-concurrency-target-percentage":
			f, err := parseFinite(v)
			if err != nil || f < 1 || f > 100 {
				bad(key, v, "must be a percentage from 1 to 100")
				continue
			}
			d.TargetUtilization = f / 100
		case "max-scale-up-rate":
			f, err := parseFinite(v)
			if err != nil || f <= 1 {
				bad(key, v, "must be a number > 1")
				continue
			}
			d.MaxScaleUpRate = f
		case "max-scale-down-rate":
			f, err := parseFinite(v)
			if err != nil || f <= 1 {
				bad(key, v, "must be a number > 1")
				continue
			}
			d.MaxScaleDownRate = f
		case "stable-window":
			w, err := time.ParseDuration(v)
			if err != nil || w < minStableWindow || w > maxStableWindow || w%time.Second != 0 {
				bad(key, v, "must be a whole number of seconds from 6s to 5m")
				continue
			}
			d.StableWindow = w
		case "panic-window-percentage":
			f, err := parseFinite(v)
			if err != nil || f < 1 || f > 100 {
				bad(key, v, "must be a percentage from 1 to 100")
				continue
			}
			d.PanicWindowPercent = f
		case "panic-threshold-percentage":
			f, err := parseFinite(v)
			if err != nil || f < 110 || f > 1000 {
				bad(key, v, "must be a percentage from 110 to 1000")
				continue
			}
			d.PanicThresholdPercent = f
		case "scale-to-zero-grace-period":
			g, err := time.ParseDuration(v)
			if err != nil || g < 0 || g > time.Hour {
				bad(key, v, "must be a duration from 0s to 1h")
				continue
			}
			d.ScaleToZeroGracePeriod = g
			if g == 0 {
				d.ScaleToZeroGracePeriod = time.Nanosecond // 0 means "no grace", not "default"
			}
		case "enable-scale-to-zero":
			b, err := strconv.ParseBool(v)
			if err != nil {
				bad(key, v, "must be true or false")
				continue
			}
			c.EnableScaleToZero = b
		case "allow-zero-initial-scale":
			b, err := strconv.ParseBool(v)
			if err != nil {
				bad(key, v, "must be true or false")
				continue
			}
			c.AllowZeroInitialScale = b
		case "min-scale", "max-scale", "initial-scale":
			n, err := strconv.ParseInt(v, 10, 32)
			if err != nil || n < 0 {
				bad(key, v, "must be a non-negative integer")
				continue
			}
			switch key {
			case "min-scale":
				d.MinScale = int32(n)
			case "max-scale":
				d.MaxScale = int32(n)
			default:
				d.InitialScale = int32(n)
			}
		default:
			errs = append(errs, fmt.Sprintf("unknown key %q", key))
		}
	}
	if d.MaxScale > 0 && d.MinScale > d.MaxScale {
		errs = append(errs, fmt.Sprintf("min-scale %d is above max-scale %d", d.MinScale, d.MaxScale))
	}
	if len(errs) > 0 {
		return Config{}, fmt.Errorf("invalid %s: %s", ConfigMapName, strings.Join(errs, "; "))
	}
	return c, nil
}

// revisionConfig is the scaling configuration of rev: the cluster defaults
// overridden by the revision's autoscaling annotations (Ramp's, or
// Knative's alias).
func revisionConfig(c Config, rev *servingv1.Revision) (autoscaler.Config, error) {
	out := c.Defaults
	if cc := rev.Spec.ContainerConcurrency; cc != nil {
		out.ContainerConcurrency = int(*cc)
	}
	var errs []string
	ann := func(key string, parse func(string) error) {
		if v, ok := servingv1.AutoscalingAnnotation(rev.Annotations, key); ok {
			if err := parse(strings.TrimSpace(v)); err != nil {
				errs = append(errs, fmt.Sprintf("annotation %s%s %q: %v", servingv1.AutoscalingPrefix, key, v, err))
			}
		}
	}
	positive := func(dst *float64, lo, hi float64) func(string) error {
		return func(v string) error {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || f < lo || f > hi {
				return fmt.Errorf("must be a number from %g to %g", lo, hi)
			}
			*dst = f
			return nil
		}
	}
	scale := func(dst *int32) func(string) error {
		return func(v string) error {
			n, err := strconv.ParseInt(v, 10, 32)
			if err != nil || n < 0 {
				return fmt.Errorf("must be a non-negative integer")
			}
			*dst = int32(n)
			return nil
		}
	}
	ann("target", positive(&out.Target, 0.01, 1e6))
	var util float64
	ann("target-utilization-percentage", positive(&util, 1, 100))
	if util > 0 {
		out.TargetUtilization = util / 100
	}
	ann("min-scale", scale(&out.MinScale))
	ann("max-scale", scale(&out.MaxScale))
	ann("initial-scale", scale(&out.InitialScale))
	ann("window", func(v string) error {
		w, err := time.ParseDuration(v)
		if err != nil || w < minStableWindow || w > maxStableWindow {
			return fmt.Errorf("must be a duration from 6s to 5m")
		}
		out.StableWindow = w
		return nil
	})
	ann("panic-window-percentage", positive(&out.PanicWindowPercent, 1, 100))
	ann("panic-threshold-percentage", positive(&out.PanicThresholdPercent, 110, 1000))
	if len(errs) > 0 {
		return autoscaler.Config{}, fmt.Errorf("revision %s/%s: %s", rev.Namespace, rev.Name, strings.Join(errs, "; "))
	}
	if out.Target == 0 && out.ContainerConcurrency == 0 {
		out.Target = c.UnlimitedTarget
	}
	if !c.EnableScaleToZero && out.MinScale < 1 {
		out.MinScale = 1
	}
	if !c.AllowZeroInitialScale && out.InitialScale < 1 {
		out.InitialScale = 1
	}
	if out.MaxScale > 0 && out.MinScale > out.MaxScale {
		out.MinScale = out.MaxScale
	}
	return out.WithDefaults(), nil
}

// parseFinite parses a number and refuses NaN and infinities, which every
// comparison with a bound would let through.
func parseFinite(v string) (float64, error) {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return 0, err
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("%q is not a finite number", v)
	}
	return f, nil
}
