package chart

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

func controllerDeployment(t *testing.T, docs []doc) map[string]any {
	t.Helper()
	for _, d := range ofKind(docs, "Deployment") {
		if d.name() == "ramp-controller" {
			return d.obj
		}
	}
	t.Fatal("no Deployment ramp-controller rendered")
	return nil
}

func podSpec(t *testing.T, docs []doc) map[string]any {
	t.Helper()
	spec, _ := get(controllerDeployment(t, docs), "spec", "template", "spec").(map[string]any)
	return spec
}

func controllerArgs(t *testing.T, docs []doc) []string {
	t.Helper()
	return strList(list(podSpec(t, docs), "containers")[0], "args")
}

func controllerContainer(t *testing.T, docs []doc) corev1.Container {
	t.Helper()
	for _, d := range ofKind(docs, "Deployment") {
		if d.name() == "ramp-controller" {
			return decode[appsv1.Deployment](t, d).Spec.Template.Spec.Containers[0]
		}
	}
	t.Fatal("no Deployment ramp-controller rendered")
	return corev1.Container{}
}

func envNames(t *testing.T, docs []doc) []string {
	var out []string
	for _, e := range controllerContainer(t, docs).Env {
		out = append(out, e.Name)
	}
	return out
}

func portNames(t *testing.T, docs []doc) []string {
	var out []string
	for _, p := range controllerContainer(t, docs).Ports {
		out = append(out, p.Name)
	}
	return out
}

func serviceNames(docs []doc) []string {
	var out []string
	for _, d := range ofKind(docs, "Service") {
		out = append(out, d.name())
	}
	return out
}

// checkSlackEnv compares the Slack variables with want: name ->
// "secret/key", plus " optional" for an optional key.
func checkSlackEnv(t *testing.T, docs []doc, want map[string]string) {
	t.Helper()
	got := map[string]string{}
	for _, e := range controllerContainer(t, docs).Env {
		if !strings.HasPrefix(e.Name, "SLACK_") {
			continue
		}
		ref := e.ValueFrom.SecretKeyRef
		if ref == nil {
			t.Errorf("%s does not come from a Secret", e.Name)
			continue
		}
		got[e.Name] = ref.Name + "/" + ref.Key
		if ref.Optional != nil && *ref.Optional {
			got[e.Name] += " optional"
		}
	}
	if !maps.Equal(got, want) {
		t.Errorf("Slack env = %v, want %v", got, want)
	}
}

func checksum(t *testing.T, docs []doc) string {
	t.Helper()
	return str(controllerDeployment(t, docs), "spec", "template", "metadata", "annotations", "checksum/config")
}

// What each value does to the rendered objects.
func TestValuesShapeTheRendering(t *testing.T) {
	defaultChecksum := func(t *testing.T) string { return checksum(t, render(t)) }
	tests := map[string]struct {
		args  []string
		check func(t *testing.T, docs []doc)
	}{
		"defaults: one replica, no PodDisruptionBudget, spread over nodes": {nil, func(t *testing.T, docs []doc) {
			if n := len(ofKind(docs, "PodDisruptionBudget")); n != 0 {
				t.Errorf("%d PodDisruptionBudgets with one replica, want none (it would block drains)", n)
			}
			tsc := list(podSpec(t, docs), "topologySpreadConstraints")
			if len(tsc) != 1 || str(tsc[0], "topologyKey") != "kubernetes.io/hostname" ||
				str(tsc[0], "whenUnsatisfiable") != "ScheduleAnyway" ||
				str(tsc[0], "labelSelector", "matchLabels", "app.kubernetes.io/component") != "controller" {
				t.Errorf("topologySpreadConstraints = %v", tsc)
			}
			if got := fmt.Sprint(get(podSpec(t, docs), "terminationGracePeriodSeconds")); got != "30" {
				t.Errorf("terminationGracePeriodSeconds = %s, want 30", got)
			}
			for _, f := range []string{"imagePullSecrets", "nodeSelector", "tolerations", "affinity"} {
				if v := get(podSpec(t, docs), f); v != nil {
					t.Errorf("%s = %v, want it absent", f, v)
				}
			}
			want := []string{"--leader-elect=true", "--max-concurrent-reconciles=4", "--queue-image=ghcr.io/rampdev/queue:0.1.0", "--progress-deadline=10m",
				"--scale-to-zero-grace=30s", "--zap-log-level=info", "--gateway-service=ramp-system/ramp-gateway",
				"--gateway-token-file=/var/run/secrets/ramp.dev/gateway/token",
				"--analysis-interval=5s", "--analysis-window=1m", "--analysis-alpha=0.01", "--analysis-beta=0.05",
				"--analysis-min-step-time=30s", "--analysis-max-step-time=10m", "--analysis-on-timeout=rollback", "--analysis-min-requests=50",
				"--analysis-failure-limit=2", "--analysis-inconclusive-limit=12",
				"--webhook-service=ramp-webhook", "--webhook-secret=ramp-webhook-cert", "--webhook-configuration=ramp-validation", "--slack-mode=off"}
			if got := controllerArgs(t, docs); !slices.Equal(got, want) {
				t.Errorf("args = %q, want %q", got, want)
			}
			if env := envNames(t, docs); !slices.Equal(env, []string{"POD_IP", "POD_NAMESPACE", "POD_NAME"}) {
				t.Errorf("env = %q, want POD_IP, POD_NAMESPACE and POD_NAME only (no Slack secrets)", env)
			}
			if got := portNames(t, docs); !slices.Equal(got, []string{"metrics", "health", "autoscaler", "webhook"}) {
				t.Errorf("ports = %q, want metrics, health, autoscaler, webhook", got)
			}
			if slices.Contains(serviceNames(docs), "ramp-slack") {
				t.Error("Service ramp-slack rendered with Slack off")
			}
		}},
		"Slack in http mode: tokens and signing secret, endpoints Service": {fullValues, func(t *testing.T, docs []doc) {
			args := controllerArgs(t, docs)
			for _, a := range []string{"--slack-mode=http", "--slack-channel=#deploys", "--slack-allowed-users=U012AB3CD,alice"} {
				if !slices.Contains(args, a) {
					t.Errorf("args = %q, want %s", args, a)
				}
			}
			checkSlackEnv(t, docs, map[string]string{
				"SLACK_BOT_TOKEN": "ramp-slack-tokens/slack-bot-token", "SLACK_SIGNING_SECRET": "ramp-slack-tokens/slack-signing-secret",
				"SLACK_APP_TOKEN": "ramp-slack-tokens/slack-app-token optional",
			})
			if !slices.Contains(portNames(t, docs), "slack") || !slices.Contains(serviceNames(docs), "ramp-slack") {
				t.Errorf("ports %q, Services %q: want port slack and Service ramp-slack", portNames(t, docs), serviceNames(docs))
			}
		}},
		"Slack in socket mode: no signing secret, nothing to expose": {valueSets["slack-socket"], func(t *testing.T, docs []doc) {
			args := controllerArgs(t, docs)
			for _, a := range []string{"--slack-mode=socket", "--slack-channel=C0123ABCDE"} {
				if !slices.Contains(args, a) {
					t.Errorf("args = %q, want %s", args, a)
				}
			}
			if slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, "--slack-allowed-users") }) {
				t.Errorf("args = %q, want no --slack-allowed-users when the list is empty", args)
			}
			checkSlackEnv(t, docs, map[string]string{
				"SLACK_BOT_TOKEN": "ramp-slack/bot-token", "SLACK_APP_TOKEN": "ramp-slack/app-token optional",
			})
			if slices.Contains(portNames(t, docs), "slack") || slices.Contains(serviceNames(docs), "ramp-slack") {
				t.Errorf("ports %q, Services %q: want no Slack endpoint in socket mode", portNames(t, docs), serviceNames(docs))
			}
		}},
		"a bare YAML off (false) is Slack off": {[]string{"--set", "slack.mode=false"}, func(t *testing.T, docs []doc) {
			if args := controllerArgs(t, docs); !slices.Contains(args, "--slack-mode=off") {
				t.Errorf("args = %q, want --slack-mode=off", args)
			}
		}},
		"Prometheus URL and analysis defaults": {fullValues, func(t *testing.T, docs []doc) {
			args := controllerArgs(t, docs)
			for _, a := range []string{"--prometheus-url=https://prometheus-operated.monitoring:9090", "--analysis-interval=30s",
				"--analysis-alpha=0.02", "--analysis-beta=0.1", "--analysis-min-step-time=1m", "--analysis-max-step-time=12m", "--analysis-on-timeout=pause",
				"--analysis-window=5m", "--analysis-min-requests=200", "--analysis-failure-limit=3", "--analysis-inconclusive-limit=20"} {
				if !slices.Contains(args, a) {
					t.Errorf("args = %q, want %s", args, a)
				}
			}
		}},
		"CloudEvents sinks": {fullValues, func(t *testing.T, docs []doc) {
			args := controllerArgs(t, docs)
			for _, a := range []string{"--cloudevents-sink=http://broker-ingress.knative-eventing.svc.cluster.local/shop/default",
				"--cloudevents-sink=https://events.example.com/ramp", "--cloudevents-queue-size=500", "--cloudevents-max-attempts=3"} {
				if !slices.Contains(args, a) {
					t.Errorf("args = %q, want %s", args, a)
				}
			}
		}},
		"integers print as integers": {[]string{"--set-json", "analysis.minRequests=1000000"}, func(t *testing.T, docs []doc) {
			if args := controllerArgs(t, docs); !slices.Contains(args, "--analysis-min-requests=1000000") {
				t.Errorf("args = %q, want --analysis-min-requests=1000000", args)
			}
		}},
		"gateway off: no gateway metrics Service, no --gateway-service": {[]string{"--set", "gateway.enabled=false"},
			func(t *testing.T, docs []doc) {
				svcs := serviceNames(docs)
				if slices.Contains(svcs, "ramp-gateway-metrics") || slices.Contains(svcs, "ramp-gateway") {
					t.Errorf("Services %q with the gateway off", svcs)
				}
				if !slices.Contains(svcs, "ramp-autoscaler") || !slices.Contains(svcs, "ramp-controller-metrics") {
					t.Errorf("Services %q, want ramp-autoscaler and ramp-controller-metrics", svcs)
				}
				if args := controllerArgs(t, docs); slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, "--gateway-service") }) {
					t.Errorf("args = %q, want no --gateway-service", args)
				}
			}},
		"two replicas get a PodDisruptionBudget selecting the controller's pods": {
			[]string{"--set", "controller.replicas=2"}, func(t *testing.T, docs []doc) {
				pdbs := ofKind(docs, "PodDisruptionBudget")
				if len(pdbs) != 1 {
					t.Fatalf("%d PodDisruptionBudgets, want 1", len(pdbs))
				}
				if got := fmt.Sprint(get(pdbs[0].obj, "spec", "minAvailable")); got != "1" {
					t.Errorf("minAvailable = %s, want 1", got)
				}
				podLabels, _ := get(controllerDeployment(t, docs), "spec", "template", "metadata", "labels").(map[string]any)
				sel, _ := get(pdbs[0].obj, "spec", "selector", "matchLabels").(map[string]any)
				if len(sel) == 0 {
					t.Fatal("PodDisruptionBudget has no matchLabels")
				}
				for k, v := range sel {
					if podLabels[k] != v {
						t.Errorf("selector %s=%v does not match the pod labels %v", k, v, podLabels)
					}
				}
			}},
		"podDisruptionBudget.enabled=false renders none": {
			[]string{"--set", "controller.replicas=2", "--set", "controller.podDisruptionBudget.enabled=false"},
			func(t *testing.T, docs []doc) {
				if n := len(ofKind(docs, "PodDisruptionBudget")); n != 0 {
					t.Errorf("%d PodDisruptionBudgets, want none", n)
				}
			}},
		"topologySpread=false renders no constraints": {[]string{"--set", "controller.topologySpread=false"},
			func(t *testing.T, docs []doc) {
				if v := get(podSpec(t, docs), "topologySpreadConstraints"); v != nil {
					t.Errorf("topologySpreadConstraints = %v, want none", v)
				}
			}},
		"leaderElection=false with one replica": {[]string{"--set", "controller.leaderElection=false"},
			func(t *testing.T, docs []doc) {
				if args := controllerArgs(t, docs); !slices.Contains(args, "--leader-elect=false") {
					t.Errorf("args = %q, want --leader-elect=false", args)
				}
			}},
		"extraArgs come after the chart's flags, so they win": {
			[]string{"--set", "controller.extraArgs={--zap-log-level=debug,--gateway-service=ramp-system/gw}"},
			func(t *testing.T, docs []doc) {
				args := controllerArgs(t, docs)
				if len(args) < 2 || !slices.Equal(args[len(args)-2:], []string{"--zap-log-level=debug", "--gateway-service=ramp-system/gw"}) {
					t.Errorf("args = %q, want the extra args last", args)
				}
			}},
		"numeric log level": {[]string{"--set", "controller.logLevel=3"}, func(t *testing.T, docs []doc) {
			if args := controllerArgs(t, docs); !slices.Contains(args, "--zap-log-level=3") {
				t.Errorf("args = %q, want --zap-log-level=3", args)
			}
		}},
		"podAnnotations cannot replace the config checksum": {
			[]string{"--set", "controller.podAnnotations.checksum/config=stale", "--set", "controller.podAnnotations.team=serving"},
			func(t *testing.T, docs []doc) {
				if got, want := checksum(t, docs), defaultChecksum(t); got != want {
					t.Errorf("checksum/config = %q, want the ConfigMap's %q", got, want)
				}
				ann := get(controllerDeployment(t, docs), "spec", "template", "metadata", "annotations", "team")
				if ann != "serving" {
					t.Errorf("annotation team = %v, want serving", ann)
				}
			}},
		"an autoscaler change does not roll the controller, which watches it": {[]string{"--set", "autoscaler.stableWindow=90s"},
			func(t *testing.T, docs []doc) {
				if checksum(t, docs) != defaultChecksum(t) {
					t.Error("checksum/config changed with ramp-autoscaler")
				}
				if cm := named(t, docs, "ConfigMap", "ramp-autoscaler"); str(cm.obj, "data", "stable-window") != "90s" {
					t.Errorf("ramp-autoscaler = %v, want stable-window \"90s\"", cm.obj)
				}
			}},
		"a config change rolls the controller": {[]string{"--set", "serving.retainRevisions=7"},
			func(t *testing.T, docs []doc) {
				if checksum(t, docs) == defaultChecksum(t) {
					t.Error("checksum/config did not change with ramp-config")
				}
				if cm := named(t, docs, "ConfigMap", "ramp-config"); str(cm.obj, "data", "gc.retain-revisions") != "7" {
					t.Errorf("ramp-config = %v, want gc.retain-revisions \"7\"", cm.obj)
				}
			}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) { tc.check(t, render(t, tc.args...)) })
	}
}
