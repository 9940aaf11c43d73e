package node

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

func TestExpand(t *testing.T) {
	vars := map[string]string{"A": "alpha", "EMPTY": ""}
	cases := map[string]struct {
		in   string
		want string
	}{
		"no dollar":             {in: "plain text", want: "plain text"},
		"defined variable":      {in: "$(A)", want: "alpha"},
		"defined empty":         {in: "x$(EMPTY)y", want: "xy"},
		"unknown kept":          {in: "$(B)", want: "$(B)"},
		"empty name kept":       {in: "$()", want: "$()"},
		"escaped reference":     {in: "$$(A)", want: "$(A)"},
		"escaped dollar":        {in: "$$", want: "$"},
		"escape then reference": {in: "$$$(A)", want: "$alpha"},
		"unterminated kept":     {in: "$(A", want: "$(A"},
		"unterminated after":    {in: "$(A)-$(A", want: "alpha-$(A"},
		// Kubernetes emits "$(" for an unterminated reference and keeps
		// scanning, so a later $$ is still unescaped.
		"unterminated then escape": {in: "$(A $$", want: "$(A $"},
		"lone trailing dollar":     {in: "cost$", want: "cost$"},
		"only dollar":              {in: "$", want: "$"},
		"shell style kept":         {in: "$A ${A}", want: "$A ${A}"},
		"mixed text":               {in: "pre-$(A)-mid-$(B)-$$-post$", want: "pre-alpha-mid-$(B)-$-post$"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, expand(tc.in, vars)); diff != "" {
				t.Errorf("expand(%q) (-want +got):\n%s", tc.in, diff)
			}
		})
	}
}

func TestFieldValue(t *testing.T) {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: "web-0", Namespace: "shop", UID: "uid-1",
			Labels:      map[string]string{"app": "web"},
			Annotations: map[string]string{"x/y": "z"},
		},
		Spec:   corev1.PodSpec{NodeName: "local", ServiceAccountName: "web-sa"},
		Status: corev1.PodStatus{PodIP: "127.0.0.7", HostIP: "127.0.0.1"},
	}
	cases := map[string]struct {
		path    string
		want    string
		wantErr bool
	}{
		"name":             {path: "metadata.name", want: "web-0"},
		"namespace":        {path: "metadata.namespace", want: "shop"},
		"uid":              {path: "metadata.uid", want: "uid-1"},
		"label":            {path: "metadata.labels['app']", want: "web"},
		"missing label":    {path: "metadata.labels['nope']", want: ""},
		"annotation":       {path: "metadata.annotations['x/y']", want: "z"},
		"node name":        {path: "spec.nodeName", want: "local"},
		"service account":  {path: "spec.serviceAccountName", want: "web-sa"},
		"pod IP":           {path: "status.podIP", want: "127.0.0.7"},
		"host IP":          {path: "status.hostIP", want: "127.0.0.1"},
		"unsupported":      {path: "metadata.generateName", wantErr: true},
		"labels unindexed": {path: "metadata.labels", wantErr: true},
		"unterminated key": {path: "metadata.labels['app'", wantErr: true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := fieldValue(pod, tc.path)
			if gotErr := err != nil; gotErr != tc.wantErr {
				t.Fatalf("fieldValue(%q) error = %v, want error %v", tc.path, err, tc.wantErr)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("fieldValue(%q) (-want +got):\n%s", tc.path, diff)
			}
		})
	}
}

func TestResourceValue(t *testing.T) {
	c := &corev1.Container{Resources: corev1.ResourceRequirements{
		Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourceMemory: resource.MustParse("1Gi")},
	}}
	cases := map[string]struct {
		c       *corev1.Container
		ref     corev1.ResourceFieldSelector
		want    string
		wantErr bool
	}{
		"cpu limit rounds up":     {c: c, ref: corev1.ResourceFieldSelector{Resource: "limits.cpu"}, want: "1"},
		"cpu limit in millicores": {c: c, ref: corev1.ResourceFieldSelector{Resource: "limits.cpu", Divisor: resource.MustParse("1m")}, want: "500"},
		"memory limit in Mi":      {c: c, ref: corev1.ResourceFieldSelector{Resource: "limits.memory", Divisor: resource.MustParse("1Mi")}, want: "64"},
		"memory limit in bytes":   {c: c, ref: corev1.ResourceFieldSelector{Resource: "limits.memory"}, want: "67108864"},
		"cpu request":             {c: c, ref: corev1.ResourceFieldSelector{Resource: "requests.cpu"}, want: "2"},
		"memory request in Mi":    {c: c, ref: corev1.ResourceFieldSelector{Resource: "requests.memory", Divisor: resource.MustParse("1Mi")}, want: "1024"},
		"unset cpu limit is node capacity": {
			c: &corev1.Container{}, ref: corev1.ResourceFieldSelector{Resource: "limits.cpu"}, want: fmt.Sprint(runtime.NumCPU()),
		},
		// The kubelet defaults only limits to node allocatable; an unset
		// request reads as 0.
		"unset cpu request is zero":    {c: &corev1.Container{}, ref: corev1.ResourceFieldSelector{Resource: "requests.cpu"}, want: "0"},
		"unset memory request is zero": {c: &corev1.Container{}, ref: corev1.ResourceFieldSelector{Resource: "requests.memory"}, want: "0"},
		"no kind":                      {c: c, ref: corev1.ResourceFieldSelector{Resource: "cpu"}, wantErr: true},
		"unknown kind":                 {c: c, ref: corev1.ResourceFieldSelector{Resource: "claims.cpu"}, wantErr: true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := resourceValue(tc.c, &tc.ref)
			if gotErr := err != nil; gotErr != tc.wantErr {
				t.Fatalf("resourceValue(%q) error = %v, want error %v", tc.ref.Resource, err, tc.wantErr)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("resourceValue(%q) (-want +got):\n%s", tc.ref.Resource, diff)
			}
		})
	}
}

func secretKey(name, key string, optional bool) *corev1.EnvVarSource {
	return &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
		LocalObjectReference: corev1.LocalObjectReference{Name: name}, Key: key, Optional: ptr.To(optional)}}
}

func configMapKey(name, key string, optional bool) *corev1.EnvVarSource {
	return &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
		LocalObjectReference: corev1.LocalObjectReference{Name: name}, Key: key, Optional: ptr.To(optional)}}
}

func TestResolveEnv(t *testing.T) {
	const ns = "shop"
	objs := fake.NewClientBuilder().WithObjects(
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "db"}, Data: map[string][]byte{"password": []byte("s3cret")}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "tokens"}, Data: map[string][]byte{"TOKEN": []byte("t0k")}},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "cfg"}, Data: map[string]string{"mode": "fast"}},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "levels"}, Data: map[string]string{"LEVEL": "debug"}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "other", Name: "elsewhere"}, Data: map[string][]byte{"k": []byte("v")}},
	).Build()
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web-0"}}
	base := [][2]string{{"PATH", "/bin"}, {"POD_IP", "127.0.0.2"}}
	cases := map[string]struct {
		c       corev1.Container
		want    []string
		wantErr string // substring of a *configError
	}{
		"base first, references to base and earlier vars": {
			c: corev1.Container{Env: []corev1.EnvVar{
				{Name: "URL", Value: "http://$(POD_IP):8080"},
				{Name: "FULL", Value: "$(URL)/x"},
				{Name: "LATER", Value: "$(NEXT)"},
				{Name: "NEXT", Value: "n"},
			}},
			want: []string{"PATH=/bin", "POD_IP=127.0.0.2", "URL=http://127.0.0.2:8080", "FULL=http://127.0.0.2:8080/x", "LATER=$(NEXT)", "NEXT=n"},
		},
		"secret and configmap keys": {
			c: corev1.Container{Env: []corev1.EnvVar{
				{Name: "PASS", ValueFrom: secretKey("db", "password", false)},
				{Name: "MODE", ValueFrom: configMapKey("cfg", "mode", false)},
				{Name: "NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
			}},
			want: []string{"PATH=/bin", "POD_IP=127.0.0.2", "PASS=s3cret", "MODE=fast", "NAME=web-0"},
		},
		"envFrom with prefix, then env referring to it": {
			c: corev1.Container{
				EnvFrom: []corev1.EnvFromSource{
					{Prefix: "APP_", ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "levels"}}},
					{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "tokens"}}},
				},
				Env: []corev1.EnvVar{{Name: "MSG", Value: "level=$(APP_LEVEL)"}},
			},
			want: []string{"PATH=/bin", "POD_IP=127.0.0.2", "APP_LEVEL=debug", "TOKEN=t0k", "MSG=level=debug"},
		},
		"later definition wins but keeps first position": {
			c: corev1.Container{
				EnvFrom: []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "levels"}}}},
				Env: []corev1.EnvVar{
					{Name: "X", Value: "1"},
					{Name: "PATH", Value: "/override:$(PATH)"},
					{Name: "LEVEL", ValueFrom: configMapKey("cfg", "mode", false)},
					{Name: "X", Value: "2"},
				},
			},
			want: []string{"PATH=/override:/bin", "POD_IP=127.0.0.2", "LEVEL=fast", "X=2"},
		},
		"optional missing configmap key is empty": {
			c:    corev1.Container{Env: []corev1.EnvVar{{Name: "OPT", ValueFrom: configMapKey("cfg", "missing", true)}}},
			want: []string{"PATH=/bin", "POD_IP=127.0.0.2", "OPT="},
		},
		"optional missing secret is empty": {
			c:    corev1.Container{Env: []corev1.EnvVar{{Name: "S", ValueFrom: secretKey("nope", "k", true)}}},
			want: []string{"PATH=/bin", "POD_IP=127.0.0.2", "S="},
		},
		"optional missing envFrom configmap adds nothing": {
			c: corev1.Container{EnvFrom: []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{
				LocalObjectReference: corev1.LocalObjectReference{Name: "nope"}, Optional: ptr.To(true)}}}},
			want: []string{"PATH=/bin", "POD_IP=127.0.0.2"},
		},
		"missing secret": {
			c:       corev1.Container{Env: []corev1.EnvVar{{Name: "PASS", ValueFrom: secretKey("nope", "password", false)}}},
			wantErr: `secret "nope"`,
		},
		"secret in another namespace is not found": {
			c:       corev1.Container{Env: []corev1.EnvVar{{Name: "K", ValueFrom: secretKey("elsewhere", "k", false)}}},
			wantErr: `secret "elsewhere"`,
		},
		"missing secret key": {
			c:       corev1.Container{Env: []corev1.EnvVar{{Name: "PASS", ValueFrom: secretKey("db", "user", false)}}},
			wantErr: "couldn't find key user in Secret shop/db",
		},
		"missing configmap key": {
			c:       corev1.Container{Env: []corev1.EnvVar{{Name: "M", ValueFrom: configMapKey("cfg", "missing", false)}}},
			wantErr: "couldn't find key missing in ConfigMap shop/cfg",
		},
		"missing envFrom secret": {
			c: corev1.Container{EnvFrom: []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{
				LocalObjectReference: corev1.LocalObjectReference{Name: "nope"}}}}},
			wantErr: `secret "nope" not found`,
		},
		"unsupported field path": {
			c: corev1.Container{Env: []corev1.EnvVar{{Name: "F", ValueFrom: &corev1.EnvVarSource{
				FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.hostname"}}}}},
			wantErr: "env F: unsupported fieldRef",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := resolveEnv(context.Background(), objs, pod, &tc.c, base)
			if tc.wantErr != "" {
				var ce *configError
				if !errors.As(err, &ce) {
					t.Fatalf("resolveEnv error = %v (%T), want a *configError", err, err)
				}
				if !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("resolveEnv error = %q, want it to contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("resolveEnv: %v", err)
			}
			if diff := cmp.Diff(tc.want, got.environ()); diff != "" {
				t.Errorf("environ() (-want +got):\n%s", diff)
			}
		})
	}
}
