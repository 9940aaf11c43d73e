// Command benchcontroller measures Ramp's controller at scale: it starts a
// local cluster, installs Ramp with its Helm chart (the controller runs as
// a pod, as in production), creates N Rollouts (default 500) spread over a
// few namespaces, each on a revision at zero pods, waits until they are
// all Healthy, then changes every template at once and measures how long
// each Rollout takes to start its first step, the controller's peak RSS
// and CPU from /proc, and the reconcile latency and errors from the
// controller's own metrics. It prints a markdown table with the goals of
// issue 17, writes it to -out, and removes the cluster.
//
//	go run ./test/benchcontroller -rollouts 500 -namespaces 5
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rolloutsv1alpha1 "github.com/rampdev/ramp/apis/rollouts/v1alpha1"
	"github.com/rampdev/ramp/controllers/manager"
	"github.com/rampdev/ramp/test/framework"
)

type options struct {
	rollouts, namespaces, workers int
	timeout, stepTimeout          time.Duration
	out                           string
	keep, strict                  bool
	sets                          []string
}

func main() {
	var o options
	flag.IntVar(&o.rollouts, "rollouts", 500, "Rollouts to create")
	flag.IntVar(&o.namespaces, "namespaces", 5, "namespaces to spread them over")
	flag.IntVar(&o.workers, "workers", 16, "concurrent creates and updates")
	flag.DurationVar(&o.timeout, "timeout", 20*time.Minute, "bound of the whole run: past it the bench aborts")
	flag.DurationVar(&o.stepTimeout, "step-timeout", 3*time.Minute, "how long to wait after the update for every first step")
	flag.StringVar(&o.out, "out", "_out/bench/controller.md", "where to write the report")
	flag.BoolVar(&o.keep, "keep", false, "keep the cluster's directory (logs) after the run")
	flag.BoolVar(&o.strict, "strict", false, "exit 1 when a goal is missed")
	flag.Func("set", "extra Helm value for the chart (repeatable), e.g. -set controller.extraArgs={--kube-api-qps=20}", func(s string) error {
		o.sets = append(o.sets, s)
		return nil
	})
	flag.Parse()
	missed, err := runWithSignals(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchcontroller:", err)
		os.Exit(1)
	}
	if missed && o.strict {
		os.Exit(1)
	}
}

// runWithSignals is run, cancelled by SIGINT/SIGTERM.
func runWithSignals(o options) (bool, error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return run(ctx, o, os.Stdout)
}

// phase names what the bench is doing, for the abort message.
type phase struct {
	mu   sync.Mutex
	name string
}

func (p *phase) set(format string, args ...any) {
	p.mu.Lock()
	p.name = fmt.Sprintf(format, args...)
	p.mu.Unlock()
	fmt.Printf(">> %s\n", p.name)
}

func (p *phase) String() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.name
}

func run(parent context.Context, o options, stdout io.Writer) (bool, error) {
	if o.rollouts < 1 || o.namespaces < 1 || o.workers < 1 {
		return false, errors.New("-rollouts, -namespaces and -workers must be at least 1")
	}
	ctx, cancel := context.WithTimeout(parent, o.timeout)
	defer cancel()
	var ph phase
	aborted := func(err error) error {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return fmt.Errorf("aborted: the run took longer than -timeout %s while %s (last error: %w)", o.timeout, ph.String(), err)
		}
		return fmt.Errorf("%s: %w", ph.String(), err)
	}
	if err := os.MkdirAll(filepath.Dir(o.out), 0o755); err != nil {
		return false, err
	}
	logPath := filepath.Join(filepath.Dir(o.out), "controller-cluster.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return false, err
	}
	defer logf.Close()

	ph.set("starting a local cluster (log: %s)", logPath)
	c, err := framework.StartCluster(ctx, logf)
	if err != nil {
		return false, aborted(err)
	}
	defer func() {
		fmt.Println(">> stopping the local cluster")
		if err := c.Stop(o.keep); err != nil {
			fmt.Fprintln(os.Stderr, "benchcontroller: stopping the cluster:", err)
		}
	}()
	ph.set("installing Ramp with its chart (autoscaler.allowZeroInitialScale=true %s)", strings.Join(o.sets, " "))
	if err := c.InstallRamp(ctx, append([]string{"autoscaler.allowZeroInitialScale=true"}, o.sets...)...); err != nil {
		return false, aborted(err)
	}
	// The bench's own client must not be what limits the run.
	cfg := rest.CopyConfig(c.Config)
	cfg.QPS, cfg.Burst = 1000, 2000
	cl, err := client.NewWithWatch(cfg, client.Options{Scheme: manager.Scheme()})
	if err != nil {
		return false, err
	}
	ctrlPod, err := controllerPod(ctx, cl)
	if err != nil {
		return false, aborted(err)
	}
	pid, err := c.ContainerPID(ctrlPod, "controller")
	if err != nil {
		return false, aborted(err)
	}
	metricsURL := "http://" + net.JoinHostPort(ctrlPod.Status.PodIP, "9090") + "/metrics"
	if _, err := scrape(ctx, metricsURL); err != nil {
		return false, aborted(err)
	}
	fmt.Printf("   controller pod %s, pid %d, metrics %s\n", ctrlPod.Name, pid, metricsURL)
	r := &result{opts: o, pid: pid, start: time.Now()}
	if r.procStart, err = readProc(pid); err != nil {
		return false, aborted(err)
	}

	w := newStepWatch()
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	go w.run(watchCtx, cl)
	ph.set("creating %d Rollouts in %d namespaces", o.rollouts, o.namespaces)
	ros, err := create(ctx, cl, o)
	if err != nil {
		return false, aborted(err)
	}
	r.created = time.Now()

	ph.set("waiting until every Rollout is Healthy (at its first revision)")
	if err := settle(ctx, w, o.rollouts); err != nil {
		return false, aborted(err)
	}
	r.settled = time.Now()
	if r.procSettled, err = readProc(pid); err != nil {
		return false, aborted(err)
	}
	if r.m0, err = scrape(ctx, metricsURL); err != nil {
		return false, aborted(err)
	}

	ph.set("updating every template at once (%d workers)", o.workers)
	r.updateStart = time.Now()
	r.updatedAt = make([]time.Time, len(ros))
	err = parallel(ctx, len(ros), o.workers, max(1, len(ros)/5), func(ctx context.Context, i int) error {
		ro := ros[i]
		orig := ro.DeepCopy()
		ro.Spec.Template = template("v2")
		if err := cl.Patch(ctx, ro, client.MergeFrom(orig)); err != nil {
			return fmt.Errorf("updating rollout %s/%s: %w", ro.Namespace, ro.Name, err)
		}
		r.updatedAt[i] = time.Now()
		w.expect(client.ObjectKeyFromObject(ro), ro.Generation)
		return nil
	}, func(done int) { fmt.Printf("   updated %d/%d\n", done, len(ros)) })
	if err != nil {
		return false, aborted(err)
	}
	r.updateEnd = time.Now()

	ph.set("waiting until every Rollout has started its first step (at most %s)", o.stepTimeout)
	waitSteps(ctx, w, o.rollouts, r.updateStart, o.stepTimeout)
	r.stepsDone = time.Now()
	if r.procEnd, err = readProc(pid); err != nil {
		return false, aborted(err)
	}
	if r.m1, err = scrape(ctx, metricsURL); err != nil {
		return false, aborted(err)
	}
	stopWatch()
	r.collect(w, ros)
	ph.set("checking every Route's traffic split")
	if r.badRoutes, r.badRoute, err = routeSplit(ctx, cl, ros); err != nil {
		return false, aborted(err)
	}

	report := r.markdown()
	fmt.Fprintln(stdout)
	fmt.Fprint(stdout, report)
	if err := os.WriteFile(o.out, []byte(report), 0o644); err != nil {
		return false, err
	}
	fmt.Printf(">> report written to %s\n", o.out)
	return r.missed(), nil
}

// controllerPod is the ready controller pod (the chart runs one replica by
// default; with more, the Lease's holder).
func controllerPod(ctx context.Context, cl client.Client) (*corev1.Pod, error) {
	var pods corev1.PodList
	if err := cl.List(ctx, &pods, client.InNamespace(framework.SystemNamespace),
		client.MatchingLabels{"app.kubernetes.io/component": "controller"}); err != nil {
		return nil, err
	}
	var ready []corev1.Pod
	for _, p := range pods.Items {
		if framework.PodReady(&p) && p.DeletionTimestamp == nil {
			ready = append(ready, p)
		}
	}
	if len(ready) != 1 {
		return nil, fmt.Errorf("want one ready controller pod, found %d (run the bench with controller.replicas=1)", len(ready))
	}
	return &ready[0], nil
}

// create makes the namespaces and the Rollouts, o.workers at a time.
func create(ctx context.Context, cl client.Client, o options) ([]*rolloutsv1alpha1.Rollout, error) {
	for i := range o.namespaces {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("bench-%d", i)}}
		if err := cl.Create(ctx, ns); err != nil {
			return nil, fmt.Errorf("creating namespace %s: %w", ns.Name, err)
		}
	}
	ros := make([]*rolloutsv1alpha1.Rollout, o.rollouts)
	for i := range ros {
		ros[i] = rollout(fmt.Sprintf("bench-%d", i%o.namespaces), fmt.Sprintf("app-%04d", i), "v1")
	}
	err := parallel(ctx, len(ros), o.workers, max(1, len(ros)/10), func(ctx context.Context, i int) error {
		if err := cl.Create(ctx, ros[i]); err != nil {
			return fmt.Errorf("creating rollout %s/%s: %w", ros[i].Namespace, ros[i].Name, err)
		}
		return nil
	}, func(done int) { fmt.Printf("   created %d/%d\n", done, len(ros)) })
	return ros, err
}

// settle waits until all n Rollouts are Healthy at their current
// generation (as the watch sees them), printing the count every few
// seconds.
func settle(ctx context.Context, w *stepWatch, n int) error {
	last := time.Time{}
	return framework.Poll(ctx, time.Hour, time.Second, func(ctx context.Context) error {
		healthy := w.healthyCount()
		if time.Since(last) >= 10*time.Second || healthy == n {
			fmt.Printf("   healthy %d/%d\n", healthy, n)
			last = time.Now()
		}
		if healthy < n {
			return fmt.Errorf("%d of %d Rollouts Healthy", healthy, n)
		}
		return nil
	})
}

// waitSteps waits until every Rollout has started and applied its first
// step, or for limit after the update began, printing the counts every
// few seconds.
func waitSteps(ctx context.Context, w *stepWatch, n int, since time.Time, limit time.Duration) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	last := time.Time{}
	for {
		entered, applied := w.counts()
		if time.Since(last) >= 5*time.Second || applied == n {
			fmt.Printf("   %5.1fs after the update: step entered %d/%d, traffic applied %d/%d\n",
				time.Since(since).Seconds(), entered, n, applied, n)
			last = time.Now()
		}
		if applied == n || time.Since(since) > limit {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
