package prometheus

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Some Prometheus builds have no kubernetes_sd: Debian's drops the
// discovery mechanisms whose Go dependencies it does not package. For
// them the test discovers the targets itself, from the pod list and the
// EndpointSlices, and hands them over with file_sd, carrying the
// __meta_kubernetes_* labels kubernetes_sd would set (those the
// operator's and the chart's relabelings read), so that the same
// relabelings run.

// lacksKubernetesSD reports whether Prometheus refused a configuration
// because this build has no kubernetes_sd.
func lacksKubernetesSD(err error) bool {
	return err != nil && strings.Contains(err.Error(), "field kubernetes_sd_configs not found")
}

// fileSD writes each job's targets into a file of its own.
type fileSD struct {
	cl   client.Client
	dir  string
	jobs []fileSDJob
}

type fileSDJob struct {
	file, role string
	namespaces []string // nil: all
}

// newFileSD replaces the kubernetes_sd_configs of jobs with file_sd
// configs on files in dir that run keeps up to date.
func newFileSD(cl client.Client, dir string, jobs []map[string]any) (*fileSD, error) {
	f := &fileSD{cl: cl, dir: dir}
	for i, job := range jobs {
		sds, _ := job["kubernetes_sd_configs"].([]any)
		if len(sds) != 1 {
			return nil, fmt.Errorf("job %v: want one kubernetes_sd config", job["job_name"])
		}
		sd, _ := sds[0].(map[string]any)
		j := fileSDJob{file: filepath.Join(dir, fmt.Sprintf("job-%d.json", i)), role: fmt.Sprint(sd["role"])}
		if ns, ok := sd["namespaces"].(map[string]any); ok {
			j.namespaces, _ = ns["names"].([]string)
		}
		delete(job, "kubernetes_sd_configs")
		job["file_sd_configs"] = []any{map[string]any{"files": []string{j.file}, "refresh_interval": "1s"}}
		f.jobs = append(f.jobs, j)
	}
	return f, f.write(context.Background())
}

// run rewrites the files every interval until ctx ends; a failed read
// keeps the last files.
func (f *fileSD) run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_ = f.write(ctx)
		}
	}
}

type targetGroup struct {
	Targets []string          `json:"targets"`
	Labels  map[string]string `json:"labels"`
}

func (f *fileSD) write(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for _, j := range f.jobs {
		var groups []targetGroup
		var err error
		switch j.role {
		case "pod":
			groups, err = f.podTargets(ctx, j.namespaces)
		case "endpointslice":
			groups, err = f.endpointSliceTargets(ctx, j.namespaces)
		default:
			err = fmt.Errorf("role %s is not emulated", j.role)
		}
		if err != nil {
			return err
		}
		b, _ := json.Marshal(groups)
		tmp := j.file + ".tmp"
		if err := os.WriteFile(tmp, b, 0o600); err != nil {
			return err
		}
		if err := os.Rename(tmp, j.file); err != nil {
			return err
		}
	}
	return nil
}

// listIn lists objects of namespaces (all when nil) into each().
func listIn(ctx context.Context, cl client.Client, namespaces []string, list client.ObjectList, each func()) error {
	if namespaces == nil {
		namespaces = []string{""}
	}
	for _, ns := range namespaces {
		if err := cl.List(ctx, list, client.InNamespace(ns)); err != nil {
			return err
		}
		each()
	}
	return nil
}

// podLabels are kubernetes_sd's labels of a pod (role pod and the pod of
// an endpoint).
func podLabels(p *corev1.Pod, into map[string]string) {
	into["__meta_kubernetes_namespace"] = p.Namespace
	into["__meta_kubernetes_pod_name"] = p.Name
	into["__meta_kubernetes_pod_ip"] = p.Status.PodIP
	into["__meta_kubernetes_pod_phase"] = string(p.Status.Phase)
	into["__meta_kubernetes_pod_ready"] = strconv.FormatBool(podReady(p))
	into["__meta_kubernetes_pod_node_name"] = p.Spec.NodeName
	for k, v := range p.Labels {
		into["__meta_kubernetes_pod_label_"+notLabelChar.ReplaceAllString(k, "_")] = v
		into["__meta_kubernetes_pod_labelpresent_"+notLabelChar.ReplaceAllString(k, "_")] = "true"
	}
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func (f *fileSD) podTargets(ctx context.Context, namespaces []string) ([]targetGroup, error) {
	var out []targetGroup
	var pods corev1.PodList
	err := listIn(ctx, f.cl, namespaces, &pods, func() {
		for i := range pods.Items {
			p := &pods.Items[i]
			if p.Status.PodIP == "" {
				continue
			}
			for _, c := range p.Spec.Containers {
				for _, port := range c.Ports {
					l := map[string]string{}
					podLabels(p, l)
					l["__meta_kubernetes_pod_container_name"] = c.Name
					l["__meta_kubernetes_pod_container_port_name"] = port.Name
					l["__meta_kubernetes_pod_container_port_number"] = strconv.Itoa(int(port.ContainerPort))
					addr := net.JoinHostPort(p.Status.PodIP, strconv.Itoa(int(port.ContainerPort)))
					out = append(out, targetGroup{Targets: []string{addr}, Labels: l})
				}
			}
		}
	})
	return out, err
}

func (f *fileSD) endpointSliceTargets(ctx context.Context, namespaces []string) ([]targetGroup, error) {
	var out []targetGroup
	var slices discoveryv1.EndpointSliceList
	var errs []error
	err := listIn(ctx, f.cl, namespaces, &slices, func() {
		for _, s := range slices.Items {
			svc := &corev1.Service{}
			if err := f.cl.Get(ctx, client.ObjectKey{Namespace: s.Namespace, Name: s.Labels[discoveryv1.LabelServiceName]}, svc); err != nil {
				errs = append(errs, err)
				continue
			}
			for _, ep := range s.Endpoints {
				var pod *corev1.Pod
				if ep.TargetRef != nil && ep.TargetRef.Kind == "Pod" {
					p := &corev1.Pod{}
					if f.cl.Get(ctx, client.ObjectKey{Namespace: s.Namespace, Name: ep.TargetRef.Name}, p) == nil {
						pod = p
					}
				}
				for _, port := range s.Ports {
					if port.Port == nil || len(ep.Addresses) == 0 {
						continue
					}
					l := map[string]string{
						"__meta_kubernetes_namespace":                  s.Namespace,
						"__meta_kubernetes_endpointslice_name":         s.Name,
						"__meta_kubernetes_endpointslice_port":         strconv.Itoa(int(*port.Port)),
						"__meta_kubernetes_endpointslice_port_name":    ptrString(port.Name),
						"__meta_kubernetes_service_name":               svc.Name,
						"__meta_kubernetes_endpointslice_address_type": string(s.AddressType),
					}
					if ep.TargetRef != nil {
						l["__meta_kubernetes_endpointslice_address_target_kind"] = ep.TargetRef.Kind
						l["__meta_kubernetes_endpointslice_address_target_name"] = ep.TargetRef.Name
					}
					for k, v := range svc.Labels {
						l["__meta_kubernetes_service_label_"+notLabelChar.ReplaceAllString(k, "_")] = v
						l["__meta_kubernetes_service_labelpresent_"+notLabelChar.ReplaceAllString(k, "_")] = "true"
					}
					if pod != nil {
						podLabels(pod, l)
						for _, c := range pod.Spec.Containers {
							for _, cp := range c.Ports {
								if cp.ContainerPort == *port.Port {
									l["__meta_kubernetes_pod_container_name"] = c.Name
								}
							}
						}
					}
					addr := net.JoinHostPort(ep.Addresses[0], strconv.Itoa(int(*port.Port)))
					out = append(out, targetGroup{Targets: []string{addr}, Labels: l})
				}
			}
		}
	})
	if err == nil && len(errs) > 0 {
		err = errs[0]
	}
	return out, err
}

func ptrString(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
