package prometheus

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"
)

// The Prometheus Operator's kinds, as the chart renders them.
var (
	podMonitorKind     = schema.GroupVersionKind{Group: "monitoring.coreos.com", Version: "v1", Kind: "PodMonitor"}
	serviceMonitorKind = schema.GroupVersionKind{Group: "monitoring.coreos.com", Version: "v1", Kind: "ServiceMonitor"}
)

// monitoringCRDs stand in for the Prometheus Operator's CRDs (not
// available offline): they accept any spec, so that the chart installs its
// monitors as it would next to the operator and the test reads back what
// it installed.
func monitoringCRDs() []*apiextensionsv1.CustomResourceDefinition {
	var out []*apiextensionsv1.CustomResourceDefinition
	for _, gvk := range []schema.GroupVersionKind{podMonitorKind, serviceMonitorKind} {
		plural := strings.ToLower(gvk.Kind) + "s"
		out = append(out, &apiextensionsv1.CustomResourceDefinition{
			ObjectMeta: metav1.ObjectMeta{Name: plural + "." + gvk.Group},
			Spec: apiextensionsv1.CustomResourceDefinitionSpec{
				Group: gvk.Group,
				Scope: apiextensionsv1.NamespaceScoped,
				Names: apiextensionsv1.CustomResourceDefinitionNames{
					Plural: plural, Singular: strings.ToLower(gvk.Kind), Kind: gvk.Kind, ListKind: gvk.Kind + "List",
				},
				Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{
					Name: gvk.Version, Served: true, Storage: true,
					Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{
						Type: "object", XPreserveUnknownFields: ptr.To(true),
					}},
				}},
			},
		})
	}
	return out
}

// installMonitoringCRDs creates the stand-in CRDs and waits until they are
// established.
func installMonitoringCRDs(ctx context.Context, cl client.Client) error {
	for _, crd := range monitoringCRDs() {
		if err := cl.Create(ctx, crd); err != nil {
			return fmt.Errorf("creating CRD %s: %w", crd.Name, err)
		}
	}
	deadline, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for _, crd := range monitoringCRDs() {
		for {
			got := &apiextensionsv1.CustomResourceDefinition{}
			if err := cl.Get(deadline, client.ObjectKeyFromObject(crd), got); err != nil {
				return fmt.Errorf("reading CRD %s: %w", crd.Name, err)
			}
			if established(got) {
				break
			}
			select {
			case <-deadline.Done():
				return fmt.Errorf("CRD %s not established: %w", crd.Name, deadline.Err())
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	return nil
}

func established(crd *apiextensionsv1.CustomResourceDefinition) bool {
	for _, c := range crd.Status.Conditions {
		if c.Type == apiextensionsv1.Established {
			return c.Status == apiextensionsv1.ConditionTrue
		}
	}
	return false
}

// listMonitors reads the PodMonitors and ServiceMonitors in namespace ns.
func listMonitors(ctx context.Context, cl client.Client, ns string) ([]unstructured.Unstructured, error) {
	var out []unstructured.Unstructured
	for _, gvk := range []schema.GroupVersionKind{podMonitorKind, serviceMonitorKind} {
		list := &unstructured.UnstructuredList{}
		list.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
		if err := cl.List(ctx, list, client.InNamespace(ns)); err != nil {
			return nil, fmt.Errorf("listing %ss: %w", gvk.Kind, err)
		}
		out = append(out, list.Items...)
	}
	return out, nil
}

// scrapeConfigs translates monitors into Prometheus scrape configs the way
// the Prometheus Operator does: kubernetes_sd (role pod for a PodMonitor,
// endpointslice for a ServiceMonitor) against the API server of
// kubeconfig, the selector and the port as keep rules, the operator's
// namespace/pod/container/service/job/endpoint labels, then the monitor's
// own relabelings. Only the fields the chart uses are known: any other is
// an error, so that a monitor this translation would misread fails the
// test instead of passing it.
func scrapeConfigs(monitors []unstructured.Unstructured, kubeconfig string) ([]map[string]any, error) {
	var out []map[string]any
	for _, m := range monitors {
		spec, _, _ := unstructured.NestedMap(m.Object, "spec")
		name := m.GetKind() + " " + m.GetNamespace() + "/" + m.GetName()
		var (
			role, endpointsField string
			known                = []string{"selector", "namespaceSelector"}
		)
		switch m.GetKind() {
		case podMonitorKind.Kind:
			role, endpointsField = "pod", "podMetricsEndpoints"
		case serviceMonitorKind.Kind:
			role, endpointsField = "service", "endpoints"
		default:
			return nil, fmt.Errorf("%s: not a monitor", name)
		}
		if err := onlyFields(name+" spec", spec, append(known, endpointsField)...); err != nil {
			return nil, err
		}
		selector, err := selectorRules(role, spec["selector"])
		if err != nil {
			return nil, fmt.Errorf("%s: spec.selector: %w", name, err)
		}
		sd := map[string]any{"role": map[string]string{"pod": "pod", "service": "endpointslice"}[role], "kubeconfig_file": kubeconfig}
		if ns, err := namespaces(spec["namespaceSelector"], m.GetNamespace()); err != nil {
			return nil, fmt.Errorf("%s: spec.namespaceSelector: %w", name, err)
		} else if ns != nil {
			sd["namespaces"] = map[string]any{"names": ns}
		}
		endpoints, _ := spec[endpointsField].([]any)
		for i, e := range endpoints {
			ep, _ := e.(map[string]any)
			field := fmt.Sprintf("%s spec.%s[%d]", name, endpointsField, i)
			if err := onlyFields(field, ep, "port", "path", "interval", "honorLabels", "relabelings"); err != nil {
				return nil, err
			}
			port, _ := ep["port"].(string)
			if port == "" {
				return nil, fmt.Errorf("%s: no port name", field)
			}
			interval, _ := ep["interval"].(string)
			if interval == "" {
				interval = "30s"
			}
			d, err := time.ParseDuration(interval)
			if err != nil {
				return nil, fmt.Errorf("%s.interval: %w", field, err)
			}
			relabel := []map[string]any{{"source_labels": []string{"job"}, "target_label": "__tmp_prometheus_job_name"}}
			relabel = append(relabel, selector...)
			relabel = append(relabel, operatorLabels(role, m.GetNamespace()+"/"+m.GetName(), port)...)
			own, err := relabelings(ep["relabelings"])
			if err != nil {
				return nil, fmt.Errorf("%s.relabelings: %w", field, err)
			}
			job := map[string]any{
				"job_name":              fmt.Sprintf("%s/%s/%s/%d", map[string]string{"pod": "podMonitor", "service": "serviceMonitor"}[role], m.GetNamespace(), m.GetName(), i),
				"scrape_interval":       interval,
				"scrape_timeout":        min(d, 10*time.Second).String(),
				"metrics_path":          stringOr(ep["path"], "/metrics"),
				"honor_labels":          ep["honorLabels"] == true,
				"relabel_configs":       append(relabel, own...),
				"kubernetes_sd_configs": []any{sd},
			}
			out = append(out, job)
		}
	}
	return out, nil
}

// operatorLabels are the relabelings the Prometheus Operator adds to
// every endpoint of a monitor: keep the named port, then label the target
// with its namespace, pod, container (and service), job and endpoint.
func operatorLabels(role, monitor, port string) []map[string]any {
	src := func(label, target string) map[string]any {
		return map[string]any{"source_labels": []string{label}, "target_label": target}
	}
	if role == "pod" {
		return []map[string]any{
			{"action": "drop", "source_labels": []string{"__meta_kubernetes_pod_phase"}, "regex": "(Failed|Succeeded)"},
			{"action": "keep", "source_labels": []string{"__meta_kubernetes_pod_container_port_name"}, "regex": port},
			src("__meta_kubernetes_namespace", "namespace"),
			src("__meta_kubernetes_pod_container_name", "container"),
			src("__meta_kubernetes_pod_name", "pod"),
			{"target_label": "job", "replacement": monitor},
			{"target_label": "endpoint", "replacement": port},
		}
	}
	return []map[string]any{
		{"action": "keep", "source_labels": []string{"__meta_kubernetes_endpointslice_port_name"}, "regex": port},
		{"source_labels": []string{"__meta_kubernetes_endpointslice_address_target_kind", "__meta_kubernetes_endpointslice_address_target_name"},
			"separator": ";", "regex": "Pod;(.*)", "replacement": "${1}", "target_label": "pod"},
		src("__meta_kubernetes_namespace", "namespace"),
		src("__meta_kubernetes_service_name", "service"),
		src("__meta_kubernetes_pod_name", "pod"),
		src("__meta_kubernetes_pod_container_name", "container"),
		src("__meta_kubernetes_service_name", "job"),
		{"target_label": "endpoint", "replacement": port},
	}
}

var notLabelChar = regexp.MustCompile(`[^a-zA-Z0-9_]`)

// selectorRules turns a label selector into keep/drop rules on the
// role's __meta_kubernetes_<role>_label(present)_<name> labels.
func selectorRules(role string, sel any) ([]map[string]any, error) {
	s, _ := sel.(map[string]any)
	if err := onlyFields("selector", s, "matchLabels", "matchExpressions"); err != nil {
		return nil, err
	}
	label := func(k string) string {
		return "__meta_kubernetes_" + role + "_label_" + notLabelChar.ReplaceAllString(k, "_")
	}
	present := func(k string) string {
		return "__meta_kubernetes_" + role + "_labelpresent_" + notLabelChar.ReplaceAllString(k, "_")
	}
	var out []map[string]any
	labels, _ := s["matchLabels"].(map[string]any)
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		out = append(out, map[string]any{"action": "keep", "source_labels": []string{label(k), present(k)},
			"regex": "(" + regexp.QuoteMeta(fmt.Sprint(labels[k])) + ");true"})
	}
	exprs, _ := s["matchExpressions"].([]any)
	for i, e := range exprs {
		x, _ := e.(map[string]any)
		k, _ := x["key"].(string)
		var values []string
		vs, _ := x["values"].([]any)
		for _, v := range vs {
			values = append(values, regexp.QuoteMeta(fmt.Sprint(v)))
		}
		in := "(" + strings.Join(values, "|") + ");true"
		switch x["operator"] {
		case "Exists":
			out = append(out, map[string]any{"action": "keep", "source_labels": []string{present(k)}, "regex": "true"})
		case "DoesNotExist":
			out = append(out, map[string]any{"action": "drop", "source_labels": []string{present(k)}, "regex": "true"})
		case "In":
			out = append(out, map[string]any{"action": "keep", "source_labels": []string{label(k), present(k)}, "regex": in})
		case "NotIn":
			out = append(out, map[string]any{"action": "drop", "source_labels": []string{label(k), present(k)}, "regex": in})
		default:
			return nil, fmt.Errorf("matchExpressions[%d]: unknown operator %v", i, x["operator"])
		}
	}
	return out, nil
}

// namespaces is the list of namespaces to discover in (nil: all).
func namespaces(sel any, own string) ([]string, error) {
	s, _ := sel.(map[string]any)
	if err := onlyFields("namespaceSelector", s, "any", "matchNames"); err != nil {
		return nil, err
	}
	if s["any"] == true {
		return nil, nil
	}
	var names []string
	ns, _ := s["matchNames"].([]any)
	for _, n := range ns {
		names = append(names, fmt.Sprint(n))
	}
	if len(names) == 0 {
		return []string{own}, nil // the operator's default: the monitor's namespace
	}
	return names, nil
}

// relabelFields maps the operator's RelabelConfig fields to Prometheus'.
var relabelFields = map[string]string{
	"sourceLabels": "source_labels", "separator": "separator", "targetLabel": "target_label",
	"regex": "regex", "modulus": "modulus", "replacement": "replacement", "action": "action",
}

func relabelings(v any) ([]map[string]any, error) {
	list, _ := v.([]any)
	var out []map[string]any
	for i, r := range list {
		in, _ := r.(map[string]any)
		rule := map[string]any{}
		for k, v := range in {
			f, ok := relabelFields[k]
			if !ok {
				return nil, fmt.Errorf("[%d]: unknown field %q", i, k)
			}
			if f == "action" {
				v = strings.ToLower(fmt.Sprint(v))
			}
			rule[f] = v
		}
		out = append(out, rule)
	}
	return out, nil
}

// onlyFields fails on a field of m that is not in known.
func onlyFields(what string, m map[string]any, known ...string) error {
	for k := range m {
		if !slices.Contains(known, k) {
			return fmt.Errorf("%s: field %q is not translated by this test (known: %s)", what, k, strings.Join(known, ", "))
		}
	}
	return nil
}

func stringOr(v any, def string) string {
	if s, ok := v.(string); ok && s != "" {
		return s
	}
	return def
}

// prometheusConfig is a prometheus.yml with the given scrape configs,
// scraping and evaluating every second.
func prometheusConfig(jobs []map[string]any) (string, error) {
	b, err := yaml.Marshal(map[string]any{
		"global":         map[string]any{"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
		"scrape_configs": jobs,
	})
	return string(b), err
}
