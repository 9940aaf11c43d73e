package chart

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
)

// expectedPermissions is everything the chart grants, as
// "<scope> <apiGroup>/<resource>:<verb>" (scope "cluster" for a ClusterRole,
// "namespace" for a Role; apiGroup "core" for ""). A new permission must be
// added here deliberately, in the same change as the marker or template
// that grants it.
var expectedPermissions = []string{
	"cluster apps/deployments:create", "cluster apps/deployments:delete", "cluster apps/deployments:get",
	"cluster apps/deployments:list", "cluster apps/deployments:patch", "cluster apps/deployments:update",
	"cluster apps/deployments:watch",
	"cluster core/configmaps:get", "cluster core/configmaps:list", "cluster core/configmaps:watch",
	"cluster events.k8s.io/events:create", "cluster events.k8s.io/events:patch",
	"cluster core/pods:get", "cluster core/pods:list", "cluster core/pods:watch",
	"cluster core/services:create", "cluster core/services:delete", "cluster core/services:get",
	"cluster core/services:list", "cluster core/services:patch", "cluster core/services:update",
	"cluster core/services:watch",
	"cluster discovery.k8s.io/endpointslices:get", "cluster discovery.k8s.io/endpointslices:list",
	"cluster discovery.k8s.io/endpointslices:watch",
	"cluster serving.ramp.dev/configurations:create", "cluster serving.ramp.dev/configurations:delete",
	"cluster serving.ramp.dev/configurations:get", "cluster serving.ramp.dev/configurations:list",
	"cluster serving.ramp.dev/configurations:patch", "cluster serving.ramp.dev/configurations:update",
	"cluster serving.ramp.dev/configurations:watch",
	"cluster serving.ramp.dev/configurations/status:get", "cluster serving.ramp.dev/configurations/status:patch",
	"cluster serving.ramp.dev/configurations/status:update",
	"cluster serving.ramp.dev/revisions:create", "cluster serving.ramp.dev/revisions:delete",
	"cluster serving.ramp.dev/revisions:get", "cluster serving.ramp.dev/revisions:list",
	"cluster serving.ramp.dev/revisions:watch",
	"cluster serving.ramp.dev/revisions/status:get", "cluster serving.ramp.dev/revisions/status:patch",
	"cluster serving.ramp.dev/revisions/status:update",
	"cluster serving.ramp.dev/routes:create", "cluster serving.ramp.dev/routes:delete",
	"cluster serving.ramp.dev/routes:get", "cluster serving.ramp.dev/routes:list",
	"cluster serving.ramp.dev/routes:patch", "cluster serving.ramp.dev/routes:update",
	"cluster serving.ramp.dev/routes:watch",
	"cluster serving.ramp.dev/routes/status:get", "cluster serving.ramp.dev/routes/status:patch",
	"cluster serving.ramp.dev/routes/status:update",
	"cluster rollouts.ramp.dev/rollouts:get", "cluster rollouts.ramp.dev/rollouts:list",
	"cluster rollouts.ramp.dev/rollouts:watch",
	"cluster rollouts.ramp.dev/rollouts/status:get", "cluster rollouts.ramp.dev/rollouts/status:patch",
	"cluster rollouts.ramp.dev/rollouts/status:update",
	"cluster rollouts.ramp.dev/analysistemplates:get", "cluster rollouts.ramp.dev/analysistemplates:list",
	"cluster rollouts.ramp.dev/analysistemplates:watch",
	"cluster rollouts.ramp.dev/clusteranalysistemplates:get", "cluster rollouts.ramp.dev/clusteranalysistemplates:list",
	"cluster rollouts.ramp.dev/clusteranalysistemplates:watch",

	"cluster serving.ramp.dev/services:create", "cluster serving.ramp.dev/services:get",
	"cluster serving.ramp.dev/services:list", "cluster serving.ramp.dev/services:patch",
	"cluster serving.ramp.dev/services:update", "cluster serving.ramp.dev/services:watch",
	"cluster serving.ramp.dev/services/status:get", "cluster serving.ramp.dev/services/status:patch",
	"cluster serving.ramp.dev/services/status:update",
	"namespace coordination.k8s.io/leases:create", "namespace coordination.k8s.io/leases:delete",
	"namespace coordination.k8s.io/leases:get", "namespace coordination.k8s.io/leases:list",
	"namespace coordination.k8s.io/leases:patch", "namespace coordination.k8s.io/leases:update",
	"namespace coordination.k8s.io/leases:watch",
	"namespace core/events:create", "namespace core/events:patch",
	"namespace events.k8s.io/events:create", "namespace events.k8s.io/events:patch",
	// The internal APIs' authentication (docs/security.md): the controller
	// and the gateway review their callers' tokens and access; the gateway
	// may activate revisions, the controller read gateway hashes, and
	// ramp-telemetry read telemetry. Who may mint ramp-telemetry's tokens
	// the chart leaves to the cluster admin (an unbound Role).
	"cluster authentication.k8s.io/tokenreviews:create", "cluster authorization.k8s.io/subjectaccessreviews:create",
	"cluster serving.ramp.dev/revisions/activate:create", "cluster serving.ramp.dev/routes/hashes:list",
	"cluster serving.ramp.dev/revisions/telemetry:get", "cluster serving.ramp.dev/revisions/telemetry:list",
	"namespace core/serviceaccounts/token[ramp-telemetry]:create",
}

// webhookPermissions are granted with webhook.enabled: the webhook's
// certificate (Secret ramp-webhook-cert) and its CA in the webhook
// configuration; create cannot be limited to a name.
var webhookPermissions = []string{
	"cluster admissionregistration.k8s.io/validatingwebhookconfigurations[ramp-validation]:get",
	"cluster admissionregistration.k8s.io/validatingwebhookconfigurations[ramp-validation]:patch",
	"namespace core/secrets:create",
	"namespace core/secrets[ramp-webhook-cert]:get", "namespace core/secrets[ramp-webhook-cert]:update",
}

var forbiddenVerbs = map[string]bool{"escalate": true, "bind": true, "impersonate": true}

// auditRBAC returns the chart's RBAC problems and its flattened permissions.
func auditRBAC(docs []doc) (problems, perms []string) {
	roles := map[string]bool{}
	for _, d := range ofKind(docs, "ClusterRole", "Role") {
		roles[d.kind()+"/"+d.name()] = true
		scope := "namespace"
		if d.kind() == "ClusterRole" {
			scope = "cluster"
			if get(d.obj, "aggregationRule") != nil {
				problems = append(problems, d.id()+": aggregationRule grants whatever matching roles grant")
			}
		}
		for i, r := range list(d.obj, "rules") {
			at := fmt.Sprintf("%s rule %d", d.id(), i)
			groups, resources, verbs := strList(r, "apiGroups"), strList(r, "resources"), strList(r, "verbs")
			names := strList(r, "resourceNames")
			if urls := strList(r, "nonResourceURLs"); len(urls) > 0 {
				problems = append(problems, fmt.Sprintf("%s: nonResourceURLs %v", at, urls))
			}
			for field, vals := range map[string][]string{"apiGroups": groups, "resources": resources, "verbs": verbs} {
				for _, v := range vals {
					if strings.Contains(v, "*") {
						problems = append(problems, fmt.Sprintf("%s: wildcard %q in %s", at, v, field))
					}
				}
			}
			for _, v := range verbs {
				if forbiddenVerbs[v] {
					problems = append(problems, fmt.Sprintf("%s: verb %q", at, v))
				}
			}
			suffix := ""
			if len(names) > 0 {
				suffix = "[" + strings.Join(names, ",") + "]"
			}
			for _, g := range groups {
				for _, res := range resources {
					// analysis.secretArgs grants exactly get on Secrets, in
					// a role of its own.
					secretArgs := d.name() == "ramp-controller-secret-args" && slices.Equal(verbs, []string{"get"})
					if scope == "cluster" && g == "" && res == "secrets" && len(names) == 0 && !secretArgs {
						problems = append(problems, at+": secrets cluster-wide; name them in resourceNames or use a namespaced Role")
					}
					if g == "" {
						g = "core"
					}
					for _, v := range verbs {
						perms = append(perms, fmt.Sprintf("%s %s/%s%s:%s", scope, g, res, suffix, v))
					}
				}
			}
		}
	}
	ownSAs := map[string]bool{}
	for _, d := range ofKind(docs, "ServiceAccount") {
		ownSAs[str(d.obj, "metadata", "namespace")+"/"+d.name()] = true
	}
	for _, d := range ofKind(docs, "ClusterRoleBinding", "RoleBinding") {
		ref := str(d.obj, "roleRef", "kind") + "/" + str(d.obj, "roleRef", "name")
		if str(d.obj, "roleRef", "name") == "cluster-admin" {
			problems = append(problems, d.id()+": binds cluster-admin")
		} else if !roles[ref] {
			problems = append(problems, d.id()+": binds "+ref+", which the chart does not define")
		}
		subjects := list(d.obj, "subjects")
		if len(subjects) == 0 {
			problems = append(problems, d.id()+": no subjects")
		}
		for _, s := range subjects {
			who := str(s, "kind") + " " + str(s, "namespace") + "/" + str(s, "name")
			if str(s, "kind") != "ServiceAccount" || !ownSAs[str(s, "namespace")+"/"+str(s, "name")] {
				problems = append(problems, d.id()+": subject "+who+" is not a ServiceAccount of the chart")
			}
		}
	}
	sort.Strings(perms)
	return problems, perms
}

func TestRBACIsLeastPrivilege(t *testing.T) {
	for name, args := range valueSets {
		t.Run(name, func(t *testing.T) {
			docs := render(t, args...)
			want := append([]string{}, expectedPermissions...)
			if len(ofKind(docs, "ValidatingWebhookConfiguration")) > 0 {
				want = append(want, webhookPermissions...)
			}
			for _, d := range ofKind(docs, "ClusterRole") {
				if d.name() == "ramp-controller-secret-args" {
					want = append(want, "cluster core/secrets:get")
				}
			}
			sort.Strings(want)
			if len(ofKind(docs, "ClusterRole", "Role")) == 0 {
				t.Fatal("no Role or ClusterRole rendered")
			}
			problems, perms := auditRBAC(docs)
			for _, p := range problems {
				t.Error(p)
			}
			if d := diffSorted(want, perms); d != "" {
				t.Errorf("permissions differ from expectedPermissions (- expected only, + rendered only):\n%s", d)
			}
		})
	}
}

// The audit catches each kind of excess (so a passing audit means something).
func TestRBACAuditCatches(t *testing.T) {
	sa := "kind: ServiceAccount\napiVersion: v1\nmetadata: {name: ramp-controller, namespace: ramp-system}\n"
	role := func(kind, rules string) string {
		return "kind: " + kind + "\napiVersion: rbac.authorization.k8s.io/v1\nmetadata: {name: r, namespace: ramp-system}\nrules:\n" + rules + "\n"
	}
	binding := func(kind, roleRef, subjects string) string {
		return "kind: " + kind + "\napiVersion: rbac.authorization.k8s.io/v1\nmetadata: {name: b}\nroleRef: " + roleRef + "\nsubjects: " + subjects + "\n"
	}
	ownSubject := "[{kind: ServiceAccount, name: ramp-controller, namespace: ramp-system}]"
	tests := map[string]struct {
		docs []string
		want string
	}{
		"wildcard verb":        {[]string{role("ClusterRole", "- {apiGroups: [apps], resources: [deployments], verbs: ['*']}")}, `wildcard "*" in verbs`},
		"wildcard group":       {[]string{role("Role", "- {apiGroups: ['*'], resources: [pods], verbs: [get]}")}, `wildcard "*" in apiGroups`},
		"wildcard resource":    {[]string{role("Role", "- {apiGroups: [''], resources: ['pods/*'], verbs: [get]}")}, `wildcard "pods/*" in resources`},
		"escalate":             {[]string{role("ClusterRole", "- {apiGroups: [rbac.authorization.k8s.io], resources: [clusterroles], verbs: [escalate]}")}, `verb "escalate"`},
		"bind":                 {[]string{role("Role", "- {apiGroups: [rbac.authorization.k8s.io], resources: [roles], verbs: [bind]}")}, `verb "bind"`},
		"impersonate":          {[]string{role("ClusterRole", "- {apiGroups: [''], resources: [serviceaccounts], verbs: [impersonate]}")}, `verb "impersonate"`},
		"secrets cluster-wide": {[]string{role("ClusterRole", "- {apiGroups: [''], resources: [secrets], verbs: [get]}")}, "secrets cluster-wide"},
		"non-resource URL":     {[]string{role("ClusterRole", "- {nonResourceURLs: [/metrics], verbs: [get]}")}, "nonResourceURLs"},
		"aggregation":          {[]string{"kind: ClusterRole\nmetadata: {name: agg}\naggregationRule: {clusterRoleSelectors: [{matchLabels: {a: b}}]}\n"}, "aggregationRule"},
		"cluster-admin":        {[]string{sa, binding("ClusterRoleBinding", "{kind: ClusterRole, name: cluster-admin}", ownSubject)}, "binds cluster-admin"},
		"foreign role":         {[]string{sa, binding("RoleBinding", "{kind: ClusterRole, name: edit}", ownSubject)}, "which the chart does not define"},
		"foreign subject": {[]string{sa, role("ClusterRole", "- {apiGroups: [''], resources: [pods], verbs: [get]}"),
			binding("ClusterRoleBinding", "{kind: ClusterRole, name: r}", "[{kind: ServiceAccount, name: default, namespace: kube-system}]")}, "subject ServiceAccount kube-system/default"},
		"group subject": {[]string{sa, role("ClusterRole", "- {apiGroups: [''], resources: [pods], verbs: [get]}"),
			binding("ClusterRoleBinding", "{kind: ClusterRole, name: r}", "[{kind: Group, name: 'system:authenticated'}]")}, "subject Group /system:authenticated"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			problems, _ := auditRBAC(splitDocs(t, strings.Join(tc.docs, "---\n")))
			if !strings.Contains(strings.Join(problems, "\n"), tc.want) {
				t.Errorf("audit found %q, want a problem containing %q", problems, tc.want)
			}
		})
	}
	ok := []string{sa, role("ClusterRole", "- {apiGroups: [''], resources: [secrets], resourceNames: [ramp-tls], verbs: [get]}"),
		binding("ClusterRoleBinding", "{kind: ClusterRole, name: r}", ownSubject)}
	if problems, perms := auditRBAC(splitDocs(t, strings.Join(ok, "---\n"))); len(problems) > 0 ||
		strings.Join(perms, ",") != "cluster core/secrets[ramp-tls]:get" {
		t.Errorf("a named secret granted to the chart's ServiceAccount: problems %q, permissions %q", problems, perms)
	}
}
