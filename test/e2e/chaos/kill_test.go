package chaos

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	rolloutsv1alpha1 "github.com/rampdev/ramp/apis/rollouts/v1alpha1"
	servingv1 "github.com/rampdev/ramp/apis/serving/v1"
	"github.com/rampdev/ramp/controllers/manager"
	"github.com/rampdev/ramp/serving/gateway"
	"github.com/rampdev/ramp/test/framework"
)

const system = "ramp-system"

// maxTakeover is how long a new controller leader may take to hold the
// lease after the leader is killed.
const maxTakeover = 15 * time.Second

// gatewayKill SIGKILLs one of the two gateway processes under load: the
// other replica and the load balancer carry the traffic, and the node
// restarts the killed container in its pod, which must serve the current
// routes the moment it turns Ready.
func (s *suite) gatewayKill(t *testing.T) {
	ctx := context.Background()
	r := &row{fault: "1. gateway SIGKILL (1 of 2)", stateLost: "no"}
	defer s.tbl.add(r)

	// Given load on web (v1)
	l := s.load(t, s.host(web), 60*time.Second, versionIn("v1"))
	defer r.finish(l)
	time.Sleep(2 * time.Second)
	pods, rv, err := s.readyPods(ctx, system, map[string]string{"app.kubernetes.io/component": "gateway"})
	if err != nil || len(pods) != 2 {
		t.Fatalf("ready gateway pods: %d (%v), want 2", len(pods), err)
	}
	victim := pods[0]
	restarts := framework.RestartCount(&victim, "gateway")
	rerouted, retried := s.gw.Rerouted(), s.gw.Retried()

	// When one gateway's process is SIGKILLed
	pid, err := s.c.SignalContainer(&victim, "gateway", syscall.SIGKILL)
	if err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	t.Logf("SIGKILLed gateway %s (pid %d)", victim.Name, pid)

	// Then its container restarts and turns Ready
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	p, err := s.c.WatchPod(wctx, system, victim.Name, rv, func(p *corev1.Pod) bool {
		return framework.RestartCount(p, "gateway") > restarts && framework.PodReady(p)
	})
	if err != nil {
		t.Fatalf("the killed gateway did not come back: %v", err)
	}
	r.recovery = time.Since(killed)

	// And the moment it is Ready it serves web with the current table
	addr := net.JoinHostPort(p.Status.PodIP, strconv.Itoa(gateway.ExternalPort))
	code, version, err := getDirect(ctx, addr, s.host(web))
	if err != nil || code != 200 || version != "v1" {
		r.stateLost = fmt.Sprintf("Ready replacement answered %d %q %v", code, version, err)
		t.Errorf("the replacement gateway, just Ready, answered web with %d %q (%v), want 200 v1", code, version, err)
	}
	rt := &servingv1.Route{}
	if err := s.cl.Get(ctx, types.NamespacedName{Namespace: s.ns, Name: web}, rt); err != nil {
		t.Fatal(err)
	}
	if h, err := gatewayHash(ctx, s.c, p.Status.PodIP, s.ns, web); err != nil || rt.Status.RoutingTable == nil || h != rt.Status.RoutingTable.Hash {
		r.stateLost = "Ready replacement has another routing table"
		t.Errorf("the replacement gateway has hash %q for web (%v), the route's is %+v", h, err, rt.Status.RoutingTable)
	}

	// And no client saw a failure
	time.Sleep(2 * time.Second)
	r.finish(l)
	r.note = fmt.Sprintf("%s back Ready after %s; %d connections refused by a dead endpoint went to the other; "+
		"%d idempotent requests sent again after their connection was reset",
		victim.Name, r.recovery.Round(10*time.Millisecond), s.gw.Rerouted()-rerouted, s.gw.Retried()-retried)
	if r.res.Failed() > 0 {
		t.Errorf("clients saw failures while a gateway was killed: %s", r.res)
	}
	t.Log(r.res)
}

// controllerKill starts the rollout of v2 and SIGKILLs the leader
// controller while a step is paused: the other replica (or the restarted
// one) must take the lease over within maxTakeover and carry on from that
// step, neither repeating nor skipping one.
func (s *suite) controllerKill(t *testing.T) {
	ctx := context.Background()
	r := &row{fault: "2. controller SIGKILL mid-step (leader of 2)", stateLost: "no"}
	defer s.tbl.add(r)

	// Given v2 rolling out, at a step after the first, paused with at
	// least 3 s to go
	framework.Eventually(t, 30*time.Second, func(ctx context.Context) error {
		ro := &rolloutsv1alpha1.Rollout{}
		if err := s.cl.Get(ctx, types.NamespacedName{Namespace: s.ns, Name: web}, ro); err != nil {
			return err
		}
		ro.Spec.Template = sampleTemplate("v2", nil)
		return s.cl.Update(ctx, ro)
	})
	ro := s.waitRollout(t, func(ro *rolloutsv1alpha1.Rollout) error {
		st := ro.Status
		i := ptr.Deref(st.CurrentStepIndex, -1)
		if st.CanaryRevision != web+"-00002" || i < 1 || i >= steps-1 || st.PauseUntil == nil || time.Until(st.PauseUntil.Time) < 3*time.Second {
			return fmt.Errorf("phase %s canary %q step %d pause until %v", st.Phase, st.CanaryRevision, i, st.PauseUntil)
		}
		return nil
	}, 90*time.Second)
	step := *ro.Status.CurrentStepIndex
	canary := ro.Status.CanaryRevision
	l := s.load(t, s.host(web), 90*time.Second, versionIn("v1", "v2"))
	defer r.finish(l)
	time.Sleep(time.Second)

	// When the leader's process is SIGKILLed
	leader, identity := s.leader(t)
	pid, err := s.c.SignalContainer(leader, "controller", syscall.SIGKILL)
	if err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	t.Logf("SIGKILLed leader %s (pid %d) at step %d", leader.Name, pid, step+1)

	// Then a new leader holds the lease within maxTakeover
	var next string
	framework.Eventually(t, 60*time.Second, func(ctx context.Context) error {
		lease := &coordinationv1.Lease{}
		if err := s.cl.Get(ctx, types.NamespacedName{Namespace: system, Name: manager.LeaderElectionID}, lease); err != nil {
			return err
		}
		next = ptr.Deref(lease.Spec.HolderIdentity, "")
		if next == "" || next == identity {
			return fmt.Errorf("lease still held by %q", next)
		}
		return nil
	})
	r.recovery = time.Since(killed)
	t.Logf("new leader %s after %s", next, r.recovery.Round(10*time.Millisecond))
	if r.recovery > maxTakeover {
		t.Errorf("the new leader took over %s after the kill, want at most %s", r.recovery.Round(10*time.Millisecond), maxTakeover)
	}

	// And the rollout moves on from that step
	s.waitRollout(t, func(ro *rolloutsv1alpha1.Rollout) error {
		if i := ptr.Deref(ro.Status.CurrentStepIndex, -1); i <= step && ro.Status.Phase == rolloutsv1alpha1.PhaseProgressing {
			return fmt.Errorf("still at step %d", i+1)
		}
		return nil
	}, 60*time.Second)
	time.Sleep(time.Second)
	r.finish(l)

	// And no step was run twice or skipped so far
	if lost := s.stepsSoFar(ctx, t, canary); lost != "" {
		r.stateLost = lost
		t.Error(lost)
	}
	r.note = fmt.Sprintf("killed %s at step %d/%d; lease to %s after %s", leader.Name, step+1, steps,
		strings.SplitN(next, "_", 2)[0], r.recovery.Round(10*time.Millisecond))
	if r.res.Failed() > 0 {
		t.Errorf("clients saw failures while the leader was killed: %s", r.res)
	}
	t.Log(r.res)
}

// leader returns the pod of the controller holding the lease, and its
// identity.
func (s *suite) leader(t *testing.T) (*corev1.Pod, string) {
	t.Helper()
	var pod corev1.Pod
	var identity string
	framework.Eventually(t, 30*time.Second, func(ctx context.Context) error {
		lease := &coordinationv1.Lease{}
		if err := s.cl.Get(ctx, types.NamespacedName{Namespace: system, Name: manager.LeaderElectionID}, lease); err != nil {
			return err
		}
		identity = ptr.Deref(lease.Spec.HolderIdentity, "")
		name, _, ok := strings.Cut(identity, "_")
		if !ok {
			return fmt.Errorf("lease holder %q is not <pod>_<uuid>", identity)
		}
		return s.cl.Get(ctx, types.NamespacedName{Namespace: system, Name: name}, &pod)
	})
	return &pod, identity
}

// stepsSoFar checks the canary's steps up to the current one: each
// StepStarted event once, and the recorded history moving one step at a
// time. It returns what went wrong, or "".
func (s *suite) stepsSoFar(ctx context.Context, t *testing.T, canary string) string {
	t.Helper()
	ro := &rolloutsv1alpha1.Rollout{}
	if err := s.cl.Get(ctx, types.NamespacedName{Namespace: s.ns, Name: web}, ro); err != nil {
		t.Fatal(err)
	}
	last := steps // promoted or done: every step
	if ro.Status.CanaryRevision == canary && ro.Status.CurrentStepIndex != nil {
		last = min(int(*ro.Status.CurrentStepIndex)+1, steps)
	}
	var started map[int]int
	// Events are recorded asynchronously: give the last one a moment.
	err := framework.Poll(ctx, 5*time.Second, 200*time.Millisecond, func(ctx context.Context) error {
		var err error
		if started, err = s.stepEvents(ctx, canary); err != nil {
			return err
		}
		if started[last] == 0 {
			return fmt.Errorf("no event for step %d yet", last)
		}
		return nil
	})
	var problems []string
	if err != nil {
		problems = append(problems, err.Error())
	}
	for i := 1; i <= last; i++ {
		if started[i] != 1 {
			problems = append(problems, fmt.Sprintf("step %d started %d times", i, started[i]))
		}
	}
	if p := stepProblems(s.ro.history(canary)); p != "" {
		problems = append(problems, p)
	}
	return strings.Join(problems, "; ")
}
