package node

import (
	"context"
	"fmt"
	"math"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// configError is a problem with a container's configuration (a missing
// Secret key, say): the container waits with CreateContainerConfigError and
// the agent retries, as the kubelet does.
type configError struct{ msg string }

func (e *configError) Error() string { return e.msg }

// envList is an ordered set of variables in which a later value wins but the
// first position is kept, like the kubelet's.
type envList struct {
	keys []string
	vals map[string]string
}

func (e *envList) set(k, v string) {
	if e.vals == nil {
		e.vals = map[string]string{}
	}
	if _, ok := e.vals[k]; !ok {
		e.keys = append(e.keys, k)
	}
	e.vals[k] = v
}

func (e *envList) environ() []string {
	out := make([]string, 0, len(e.keys))
	for _, k := range e.keys {
		out = append(out, k+"="+e.vals[k])
	}
	return out
}

// resolveEnv computes a container's environment: base first, then envFrom,
// then env, each able to refer to earlier variables with $(NAME).
func resolveEnv(ctx context.Context, r client.Reader, pod *corev1.Pod, c *corev1.Container, base [][2]string) (*envList, error) {
	env := &envList{}
	for _, kv := range base {
		env.set(kv[0], kv[1])
	}
	for _, from := range c.EnvFrom {
		data, err := envFromData(ctx, r, pod.Namespace, from)
		if err != nil {
			return nil, err
		}
		for k, v := range data {
			env.set(from.Prefix+k, v)
		}
	}
	for _, ev := range c.Env {
		if ev.ValueFrom == nil {
			env.set(ev.Name, expand(ev.Value, env.vals))
			continue
		}
		v, err := valueFrom(ctx, r, pod, c, ev)
		if err != nil {
			return nil, err
		}
		env.set(ev.Name, v)
	}
	return env, nil
}

func envFromData(ctx context.Context, r client.Reader, ns string, from corev1.EnvFromSource) (map[string]string, error) {
	switch {
	case from.ConfigMapRef != nil:
		var cm corev1.ConfigMap
		if err := r.Get(ctx, types.NamespacedName{Namespace: ns, Name: from.ConfigMapRef.Name}, &cm); err != nil {
			if client.IgnoreNotFound(err) == nil && ptrTrue(from.ConfigMapRef.Optional) {
				return nil, nil
			}
			return nil, &configError{fmt.Sprintf("configmap %q not found: %v", from.ConfigMapRef.Name, err)}
		}
		return cm.Data, nil
	case from.SecretRef != nil:
		var s corev1.Secret
		if err := r.Get(ctx, types.NamespacedName{Namespace: ns, Name: from.SecretRef.Name}, &s); err != nil {
			if client.IgnoreNotFound(err) == nil && ptrTrue(from.SecretRef.Optional) {
				return nil, nil
			}
			return nil, &configError{fmt.Sprintf("secret %q not found: %v", from.SecretRef.Name, err)}
		}
		out := make(map[string]string, len(s.Data))
		for k, v := range s.Data {
			out[k] = string(v)
		}
		return out, nil
	}
	return nil, nil
}

func valueFrom(ctx context.Context, r client.Reader, pod *corev1.Pod, c *corev1.Container, ev corev1.EnvVar) (string, error) {
	src := ev.ValueFrom
	switch {
	case src.FieldRef != nil:
		v, err := fieldValue(pod, src.FieldRef.FieldPath)
		if err != nil {
			return "", &configError{fmt.Sprintf("env %s: %v", ev.Name, err)}
		}
		return v, nil
	case src.ResourceFieldRef != nil:
		v, err := resourceValue(c, src.ResourceFieldRef)
		if err != nil {
			return "", &configError{fmt.Sprintf("env %s: %v", ev.Name, err)}
		}
		return v, nil
	case src.ConfigMapKeyRef != nil:
		ref := src.ConfigMapKeyRef
		var cm corev1.ConfigMap
		if err := r.Get(ctx, types.NamespacedName{Namespace: pod.Namespace, Name: ref.Name}, &cm); err != nil {
			if client.IgnoreNotFound(err) == nil && ptrTrue(ref.Optional) {
				return "", nil
			}
			return "", &configError{fmt.Sprintf("env %s: configmap %q: %v", ev.Name, ref.Name, err)}
		}
		v, ok := cm.Data[ref.Key]
		if !ok && !ptrTrue(ref.Optional) {
			return "", &configError{fmt.Sprintf("env %s: couldn't find key %s in ConfigMap %s/%s", ev.Name, ref.Key, pod.Namespace, ref.Name)}
		}
		return v, nil
	case src.SecretKeyRef != nil:
		ref := src.SecretKeyRef
		var s corev1.Secret
		if err := r.Get(ctx, types.NamespacedName{Namespace: pod.Namespace, Name: ref.Name}, &s); err != nil {
			if client.IgnoreNotFound(err) == nil && ptrTrue(ref.Optional) {
				return "", nil
			}
			return "", &configError{fmt.Sprintf("env %s: secret %q: %v", ev.Name, ref.Name, err)}
		}
		v, ok := s.Data[ref.Key]
		if !ok && !ptrTrue(ref.Optional) {
			return "", &configError{fmt.Sprintf("env %s: couldn't find key %s in Secret %s/%s", ev.Name, ref.Key, pod.Namespace, ref.Name)}
		}
		return string(v), nil
	}
	return "", &configError{fmt.Sprintf("env %s: unsupported valueFrom", ev.Name)}
}

// fieldValue resolves a Downward API field path.
func fieldValue(pod *corev1.Pod, path string) (string, error) {
	if k, ok := subscript(path, "metadata.labels"); ok {
		return pod.Labels[k], nil
	}
	if k, ok := subscript(path, "metadata.annotations"); ok {
		return pod.Annotations[k], nil
	}
	switch path {
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return string(pod.UID), nil
	case "spec.nodeName":
		return pod.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	case "status.podIP", "status.podIPs":
		return pod.Status.PodIP, nil
	case "status.hostIP", "status.hostIPs":
		return pod.Status.HostIP, nil
	}
	return "", fmt.Errorf("unsupported fieldRef %q", path)
}

func subscript(path, prefix string) (string, bool) {
	rest, ok := strings.CutPrefix(path, prefix+"['")
	if !ok || !strings.HasSuffix(rest, "']") {
		return "", false
	}
	return strings.TrimSuffix(rest, "']"), true
}

// resourceValue resolves a resourceFieldRef; an unset limit is the node's
// capacity and an unset request is 0, as on a kubelet.
func resourceValue(c *corev1.Container, ref *corev1.ResourceFieldSelector) (string, error) {
	divisor := ref.Divisor
	if divisor.IsZero() {
		divisor = resource.MustParse("1")
	}
	kind, name, ok := strings.Cut(ref.Resource, ".")
	if !ok {
		return "", fmt.Errorf("unsupported resource %q", ref.Resource)
	}
	list := c.Resources.Limits
	if kind == "requests" {
		list = c.Resources.Requests
	} else if kind != "limits" {
		return "", fmt.Errorf("unsupported resource %q", ref.Resource)
	}
	q, ok := list[corev1.ResourceName(name)]
	if !ok && kind == "limits" {
		q = nodeCapacity()[corev1.ResourceName(name)] // an unset request stays 0
	}
	if name == "cpu" {
		return fmt.Sprint(int64(math.Ceil(float64(q.MilliValue()) / float64(divisor.MilliValue())))), nil
	}
	return fmt.Sprint(int64(math.Ceil(float64(q.Value()) / float64(divisor.Value())))), nil
}

// expand replaces $(NAME) with known variables, keeps unknown references as
// written, and turns $$ into $, following Kubernetes' expansion rules.
func expand(s string, vars map[string]string) string {
	if !strings.Contains(s, "$") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				// Unterminated: keep "$(" and go on scanning, as Kubernetes does.
				b.WriteString("$(")
				i++
				continue
			}
			name := s[i+2 : i+2+end]
			if v, ok := vars[name]; ok {
				b.WriteString(v)
			} else {
				b.WriteString(s[i : i+3+end])
			}
			i += 2 + end
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}

func ptrTrue(b *bool) bool { return b != nil && *b }
