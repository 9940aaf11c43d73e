package chart

import (
	"context"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rolloutsv1alpha1 "github.com/rampdev/ramp/apis/rollouts/v1alpha1"
)

// expectWebhookRefusals checks, on an installed chart, that the webhook
// (reached through its Service, with the CA the controller wrote) refuses
// what CEL cannot, naming the field, and that nothing is stored.
func expectWebhookRefusals(ctx context.Context, t *testing.T, cl client.Client) {
	t.Helper()
	vwc := &admissionregistrationv1.ValidatingWebhookConfiguration{}
	if err := cl.Get(ctx, client.ObjectKey{Name: "ramp-validation"}, vwc); err != nil {
		t.Fatal(err)
	}
	if len(vwc.Webhooks) != 3 || len(vwc.Webhooks[0].ClientConfig.CABundle) == 0 {
		t.Fatalf("webhook configuration %+v: want three webhooks (rollouts and both template kinds) with the controller's CA", vwc.Webhooks)
	}
	window := func(schedule, tz string) func(*rolloutsv1alpha1.Rollout) {
		return func(ro *rolloutsv1alpha1.Rollout) {
			ro.Spec.PromotionWindows = []rolloutsv1alpha1.PromotionWindow{{Schedule: schedule, TimeZone: tz, Duration: metav1.Duration{Duration: time.Hour}}}
		}
	}
	cases := map[string]struct {
		mutate func(*rolloutsv1alpha1.Rollout)
		want   string
	}{
		"garbage schedule": {window("at nine every working day", ""), `spec.promotionWindows[0].schedule: Invalid value: "at nine every working day": not a cron schedule`},
		"minute 99":        {window("99 9 * * *", ""), `spec.promotionWindows[0].schedule: Invalid value: "99 9 * * *": not a cron schedule: end of range (99) above maximum (59)`},
		"30 February":      {window("0 9 30 2 *", ""), `spec.promotionWindows[0].schedule: Invalid value: "0 9 30 2 *": never opens within the next 4 years`},
		"unknown zone":     {window("@daily", "Mars/Olympus"), `spec.promotionWindows[0].timeZone: Invalid value: "Mars/Olympus": unknown time zone`},
		"path-like zone":   {window("@daily", "../../etc/passwd"), `spec.promotionWindows[0].timeZone: Invalid value: "../../etc/passwd"`},
		"error rate 150%": {func(ro *rolloutsv1alpha1.Rollout) {
			over := rolloutsv1alpha1.Threshold("150%")
			ro.Spec.Analysis.Metrics[0].Max = &over
		}, `spec.analysis.metrics[0].max: Invalid value: "150%": errorRate threshold "150%": a percentage must be from 0% to 100%`},
	}
	for name, tc := range cases {
		ro := webRollout("v1")
		ro.Name = "bad"
		tc.mutate(ro)
		err := cl.Create(ctx, ro)
		if err == nil {
			_ = cl.Delete(ctx, ro)
			t.Errorf("%s: created, want refused at admission", name)
			continue
		}
		if msg := err.Error(); !strings.Contains(msg, `admission webhook "rollouts.validation.rollouts.ramp.dev" denied the request`) || !strings.Contains(msg, tc.want) {
			t.Errorf("%s: %v\nwant the webhook's refusal naming %q", name, err, tc.want)
		}
	}
	var list rolloutsv1alpha1.RolloutList
	if err := cl.List(ctx, &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 0 {
		t.Errorf("%d Rollouts stored after the refusals, want none", len(list.Items))
	}
}
