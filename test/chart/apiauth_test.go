package chart

import (
	"errors"
	"fmt"
	"path"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/rampdev/ramp/serving/apiauth"
)

// tokenFlags are the flags naming each component's token for another's
// API, and the audience that token must have.
var tokenFlags = map[string]map[string]string{
	"ramp-controller": {"gateway-token-file": apiauth.GatewayAudience},
	"ramp-gateway":    {"autoscaler-token-file": apiauth.AutoscalerAudience},
}

// Each token file a component is pointed at is a projected, pod-bound
// serviceAccountToken of the right audience (never the API server's),
// mounted where the flag says.
func TestTokenFilesAreProjectedTokensOfTheirAudience(t *testing.T) {
	for name, args := range map[string][]string{"defaults": nil, "full": fullValues, "gateway off": {"--set", "gateway.enabled=false"}} {
		t.Run(name, func(t *testing.T) {
			seen := 0
			for _, d := range ofKind(render(t, args...), "Deployment") {
				dep := decode[appsv1.Deployment](t, d)
				spec := dep.Spec.Template.Spec
				c := spec.Containers[0]
				for _, a := range c.Args {
					flag, file, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
					audience, ok := tokenFlags[dep.Name][flag]
					if !ok {
						continue
					}
					seen++
					src, err := tokenSource(spec, c, file)
					if err != nil {
						t.Errorf("%s --%s=%s: %v", dep.Name, flag, file, err)
						continue
					}
					if src.Audience != audience {
						t.Errorf("%s --%s: the token's audience is %q, want %q", dep.Name, flag, src.Audience, audience)
					}
					if src.ExpirationSeconds == nil || *src.ExpirationSeconds < 600 || *src.ExpirationSeconds > 3600 {
						t.Errorf("%s --%s: expirationSeconds %v, want 600 to 3600", dep.Name, flag, src.ExpirationSeconds)
					}
				}
			}
			want := 2
			if name == "gateway off" {
				want = 0 // no gateway, no token for it or from it
			}
			if seen != want {
				t.Errorf("%d token file flags rendered, want %d", seen, want)
			}
		})
	}
}

// tokenSource finds the serviceAccountToken source that file is in.
func tokenSource(spec corev1.PodSpec, c corev1.Container, file string) (*corev1.ServiceAccountTokenProjection, error) {
	for _, m := range c.VolumeMounts {
		rel, ok := strings.CutPrefix(file, strings.TrimSuffix(m.MountPath, "/")+"/")
		if !ok {
			continue
		}
		for _, v := range spec.Volumes {
			if v.Name != m.Name || v.Projected == nil {
				continue
			}
			for _, s := range v.Projected.Sources {
				if s.ServiceAccountToken != nil && path.Clean(s.ServiceAccountToken.Path) == rel {
					return s.ServiceAccountToken, nil
				}
			}
		}
		return nil, fmt.Errorf("volume %s projects no serviceAccountToken at %s", m.Name, rel)
	}
	return nil, errors.New("no volume is mounted there")
}

// The ServiceAccount the CLI requests tokens of runs no pod and may read
// telemetry only.
func TestTelemetryServiceAccount(t *testing.T) {
	docs := render(t)
	var found bool
	for _, d := range ofKind(docs, "ServiceAccount") {
		if d.name() != "ramp-telemetry" {
			continue
		}
		found = true
		sa := decode[corev1.ServiceAccount](t, d)
		if sa.Namespace != releaseNS || sa.AutomountServiceAccountToken == nil || *sa.AutomountServiceAccountToken {
			t.Errorf("ServiceAccount ramp-telemetry: namespace %q, automount %v; want %s, false", sa.Namespace, sa.AutomountServiceAccountToken, releaseNS)
		}
	}
	if !found {
		t.Fatal("no ServiceAccount ramp-telemetry")
	}
	for _, d := range ofKind(docs, "Deployment") {
		if sa := decode[appsv1.Deployment](t, d).Spec.Template.Spec.ServiceAccountName; sa == "ramp-telemetry" {
			t.Errorf("%s runs as ramp-telemetry", d.id())
		}
	}
}
