package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	servingv1 "github.com/rampdev/ramp/apis/serving/v1"
	"github.com/rampdev/ramp/test/framework"
)

// watcher timestamps, as its watches deliver them, the API changes of a
// scale from zero that no component records in milliseconds: a revision's
// Deployment asked for pods and its first pod created. A watch event
// arrives a few milliseconds after the write, as it does for the
// controllers that act on it; on a loaded machine this process can see it
// later than they do.
type watcher struct {
	mu     sync.Mutex
	scaled map[string]time.Time // revision -> Deployment replicas 0 -> n
	pods   map[string][]seenPod // revision -> pods, as created
}

type seenPod struct {
	pod *corev1.Pod
	at  time.Time
}

func startWatcher(ctx context.Context, c *framework.Cluster, ns string) (*watcher, error) {
	w := &watcher{scaled: map[string]time.Time{}, pods: map[string][]seenPod{}}
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
	scaled, podCreated time.Time
	pod                *corev1.Pod // the first pod created
}

// since returns what was seen of rev at or after t0.
func (w *watcher) since(rev string, t0 time.Time) observed {
	w.mu.Lock()
	defer w.mu.Unlock()
	var o observed
	if t := w.scaled[rev]; !t.Before(t0) {
		o.scaled = t
	}
	for _, p := range w.pods[rev] {
		if !p.at.Before(t0) {
			o.pod, o.podCreated = p.pod, p.at
			break
		}
	}
	return o
}
