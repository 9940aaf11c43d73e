package chart

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rolloutsv1alpha1 "github.com/rampdev/ramp/apis/rollouts/v1alpha1"
	servingv1 "github.com/rampdev/ramp/apis/serving/v1"
	"github.com/rampdev/ramp/test/framework"
)

// killWhileRollingBack rolls out a failing v3 of ro and kills the
// controller at exactly the point between recording the rollback's intent
// (phase RollingBack, written to the Rollout's status) and moving the
// traffic (the Service's traffic block, written next). It holds the
// controller at that point for real: the controller's ClusterRole loses
// update and patch on Services, so the status write succeeds and the
// Service write is refused. Then the controller pod is killed with
// SIGKILL, the permission is given back, and the new controller must
// finish the move: RolledBack only once the Service routes to the stable
// alone, with one RollingBack and one RolledBack event, never two.
func killWhileRollingBack(ctx context.Context, t *testing.T, cl client.Client, ro *rolloutsv1alpha1.Rollout, get func(context.Context) (int, string, error)) {
	t.Helper()
	const stable, canary = "web-00002", "web-00003"

	// Given v3 (half its requests fail) at its first step, 20%
	framework.Eventually(t, 30*time.Second, func(ctx context.Context) error {
		if err := cl.Get(ctx, client.ObjectKeyFromObject(ro), ro); err != nil {
			return err
		}
		v3 := webRollout("v3")
		c := &v3.Spec.Template.Spec.Containers[0]
		c.Env = append(c.Env, corev1.EnvVar{Name: "ERROR_RATE", Value: "0.5"})
		ro.Spec.Template = v3.Spec.Template
		return cl.Update(ctx, ro)
	})
	framework.Eventually(t, 2*time.Minute, func(ctx context.Context) error {
		got := &rolloutsv1alpha1.Rollout{}
		if err := cl.Get(ctx, client.ObjectKeyFromObject(ro), got); err != nil {
			return err
		}
		st := got.Status
		if st.ObservedGeneration != got.Generation || st.CanaryRevision != canary || st.StepReadyAt == nil {
			return fmt.Errorf("phase %s step %v canary %q: %s", st.Phase, st.CurrentStepIndex, st.CanaryRevision, st.Message)
		}
		return nil
	})

	// And the controller may no longer write Services (so it stops between
	// the intent and the move)
	setServiceWrites(ctx, t, cl, false)

	// When requests reach the failing canary (bounded: at most 2 minutes
	// or 20,000 requests, loopback only; failures are the point)
	loadCtx, stopLoad := context.WithTimeout(ctx, 2*time.Minute)
	defer stopLoad()
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() {
		for i := 0; i < 20000 && loadCtx.Err() == nil; i++ {
			_, _, _ = get(loadCtx)
			time.Sleep(5 * time.Millisecond)
		}
	})

	// Then the Rollout records the intent, RollingBack, while the Service
	// still sends 20% to the canary
	waitRollout(t, cl, ro, rolloutsv1alpha1.PhaseRollingBack, 90*time.Second)
	if w := serviceWeight(ctx, t, cl, canary); w != 20 {
		t.Fatalf("the Service sends %d%% to %s while the controller cannot write it, want 20%%", w, canary)
	}
	if n := eventCount(ctx, t, cl, "RolledBack"); n != 0 {
		t.Fatalf("%d RolledBack events while the Service still routes to the canary", n)
	}

	// When the controller is killed at that point, and the permission is
	// given back
	t.Logf("killed controller pod %s while RollingBack", killController(ctx, t, cl))
	setServiceWrites(ctx, t, cl, true)

	// Then the new controller finishes the move: RolledBack, with the
	// Service routing to the stable alone
	done := waitRollout(t, cl, ro, rolloutsv1alpha1.PhaseRolledBack, 2*time.Minute)
	stopLoad()
	if done.Status.StableRevision != stable || !strings.HasPrefix(done.Status.Message, "Rolled back to "+stable) {
		t.Errorf("after the rollback: stable %q, message %q", done.Status.StableRevision, done.Status.Message)
	}
	if w := serviceWeight(ctx, t, cl, canary); w != 0 {
		t.Errorf("RolledBack while the Service sends %d%% to %s", w, canary)
	}
	if w := serviceWeight(ctx, t, cl, stable); w != 100 {
		t.Errorf("RolledBack while the Service sends %d%% to %s, want 100%%", w, stable)
	}
	// And each transition was announced once, across the two controllers
	for _, reason := range []string{"RollingBack", "RolledBack"} {
		if n := eventCount(ctx, t, cl, reason); n != 1 {
			t.Errorf("%d %s events for %s, want 1", n, reason, canary)
		}
	}
}

// setServiceWrites gives the controller's ClusterRole update and patch on
// serving.ramp.dev Services, or takes them away, and waits until the API
// server's authorizer agrees.
func setServiceWrites(ctx context.Context, t *testing.T, cl client.Client, allow bool) {
	t.Helper()
	framework.Eventually(t, 30*time.Second, func(ctx context.Context) error {
		role := &rbacv1.ClusterRole{}
		if err := cl.Get(ctx, types.NamespacedName{Name: "ramp-controller"}, role); err != nil {
			return err
		}
		found := false
		for i := range role.Rules {
			r := &role.Rules[i]
			if !slices.Contains(r.APIGroups, servingv1.GroupVersion.Group) || !slices.Equal(r.Resources, []string{"services"}) {
				continue
			}
			found = true
			r.Verbs = slices.DeleteFunc(r.Verbs, func(v string) bool { return v == "update" || v == "patch" })
			if allow {
				r.Verbs = append(r.Verbs, "patch", "update")
			}
		}
		if !found {
			return fmt.Errorf("ClusterRole ramp-controller has no rule for serving.ramp.dev services: %+v", role.Rules)
		}
		return cl.Update(ctx, role)
	})
	framework.Eventually(t, 30*time.Second, func(ctx context.Context) error {
		sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User: "system:serviceaccount:" + ns + ":ramp-controller",
			ResourceAttributes: &authorizationv1.ResourceAttributes{
				Group: servingv1.GroupVersion.Group, Resource: "services", Verb: "update", Namespace: "default",
			},
		}}
		if err := cl.Create(ctx, sar); err != nil {
			return err
		}
		if sar.Status.Allowed != allow {
			return fmt.Errorf("controller may update Services: %v, want %v", sar.Status.Allowed, allow)
		}
		return nil
	})
}

// serviceWeight is the percent of the Service web's traffic block that
// goes to rev.
func serviceWeight(ctx context.Context, t *testing.T, cl client.Client, rev string) int64 {
	t.Helper()
	svc := &servingv1.Service{}
	if err := cl.Get(ctx, types.NamespacedName{Namespace: "default", Name: "web"}, svc); err != nil {
		t.Fatal(err)
	}
	var w int64
	for _, tt := range svc.Spec.Traffic {
		if tt.RevisionName == rev {
			w += ptr.Deref(tt.Percent, 0)
		}
	}
	return w
}

// eventCount counts the Rollout web's events of reason (v1 and v2 had no
// rollback), summing each event's series count.
func eventCount(ctx context.Context, t *testing.T, cl client.Client, reason string) int {
	t.Helper()
	var events eventsv1.EventList
	if err := cl.List(ctx, &events, client.InNamespace("default")); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range events.Items {
		if e.Regarding.Name != "web" || e.Reason != reason {
			continue
		}
		if e.Series != nil {
			n += int(e.Series.Count)
		} else {
			n++
		}
	}
	return n
}
