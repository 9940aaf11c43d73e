package prometheus

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	servingv1 "github.com/rampdev/ramp/apis/serving/v1"
	"github.com/rampdev/ramp/controllers/revision/resources"
	"github.com/rampdev/ramp/test/framework"
)

// counts are a revision's requests and 5xx answers.
type counts struct{ requests, errors int64 }

func (c counts) ratio() float64 {
	if c.requests == 0 {
		return math.NaN()
	}
	return float64(c.errors) / float64(c.requests)
}

// comparison is one revision seen by the builtin telemetry and by
// Prometheus.
type comparison struct{ telemetry, prom counts }

// compareWithTelemetry waits until `ramp telemetry REV --window 5m` (the
// builtin telemetry the analysis judges by default: the autoscaler's
// scrapes of the queue-proxies' /stats) and Prometheus (the same
// queue-proxies' ramp_queue_requests_total, at their last value within 5
// minutes, summed over pods, tags and classes) count the same requests and
// the same 5xx ratio for the revision: requests within 5% (or 20) of
// Prometheus' counts read just before and just after the telemetry (the
// revision may still take traffic), ratio within half a point. Each
// revision here lives less than 5 minutes, so both count all of its
// traffic.
func compareWithTelemetry(ctx context.Context, t *testing.T, c *framework.Cluster, prom *framework.Prometheus, rev string) comparison {
	t.Helper()
	const tolerance = 0.05
	var cmp comparison
	framework.Eventually(t, 45*time.Second, func(ctx context.Context) error {
		before, err := promCounts(ctx, prom, rev)
		if err != nil {
			return err
		}
		if cmp.telemetry, err = telemetry(ctx, c, rev); err != nil {
			return err
		}
		if cmp.prom, err = promCounts(ctx, prom, rev); err != nil {
			return err
		}
		tel, pr := cmp.telemetry, cmp.prom
		if tel.requests == 0 || pr.requests == 0 {
			return fmt.Errorf("%s: telemetry %+v, Prometheus %+v: no requests yet", rev, tel, pr)
		}
		low := float64(before.requests) - max(20, tolerance*float64(before.requests))
		high := float64(pr.requests) + max(20, tolerance*float64(pr.requests))
		if r := float64(tel.requests); r < low || r > high {
			return fmt.Errorf("%s: telemetry counts %d requests, Prometheus %d before and %d after it", rev, tel.requests, before.requests, pr.requests)
		}
		if d := math.Abs(tel.ratio() - pr.ratio()); d > 0.005 {
			return fmt.Errorf("%s: telemetry error ratio %.2f%% (%d/%d), Prometheus %.2f%% (%d/%d)", rev,
				100*tel.ratio(), tel.errors, tel.requests, 100*pr.ratio(), pr.errors, pr.requests)
		}
		return nil
	})
	t.Logf("%s: telemetry %d requests, %d 5xx (%.2f%%); Prometheus %d requests, %d 5xx (%.2f%%)", rev,
		cmp.telemetry.requests, cmp.telemetry.errors, 100*cmp.telemetry.ratio(),
		cmp.prom.requests, cmp.prom.errors, 100*cmp.prom.ratio())
	return cmp
}

// telemetry runs `ramp telemetry REV --window 5m` and reads its REQUESTS
// and ERRORS columns.
func telemetry(ctx context.Context, c *framework.Cluster, rev string) (counts, error) {
	var out, errOut bytes.Buffer
	cmd := exec.CommandContext(ctx, filepath.Join(c.BinDir, "ramp"), "telemetry", rev, "--window", "5m",
		"-n", appNS, "--kubeconfig", c.Kubeconfig(), "--controller-namespace", releaseNS)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return counts{}, fmt.Errorf("ramp telemetry %s: %w: %s", rev, err, errOut.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 {
		return counts{}, fmt.Errorf("ramp telemetry %s printed %q, want a header and a row", rev, out.String())
	}
	head, row := strings.Fields(lines[0]), strings.Fields(lines[1])
	// "ERROR RATE" is one column of two words.
	if len(head) != 13 || head[4] != "REQUESTS" || head[6] != "ERRORS" || len(row) != 12 {
		return counts{}, fmt.Errorf("ramp telemetry %s printed %q: columns changed", rev, out.String())
	}
	req, err1 := strconv.ParseInt(row[4], 10, 64)
	errs, err2 := strconv.ParseInt(row[6], 10, 64)
	if err1 != nil || err2 != nil {
		return counts{}, fmt.Errorf("ramp telemetry %s printed %q: %w", rev, out.String(), errors.Join(err1, err2))
	}
	return counts{requests: req, errors: errs}, nil
}

// promCounts reads the revision's requests and 5xx from Prometheus.
func promCounts(ctx context.Context, prom *framework.Prometheus, rev string) (counts, error) {
	sel := fmt.Sprintf(`ramp_queue_requests_total{namespace=%q,revision=%q`, appNS, rev)
	total, err := prom.Query(ctx, "sum(max_over_time("+sel+"}[5m]))")
	if err != nil {
		return counts{}, err
	}
	errs, err := prom.Query(ctx, "sum(max_over_time("+sel+`,class="5xx"}[5m]))`)
	if err != nil {
		return counts{}, err
	}
	one := func(v model.Vector) int64 {
		if len(v) != 1 {
			return 0
		}
		return int64(math.Round(float64(v[0].Value)))
	}
	return counts{requests: one(total), errors: one(errs)}, nil
}

// checkMonitorsLabelQueueSeries checks, for every revision pod running
// now, that Prometheus has its queue-proxy's requests labelled as the
// chart's PodMonitor promises: the pod's revision, configuration and
// service labels (absent where the pod has none), its namespace and pod,
// and container queue-proxy.
func checkMonitorsLabelQueueSeries(ctx context.Context, t *testing.T, cl client.Client, prom *framework.Prometheus) {
	t.Helper()
	var pods corev1.PodList
	if err := cl.List(ctx, &pods, client.InNamespace(appNS), client.HasLabels{servingv1.LabelRevision}); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, p := range pods.Items {
		if !framework.PodReady(&p) {
			continue
		}
		n++
		framework.Eventually(t, 15*time.Second, func(ctx context.Context) error {
			v, err := prom.Query(ctx, fmt.Sprintf(`ramp_queue_requests_total{pod=%q}`, p.Name))
			if err != nil {
				return err
			}
			if len(v) == 0 {
				return fmt.Errorf("no ramp_queue_requests_total series of pod %s", p.Name)
			}
			for _, s := range v {
				want := map[string]string{
					"namespace": p.Namespace, "container": resources.QueueContainerName,
					"revision":      p.Labels[servingv1.LabelRevision],
					"configuration": p.Labels[servingv1.LabelConfiguration],
					"service":       p.Labels[servingv1.LabelService],
				}
				for l, w := range want {
					if got := string(s.Metric[model.LabelName(l)]); got != w {
						return fmt.Errorf("series %s: label %s is %q, want %q (the pod's)", s.Metric, l, got, w)
					}
				}
			}
			return nil
		})
	}
	if n == 0 {
		t.Fatalf("no revision pod is running to check the PodMonitor's labels with")
	}
}

// getOnce sends one GET through the gateway and returns its status.
func getOnce(ctx context.Context, gw *framework.Balancer, host string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://balanced.invalid/", nil)
	if err != nil {
		return 0, err
	}
	req.Host = host
	hc := gw.Client(5*time.Second, 1)
	defer hc.CloseIdleConnections()
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	return resp.StatusCode, nil
}
