package autoscaler

import (
	"math"
	"testing"
)

var configKeys = []string{"container-concurrency-target-default", "container-concurrency-target-percentage", "max-scale-up-rate",
	"max-scale-down-rate", "stable-window", "panic-window-percentage", "panic-threshold-percentage", "scale-to-zero-grace-period",
	"enable-scale-to-zero", "min-scale", "max-scale", "initial-scale"}

// FuzzParseConfig: the ramp-autoscaler ConfigMap is user input; whatever
// one key holds, the config is refused or usable: finite, positive
// targets and rates, and scale bounds that agree.
func FuzzParseConfig(f *testing.F) {
	for i := range configKeys {
		for _, v := range []string{"1", "0", "-1", "70", "1000", "6s", "5m", "1h", "NaN", "+Inf", "true", "1e400", "0.001"} {
			f.Add(uint8(i), v, uint8((i+1)%len(configKeys)), v)
		}
	}
	f.Fuzz(func(t *testing.T, k1 uint8, v1 string, k2 uint8, v2 string) {
		data := map[string]string{configKeys[int(k1)%len(configKeys)]: v1, configKeys[int(k2)%len(configKeys)]: v2}
		c, err := ParseConfig(data)
		if err != nil {
			return
		}
		d := c.Defaults
		bad := func(x float64) bool { return math.IsNaN(x) || math.IsInf(x, 0) || x <= 0 }
		if bad(c.UnlimitedTarget) || bad(d.TargetUtilization) || bad(d.MaxScaleUpRate) || bad(d.MaxScaleDownRate) || d.StableWindow <= 0 ||
			(d.MaxScale > 0 && d.MinScale > d.MaxScale) {
			t.Fatalf("ParseConfig(%v) = %+v", data, c)
		}
	})
}
