package chaos

import (
	"context"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	rolloutsv1alpha1 "github.com/rampdev/ramp/apis/rollouts/v1alpha1"
	servingv1 "github.com/rampdev/ramp/apis/serving/v1"
	"github.com/rampdev/ramp/test/framework"
)

// controlPlaneRestart restarts etcd and kube-apiserver in place while the
// rollout is between steps: the gateways keep serving their last-known
// routes, the autoscaler scales no serving revision down, and the
// rollout resumes at the step it was at.
func (s *suite) controlPlaneRestart(t *testing.T) {
	ctx := context.Background()
	r := &row{fault: "3. etcd + kube-apiserver restart", stateLost: "no"}
	defer s.tbl.add(r)
	var lost []string

	// Given the rollout in progress, and the scale of the serving revisions
	ro := s.waitRollout(t, func(ro *rolloutsv1alpha1.Rollout) error {
		if ro.Status.Phase != rolloutsv1alpha1.PhaseProgressing || ro.Status.CurrentStepIndex == nil {
			return fmt.Errorf("phase %s step %v", ro.Status.Phase, ro.Status.CurrentStepIndex)
		}
		return nil
	}, 60*time.Second)
	step, canary := *ro.Status.CurrentStepIndex, ro.Status.CanaryRevision
	if step >= steps-1 {
		t.Logf("the rollout is at its last step (%d) already: it can only be seen to finish", step+1)
	}
	serving := []string{ro.Status.StableRevision, canary, drain + "-00001"}
	before := map[string]int32{}
	for _, rev := range serving {
		n, err := s.replicas(ctx, rev)
		if err != nil {
			t.Fatal(err)
		}
		before[rev] = n
	}
	l := s.load(t, s.host(web), 120*time.Second, versionIn("v1", "v2"))
	defer r.finish(l)
	time.Sleep(time.Second)

	// When etcd and kube-apiserver are restarted
	begun := time.Now()
	if err := s.c.Restart(ctx, "etcd", "kube-apiserver"); err != nil {
		t.Fatal(err)
	}
	back := time.Since(begun)
	t.Logf("kube-apiserver ready again %s after the restart began", back.Round(10*time.Millisecond))

	// Then for 10 s no serving revision is scaled down
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) && len(lost) == 0 {
		for _, rev := range serving {
			n, err := s.replicas(ctx, rev)
			if err == nil && n < before[rev] {
				lost = append(lost, fmt.Sprintf("%s scaled from %d to %d", rev, before[rev], n))
			}
		}
		time.Sleep(500 * time.Millisecond)
	}

	// And the rollout carries on from its step
	got := s.waitRollout(t, func(ro *rolloutsv1alpha1.Rollout) error {
		i := ptr.Deref(ro.Status.CurrentStepIndex, -1)
		if ro.Status.Phase == rolloutsv1alpha1.PhaseProgressing && i <= step {
			return fmt.Errorf("still at step %d", i+1)
		}
		return nil
	}, 90*time.Second)
	r.recovery = time.Since(begun)
	if got.Status.Phase == rolloutsv1alpha1.PhaseProgressing && got.Status.CanaryRevision != canary {
		lost = append(lost, fmt.Sprintf("canary %s became %s", canary, got.Status.CanaryRevision))
	}
	r.finish(l)
	if p := s.stepsSoFar(ctx, t, canary); p != "" {
		lost = append(lost, p)
	}
	if len(lost) > 0 {
		r.stateLost = strings.Join(lost, "; ")
		t.Errorf("state lost across the restart: %s", r.stateLost)
	}
	r.note = fmt.Sprintf("API back after %s; rollout past step %d/%d after %s", back.Round(10*time.Millisecond),
		step+1, steps, r.recovery.Round(10*time.Millisecond))
	if r.res.Failed() > 0 {
		t.Errorf("clients saw failures while the control plane restarted: %s", r.res)
	}
	t.Log(r.res)
}

// queueProxyTerm sends SIGTERM to the queue-proxy of one of drain's two
// pods under load, as a container runtime stopping it would: the
// queue-proxy drains (not Ready, then finishes its requests), exits, and
// the node restarts it.
func (s *suite) queueProxyTerm(t *testing.T) {
	ctx := context.Background()
	r := &row{fault: "4. queue-proxy SIGTERM (1 of 2 pods)", stateLost: "no"}
	defer s.tbl.add(r)
	rev := map[string]string{servingv1.LabelRevision: drain + "-00001"}

	// Given load on drain
	l := s.load(t, s.host(drain), 60*time.Second, versionIn("v1"))
	defer r.finish(l)
	time.Sleep(2 * time.Second)
	pods, listRV, err := s.readyPods(ctx, s.ns, rev)
	if err != nil || len(pods) != 2 {
		t.Fatalf("ready drain pods: %d (%v), want 2", len(pods), err)
	}
	victim := pods[0]
	restarts := framework.RestartCount(&victim, "queue-proxy")

	// When its queue-proxy gets SIGTERM
	if _, err := s.c.SignalContainer(&victim, "queue-proxy", syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	signalled := time.Now()

	// Then the pod goes unready, and Ready again once the queue-proxy is
	// back
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	sawUnready := false
	if _, err := s.c.WatchPod(wctx, s.ns, victim.Name, listRV, func(p *corev1.Pod) bool {
		sawUnready = sawUnready || !framework.PodReady(p)
		return framework.RestartCount(p, "queue-proxy") > restarts && framework.PodReady(p)
	}); err != nil {
		t.Fatalf("the queue-proxy did not come back: %v", err)
	}
	r.recovery = time.Since(signalled)
	if !sawUnready {
		t.Errorf("pod %s never reported not Ready while its queue-proxy drained", victim.Name)
	}

	// And no client saw a failure
	time.Sleep(time.Second)
	r.finish(l)
	r.note = fmt.Sprintf("%s Ready again after %s", victim.Name, r.recovery.Round(10*time.Millisecond))
	if r.res.Failed() > 0 {
		t.Errorf("clients saw failures while a queue-proxy drained: %s", r.res)
	}
	t.Log(r.res)
}

// podEviction evicts one of drain's pods under load, as a node drain
// does: the node agent runs the preStop hook (which waits for the
// queue-proxy to drain) and SIGTERMs the containers, and the Deployment
// replaces the pod.
func (s *suite) podEviction(t *testing.T) {
	ctx := context.Background()
	r := &row{fault: "4b. revision pod evicted (preStop + SIGTERM)", stateLost: "no"}
	defer s.tbl.add(r)
	rev := map[string]string{servingv1.LabelRevision: drain + "-00001"}

	// Given load on drain, with its two pods Ready
	var pods []corev1.Pod
	framework.Eventually(t, 30*time.Second, func(ctx context.Context) error {
		var err error
		if pods, _, err = s.readyPods(ctx, s.ns, rev); err != nil {
			return err
		}
		if len(pods) != 2 {
			return fmt.Errorf("%d ready pods, want 2", len(pods))
		}
		return nil
	})
	l := s.load(t, s.host(drain), 90*time.Second, versionIn("v1"))
	defer r.finish(l)
	time.Sleep(2 * time.Second)

	// When one is evicted
	victim := pods[0]
	ev := &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Namespace: s.ns, Name: victim.Name}}
	if err := s.c.Clientset.PolicyV1().Evictions(s.ns).Evict(ctx, ev); err != nil {
		t.Fatal(err)
	}
	evicted := time.Now()

	// Then it is gone once drained, and its replacement Ready
	framework.Eventually(t, 60*time.Second, func(ctx context.Context) error {
		err := s.cl.Get(ctx, types.NamespacedName{Namespace: s.ns, Name: victim.Name}, &corev1.Pod{})
		switch {
		case err == nil:
			return fmt.Errorf("%s still there", victim.Name)
		case !apierrors.IsNotFound(err):
			return err
		}
		ready, _, err := s.readyPods(ctx, s.ns, rev)
		if err != nil {
			return err
		}
		if len(ready) != 2 {
			return fmt.Errorf("%d ready pods, want 2", len(ready))
		}
		return nil
	})
	r.recovery = time.Since(evicted)

	// And no client saw a failure
	time.Sleep(time.Second)
	r.finish(l)
	r.note = fmt.Sprintf("%s gone and replaced after %s", victim.Name, r.recovery.Round(10*time.Millisecond))
	if r.res.Failed() > 0 {
		t.Errorf("clients saw failures while a pod was evicted: %s", r.res)
	}
	t.Log(r.res)
}

// fromZero sends 100 requests at once to zero, at zero pods, whose pods
// take one request at a time: every one is held until a pod can take it.
func (s *suite) fromZero(t *testing.T) {
	ctx := context.Background()
	r := &row{fault: "5. 100 concurrent from zero (containerConcurrency 1)", stateLost: "no"}
	defer s.tbl.add(r)
	const rev = zero + "-00001"

	// Given zero at zero pods
	s.waitZero(t, rev)

	// When 100 requests arrive at once
	start := time.Now()
	res, err := framework.Burst(ctx, framework.LoadOptions{Balancer: s.gw, Host: s.host(zero), Check: versionIn("v1")}, 100)
	if err != nil {
		t.Fatal(err)
	}
	r.res, r.recovery = res, time.Since(start)

	// Then every one is answered 200, and the revision is scaled up
	n, err := s.replicas(ctx, rev)
	if err != nil {
		t.Fatal(err)
	}
	if n < 1 {
		r.stateLost = "the revision is back at zero"
		t.Errorf("replicas %d right after the burst", n)
	}
	r.note = fmt.Sprintf("all answered after %s; %d replicas asked for (max-scale 4)", r.recovery.Round(10*time.Millisecond), n)
	t.Log(res)
	if res.Failed() > 0 || res.Requests != 100 {
		t.Errorf("a burst of 100 from zero: %s", res)
	}
}

// waitZero waits until a revision has no pod and asks for none.
func (s *suite) waitZero(t *testing.T, rev string) {
	t.Helper()
	framework.Eventually(t, 90*time.Second, func(ctx context.Context) error {
		n, err := s.replicas(ctx, rev)
		if err != nil {
			return err
		}
		pods, err := s.c.Pods(ctx, s.ns, map[string]string{servingv1.LabelRevision: rev})
		if err != nil {
			return err
		}
		if n != 0 || len(pods) != 0 {
			return fmt.Errorf("replicas %d, %d pods; want zero", n, len(pods))
		}
		return nil
	})
}

// rolloutHistory waits for the rollout driven through the faults to
// finish, and checks that each step ran once, in order.
func (s *suite) rolloutHistory(t *testing.T) {
	ctx := context.Background()
	const canary = web + "-00002"
	s.waitRollout(t, func(ro *rolloutsv1alpha1.Rollout) error {
		if ro.Status.Phase != rolloutsv1alpha1.PhaseHealthy || ro.Status.StableRevision != canary {
			return fmt.Errorf("phase %s, stable %q: %s", ro.Status.Phase, ro.Status.StableRevision, ro.Status.Message)
		}
		return nil
	}, 2*time.Minute)
	if p := s.stepsSoFar(ctx, t, canary); p != "" {
		t.Errorf("the rollout of %s through the faults: %s", canary, p)
	}
	h := s.ro.history(canary)
	var seen []string
	for _, smp := range h {
		seen = append(seen, smp.String())
	}
	t.Logf("progress of %s:\n%s", canary, strings.Join(seen, "\n"))
	for i := int32(0); i < steps; i++ {
		found := false
		for _, smp := range h {
			found = found || smp.step == i
		}
		if !found {
			t.Errorf("step %d of %s was never seen in the Rollout's status", i+1, canary)
		}
	}
}
