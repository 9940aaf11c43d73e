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

	servingv1 "github.com/rampdev/ramp/apis/serving/v1"
	"github.com/rampdev/ramp/test/framework"
)

func TestRevisionFailuresCarryReasonsAUserCanActOn(t *testing.T) {
	ns := cluster.Namespace(t)
	ctx := context.Background()
	cases := map[string]struct {
		image      string
		env        []corev1.EnvVar
		wantType   string
		wantReason string
		wantInMsg  []string
	}{
		"missing-image": {
			image:      "registry.example.com/team/no-such-app:2.0",
			wantType:   servingv1.RevisionConditionResourcesAvailable,
			wantReason: servingv1.ReasonImagePullBackOff,
			wantInMsg:  []string{"registry.example.com/team/no-such-app:2.0"},
		},
		"crash-loop": {
			image:      "ramp/sampleapp:crash",
			env:        []corev1.EnvVar{{Name: "CRASH_AFTER", Value: "100ms"}},
			wantType:   servingv1.RevisionConditionContainerHealthy,
			wantReason: servingv1.ReasonCrashLoopBackOff,
			wantInMsg:  []string{"exit code 1"},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			// Given a Service whose revision cannot run
			svc := &servingv1.Service{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
				Spec: servingv1.ServiceSpec{ConfigurationSpec: servingv1.ConfigurationSpec{Template: servingv1.RevisionTemplateSpec{
					Spec: servingv1.RevisionSpec{Containers: []servingv1.Container{{Image: tc.image, Env: tc.env}}},
				}}},
			}
			if err := cluster.Client.Create(ctx, svc); err != nil {
				t.Fatal(err)
			}
			rev := name + "-00001"

			// Then the Revision says why, on the right condition, and is not Ready
			framework.Eventually(t, 60*time.Second, func(ctx context.Context) error {
				r := &servingv1.Revision{}
				if err := cluster.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: rev}, r); err != nil {
					return err
				}
				c := r.Status.GetCondition(tc.wantType)
				if c == nil || c.Status != metav1.ConditionFalse || c.Reason != tc.wantReason {
					return fmt.Errorf("%s = %+v, want False/%s", tc.wantType, c, tc.wantReason)
				}
				for _, s := range tc.wantInMsg {
					if !strings.Contains(c.Message, s) {
						return fmt.Errorf("message %q lacks %q", c.Message, s)
					}
				}
				if ready := r.Status.GetCondition(servingv1.ConditionReady); ready == nil || ready.Status != metav1.ConditionFalse {
					return fmt.Errorf("Ready = %+v, want False", ready)
				}
				return nil
			})

			// And the Service reports the failed revision by name
			framework.Eventually(t, 30*time.Second, func(ctx context.Context) error {
				s := &servingv1.Service{}
				if err := cluster.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, s); err != nil {
					return err
				}
				c := s.Status.GetCondition(servingv1.ServiceConditionConfigurationsReady)
				if c == nil || c.Status != metav1.ConditionFalse || c.Reason != servingv1.ReasonRevisionFailed || !strings.Contains(c.Message, rev) {
					return fmt.Errorf("ConfigurationsReady = %+v", c)
				}
				return nil
			})
		})
	}
}
