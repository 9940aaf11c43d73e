package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	servingv1 "github.com/rampdev/ramp/apis/serving/v1"
	"github.com/rampdev/ramp/controllers/manager"
	"github.com/rampdev/ramp/serving/gateway"
	"github.com/rampdev/ramp/test/framework"
)

// namespace holds the benchmark's Services.
const namespace = "coldstart"

// bench is the cluster under measurement.
type bench struct {
	c  *framework.Cluster
	cl client.Client
	w  *watcher
	// gatewayIP and controllerIP are the pods whose /metrics carry the
	// gateway's and the autoscaler's stage timestamps.
	gatewayIP, controllerIP string
}

// setUp starts the cluster, installs the chart (idle revisions scale to
// zero 1 s after their 6 s window) and creates the Services, and waits
// until each has served once and is back at zero pods.
func setUp(ctx context.Context, o options) (*bench, error) {
	progress("starting a local cluster (etcd, kube-apiserver, kube-controller-manager, node agent)")
	c, err := framework.StartCluster(ctx, os.Stderr)
	if err != nil {
		return nil, err
	}
	b := &bench{c: c}
	progress("installing Ramp with its Helm chart")
	if err := c.InstallRamp(ctx, "autoscaler.scaleToZeroGracePeriod=1s"); err != nil {
		return b, err
	}
	if b.cl, err = client.New(c.Config, client.Options{Scheme: manager.Scheme()}); err != nil {
		return b, err
	}
	if err := b.cl.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}); err != nil {
		return b, fmt.Errorf("creating namespace %s: %w", namespace, err)
	}
	if b.gatewayIP, err = onlyAddress(ctx, b.cl, "ramp-gateway"); err != nil {
		return b, err
	}
	if b.controllerIP, err = onlyAddress(ctx, b.cl, "ramp-controller-metrics"); err != nil {
		return b, err
	}
	if b.w, err = startWatcher(ctx, c, namespace); err != nil {
		return b, err
	}
	var names []string
	for _, conc := range []int{20, 100} {
		for i := range o.services {
			names = append(names, serviceName(conc, i))
		}
	}
	progress("creating %d Services (%s)", len(names), strings.Join(names, ", "))
	for _, n := range names {
		if err := framework.Poll(ctx, 30*time.Second, 500*time.Millisecond, func(ctx context.Context) error {
			return b.cl.Create(ctx, benchService(n)) // the webhook may not answer at once
		}); err != nil {
			return b, fmt.Errorf("creating service %s: %w", n, err)
		}
	}
	for _, n := range names {
		if err := framework.Poll(ctx, 2*time.Minute, 250*time.Millisecond, func(ctx context.Context) error {
			svc := &servingv1.Service{}
			if err := b.cl.Get(ctx, types.NamespacedName{Namespace: namespace, Name: n}, svc); err != nil {
				return err
			}
			if !svc.Status.IsReady(svc.Generation) {
				return fmt.Errorf("service %s not ready: %+v", n, svc.Status.Conditions)
			}
			return nil
		}); err != nil {
			return b, err
		}
	}
	progress("waiting for the Services to scale to zero (6 s window, 1 s grace, then the pods' drain)")
	for _, n := range names {
		if err := b.waitZero(ctx, n); err != nil {
			return b, err
		}
	}
	return b, nil
}

// benchService is a Service of the sample app: bursts of 20 go to
// containerConcurrency 0 (unlimited), bursts of 100 to containerConcurrency
// 1 with at most 4 pods (as in the chaos test), so that most requests
// queue behind the first pods.
func benchService(name string) *servingv1.Service {
	ann := map[string]string{"autoscaling.ramp.dev/window": "6s"}
	tpl := servingv1.RevisionTemplateSpec{
		Metadata: servingv1.TemplateMeta{Annotations: ann},
		Spec: servingv1.RevisionSpec{Containers: []servingv1.Container{{
			Image:          "ramp/sampleapp:v1",
			Env:            []corev1.EnvVar{{Name: "VERSION", Value: "v1"}},
			Ports:          []servingv1.ContainerPort{{ContainerPort: 8080}},
			ReadinessProbe: &servingv1.Probe{HTTPGet: &servingv1.HTTPGetAction{Path: "/healthz"}, PeriodSeconds: 1},
		}}},
	}
	if strings.HasPrefix(name, "c100-") {
		ann["autoscaling.ramp.dev/max-scale"] = "4"
		tpl.Spec.ContainerConcurrency = ptr.To[int64](1)
	}
	return &servingv1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Spec:       servingv1.ServiceSpec{ConfigurationSpec: servingv1.ConfigurationSpec{Template: tpl}},
	}
}

func revisionOf(service string) string { return service + "-00001" }

func hostOf(service string) string { return service + "." + namespace + ".example.com" }

// waitZero waits until a Service's revision asks for no pod and has none.
func (b *bench) waitZero(ctx context.Context, service string) error {
	rev := revisionOf(service)
	return framework.Poll(ctx, 90*time.Second, 200*time.Millisecond, func(ctx context.Context) error {
		d := &appsv1.Deployment{}
		if err := b.cl.Get(ctx, types.NamespacedName{Namespace: namespace, Name: rev + "-deployment"}, d); err != nil {
			return err
		}
		pods, err := b.c.Pods(ctx, namespace, map[string]string{servingv1.LabelRevision: rev})
		if err != nil {
			return err
		}
		if n := ptr.Deref(d.Spec.Replicas, 1); n != 0 || len(pods) != 0 {
			return fmt.Errorf("revision %s: %d replicas asked for, %d pods; want zero", rev, n, len(pods))
		}
		return nil
	})
}

// onlyAddress is the ready address of a ramp-system Service with one
// replica behind it.
func onlyAddress(ctx context.Context, cl client.Client, svc string) (string, error) {
	var ip string
	err := framework.Poll(ctx, time.Minute, 200*time.Millisecond, func(ctx context.Context) error {
		ips, err := gateway.ReadyAddresses(ctx, cl, types.NamespacedName{Namespace: "ramp-system", Name: svc})
		if err != nil {
			return err
		}
		if len(ips) != 1 {
			return fmt.Errorf("service ramp-system/%s has %d ready endpoints, want 1", svc, len(ips))
		}
		ip = ips[0]
		return nil
	})
	if err != nil {
		return "", err
	}
	if a := net.ParseIP(ip); a == nil || !a.IsLoopback() {
		return "", fmt.Errorf("service ramp-system/%s is at %s: the benchmark only sends requests to 127.0.0.0/8", svc, ip)
	}
	return ip, nil
}

func gatewayURL(ip string) string {
	return "http://" + net.JoinHostPort(ip, strconv.Itoa(gateway.ExternalPort)) + "/"
}

func gatewayMetricsURL(ip string) string {
	return "http://" + net.JoinHostPort(ip, strconv.Itoa(gateway.AdminPort)) + "/metrics"
}

func controllerMetricsURL(ip string) string {
	return "http://" + net.JoinHostPort(ip, "9090") + "/metrics"
}
