package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rolloutsv1alpha1 "github.com/rampdev/ramp/apis/rollouts/v1alpha1"
	servingv1 "github.com/rampdev/ramp/apis/serving/v1"
)

// runLabel marks the bench's Rollouts, so its watch sees only them.
const runLabel = "bench.ramp.dev/run"

// canaryWeight is the first step's weight. The step pauses for an hour
// after its traffic is applied, so every Rollout holds at step 0 while the
// bench measures.
const canaryWeight = 10

// rollout is one of the bench's Rollouts: a revision at zero pods (initial
// scale 0, which the chart allows with autoscaler.allowZeroInitialScale),
// analysis off, so that how fast a step starts depends on the controller
// (and the gateway applying its traffic) alone.
func rollout(ns, name, version string) *rolloutsv1alpha1.Rollout {
	return &rolloutsv1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{runLabel: "controller"}},
		Spec: rolloutsv1alpha1.RolloutSpec{
			Template: template(version),
			Strategy: rolloutsv1alpha1.Strategy{Canary: &rolloutsv1alpha1.CanaryStrategy{Steps: []rolloutsv1alpha1.CanaryStep{
				{Weight: ptr.To[int32](canaryWeight), Pause: &metav1.Duration{Duration: time.Hour}},
			}}},
			Analysis: &rolloutsv1alpha1.Analysis{Disabled: true},
		},
	}
}

func template(version string) servingv1.RevisionTemplateSpec {
	return servingv1.RevisionTemplateSpec{
		Metadata: servingv1.TemplateMeta{Annotations: map[string]string{servingv1.AnnotationInitialScale: "0"}},
		Spec: servingv1.RevisionSpec{Containers: []servingv1.Container{{
			Image: "ramp/sampleapp:" + version,
			Env:   []corev1.EnvVar{{Name: "VERSION", Value: version}},
			Ports: []servingv1.ContainerPort{{ContainerPort: 8080}},
		}}},
	}
}

// parallel runs f(0..n-1) on workers goroutines and returns the first
// error; every progress'th completion calls progress with the count done.
func parallel(ctx context.Context, n, workers, every int, f func(context.Context, int) error, progress func(done int)) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		next, done atomic.Int64
		once       sync.Once
		first      error
		wg         sync.WaitGroup
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := f(ctx, i); err != nil {
					once.Do(func() { first = err; cancel() })
					return
				}
				if d := int(done.Add(1)); d%every == 0 || d == n {
					progress(d)
				}
			}
		}()
	}
	wg.Wait()
	if first == nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return first
}

// firstStep is when the bench first saw a Rollout pass each mark after
// its update.
type firstStep struct {
	entered time.Time // status.currentStepIndex 0 for the new canary (its revision is Ready)
	applied time.Time // and status.stepReadyAt: the Route's traffic split is applied
}

// stepWatch watches the bench's Rollouts and records, for each one
// updated to generation gen[key], when its first step started.
//
// It also keeps which Rollouts are Healthy at their current generation,
// so the bench never lists hundreds of Rollouts in a loop: on a loaded
// API server such a list takes seconds, and the bench would be measuring
// its own load.
type stepWatch struct {
	mu      sync.Mutex
	gen     map[types.NamespacedName]int64
	seen    map[types.NamespacedName]*firstStep
	healthy map[types.NamespacedName]bool
}

func newStepWatch() *stepWatch {
	return &stepWatch{gen: map[types.NamespacedName]int64{}, seen: map[types.NamespacedName]*firstStep{},
		healthy: map[types.NamespacedName]bool{}}
}

// healthyCount is how many Rollouts are Healthy at their generation.
func (w *stepWatch) healthyCount() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, h := range w.healthy {
		if h {
			n++
		}
	}
	return n
}

// expect records that key was updated to generation gen.
func (w *stepWatch) expect(key types.NamespacedName, gen int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.gen[key] = gen
}

// observe records the marks ro has passed, at now.
func (w *stepWatch) observe(ro *rolloutsv1alpha1.Rollout, now time.Time) {
	key := client.ObjectKeyFromObject(ro)
	w.mu.Lock()
	defer w.mu.Unlock()
	st := &ro.Status
	w.healthy[key] = st.ObservedGeneration == ro.Generation && st.Phase == rolloutsv1alpha1.PhaseHealthy && st.StableRevision != ""
	gen, ok := w.gen[key]
	if !ok || st.ObservedGeneration < gen || st.Phase != rolloutsv1alpha1.PhaseProgressing ||
		st.CanaryRevision == "" || st.CanaryRevision == st.StableRevision || ptr.Deref(st.CurrentStepIndex, -1) != 0 {
		return
	}
	fs := w.seen[key]
	if fs == nil {
		fs = &firstStep{entered: now}
		w.seen[key] = fs
	}
	if fs.applied.IsZero() && st.StepReadyAt != nil && st.CanaryWeight == canaryWeight {
		fs.applied = now
	}
}

// counts returns how many Rollouts entered and applied their first step.
func (w *stepWatch) counts() (entered, applied int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, fs := range w.seen {
		entered++
		if !fs.applied.IsZero() {
			applied++
		}
	}
	return entered, applied
}

func (w *stepWatch) get(key types.NamespacedName) firstStep {
	w.mu.Lock()
	defer w.mu.Unlock()
	if fs := w.seen[key]; fs != nil {
		return *fs
	}
	return firstStep{}
}

// run lists then watches the bench's Rollouts until ctx ends, listing
// again whenever the watch ends (an expired version, a closed stream).
func (w *stepWatch) run(ctx context.Context, cl client.WithWatch) {
	sel := client.MatchingLabels{runLabel: "controller"}
	for ctx.Err() == nil {
		var list rolloutsv1alpha1.RolloutList
		if err := cl.List(ctx, &list, sel); err != nil {
			sleep(ctx, time.Second)
			continue
		}
		now := time.Now()
		for i := range list.Items {
			w.observe(&list.Items[i], now)
		}
		wi, err := cl.Watch(ctx, &rolloutsv1alpha1.RolloutList{}, sel, &client.ListOptions{Raw: &metav1.ListOptions{
			ResourceVersion: list.ResourceVersion, AllowWatchBookmarks: true}})
		if err != nil {
			sleep(ctx, time.Second)
			continue
		}
		w.drain(ctx, wi)
		wi.Stop()
	}
}

func (w *stepWatch) drain(ctx context.Context, wi watch.Interface) {
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-wi.ResultChan():
			if !ok {
				return
			}
			if ev.Type == watch.Error {
				return // relist (apierrors.FromObject(ev.Object) says why)
			}
			if ro, ok := ev.Object.(*rolloutsv1alpha1.Rollout); ok && ev.Type != watch.Deleted {
				w.observe(ro, time.Now())
			}
		}
	}
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// routeSplit checks that the Route of each Rollout sends canaryWeight% to
// its canary revision and the rest to its stable revision, and returns
// how many do not.
func routeSplit(ctx context.Context, cl client.Client, ros []*rolloutsv1alpha1.Rollout) (int, string, error) {
	bad, example := 0, ""
	for _, ro := range ros {
		cur := &rolloutsv1alpha1.Rollout{}
		if err := cl.Get(ctx, client.ObjectKeyFromObject(ro), cur); err != nil {
			return 0, "", err
		}
		rt := &servingv1.Route{}
		if err := cl.Get(ctx, client.ObjectKeyFromObject(ro), rt); err != nil {
			return 0, "", err
		}
		got := map[string]int64{}
		for _, t := range rt.Status.Traffic {
			got[t.RevisionName] += ptr.Deref(t.Percent, 0)
		}
		c, s := cur.Status.CanaryRevision, cur.Status.StableRevision
		if c == "" || got[c] != canaryWeight || got[s] != 100-canaryWeight {
			bad++
			if example == "" {
				example = fmt.Sprintf("%s/%s: canary %q stable %q, route traffic %v", ro.Namespace, ro.Name, c, s, got)
			}
		}
	}
	return bad, example, nil
}
