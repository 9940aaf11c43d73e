package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	servingv1 "github.com/rampdev/ramp/apis/serving/v1"
	"github.com/rampdev/ramp/test/framework"
)

// watcher timestamps, as its watches deliver them, the API changes of a
// scale from zero that no component records in milliseconds: a revision's
// Deployment asked for pods, its first pod created, its EndpointSlice
// listing a ready endpoint. A watch event arrives within a millisecond or
// two of the write on loopback, as it does for the controllers that act
// on it.
type watcher struct {
	mu       sync.Mutex
	scaled   map[string]time.Time // revision -> Deployment replicas 0 -> n
	pods     map[string][]seenPod // revision -> pods, as created
	epsReady map[string]time.Time // revision -> first ready endpoint
	hadReady map[string]bool      // revision -> some slice lists a ready endpoint
}

type seenPod struct {
	pod *corev1.Pod
	at  time.Time
}

func startWatcher(ctx context.Context, c *framework.Cluster, ns string) (*watcher, error) {
	w := &watcher{scaled: map[string]time.Time{}, pods: map[string][]seenPod{},
		epsReady: map[string]time.Time{}, hadReady: map[string]bool{}}
	f := informers.NewSharedInformerFactoryWithOptions(c.Clientset, 0, informers.WithNamespace(ns))
	_, err := f.Apps().V1().Deployments().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		UpdateFunc: func(oldObj, newObj any) {
			o, n := oldObj.(*appsv1.Deployment), newObj.(*appsv1.Deployment)
			if ptr.Deref(o.Spec.Replicas, 1) == 0 && ptr.Deref(n.Spec.Replicas, 1) > 0 {
				w.mu.Lock()
				w.scaled[n.Labels[servingv1.LabelRevision]] = time.Now()
				w.mu.Unlock()
			}
		},
	})
	if err != nil {
		return nil, err
	}
	_, err = f.Core().V1().Pods().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			p := obj.(*corev1.Pod)
			rev := p.Labels[servingv1.LabelRevision]
			w.mu.Lock()
			w.pods[rev] = append(w.pods[rev], seenPod{pod: p, at: time.Now()})
			w.mu.Unlock()
		},
	})
	if err != nil {
		return nil, err
	}
	slices := func(obj any) {
		s, ok := obj.(*discoveryv1.EndpointSlice)
		if !ok {
			return
		}
		rev := s.Labels[servingv1.LabelRevision]
		ready := false
		for _, ep := range s.Endpoints {
			ready = ready || (ptr.Deref(ep.Conditions.Ready, true) && !ptr.Deref(ep.Conditions.Terminating, false))
		}
		w.mu.Lock()
		if ready && !w.hadReady[rev] {
			w.epsReady[rev] = time.Now()
		}
		w.hadReady[rev] = ready
		w.mu.Unlock()
	}
	_, err = f.Discovery().V1().EndpointSlices().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: slices, UpdateFunc: func(_, n any) { slices(n) },
	})
	if err != nil {
		return nil, err
	}
	f.Start(ctx.Done())
	for typ, ok := range f.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return nil, fmt.Errorf("watching %v in %s: the cache did not sync", typ, ns)
		}
	}
	return w, nil
}

// observed is what the watches saw of one scale from zero.
type observed struct {
	scaled, podCreated, endpointsReady time.Time
	pod                                *corev1.Pod // the first pod created
}

// since returns what was seen of rev at or after t0.
func (w *watcher) since(rev string, t0 time.Time) observed {
	w.mu.Lock()
	defer w.mu.Unlock()
	var o observed
	if t := w.scaled[rev]; !t.Before(t0) {
		o.scaled = t
	}
	if t := w.epsReady[rev]; !t.Before(t0) {
		o.endpointsReady = t
	}
	for _, p := range w.pods[rev] {
		if !p.at.Before(t0) {
			o.pod, o.podCreated = p.pod, p.at
			break
		}
	}
	return o
}
