package chart

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

func TestBadValuesFailWithTheFieldNamed(t *testing.T) {
	tests := map[string]struct {
		args []string
		want []string // each must appear in helm's error
	}{
		"zero replicas":           {[]string{"--set", "controller.replicas=0"}, []string{"/controller/replicas", "minimum"}},
		"unknown pull policy":     {[]string{"--set", "image.pullPolicy=Sometimes"}, []string{"/image/pullPolicy", "Always", "IfNotPresent", "Never"}},
		"duration not a duration": {[]string{"--set", "controller.progressDeadline=ten"}, []string{"/controller/progressDeadline", "'ten'"}},
		"grace not a duration":    {[]string{"--set", "controller.scaleToZeroGrace=30"}, []string{"/controller/scaleToZeroGrace"}},
		"domain not DNS":          {[]string{"--set", "domain=Not A Domain"}, []string{"/domain", "'Not A Domain'"}},
		"typo in controller":      {[]string{"--set", "controller.replicaz=2"}, []string{"/controller", "additional properties 'replicaz'"}},
		"typo at top level":       {[]string{"--set", "domian=example.org"}, []string{"additional properties 'domian'"}},
		"typo in resources":       {[]string{"--set", "controller.resources.requests.memroy=1Gi"}, []string{"/controller/resources/requests", "'memroy'"}},
		"bad quantity":            {[]string{"--set", "controller.resources.limits.memory=lots"}, []string{"/controller/resources/limits/memory"}},
		"log level word":          {[]string{"--set", "controller.logLevel=verbose"}, []string{"/controller/logLevel", "'verbose'"}},
		"log level zero":          {[]string{"--set", "controller.logLevel=0"}, []string{"/controller/logLevel", "minimum"}},
		"retain above 1000":       {[]string{"--set", "serving.retainRevisions=1001"}, []string{"/serving/retainRevisions", "maximum"}},
		"retain negative":         {[]string{"--set", "serving.retainRevisions=-1"}, []string{"/serving/retainRevisions", "minimum"}},
		"numeric image tag":       {[]string{"--set", "image.tag=2"}, []string{"/image/tag", "string"}},
		"registry with slash":     {[]string{"--set", "image.registry=ramp/"}, []string{"/image/registry"}},
		"pull secret as string":   {[]string{"--set", "imagePullSecrets[0]=regcred"}, []string{"/imagePullSecrets/0", "object"}},
		"pdb not a bool":          {[]string{"--set", "controller.podDisruptionBudget=true"}, []string{"/controller/podDisruptionBudget", "object"}},
		"negative grace period":   {[]string{"--set", "controller.terminationGracePeriodSeconds=-1"}, []string{"/controller/terminationGracePeriodSeconds"}},
		"toleration typo":         {[]string{"--set", "controller.tolerations[0].efect=NoSchedule"}, []string{"/controller/tolerations/0", "'efect'"}},
		"affinity typo":           {[]string{"--set", "controller.affinity.podAntiAfinity.x=y"}, []string{"/controller/affinity", "'podAntiAfinity'"}},
		"extra arg not a flag":    {[]string{"--set", "controller.extraArgs[0]=leader-elect=false"}, []string{"/controller/extraArgs/0"}},
		"annotation not string":   {[]string{"--set", "controller.podAnnotations.a=1"}, []string{"/controller/podAnnotations/a", "string"}},
		"replicas without leader election": {
			[]string{"--set", "controller.replicas=2", "--set", "controller.leaderElection=false"},
			[]string{"controller.replicas > 1 requires controller.leaderElection=true"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := helm(t, templateArgs(tc.args...)...)
			if err == nil {
				t.Fatalf("helm template %v succeeded, want an error naming %q", tc.args, tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q:\n%v", w, err)
				}
			}
		})
	}
}

// Values that are unusual but valid must not be rejected by the schema.
func TestGoodValuesPass(t *testing.T) {
	tests := map[string][]string{
		"numeric log level":      {"--set", "controller.logLevel=3"},
		"numeric log level text": {"--set-string", "controller.logLevel=3"},
		"compound duration":      {"--set", "controller.progressDeadline=1h2m3.5s"},
		"microseconds":           {"--set", "controller.scaleToZeroGrace=1500µs"},
		"registry with port":     {"--set", "image.registry=localhost:5000/ramp"},
		"numeric tag as string":  {"--set-string", "image.tag=2"},
		"retain none":            {"--set", "serving.retainRevisions=0"},
		"quantity as number":     {"--set", "controller.resources.limits.cpu=2"},
	}
	for name, args := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := helm(t, templateArgs(args...)...); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestHelmLintPasses(t *testing.T) {
	for _, args := range [][]string{
		{"lint", "charts/ramp"},
		{"lint", "--strict", "charts/ramp"},
		{"lint", "--strict", "charts/ramp", "--values", "test/chart/testdata/full-values.yaml"},
	} {
		t.Run(strings.Join(args[1:], " "), func(t *testing.T) {
			if out, err := helm(t, args...); err != nil {
				t.Errorf("%v\n%s", err, out)
			}
		})
	}
}

func readYAML(t *testing.T, path string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), path))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := yaml.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return m
}

// leaf is a setting of values.yaml: a scalar, a list, or an empty map (a
// free-form setting such as nodeSelector).
type leaf struct {
	path []string
	def  any
}

func leaves(prefix []string, m map[string]any) []leaf {
	var out []leaf
	for k, v := range m {
		path := append(append([]string{}, prefix...), k)
		if sub, ok := v.(map[string]any); ok && len(sub) > 0 {
			out = append(out, leaves(path, sub)...)
			continue
		}
		out = append(out, leaf{path, v})
	}
	return out
}

// full-values.yaml sets every value to a non-default, so that the "full"
// golden file exercises every value's rendering.
func TestFullValuesChangeEveryDefault(t *testing.T) {
	keptDefaults := map[string]string{
		"controller.leaderElection":              "more than one replica requires it",
		"controller.podDisruptionBudget.enabled": "the golden file shows the PodDisruptionBudget",
		"gateway.enabled":                        "the golden file shows the gateway",
		"gateway.podDisruptionBudget.enabled":    "the golden file shows the PodDisruptionBudget",
		"gateway.hostPort":                       "hostPort is outside the restricted profile; local mode is tested by TestLocalModeHostPort",
	}
	full := readYAML(t, "test/chart/testdata/full-values.yaml")
	for _, l := range leaves(nil, readYAML(t, "charts/ramp/values.yaml")) {
		name := strings.Join(l.path, ".")
		got := get(full, l.path...)
		_, kept := keptDefaults[name]
		switch {
		case got == nil:
			t.Errorf("full-values.yaml does not set %s", name)
		case kept && !reflect.DeepEqual(got, l.def):
			t.Errorf("full-values.yaml should keep %s at its default %v (%s)", name, l.def, keptDefaults[name])
		case !kept && reflect.DeepEqual(got, l.def):
			t.Errorf("full-values.yaml sets %s to its default %v", name, l.def)
		}
	}
}

// The schema declares every value of values.yaml (helm lint checks the
// converse), and every object in it is closed: additionalProperties is false,
// or a schema for the values of a map. passThrough lists the objects handed
// to Kubernetes unchecked.
func TestSchemaIsClosedAndMatchesValues(t *testing.T) {
	passThrough := map[string]bool{
		"/properties/controller/properties/affinity/properties/nodeAffinity/properties/requiredDuringSchedulingIgnoredDuringExecution":        true,
		"/properties/controller/properties/affinity/properties/nodeAffinity/properties/preferredDuringSchedulingIgnoredDuringExecution/items": true,
		"/definitions/podAffinityTerms/properties/requiredDuringSchedulingIgnoredDuringExecution/items":                                       true,
		"/definitions/podAffinityTerms/properties/preferredDuringSchedulingIgnoredDuringExecution/items":                                      true,
	}
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "charts/ramp/values.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	var schema map[string]any
	if err := json.Unmarshal(b, &schema); err != nil {
		t.Fatalf("values.schema.json: %v", err)
	}
	if s := schema["$schema"]; s != "http://json-schema.org/draft-07/schema#" {
		t.Errorf("$schema is %v, want draft-07", s)
	}
	var open []string
	var walk func(ptr string, node any)
	walk = func(ptr string, node any) {
		switch n := node.(type) {
		case map[string]any:
			if n["type"] == "object" && n["additionalProperties"] == nil && !passThrough[ptr] {
				open = append(open, ptr)
			}
			for k, v := range n {
				walk(ptr+"/"+k, v)
			}
		case []any:
			for _, v := range n {
				walk(ptr+"/[]", v)
			}
		}
	}
	walk("", schema)
	sort.Strings(open)
	for _, p := range open {
		t.Errorf("schema object %s has no additionalProperties (a typo there would pass)", p)
	}

	// Every property declared inline exists in values.yaml, unless its parent
	// defaults to an empty map.
	var match func(path string, sch, vals map[string]any)
	match = func(path string, sch, vals map[string]any) {
		props, _ := sch["properties"].(map[string]any)
		for k, sub := range props {
			v, ok := vals[k]
			if !ok {
				t.Errorf("schema declares %s%s, which values.yaml lacks: give it a default", path, k)
				continue
			}
			subSchema, _ := sub.(map[string]any)
			if subVals, ok := v.(map[string]any); ok && len(subVals) > 0 {
				match(path+k+".", subSchema, subVals)
			}
		}
	}
	match("", schema, readYAML(t, "charts/ramp/values.yaml"))
}
