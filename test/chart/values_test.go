package chart

import (
	"fmt"
	"slices"
	"testing"
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
			want := []string{"--leader-elect=true", "--queue-image=ramp/queue:dev", "--progress-deadline=10m",
				"--scale-to-zero-grace=30s", "--zap-log-level=info", "--gateway-service=ramp-system/ramp-gateway"}
			if got := controllerArgs(t, docs); !slices.Equal(got, want) {
				t.Errorf("args = %q, want %q", got, want)
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
		"a config change rolls the controller": {[]string{"--set", "serving.retainRevisions=7"},
			func(t *testing.T, docs []doc) {
				if checksum(t, docs) == defaultChecksum(t) {
					t.Error("checksum/config did not change with ramp-config")
				}
				cm := ofKind(docs, "ConfigMap")
				if len(cm) != 1 || str(cm[0].obj, "data", "gc.retain-revisions") != "7" {
					t.Errorf("ramp-config = %v, want gc.retain-revisions \"7\"", cm)
				}
			}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) { tc.check(t, render(t, tc.args...)) })
	}
}
