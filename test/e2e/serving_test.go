package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	servingv1 "github.com/rampdev/ramp/apis/serving/v1"
	"github.com/rampdev/ramp/test/framework"
)

// notifications is the Knative tutorial's notifications service, played by
// the sample app.
func notifications(ns, version string) *servingv1.Service {
	return &servingv1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "notifications"},
		Spec: servingv1.ServiceSpec{ConfigurationSpec: servingv1.ConfigurationSpec{Template: servingv1.RevisionTemplateSpec{
			Spec: servingv1.RevisionSpec{Containers: []servingv1.Container{{
				Image: "ramp/sampleapp:" + version,
				Env: []corev1.EnvVar{
					{Name: "NAME", Value: "notifications"},
					{Name: "VERSION", Value: version},
					{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
				},
				Ports:          []servingv1.ContainerPort{{ContainerPort: 8080}},
				ReadinessProbe: &servingv1.Probe{HTTPGet: &servingv1.HTTPGetAction{Path: "/healthz"}, PeriodSeconds: 1},
			}}},
		}}},
	}
}

func getService(ctx context.Context, ns string) (*servingv1.Service, error) {
	svc := &servingv1.Service{}
	return svc, cluster.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: "notifications"}, svc)
}

// waitServiceReady waits until the Service is Ready for its generation and
// check passes on it.
func waitServiceReady(t *testing.T, ns string, check func(*servingv1.Service) error) *servingv1.Service {
	t.Helper()
	var svc *servingv1.Service
	framework.Eventually(t, 120*time.Second, func(ctx context.Context) error {
		var err error
		if svc, err = getService(ctx, ns); err != nil {
			return err
		}
		if !svc.Status.IsReady(svc.Generation) {
			return fmt.Errorf("service not ready: %+v", svc.Status.Conditions)
		}
		return check(svc)
	})
	return svc
}

// versionThroughQueueProxy asks a revision's pod, through its queue-proxy,
// which version it serves.
func versionThroughQueueProxy(ctx context.Context, ns, revision string) (string, error) {
	pods, err := cluster.Pods(ctx, ns, map[string]string{servingv1.LabelRevision: revision})
	if err != nil || len(pods) == 0 {
		return "", fmt.Errorf("no pods for %s (%w)", revision, err)
	}
	_, body, err := framework.Get(ctx, "http://"+pods[0].Status.PodIP+":8012/service/info")
	if err != nil {
		return "", err
	}
	i := strings.Index(body, `"version":"`)
	if i < 0 {
		return "", fmt.Errorf("no version in %s", body)
	}
	rest := body[i+len(`"version":"`):]
	return rest[:strings.IndexByte(rest, '"')], nil
}

func TestServiceRevisionsAndTrafficFollowTheKnativeReleaseTutorial(t *testing.T) {
	ns := cluster.Namespace(t)
	ctx := context.Background()

	// Given the notifications service at 1.0.0
	if err := cluster.Client.Create(ctx, notifications(ns, "1.0.0")); err != nil {
		t.Fatal(err)
	}

	// Then its first revision becomes Ready and the Service has its URL
	svc := waitServiceReady(t, ns, func(s *servingv1.Service) error {
		if s.Status.LatestReadyRevisionName != "notifications-00001" {
			return fmt.Errorf("latest ready %q", s.Status.LatestReadyRevisionName)
		}
		return nil
	})
	if want := "http://notifications." + ns + ".example.com"; svc.Status.URL != want {
		t.Fatalf("url %q, want %q", svc.Status.URL, want)
	}
	if len(svc.Status.Traffic) != 1 || svc.Status.Traffic[0].RevisionName != "notifications-00001" || svc.Status.Traffic[0].PercentOf() != 100 {
		t.Fatalf("traffic %+v, want 100%% to notifications-00001", svc.Status.Traffic)
	}
	// And the revision's pod serves 1.0.0 through its queue-proxy, and the
	// route through the gateway
	if v, err := versionThroughQueueProxy(ctx, ns, "notifications-00001"); err != nil || v != "1.0.0" {
		t.Fatalf("version through queue-proxy %q, %v", v, err)
	}
	host := "notifications." + ns + ".example.com"
	waitProgrammed(t, ns, "notifications")
	expectVersions(t, host, nil, map[string]int{"1.0.0": 20})

	// When the template moves to 1.1.0 with traffic split 50/50
	updateObject(t, svc, func() {
		svc.Spec.Template.Spec.Containers[0].Image = "ramp/sampleapp:1.1.0"
		svc.Spec.Template.Spec.Containers[0].Env[1].Value = "1.1.0"
		svc.Spec.Traffic = servingv1.TrafficList{
			{RevisionName: "notifications-00001", Percent: ptr.To(int64(50))},
			{LatestRevision: ptr.To(true), Percent: ptr.To(int64(50))},
		}
	})

	// Then both revisions are Ready and the status shows both targets
	svc = waitServiceReady(t, ns, func(s *servingv1.Service) error {
		got := map[string]int64{}
		for _, tt := range s.Status.Traffic {
			got[tt.RevisionName] += tt.PercentOf()
		}
		if got["notifications-00001"] != 50 || got["notifications-00002"] != 50 {
			return fmt.Errorf("traffic %v, want 50/50", got)
		}
		return nil
	})
	for rev, want := range map[string]string{"notifications-00001": "1.0.0", "notifications-00002": "1.1.0"} {
		if v, err := versionThroughQueueProxy(ctx, ns, rev); err != nil || v != want {
			t.Fatalf("%s serves %q (%v), want %s", rev, v, err, want)
		}
	}
	// And both versions answer through the gateway, half each
	waitProgrammed(t, ns, "notifications")
	expectVersions(t, host, nil, map[string]int{"1.0.0": 10, "1.1.0": 10})

	// When the traffic is tagged: current at 100%, version110 at 0%
	updateObject(t, svc, func() {
		svc.Spec.Traffic = servingv1.TrafficList{
			{Tag: "current", RevisionName: "notifications-00001", Percent: ptr.To(int64(100))},
			{Tag: "version110", RevisionName: "notifications-00002", Percent: ptr.To(int64(0))},
		}
	})

	// Then the tags appear in the status with their URLs
	defer func() {
		// And blue/green works through the gateway: the main host stays on
		// 1.0.0, the 0% tag reaches 1.1.0
		waitProgrammed(t, ns, "notifications")
		expectVersions(t, host, nil, map[string]int{"1.0.0": 20})
		expectVersions(t, "version110-"+host, nil, map[string]int{"1.1.0": 20})
		expectVersions(t, host, map[string]string{"Ramp-Serving-Tag": "version110"}, map[string]int{"1.1.0": 20})
	}()
	waitServiceReady(t, ns, func(s *servingv1.Service) error {
		want := map[string]string{
			"current":    "http://current-notifications." + ns + ".example.com",
			"version110": "http://version110-notifications." + ns + ".example.com",
		}
		for _, tt := range s.Status.Traffic {
			if want[tt.Tag] == tt.URL {
				delete(want, tt.Tag)
			}
		}
		if len(want) > 0 {
			return fmt.Errorf("traffic %+v lacks tag URLs %v", s.Status.Traffic, want)
		}
		return nil
	})
}

// expectVersions sends as many requests through the gateway as want counts
// and checks how many each version answered (the split is exact).
func expectVersions(t *testing.T, host string, header map[string]string, want map[string]int) {
	t.Helper()
	n := 0
	for _, c := range want {
		n += c
	}
	got := map[string]int{}
	for range n {
		code, v, err := viaGateway(context.Background(), host, "/service/info", header)
		if err != nil || code != 200 {
			t.Fatalf("GET %s: %d %v", host, code, err)
		}
		got[v]++
	}
	for v, c := range want {
		if got[v] != c {
			t.Fatalf("host %s %v: versions %v, want %v", host, header, got, want)
		}
	}
}
