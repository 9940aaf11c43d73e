package e2e

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/rampdev/ramp/test/framework"
)

func TestEnvironmentFromSecretsConfigMapsAndTheDownwardAPI(t *testing.T) {
	ns := cluster.Namespace(t)
	ctx := context.Background()

	// Given a Secret, a ConfigMap and a pod whose env refers to both
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "greeting"}, Data: map[string][]byte{"target": []byte("Secret World")}}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "release"}, Data: map[string]string{"version": "2.3.4"}}
	pod := framework.MakePod(ns, "env").
		EnvFrom("TARGET", &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "greeting"}, Key: "target"}}).
		EnvFrom("VERSION", &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "release"}, Key: "version"}}).
		Env("NAME", "$(POD_NAMESPACE)-service").
		Obj()
	for _, obj := range []client.Object{secret, cm, pod} {
		if err := cluster.Client.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}
	ip := waitReady(t, pod)

	// Then the app sees the resolved values
	_, body, err := framework.Get(ctx, "http://"+ip+":8080/")
	if err != nil || body != "Hello Secret World!\n" {
		t.Fatalf("GET / = %q, %v", body, err)
	}
	_, body, err = framework.Get(ctx, "http://"+ip+":8080/service/info")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"version":"2.3.4"`, `"name":"` + ns + `-service"`, `"podServiceAccount":"default"`} {
		if !strings.Contains(body, want) {
			t.Errorf("/service/info = %s, want %s", body, want)
		}
	}
}

func TestUnknownImageWaitsWithAMessageNamingIt(t *testing.T) {
	ns := cluster.Namespace(t)
	ctx := context.Background()

	// Given a pod whose image maps to no binary
	pod := framework.MakePod(ns, "nope").Image("example.com/team/no-such-app:1.2").Obj()
	if err := cluster.Client.Create(ctx, pod); err != nil {
		t.Fatal(err)
	}

	// Then its container waits with a reason and a message naming the image
	framework.Eventually(t, 30*time.Second, func(ctx context.Context) error {
		if err := cluster.Client.Get(ctx, client.ObjectKeyFromObject(pod), pod); err != nil {
			return err
		}
		if len(pod.Status.ContainerStatuses) == 0 || pod.Status.ContainerStatuses[0].State.Waiting == nil {
			return fmt.Errorf("container not waiting: %+v", pod.Status.ContainerStatuses)
		}
		w := pod.Status.ContainerStatuses[0].State.Waiting
		if w.Reason != "ImagePullBackOff" || !strings.Contains(w.Message, "example.com/team/no-such-app:1.2") {
			return fmt.Errorf("waiting %s: %s", w.Reason, w.Message)
		}
		if pod.Status.Phase != corev1.PodPending {
			return fmt.Errorf("phase %s, want Pending", pod.Status.Phase)
		}
		return nil
	})
}

func TestHostPortForwardsLoopbackToThePod(t *testing.T) {
	ns := cluster.Namespace(t)
	ctx := context.Background()

	// Given a pod that asks for a host port
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	pod := framework.MakePod(ns, "hostport").Env("TARGET", "host port").HostPort(int32(port)).Obj()
	if err := cluster.Client.Create(ctx, pod); err != nil {
		t.Fatal(err)
	}
	waitReady(t, pod)

	// Then 127.0.0.1:<hostPort> reaches it
	url := "http://127.0.0.1:" + strconv.Itoa(port) + "/"
	framework.Eventually(t, 10*time.Second, func(ctx context.Context) error {
		_, body, err := framework.Get(ctx, url)
		if err != nil {
			return err
		}
		if body != "Hello host port!\n" {
			return fmt.Errorf("body %q", body)
		}
		return nil
	})

	// When the pod is deleted, the host port is released
	if err := cluster.Client.Delete(ctx, pod); err != nil {
		t.Fatal(err)
	}
	framework.Eventually(t, 30*time.Second, func(context.Context) error {
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			return err
		}
		return l.Close()
	})
}

// waitReady waits for pod to be Ready and returns its IP.
func waitReady(t *testing.T, pod *corev1.Pod) string {
	t.Helper()
	framework.Eventually(t, 60*time.Second, func(ctx context.Context) error {
		if err := cluster.Client.Get(ctx, client.ObjectKeyFromObject(pod), pod); err != nil {
			return err
		}
		if !framework.PodReady(pod) {
			return fmt.Errorf("pod %s not ready: %+v", pod.Name, pod.Status.ContainerStatuses)
		}
		return nil
	})
	return pod.Status.PodIP
}

func TestKubectlLogsReachesTheNodeAgentThroughTheAPIServer(t *testing.T) {
	ns := cluster.Namespace(t)
	ctx := context.Background()

	// Given a running pod and a crash-looping one
	pod := framework.MakePod(ns, "talker").Env("VERSION", "9.9.9").Obj()
	crasher := framework.MakePod(ns, "crasher").Env("CRASH_AFTER", "100ms").Obj()
	for _, p := range []*corev1.Pod{pod, crasher} {
		if err := cluster.Client.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	waitReady(t, pod)

	// Then its logs come back through the API server, as kubectl logs gets them
	framework.Eventually(t, 30*time.Second, func(ctx context.Context) error {
		b, err := cluster.Clientset.CoreV1().Pods(ns).GetLogs("talker", &corev1.PodLogOptions{Container: "app", TailLines: ptr.To(int64(5))}).DoRaw(ctx)
		if err != nil {
			return err
		}
		if !strings.Contains(string(b), "sampleapp 9.9.9 listening on") {
			return fmt.Errorf("logs %q lack the startup line", b)
		}
		return nil
	})

	// And the previous run of a restarted container is readable too
	framework.Eventually(t, 60*time.Second, func(ctx context.Context) error {
		b, err := cluster.Clientset.CoreV1().Pods(ns).GetLogs("crasher", &corev1.PodLogOptions{Container: "app", Previous: true}).DoRaw(ctx)
		if err != nil {
			return err
		}
		if !strings.Contains(string(b), "crashing after CRASH_AFTER") {
			return fmt.Errorf("previous logs %q lack the crash", b)
		}
		return nil
	})

}
