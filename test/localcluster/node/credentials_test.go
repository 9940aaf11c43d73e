package node

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
)

// gatewayPod is shaped like the chart's gateway after admission: the API
// credentials volume and a projected token for the autoscaler.
func gatewayPod(automount bool) *corev1.Pod {
	pod := &corev1.Pod{Spec: corev1.PodSpec{
		ServiceAccountName: "ramp-gateway",
		Containers: []corev1.Container{{Name: "gateway", VolumeMounts: []corev1.VolumeMount{
			{Name: "autoscaler-token", MountPath: "/var/run/secrets/ramp.dev/autoscaler", ReadOnly: true},
			{Name: "kube-api-access-x1", MountPath: "/var/run/secrets/kubernetes.io/serviceaccount/", ReadOnly: true},
			{Name: "cache", MountPath: "/cache"},
		}}},
		Volumes: []corev1.Volume{
			{Name: "autoscaler-token", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
				{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Audience: "autoscaler.ramp.dev", ExpirationSeconds: ptr.To[int64](3600), Path: "token"}},
			}}}},
			{Name: "cache", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		},
	}}
	if automount {
		pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: "kube-api-access-x1", VolumeSource: corev1.VolumeSource{
			Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
				{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{ExpirationSeconds: ptr.To[int64](3607), Path: "token"}},
				{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "kube-root-ca.crt"}}},
			}}}})
	}
	return pod
}

func TestProjectedTokensAndAutomount(t *testing.T) {
	with := &podRuntime{spec: gatewayPod(true)}
	if !with.automount() || !with.needsCredentials() || len(with.projectedTokens()) != 2 {
		t.Errorf("with API credentials: automount %v, tokens %+v", with.automount(), with.projectedTokens())
	}
	// A token for another audience is not API access: automounting off
	// stays off, but the token is still written.
	without := &podRuntime{spec: gatewayPod(false)}
	got := without.projectedTokens()
	if without.automount() || !without.needsCredentials() || len(got) != 1 || got[0].volume != "autoscaler-token" ||
		got[0].src.Audience != "autoscaler.ramp.dev" || *got[0].src.ExpirationSeconds != 3600 {
		t.Errorf("without: automount %v, tokens %+v", without.automount(), got)
	}
	none := &podRuntime{spec: &corev1.Pod{}}
	if none.automount() || none.needsCredentials() {
		t.Error("a pod without token volumes gets credentials")
	}
}

func TestMountPathsMapProjectedVolumesToThePodDirectory(t *testing.T) {
	p := &podRuntime{spec: gatewayPod(true), dir: "/pods/ns_gw_uid"}
	c := &p.spec.Spec.Containers[0]
	got := p.mountPaths(c, []string{
		"/bin/gateway",
		"--autoscaler-token-file=/var/run/secrets/ramp.dev/autoscaler/token",
		"--ca=/var/run/secrets/kubernetes.io/serviceaccount/ca.crt",
		"/var/run/secrets/ramp.dev/autoscaler",
		"--other=/var/run/secrets/ramp.dev/autoscalerX/token", // not under the mount
		"--cache=/cache/x", // not a projected volume
		"token=/var/run/secrets/ramp.dev/autoscaler/token", // not a flag
		"--drain-delay=3s",
	})
	want := []string{
		"/bin/gateway",
		"--autoscaler-token-file=/pods/ns_gw_uid/volumes/autoscaler-token/token",
		"--ca=/pods/ns_gw_uid/serviceaccount/ca.crt",
		"/pods/ns_gw_uid/volumes/autoscaler-token",
		"--other=/var/run/secrets/ramp.dev/autoscalerX/token",
		"--cache=/cache/x",
		"token=/var/run/secrets/ramp.dev/autoscaler/token",
		"--drain-delay=3s",
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("mountPaths (-want +got):\n%s", d)
	}
}

func TestVolumeFileStaysInTheVolume(t *testing.T) {
	for path, wantErr := range map[string]bool{"token": false, "a/token": false, "./token": false,
		"": true, "/etc/passwd": true, "../token": true, "a/../../token": true} {
		got, err := volumeFile("/v", path)
		if (err != nil) != wantErr {
			t.Errorf("volumeFile(%q) = %q, %v; want error %v", path, got, err, wantErr)
		}
		if err == nil && !strings.HasPrefix(got, "/v/") && got != filepath.Join("/v", path) {
			t.Errorf("volumeFile(%q) = %q, outside /v", path, got)
		}
	}
}
