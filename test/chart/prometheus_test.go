package chart

import (
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

const promAuthDir = "/var/run/secrets/ramp.dev/prometheus"

func controllerPod(t *testing.T, docs []doc) corev1.PodSpec {
	t.Helper()
	for _, d := range ofKind(docs, "Deployment") {
		if d.name() == "ramp-controller" {
			return decode[appsv1.Deployment](t, d).Spec.Template.Spec
		}
	}
	t.Fatal("no Deployment ramp-controller rendered")
	return corev1.PodSpec{}
}

// promFlags are the controller's --prometheus-* arguments.
func promFlags(t *testing.T, docs []doc) []string {
	var out []string
	for _, a := range controllerArgs(t, docs) {
		if strings.HasPrefix(a, "--prometheus-") {
			out = append(out, a)
		}
	}
	return out
}

// The Prometheus credentials come from an existing Secret, mounted
// read-only with only the keys named, at the paths the flags point at.
func TestPrometheusAuth(t *testing.T) {
	const https = "analysis.prometheus.url=https://prometheus.monitoring:9090"
	tests := map[string]struct {
		args      []string
		wantFlags []string
		wantItems map[string]string // Secret key -> file; nil: no volume
	}{
		"defaults: no Prometheus": {args: nil, wantFlags: nil},
		"a URL alone": {args: []string{"--set", "analysis.prometheus.url=http://prometheus:9090", "--set", "analysis.prometheus.timeout=30s"},
			wantFlags: []string{"--prometheus-url=http://prometheus:9090", "--prometheus-timeout=30s"}},
		"full values: a bearer token, a client certificate and the CA": {args: fullValues,
			wantFlags: []string{"--prometheus-url=https://prometheus-operated.monitoring:9090", "--prometheus-timeout=20s",
				"--prometheus-ca-file=" + promAuthDir + "/ca.crt", "--prometheus-cert-file=" + promAuthDir + "/tls.crt",
				"--prometheus-key-file=" + promAuthDir + "/tls.key", "--prometheus-bearer-token-file=" + promAuthDir + "/token"},
			wantItems: map[string]string{"ca.crt": "ca.crt", "tls.crt": "tls.crt", "tls.key": "tls.key", "token": "token"}},
		"basic auth and a client certificate": {args: []string{"--set", https, "--set", "analysis.prometheus.auth.existingSecret=prom",
			"--set", "analysis.prometheus.auth.username=ramp", "--set", "analysis.prometheus.auth.keys.password=pw",
			"--set", "analysis.prometheus.auth.keys.cert=client.pem", "--set", "analysis.prometheus.auth.keys.key=client-key.pem"},
			wantFlags: []string{"--prometheus-url=https://prometheus.monitoring:9090", "--prometheus-timeout=10s",
				"--prometheus-cert-file=" + promAuthDir + "/tls.crt", "--prometheus-key-file=" + promAuthDir + "/tls.key",
				"--prometheus-username=ramp", "--prometheus-password-file=" + promAuthDir + "/password"},
			wantItems: map[string]string{"client.pem": "tls.crt", "client-key.pem": "tls.key", "pw": "password"}},
		"gateway off: the Secret is the only volume": {args: []string{"--set", "gateway.enabled=false", "--set", https,
			"--set", "analysis.prometheus.auth.existingSecret=prom", "--set", "analysis.prometheus.auth.keys.token=tok"},
			wantFlags: []string{"--prometheus-url=https://prometheus.monitoring:9090", "--prometheus-timeout=10s",
				"--prometheus-bearer-token-file=" + promAuthDir + "/token"},
			wantItems: map[string]string{"tok": "token"}},
		"insecureSkipVerify is its own flag": {args: []string{"--set", https, "--set", "analysis.prometheus.insecureSkipVerify=true"},
			wantFlags: []string{"--prometheus-url=https://prometheus.monitoring:9090", "--prometheus-timeout=10s", "--prometheus-insecure-skip-verify"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			docs := render(t, tc.args...)
			if got := promFlags(t, docs); !slices.Equal(got, tc.wantFlags) {
				t.Errorf("flags %q, want %q", got, tc.wantFlags)
			}
			pod := controllerPod(t, docs)
			var vol *corev1.Volume
			for i := range pod.Volumes {
				if pod.Volumes[i].Name == "prometheus-auth" {
					vol = &pod.Volumes[i]
				}
			}
			var mounted bool
			for _, m := range pod.Containers[0].VolumeMounts {
				if m.Name == "prometheus-auth" {
					mounted = m.MountPath == promAuthDir && m.ReadOnly
				}
			}
			if tc.wantItems == nil {
				if vol != nil || mounted {
					t.Errorf("volume %+v (mounted %v), want none", vol, mounted)
				}
				return
			}
			if vol == nil || vol.Secret == nil || !mounted {
				t.Fatalf("volume %+v (mounted read-only at %s: %v), want the Secret mounted", vol, promAuthDir, mounted)
			}
			got := map[string]string{}
			for _, it := range vol.Secret.Items {
				got[it.Key] = it.Path
			}
			if !mapsEqual(got, tc.wantItems) {
				t.Errorf("Secret items %v, want %v", got, tc.wantItems)
			}
			if m := vol.Secret.DefaultMode; m == nil || *m&0o007 != 0 {
				t.Errorf("defaultMode %v, want no access for others", m)
			}
		})
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// Prometheus settings that cannot work fail the install, naming the value.
func TestPrometheusAuthRefused(t *testing.T) {
	const https = "analysis.prometheus.url=https://prometheus.monitoring:9090"
	const secret = "analysis.prometheus.auth.existingSecret=prom"
	tests := map[string]struct {
		args []string
		want string
	}{
		"auth without a URL":   {[]string{"--set", secret, "--set", "analysis.prometheus.auth.keys.token=t"}, "analysis.prometheus.auth and insecureSkipVerify need analysis.prometheus.url"},
		"keys without secret":  {[]string{"--set", https, "--set", "analysis.prometheus.auth.keys.token=t"}, "auth.keys name keys of analysis.prometheus.auth.existingSecret"},
		"secret without keys":  {[]string{"--set", https, "--set", secret}, "analysis.prometheus.auth.existingSecret: set the keys to use"},
		"cert without key":     {[]string{"--set", https, "--set", secret, "--set", "analysis.prometheus.auth.keys.cert=c"}, "set both cert and key"},
		"token and basic auth": {[]string{"--set", https, "--set", secret, "--set", "analysis.prometheus.auth.keys.token=t", "--set", "analysis.prometheus.auth.username=u", "--set", "analysis.prometheus.auth.keys.password=p"}, "set either keys.token"},
		"password without user": {[]string{"--set", https, "--set", secret, "--set", "analysis.prometheus.auth.keys.password=p"},
			"basic auth needs both username and keys.password"},
		"CA and insecure": {[]string{"--set", https, "--set", secret, "--set", "analysis.prometheus.auth.keys.ca=ca", "--set", "analysis.prometheus.insecureSkipVerify=true"},
			"set either auth.keys.ca or insecureSkipVerify"},
		"token over http": {[]string{"--set", "analysis.prometheus.url=http://prometheus:9090", "--set", secret, "--set", "analysis.prometheus.auth.keys.token=t"},
			"TLS settings and credentials need an https URL"},
		"timeout not a duration": {[]string{"--set", "analysis.prometheus.timeout=10"}, "/analysis/prometheus/timeout"},
		"user name with a colon": {[]string{"--set", "analysis.prometheus.auth.username=a:b"}, "/analysis/prometheus/auth/username"},
		"key with a slash":       {[]string{"--set", "analysis.prometheus.auth.keys.ca=../ca"}, "/analysis/prometheus/auth/keys/ca"},
		"typo in auth":           {[]string{"--set", "analysis.prometheus.auth.secret=prom"}, "'secret'"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := helm(t, templateArgs(tc.args...)...)
			if err == nil {
				t.Fatalf("helm template %v succeeded, want an error naming %q", tc.args, tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error does not contain %q:\n%v", tc.want, err)
			}
		})
	}
}
