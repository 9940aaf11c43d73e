package autoscaler

import (
	"context"
	"fmt"
	"sync"

	discoveryv1 "k8s.io/api/discovery/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	servingv1 "github.com/rampdev/ramp/apis/serving/v1"
	"github.com/rampdev/ramp/serving/autoscaler"
	"github.com/rampdev/ramp/serving/queue"
)

// slicePods lists the ready pods of every revision from the revision
// Services' EndpointSlices, and remembers how many each revision had at
// the last listing.
type slicePods struct {
	Client client.Reader

	mu    sync.Mutex
	ready map[autoscaler.RevisionKey]int
}

var _ autoscaler.Pods = (*slicePods)(nil)

// ReadyPods implements autoscaler.Pods: ready, non-terminating endpoints,
// each pod once, scraped on the queue-proxy's admin port.
func (p *slicePods) ReadyPods(ctx context.Context) ([]autoscaler.Pod, error) {
	var slices discoveryv1.EndpointSliceList
	if err := p.Client.List(ctx, &slices, client.HasLabels{servingv1.LabelRevision}); err != nil {
		return nil, fmt.Errorf("listing revision endpoint slices: %w", err)
	}
	pods := readyPods(slices.Items)
	counts := make(map[autoscaler.RevisionKey]int, len(pods))
	for _, pod := range pods {
		counts[pod.Revision]++
	}
	p.mu.Lock()
	p.ready = counts
	p.mu.Unlock()
	return pods, nil
}

// Ready returns the number of ready pods of rev at the last listing.
func (p *slicePods) Ready(rev autoscaler.RevisionKey) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ready[rev]
}

// readyPods turns EndpointSlices into scrape targets.
func readyPods(slices []discoveryv1.EndpointSlice) []autoscaler.Pod {
	seen := map[string]bool{}
	var out []autoscaler.Pod
	for _, s := range slices {
		rev := autoscaler.RevisionKey{Namespace: s.Namespace, Name: s.Labels[servingv1.LabelRevision]}
		if rev.Name == "" {
			continue
		}
		for _, ep := range s.Endpoints {
			if len(ep.Addresses) == 0 || ep.TargetRef == nil || !isTrue(ep.Conditions.Ready) || isTrue(ep.Conditions.Terminating) {
				continue
			}
			key := s.Namespace + "/" + ep.TargetRef.Name
			if seen[key] {
				continue
			}
			seen[key] = true
			out = append(out, autoscaler.Pod{Revision: rev, Name: ep.TargetRef.Name, IP: ep.Addresses[0], Port: queue.AdminPort})
		}
	}
	return out
}

func isTrue(b *bool) bool { return b != nil && *b }
