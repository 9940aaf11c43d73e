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
		"zero replicas":            {[]string{"--set", "controller.replicas=0"}, []string{"/controller/replicas", "minimum"}},
		"unknown pull policy":      {[]string{"--set", "image.pullPolicy=Sometimes"}, []string{"/image/pullPolicy", "Always", "IfNotPresent", "Never"}},
		"duration not a duration":  {[]string{"--set", "controller.progressDeadline=ten"}, []string{"/controller/progressDeadline", "'ten'"}},
		"grace not a duration":     {[]string{"--set", "controller.scaleToZeroGrace=30"}, []string{"/controller/scaleToZeroGrace"}},
		"domain not DNS":           {[]string{"--set", "domain=Not A Domain"}, []string{"/domain", "'Not A Domain'"}},
		"typo in controller":       {[]string{"--set", "controller.replicaz=2"}, []string{"/controller", "additional properties 'replicaz'"}},
		"typo at top level":        {[]string{"--set", "domian=example.org"}, []string{"additional properties 'domian'"}},
		"typo in resources":        {[]string{"--set", "controller.resources.requests.memroy=1Gi"}, []string{"/controller/resources/requests", "'memroy'"}},
		"bad quantity":             {[]string{"--set", "controller.resources.limits.memory=lots"}, []string{"/controller/resources/limits/memory"}},
		"log level word":           {[]string{"--set", "controller.logLevel=verbose"}, []string{"/controller/logLevel", "'verbose'"}},
		"log level zero":           {[]string{"--set", "controller.logLevel=0"}, []string{"/controller/logLevel", "minimum"}},
		"retain above 1000":        {[]string{"--set", "serving.retainRevisions=1001"}, []string{"/serving/retainRevisions", "maximum"}},
		"retain negative":          {[]string{"--set", "serving.retainRevisions=-1"}, []string{"/serving/retainRevisions", "minimum"}},
		"numeric image tag":        {[]string{"--set", "image.tag=2"}, []string{"/image/tag", "string"}},
		"registry with slash":      {[]string{"--set", "image.registry=ramp/"}, []string{"/image/registry"}},
		"digest without algorithm": {[]string{"--set", "image.digests.queue=abc123"}, []string{"/image/digests/queue"}},
		"digest of no image":       {[]string{"--set", "image.digests.sampleapp=sha256:" + strings.Repeat("a", 64)}, []string{"/image/digests", "'sampleapp'"}},
		"pull secret as string":    {[]string{"--set", "imagePullSecrets[0]=regcred"}, []string{"/imagePullSecrets/0", "object"}},
		"pdb not a bool":           {[]string{"--set", "controller.podDisruptionBudget=true"}, []string{"/controller/podDisruptionBudget", "object"}},
		"negative grace period":    {[]string{"--set", "controller.terminationGracePeriodSeconds=-1"}, []string{"/controller/terminationGracePeriodSeconds"}},
		"toleration typo":          {[]string{"--set", "controller.tolerations[0].efect=NoSchedule"}, []string{"/controller/tolerations/0", "'efect'"}},
		"affinity typo":            {[]string{"--set", "controller.affinity.podAntiAfinity.x=y"}, []string{"/controller/affinity", "'podAntiAfinity'"}},
		"extra arg not a flag":     {[]string{"--set", "controller.extraArgs[0]=leader-elect=false"}, []string{"/controller/extraArgs/0"}},
		"annotation not string":    {[]string{"--set", "controller.podAnnotations.a=1"}, []string{"/controller/podAnnotations/a", "string"}},
		"unknown Slack mode":       {[]string{"--set", "slack.mode=bogus"}, []string{"/slack/mode", "'off', 'http', 'socket'"}},
		"Slack http without secret or channel": {[]string{"--set", "slack.mode=http"},
			[]string{"/slack/existingSecret", "/slack/channel", "minLength"}},
		"Slack socket without channel": {[]string{"--set", "slack.mode=socket", "--set", "slack.existingSecret=ramp-slack"},
			[]string{"/slack/channel", "minLength"}},
		"Slack channel without #":                {[]string{"--set", "slack.channel=deploys"}, []string{"/slack/channel", "'deploys'"}},
		"Slack user with a comma":                {[]string{"--set-json", `slack.allowedUsers=["alice,bob"]`}, []string{"/slack/allowedUsers/0"}},
		"Slack users not a list":                 {[]string{"--set", "slack.allowedUsers=alice"}, []string{"/slack/allowedUsers", "array"}},
		"Slack secret not a name":                {[]string{"--set", "slack.existingSecret=Ramp_Slack"}, []string{"/slack/existingSecret"}},
		"Slack key empty":                        {[]string{"--set", "slack.keys.botToken="}, []string{"/slack/keys/botToken"}},
		"Slack key typo":                         {[]string{"--set", "slack.keys.botTokn=x"}, []string{"/slack/keys", "'botTokn'"}},
		"stable window too short":                {[]string{"--set", "autoscaler.stableWindow=2s"}, []string{"autoscaler.stableWindow 2s", "6s to 5m"}},
		"stable window too long":                 {[]string{"--set", "autoscaler.stableWindow=6m"}, []string{"autoscaler.stableWindow 6m", "6s to 5m"}},
		"stable window fractional":               {[]string{"--set", "autoscaler.stableWindow=7.5s"}, []string{"/autoscaler/stableWindow", "'7.5s'"}},
		"panic threshold too low":                {[]string{"--set", "autoscaler.panicThresholdPercentage=100"}, []string{"/autoscaler/panicThresholdPercentage", "minimum"}},
		"panic window above 100":                 {[]string{"--set", "autoscaler.panicWindowPercentage=101"}, []string{"/autoscaler/panicWindowPercentage", "maximum"}},
		"target percentage zero":                 {[]string{"--set", "autoscaler.containerConcurrencyTargetPercentage=0"}, []string{"/autoscaler/containerConcurrencyTargetPercentage", "minimum"}},
		"scale-down rate of 1":                   {[]string{"--set", "autoscaler.maxScaleDownRate=1"}, []string{"/autoscaler/maxScaleDownRate", "exclusiveMinimum"}},
		"grace period above an hour":             {[]string{"--set", "autoscaler.scaleToZeroGracePeriod=61m"}, []string{"autoscaler.scaleToZeroGracePeriod 61m", "0s to 1h"}},
		"grace period not a duration":            {[]string{"--set", "autoscaler.scaleToZeroGracePeriod=30"}, []string{"/autoscaler/scaleToZeroGracePeriod"}},
		"negative min scale":                     {[]string{"--set", "autoscaler.minScale=-1"}, []string{"/autoscaler/minScale", "minimum"}},
		"fractional max scale":                   {[]string{"--set", "autoscaler.maxScale=1.5"}, []string{"/autoscaler/maxScale", "integer"}},
		"min scale above max scale":              {[]string{"--set", "autoscaler.minScale=5", "--set", "autoscaler.maxScale=2"}, []string{"autoscaler.minScale 5 is above autoscaler.maxScale 2"}},
		"scale to zero not a bool":               {[]string{"--set-string", "autoscaler.enableScaleToZero=yes"}, []string{"/autoscaler/enableScaleToZero", "boolean"}},
		"typo in autoscaler":                     {[]string{"--set", "autoscaler.stableWindw=60s"}, []string{"/autoscaler", "'stableWindw'"}},
		"negative min requests":                  {[]string{"--set", "analysis.minRequests=-1"}, []string{"/analysis/minRequests", "minimum"}},
		"failure limit zero":                     {[]string{"--set", "analysis.failureLimit=0"}, []string{"/analysis/failureLimit", "minimum"}},
		"inconclusive limit zero":                {[]string{"--set", "analysis.inconclusiveLimit=0"}, []string{"/analysis/inconclusiveLimit", "minimum"}},
		"interval not a duration":                {[]string{"--set", "analysis.interval=10"}, []string{"/analysis/interval", "string"}},
		"interval below a second":                {[]string{"--set", "analysis.interval=500ms"}, []string{"analysis.interval 500ms: must be at least 1s"}},
		"window below the interval":              {[]string{"--set", "analysis.window=2s"}, []string{"analysis.window 2s: must be at least analysis.interval (5s)"}},
		"min step above max step":                {[]string{"--set", "analysis.minStepTime=11m"}, []string{"analysis.minStepTime 11m: must not be above analysis.maxStepTime (10m)"}},
		"max step beyond retention":              {[]string{"--set", "analysis.maxStepTime=20m"}, []string{"analysis.maxStepTime 20m: must be positive and at most 15m"}},
		"alpha out of range":                     {[]string{"--set", "analysis.alpha=0.7"}, []string{"/analysis/alpha"}},
		"unknown timeout policy":                 {[]string{"--set", "analysis.onTimeout=ignore"}, []string{"/analysis/onTimeout"}},
		"Prometheus URL without scheme":          {[]string{"--set", "analysis.prometheus.url=prometheus:9090"}, []string{"/analysis/prometheus/url", "'prometheus:9090'"}},
		"a CloudEvents sink that is not http(s)": {[]string{"--set", "cloudEvents.sinks={ftp://broker}"}, []string{"/cloudEvents/sinks/0", "'ftp://broker'"}},
		"a CloudEvents queue of 0":               {[]string{"--set", "cloudEvents.queueSize=0"}, []string{"/cloudEvents/queueSize"}},
		"Prometheus not an object":               {[]string{"--set", "analysis.prometheus=http://p:9090"}, []string{"/analysis/prometheus", "object"}},
		"Prometheus interval in Go form":         {[]string{"--set", "metrics.serviceMonitor.interval=1.5s"}, []string{"/metrics/serviceMonitor/interval", "'1.5s'"}},
		"monitor toggle not a bool":              {[]string{"--set-string", "metrics.podMonitor.enabled=yes"}, []string{"/metrics/podMonitor/enabled", "boolean"}},
		"monitor label value bad":                {[]string{"--set", "metrics.serviceMonitor.labels.release=kube prometheus"}, []string{"/metrics/serviceMonitor/labels/release"}},
		"monitor label key bad":                  {[]string{"--set", "metrics.podMonitor.labels.a=b", "--set", "metrics.podMonitor.labels.-x=b"}, []string{"/metrics/podMonitor/labels", "'-x'"}},
		"typo in metrics":                        {[]string{"--set", "metrics.serviceMonitors.enabled=true"}, []string{"/metrics", "'serviceMonitors'"}},
		"dashboard label key bad":                {[]string{"--set", "grafana.dashboard.labelKey=grafana dashboard"}, []string{"/grafana/dashboard/labelKey"}},
		"dashboard label value number":           {[]string{"--set", "grafana.dashboard.labelValue=1"}, []string{"/grafana/dashboard/labelValue", "string"}},
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
		"numeric log level":       {"--set", "controller.logLevel=3"},
		"numeric log level text":  {"--set-string", "controller.logLevel=3"},
		"compound duration":       {"--set", "controller.progressDeadline=1h2m3.5s"},
		"microseconds":            {"--set", "controller.scaleToZeroGrace=1500µs"},
		"registry with port":      {"--set", "image.registry=localhost:5000/ramp"},
		"numeric tag as string":   {"--set-string", "image.tag=2"},
		"a digest":                {"--set", "image.digests.controller=sha256:" + strings.Repeat("0", 64)},
		"retain none":             {"--set", "serving.retainRevisions=0"},
		"quantity as number":      {"--set", "controller.resources.limits.cpu=2"},
		"Slack off as YAML false": {"--set", "slack.mode=false"},
		"Slack channel ID": {"--set", "slack.mode=socket", "--set", "slack.existingSecret=ramp-slack",
			"--set", "slack.channel=G01ABCDEFGH"},
		"Slack secret needs nothing with Slack off": {"--set", "slack.channel=#deploys"},
		"shortest stable window":                    {"--set", "autoscaler.stableWindow=6s"},
		"longest stable window":                     {"--set", "autoscaler.stableWindow=5m"},
		"stable window in seconds":                  {"--set", "autoscaler.stableWindow=300s"},
		"stable window m and s":                     {"--set", "autoscaler.stableWindow=4m59s"},
		"no grace period":                           {"--set", "autoscaler.scaleToZeroGracePeriod=0s"},
		"grace period of an hour":                   {"--set", "autoscaler.scaleToZeroGracePeriod=1h"},
		"fractional percentages":                    {"--set-json", "autoscaler.panicWindowPercentage=2.5", "--set-json", "autoscaler.containerConcurrencyTargetDefault=0.5"},
		"min scale, unbounded max":                  {"--set", "autoscaler.minScale=5", "--set", "autoscaler.maxScale=0"},
		"window equal to interval":                  {"--set", "analysis.interval=1m", "--set", "analysis.window=60s"},
		"no minimum of requests":                    {"--set", "analysis.minRequests=0"},
		"HTTPS Prometheus with a path":              {"--set", "analysis.prometheus.url=https://thanos.example.org/prometheus"},
		"monitor interval in minutes":               {"--set", "metrics.podMonitor.interval=2m"},
		"prefixed monitor label":                    {"--set", "metrics.serviceMonitor.labels.prometheus\\.example\\.org/scrape=yes"},
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
		{"lint", "--strict", "charts/ramp", "--values", "test/chart/testdata/slack-socket-values.yaml"},
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
		"analysis.prometheus.insecureSkipVerify": "it conflicts with auth.keys.ca; TestPrometheusAuth renders it",
		"analysis.prometheus.auth.username":      "basic auth conflicts with the bearer token; TestPrometheusAuth renders it",
		"analysis.prometheus.auth.keys.password": "basic auth conflicts with the bearer token; TestPrometheusAuth renders it",
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
