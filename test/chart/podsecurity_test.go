package chart

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// podSpecPaths is where each workload kind keeps its pod spec.
var podSpecPaths = map[string][]string{
	"Deployment":  {"spec", "template", "spec"},
	"StatefulSet": {"spec", "template", "spec"},
	"DaemonSet":   {"spec", "template", "spec"},
	"ReplicaSet":  {"spec", "template", "spec"},
	"Job":         {"spec", "template", "spec"},
	"CronJob":     {"spec", "jobTemplate", "spec", "template", "spec"},
	"Pod":         {"spec"},
}

// Volume types the restricted profile allows.
var restrictedVolumes = []string{
	"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret",
}

// auditPodSecurity checks each workload's pod spec against the "restricted"
// Pod Security Standard, with the chart's fixed non-root identity 65532.
func auditPodSecurity(docs []doc) (problems []string, workloads int) {
	for _, d := range docs {
		path, ok := podSpecPaths[d.kind()]
		if !ok {
			continue
		}
		workloads++
		spec, _ := get(d.obj, path...).(map[string]any)
		bad := func(format string, args ...any) {
			problems = append(problems, d.id()+": "+fmt.Sprintf(format, args...))
		}
		want := map[string]string{
			"runAsNonRoot": "true", "runAsUser": "65532", "runAsGroup": "65532", "fsGroup": "65532",
		}
		for field, v := range want {
			if got := fmt.Sprint(get(spec, "securityContext", field)); got != v {
				bad("pod securityContext.%s is %s, want %s", field, got, v)
			}
		}
		if got := str(spec, "securityContext", "seccompProfile", "type"); got != "RuntimeDefault" {
			bad("pod securityContext.seccompProfile.type is %q, want RuntimeDefault", got)
		}
		for _, host := range []string{"hostNetwork", "hostPID", "hostIPC"} {
			if get(spec, host) == true {
				bad("%s is true", host)
			}
		}
		for _, v := range list(spec, "volumes") {
			for k := range v.(map[string]any) {
				if k != "name" && !slices.Contains(restrictedVolumes, k) {
					bad("volume %s is of type %s", str(v, "name"), k)
				}
			}
		}
		var containers []any
		for _, field := range []string{"initContainers", "containers", "ephemeralContainers"} {
			containers = append(containers, list(spec, field)...)
		}
		if len(containers) == 0 {
			bad("no containers")
		}
		for _, c := range containers {
			for _, p := range auditContainer(c) {
				bad("container %s: %s", str(c, "name"), p)
			}
		}
	}
	return problems, workloads
}

func auditContainer(c any) (problems []string) {
	sc := get(c, "securityContext")
	if get(sc, "allowPrivilegeEscalation") != false {
		problems = append(problems, fmt.Sprintf("allowPrivilegeEscalation is %v, want false", get(sc, "allowPrivilegeEscalation")))
	}
	if get(sc, "readOnlyRootFilesystem") != true {
		problems = append(problems, fmt.Sprintf("readOnlyRootFilesystem is %v, want true", get(sc, "readOnlyRootFilesystem")))
	}
	if drop := strList(sc, "capabilities", "drop"); !slices.Contains(drop, "ALL") {
		problems = append(problems, fmt.Sprintf("capabilities.drop is %v, want ALL", drop))
	}
	for _, add := range strList(sc, "capabilities", "add") {
		if add != "NET_BIND_SERVICE" {
			problems = append(problems, "adds capability "+add)
		}
	}
	if get(sc, "privileged") == true {
		problems = append(problems, "privileged")
	}
	if get(sc, "runAsNonRoot") == false || fmt.Sprint(get(sc, "runAsUser")) == "0" {
		problems = append(problems, "runs as root")
	}
	if t := str(sc, "seccompProfile", "type"); t != "" && t != "RuntimeDefault" && t != "Localhost" {
		problems = append(problems, "seccompProfile "+t)
	}
	for _, p := range list(c, "ports") {
		if get(p, "hostPort") != nil {
			problems = append(problems, fmt.Sprintf("hostPort %v", get(p, "hostPort")))
		}
	}
	return problems
}

func TestWorkloadsMeetRestrictedPodSecurity(t *testing.T) {
	for name, args := range valueSets {
		t.Run(name, func(t *testing.T) {
			problems, workloads := auditPodSecurity(render(t, args...))
			if len(ofKind(render(t, args...), "Deployment")) == 0 || workloads == 0 {
				t.Fatal("no Deployment rendered")
			}
			for _, p := range problems {
				t.Error(p)
			}
		})
	}
}

// The audit catches each departure from the profile.
func TestPodSecurityAuditCatches(t *testing.T) {
	const good = `kind: Deployment
metadata: {name: d}
spec:
  template:
    spec:
      securityContext: {runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532, fsGroup: 65532, seccompProfile: {type: RuntimeDefault}}
      volumes: [{name: tmp, emptyDir: {}}]
      containers:
      - name: c
        ports: [{containerPort: 80}]
        securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL], add: [NET_BIND_SERVICE]}}
`
	tests := map[string]struct {
		old, new, want string
	}{
		"root user":          {"runAsUser: 65532", "runAsUser: 0", "runAsUser is 0"},
		"no runAsNonRoot":    {"runAsNonRoot: true, ", "", "runAsNonRoot is <nil>"},
		"other group":        {"runAsGroup: 65532", "runAsGroup: 1000", "runAsGroup is 1000"},
		"no fsGroup":         {", fsGroup: 65532", "", "fsGroup is <nil>"},
		"unconfined seccomp": {"type: RuntimeDefault", "type: Unconfined", "seccompProfile.type"},
		"host network":       {"securityContext: {runAsNonRoot", "hostNetwork: true\n      securityContext: {runAsNonRoot", "hostNetwork is true"},
		"hostPath volume":    {"emptyDir: {}", "hostPath: {path: /}", "type hostPath"},
		"escalation allowed": {"allowPrivilegeEscalation: false", "allowPrivilegeEscalation: true", "container c: allowPrivilegeEscalation"},
		"escalation unset":   {"allowPrivilegeEscalation: false, ", "", "allowPrivilegeEscalation is <nil>"},
		"writable root":      {"readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false", "readOnlyRootFilesystem"},
		"drops less":         {"drop: [ALL]", "drop: [NET_RAW]", "capabilities.drop"},
		"adds SYS_ADMIN":     {"add: [NET_BIND_SERVICE]", "add: [SYS_ADMIN]", "adds capability SYS_ADMIN"},
		"privileged":         {"readOnlyRootFilesystem: true,", "readOnlyRootFilesystem: true, privileged: true,", "privileged"},
		"hostPort":           {"containerPort: 80", "containerPort: 80, hostPort: 80", "hostPort 80"},
		"init container":     {"      containers:", "      initContainers: [{name: init}]\n      containers:", "container init:"},
	}
	if problems, n := auditPodSecurity(splitDocs(t, good)); len(problems) > 0 || n != 1 {
		t.Fatalf("the compliant Deployment: %d workloads, problems %q", n, problems)
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if !strings.Contains(good, tc.old) {
				t.Fatalf("test bug: %q is not in the compliant Deployment", tc.old)
			}
			problems, _ := auditPodSecurity(splitDocs(t, strings.Replace(good, tc.old, tc.new, 1)))
			if !strings.Contains(strings.Join(problems, "\n"), tc.want) {
				t.Errorf("audit found %q, want a problem containing %q", problems, tc.want)
			}
		})
	}
}

// Local mode exposes the gateway on the node's 127.0.0.1:8080 with a
// hostPort: the one documented departure from the restricted profile, and
// only when asked for.
func TestLocalModeHostPort(t *testing.T) {
	docs := render(t, "--set", "gateway.hostPort=8080")
	problems, _ := auditPodSecurity(docs)
	if len(problems) != 1 || !strings.Contains(problems[0], "Deployment/ramp-gateway") || !strings.Contains(problems[0], "hostPort 8080") {
		t.Fatalf("problems %v, want exactly the gateway's hostPort 8080", problems)
	}
}
