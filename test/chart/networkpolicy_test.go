package chart

import (
	"fmt"
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// allowed lists, for each named port of the policy's pods, who may reach
// it: "*" for anyone, else the peers' selectors.
func allowed(np *networkingv1.NetworkPolicy) map[string][]string {
	out := map[string][]string{}
	for _, rule := range np.Spec.Ingress {
		for _, p := range rule.Ports {
			name := p.Port.String()
			if len(rule.From) == 0 {
				out[name] = append(out[name], "*")
			}
			for _, peer := range rule.From {
				switch {
				case peer.PodSelector != nil:
					out[name] = append(out[name], "pods:"+labels.Set(peer.PodSelector.MatchLabels).String())
				case peer.NamespaceSelector != nil:
					out[name] = append(out[name], "namespaces:"+labels.Set(peer.NamespaceSelector.MatchLabels).String())
				}
			}
		}
	}
	return out
}

func TestNetworkPoliciesAreOffByDefault(t *testing.T) {
	if nps := ofKind(render(t), "NetworkPolicy"); len(nps) != 0 {
		t.Errorf("%d NetworkPolicies rendered by default, want none", len(nps))
	}
}

// With networkPolicy.enabled, the autoscaler API accepts only the gateway,
// the gateway's admin port only the controller and the metrics peers, and
// every other port the pods serve stays reachable (probes included).
func TestNetworkPoliciesProtectTheAutoscalerAndAdminPorts(t *testing.T) {
	const gateway = "pods:app.kubernetes.io/component=gateway,app.kubernetes.io/name=ramp"
	const controller = "pods:app.kubernetes.io/component=controller,app.kubernetes.io/name=ramp"
	cases := map[string]struct {
		values []string
		want   map[string]map[string][]string // policy → port → peers
	}{
		"metrics from anyone": {
			values: []string{"--set", "networkPolicy.enabled=true", "--set", "slack.mode=http", "--set", "slack.existingSecret=slack",
				"--set", "slack.channel=#deploys"},
			want: map[string]map[string][]string{
				"ramp-controller": {"autoscaler": {gateway}, "metrics": {"*"}, "health": {"*"}, "webhook": {"*"}, "slack": {"*"}},
				"ramp-gateway":    {"http": {"*"}, "internal": {"*"}, "admin": {"*"}},
			},
		},
		"metrics from the monitoring namespace": {
			values: []string{"--set", "networkPolicy.enabled=true",
				"--set", "networkPolicy.metricsFrom[0].namespaceSelector.matchLabels.team=monitoring"},
			want: map[string]map[string][]string{
				"ramp-controller": {"autoscaler": {gateway}, "metrics": {"namespaces:team=monitoring"}, "health": {"*"}, "webhook": {"*"}},
				"ramp-gateway":    {"http": {"*"}, "internal": {"*"}, "admin": {controller, "namespaces:team=monitoring"}},
			},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			docs := render(t, tc.values...)
			for policy, wantPorts := range tc.want {
				np := decode[networkingv1.NetworkPolicy](t, named(t, docs, "NetworkPolicy", policy))
				got := allowed(np)
				if fmt.Sprint(got) != fmt.Sprint(wantPorts) {
					t.Errorf("%s allows %v, want %v", policy, got, wantPorts)
				}
				// Every named port exists on the selected pods, and every
				// container port is covered.
				dep := decode[appsv1.Deployment](t, named(t, docs, "Deployment", policy))
				if !labels.SelectorFromSet(np.Spec.PodSelector.MatchLabels).Matches(labels.Set(dep.Spec.Template.Labels)) {
					t.Errorf("%s does not select the %s pods", policy, policy)
				}
				var ports []string
				for _, c := range dep.Spec.Template.Spec.Containers {
					for _, p := range c.Ports {
						ports = append(ports, p.Name)
					}
				}
				for port := range got {
					if !slices.Contains(ports, port) {
						t.Errorf("%s names port %q, which the pods do not have (%v)", policy, port, ports)
					}
				}
				for _, port := range ports {
					if _, ok := got[port]; !ok {
						t.Errorf("%s blocks port %q of its pods entirely", policy, port)
					}
				}
			}
		})
	}
}
