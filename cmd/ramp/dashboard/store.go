package dashboard

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rolloutsv1alpha1 "github.com/rampdev/ramp/apis/rollouts/v1alpha1"
	autoscaling "github.com/rampdev/ramp/controllers/autoscaler"
)

// TelemetryFunc reads what the autoscaler measured of a revision over the
// last window.
type TelemetryFunc func(ctx context.Context, namespace, revision string, window time.Duration) (autoscaling.Telemetry, error)

// Bounds of what the store keeps and polls.
const (
	// maxPoints is how many telemetry points a Rollout keeps: 30 minutes
	// at the default interval.
	maxPoints = 900
	// maxLooks is how many analysis looks a Rollout keeps.
	maxLooks = 200
	// maxPolled bounds the Rollouts whose telemetry one tick reads.
	maxPolled = 50
	// pollers is how many telemetry reads run at once.
	pollers = 4
	// telemetryWindow is the window of each point: the rates and
	// quantiles of the last 10 seconds.
	telemetryWindow = 10 * time.Second
	// relistDelay is the wait after a failed list or watch.
	relistDelay = 2 * time.Second
)

// Sample is one side's telemetry at a point; latencies in milliseconds.
type Sample struct {
	Requests  int64   `json:"requests"`
	Errors    int64   `json:"errors"`
	ErrorRate float64 `json:"errorRate"`
	RPS       float64 `json:"rps"`
	P50       float64 `json:"p50"`
	P90       float64 `json:"p90"`
	P99       float64 `json:"p99"`
}

// Point is the canary and stable telemetry at T (Unix milliseconds); a side
// without requests in the window is nil.
type Point struct {
	T      int64   `json:"t"`
	Canary *Sample `json:"canary,omitempty"`
	Stable *Sample `json:"stable,omitempty"`
}

// WeightPoint is the canary's share of the traffic from T on.
type WeightPoint struct {
	T      int64  `json:"t"`
	Weight int32  `json:"weight"`
	Phase  string `json:"phase"`
}

// entry is what the store knows of one Rollout.
type entry struct {
	ro      *rolloutsv1alpha1.Rollout
	canary  string // the canary whose rollout points and looks describe
	points  []Point
	weights []WeightPoint
	looks   []rolloutsv1alpha1.Measurement
	seen    map[string]bool // looks by time and phase
	telErr  string
	updated time.Time
}

// Store follows the Rollouts the user may list, and records for each the
// traffic weight, the canary's and the stable's telemetry over time and
// every analysis look, from the moment the dashboard started.
type Store struct {
	c         client.WithWatch
	telemetry TelemetryFunc
	now       func() time.Time
	interval  time.Duration
	namespace string // the fallback when the user may not list every namespace
	all       bool

	mu      sync.Mutex
	entries map[client.ObjectKey]*entry
	scope   string // "all namespaces" or "namespace X"
	err     string // the last list or watch error, "" when following
	synced  bool
	version uint64
	changed chan struct{} // closed (and replaced) on every change
}

// NewStore returns a store reading with c; all asks for every namespace
// (falling back to namespace when the user may not list them).
func NewStore(c client.WithWatch, telemetry TelemetryFunc, namespace string, all bool, interval time.Duration, now func() time.Time) *Store {
	if interval <= 0 {
		interval = 2 * time.Second
	}
	return &Store{c: c, telemetry: telemetry, now: now, interval: interval, namespace: namespace, all: all,
		entries: map[client.ObjectKey]*entry{}, changed: make(chan struct{})}
}

// Run follows the Rollouts and polls telemetry until ctx ends.
func (s *Store) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Go(func() { s.follow(ctx) })
	if s.telemetry != nil {
		wg.Go(func() { s.poll(ctx) })
	}
	wg.Wait()
}

// Changed returns a channel closed at the next change, and the version.
func (s *Store) Changed() (<-chan struct{}, uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed, s.version
}

// bump records a change; s.mu is held.
func (s *Store) bump() {
	s.version++
	close(s.changed)
	s.changed = make(chan struct{})
}

// follow lists and watches Rollouts, listing again after each watch ends.
func (s *Store) follow(ctx context.Context) {
	for ctx.Err() == nil {
		rv, ns, err := s.list(ctx)
		if err == nil {
			err = s.watch(ctx, ns, rv)
		}
		if ctx.Err() != nil {
			return
		}
		s.mu.Lock()
		if err != nil {
			s.err = err.Error()
		}
		s.bump()
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-time.After(relistDelay):
		}
	}
}

// list reads every Rollout in scope and replaces the store's; it returns
// the list's resource version and the namespace listed ("" for all).
func (s *Store) list(ctx context.Context) (string, string, error) {
	var list rolloutsv1alpha1.RolloutList
	ns, scope := "", "all namespaces"
	if !s.all {
		ns, scope = s.namespace, "namespace "+s.namespace
	}
	err := s.c.List(ctx, &list, client.InNamespace(ns))
	if err != nil && ns == "" && apierrors.IsForbidden(err) {
		ns, scope = s.namespace, "namespace "+s.namespace+" (you may not list Rollouts in every namespace)"
		err = s.c.List(ctx, &list, client.InNamespace(ns))
	}
	if err != nil {
		return "", "", fmt.Errorf("listing Rollouts in %s: %w", scope, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	keep := map[client.ObjectKey]bool{}
	for i := range list.Items {
		ro := &list.Items[i]
		keep[client.ObjectKeyFromObject(ro)] = true
		s.upsert(ro)
	}
	for k := range s.entries {
		if !keep[k] {
			delete(s.entries, k)
		}
	}
	s.scope, s.err, s.synced = scope, "", true
	s.bump()
	return list.ResourceVersion, ns, nil
}

// watch applies the watch's events until it ends.
func (s *Store) watch(ctx context.Context, ns, rv string) error {
	w, err := s.c.Watch(ctx, &rolloutsv1alpha1.RolloutList{}, &client.ListOptions{Namespace: ns, Raw: &metav1.ListOptions{ResourceVersion: rv}})
	if err != nil {
		return fmt.Errorf("watching Rollouts: %w", err)
	}
	defer w.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.ResultChan():
			if !ok {
				return nil
			}
			ro, isRollout := ev.Object.(*rolloutsv1alpha1.Rollout)
			switch {
			case ev.Type == watch.Error:
				return nil // list again
			case !isRollout:
				continue
			}
			s.mu.Lock()
			if ev.Type == watch.Deleted {
				delete(s.entries, client.ObjectKeyFromObject(ro))
			} else {
				s.upsert(ro)
			}
			s.bump()
			s.mu.Unlock()
		}
	}
}

// upsert records a Rollout's new state; s.mu is held.
func (s *Store) upsert(ro *rolloutsv1alpha1.Rollout) {
	k := client.ObjectKeyFromObject(ro)
	e := s.entries[k]
	if e == nil {
		e = &entry{seen: map[string]bool{}}
		s.entries[k] = e
	}
	now := s.now()
	st := ro.Status
	if st.CanaryRevision != "" && st.CanaryRevision != e.canary {
		// A new rollout: the charts describe it alone.
		if e.canary != "" {
			e.points, e.weights, e.looks, e.seen = nil, nil, nil, map[string]bool{}
		}
		e.canary = st.CanaryRevision
	}
	if n := len(e.weights); n == 0 || e.weights[n-1].Weight != st.CanaryWeight || e.weights[n-1].Phase != string(st.Phase) {
		e.weights = appendBounded(e.weights, WeightPoint{T: now.UnixMilli(), Weight: st.CanaryWeight, Phase: string(st.Phase)}, maxPoints)
	}
	for _, m := range st.Measurements {
		id := m.Time.UTC().Format(time.RFC3339Nano) + " " + m.Phase
		if e.seen[id] {
			continue
		}
		e.seen[id] = true
		e.looks = appendBounded(e.looks, *m.DeepCopy(), maxLooks)
	}
	sort.SliceStable(e.looks, func(i, j int) bool { return e.looks[i].Time.Before(&e.looks[j].Time) })
	e.ro = ro.DeepCopy()
	e.ro.ManagedFields = nil
	e.updated = now
}

func appendBounded[T any](s []T, v T, limit int) []T {
	s = append(s, v)
	if len(s) > limit {
		s = append(s[:0:0], s[len(s)-limit:]...)
	}
	return s
}

// active reports whether a Rollout is moving traffic: its telemetry is
// worth polling.
func active(ro *rolloutsv1alpha1.Rollout) bool {
	st := ro.Status
	switch st.Phase {
	case rolloutsv1alpha1.PhaseProgressing, rolloutsv1alpha1.PhasePaused, rolloutsv1alpha1.PhaseRollingBack, rolloutsv1alpha1.PhaseAborting:
		return st.CanaryRevision != ""
	}
	return false
}

// poll reads the canary's and the stable's telemetry of every active
// Rollout (at most maxPolled, the most recently changed first) every
// interval.
func (s *Store) poll(ctx context.Context) {
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		type job struct {
			k              client.ObjectKey
			canary, stable string
			updated        time.Time
		}
		var jobs []job
		s.mu.Lock()
		for k, e := range s.entries {
			if active(e.ro) {
				jobs = append(jobs, job{k, e.ro.Status.CanaryRevision, e.ro.Status.StableRevision, e.updated})
			}
		}
		s.mu.Unlock()
		sort.Slice(jobs, func(i, j int) bool { return jobs[i].updated.After(jobs[j].updated) })
		if len(jobs) > maxPolled {
			jobs = jobs[:maxPolled]
		}
		sem := make(chan struct{}, pollers)
		var wg sync.WaitGroup
		for _, j := range jobs {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				s.measure(ctx, j.k, j.canary, j.stable)
			})
		}
		wg.Wait()
	}
}

// measure reads one Rollout's point and appends it.
func (s *Store) measure(ctx context.Context, k client.ObjectKey, canary, stable string) {
	ctx, cancel := context.WithTimeout(ctx, s.interval)
	defer cancel()
	p := Point{T: s.now().UnixMilli()}
	var errs []string
	read := func(rev string) *Sample {
		if rev == "" {
			return nil
		}
		t, err := s.telemetry(ctx, k.Namespace, rev, telemetryWindow)
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", rev, err))
			return nil
		}
		if t.Requests == 0 {
			return nil
		}
		return &Sample{Requests: t.Requests, Errors: t.Errors5xx, ErrorRate: t.ErrorRate, RPS: t.RequestRate,
			P50: t.P50Seconds * 1000, P90: t.P90Seconds * 1000, P99: t.P99Seconds * 1000}
	}
	p.Canary = read(canary)
	p.Stable = read(stable)
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.entries[k]
	if e == nil || e.ro.Status.CanaryRevision != canary {
		return
	}
	e.telErr = ""
	if len(errs) > 0 {
		e.telErr = "reading telemetry: " + errs[0]
	}
	e.points = appendBounded(e.points, p, maxPoints)
	s.bump()
}

// snapshot is a copy of what the store knows, for one reader.
type snapshot struct {
	scope, err string
	synced     bool
	version    uint64
	entries    []*entry // sorted by namespace and name; copies
}

// rollouts copies the entries (keys nil: all of them, without history).
func (s *Store) snapshot(key *client.ObjectKey) snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	sn := snapshot{scope: s.scope, err: s.err, synced: s.synced, version: s.version}
	for k, e := range s.entries {
		if key != nil && k != *key {
			continue
		}
		c := &entry{ro: e.ro, canary: e.canary, telErr: e.telErr, updated: e.updated}
		if key != nil {
			c.points = append([]Point(nil), e.points...)
			c.weights = append([]WeightPoint(nil), e.weights...)
			c.looks = append([]rolloutsv1alpha1.Measurement(nil), e.looks...)
		} else if n := len(e.looks); n > 0 {
			c.looks = e.looks[n-1:]
		}
		sn.entries = append(sn.entries, c)
	}
	sort.Slice(sn.entries, func(i, j int) bool {
		a, b := sn.entries[i].ro, sn.entries[j].ro
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		return a.Name < b.Name
	})
	return sn
}
