package cli

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rolloutsv1alpha1 "github.com/rampdev/ramp/apis/rollouts/v1alpha1"
	servingv1 "github.com/rampdev/ramp/apis/serving/v1"
	"github.com/rampdev/ramp/test/framework"
)

// testUser is the kubeconfig's user name: actions are made by it.
const testUser = "alice"

// suite is an envtest API server with Ramp's CRDs and a kubeconfig for it
// whose context's namespace is defaultNS.
type suite struct {
	k8s        client.Client
	kubeconfig string
	defaultNS  string
}

// TestCommands runs the rollout and telemetry commands in-process against
// an envtest API server. Nothing runs the controller: tests write the
// status it would write.
func TestCommands(t *testing.T) {
	root, err := framework.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	scheme, err := newScheme()
	if err != nil {
		t.Fatal(err)
	}
	env := framework.StartEnvtest(t, scheme, filepath.Join(root, "charts", "ramp", "templates", "crds"))
	s := &suite{k8s: env.Client, defaultNS: "team-a"}
	s.kubeconfig = writeKubeconfig(t, env.Config, s.defaultNS)
	s.namespace(t, s.defaultNS)

	t.Run("list", s.testList)
	t.Run("get", s.testGet)
	t.Run("status", s.testStatus)
	t.Run("watch", s.testWatch)
	t.Run("watch falls back to polling", s.testWatchPolling)
	t.Run("actions", s.testActions)
	t.Run("wait", s.testWait)
	t.Run("create and set image", s.testCreateAndSetImage)
	t.Run("undo", s.testUndo)
	s.telemetryAccount(t)
	t.Run("telemetry", s.testTelemetry)
	t.Run("telemetry tokens", s.testTelemetryTokens)
	t.Run("telemetry finds the leader", s.testTelemetryLeader)
	t.Run("no kubeconfig", s.testNoKubeconfig)
}

// writeKubeconfig writes a kubeconfig for cfg with user testUser and a
// context in namespace ns.
func writeKubeconfig(t *testing.T, cfg *rest.Config, ns string) string {
	t.Helper()
	kc := clientcmdapi.NewConfig()
	kc.Clusters["envtest"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos[testUser] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData, Token: cfg.BearerToken}
	kc.Contexts["envtest"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: testUser, Namespace: ns}
	kc.CurrentContext = "envtest"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	return path
}

func (s *suite) namespace(t *testing.T, name string) {
	t.Helper()
	if err := s.k8s.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
		t.Fatal(err)
	}
}

// result is what a command printed and its exit code.
type result struct {
	out, errOut string
	code        int
	err         error
}

// run runs the CLI with the suite's kubeconfig.
func (s *suite) run(t *testing.T, args ...string) result {
	t.Helper()
	return s.runOn(t, newRootCommand("ramp"), nil, args...)
}

// runOn runs root with args and the suite's kubeconfig; out, if set,
// receives standard output as it is written.
func (s *suite) runOn(t *testing.T, root *cobra.Command, out *syncBuffer, args ...string) result {
	t.Helper()
	if out == nil {
		out = &syncBuffer{}
	}
	var errOut syncBuffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := execute(ctx, root, append(args, "--kubeconfig", s.kubeconfig), out, &errOut)
	r := result{out: out.String(), errOut: errOut.String(), err: err}
	var exit *ExitError
	switch {
	case errors.As(err, &exit):
		r.code = exit.Code
	case err != nil:
		r.code = 1
	}
	return r
}

// syncBuffer is a bytes.Buffer safe for a command writing while a test
// reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitFor waits until out contains want.
func waitFor(t *testing.T, out *syncBuffer, want string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(out.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("output never contained %q:\n%s", want, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// wantContains checks that got contains each of wants.
func wantContains(t *testing.T, what, got string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(got, w) {
			t.Errorf("%s does not contain %q:\n%s", what, w, got)
		}
	}
}

// rolloutBuilder makes test Rollouts.
type rolloutBuilder struct{ ro *rolloutsv1alpha1.Rollout }

// makeRollout is a canary Rollout with steps 20%, 50% then pause 1m,
// approval, 100%, and no analysis.
func makeRollout(ns, name string) *rolloutBuilder {
	w := func(v int32) *int32 { return &v }
	return &rolloutBuilder{ro: &rolloutsv1alpha1.Rollout{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: rolloutsv1alpha1.RolloutSpec{
			Template: servingv1.RevisionTemplateSpec{Spec: servingv1.RevisionSpec{
				Containers: []servingv1.Container{{Image: "ramp/sampleapp:v1"}},
			}},
			Strategy: rolloutsv1alpha1.Strategy{Canary: &rolloutsv1alpha1.CanaryStrategy{Steps: []rolloutsv1alpha1.CanaryStep{
				{Weight: w(20)},
				{Weight: w(50), Pause: &metav1.Duration{Duration: time.Minute}},
				{Approval: &rolloutsv1alpha1.Approval{}},
				{Weight: w(100)},
			}}},
		},
	}}
}

func (b *rolloutBuilder) analysis(metrics ...string) *rolloutBuilder {
	minRequests := int64(50)
	a := &rolloutsv1alpha1.Analysis{Interval: &metav1.Duration{Duration: 10 * time.Second}, MinRequests: &minRequests, FailureLimit: 2}
	limit := rolloutsv1alpha1.Threshold("1%")
	for _, m := range metrics {
		a.Metrics = append(a.Metrics, rolloutsv1alpha1.Metric{Name: m, Builtin: "errorRate", Max: &limit})
	}
	b.ro.Spec.Analysis = a
	return b
}

// status sets the status the test writes after creating the Rollout; the
// observed generation is the Rollout's.
func (b *rolloutBuilder) status(phase rolloutsv1alpha1.Phase, step *int32, weight int32) *rolloutBuilder {
	b.ro.Status.Phase, b.ro.Status.CurrentStepIndex, b.ro.Status.CanaryWeight = phase, step, weight
	b.ro.Status.StableRevision = b.ro.Name + "-00001"
	if phase == rolloutsv1alpha1.PhaseProgressing || phase == rolloutsv1alpha1.PhasePaused {
		b.ro.Status.CanaryRevision = b.ro.Name + "-00002"
	}
	return b
}

func (b *rolloutBuilder) message(m string) *rolloutBuilder {
	b.ro.Status.Message = m
	return b
}

func (b *rolloutBuilder) Obj() *rolloutsv1alpha1.Rollout { return b.ro.DeepCopy() }

func step(i int32) *int32 { return &i }

// create creates the Rollout, then writes its status.
func (s *suite) create(t *testing.T, b *rolloutBuilder) *rolloutsv1alpha1.Rollout {
	t.Helper()
	ro := b.Obj()
	st := ro.Status
	if err := s.k8s.Create(context.Background(), ro); err != nil {
		t.Fatal(err)
	}
	s.setStatus(t, ro, func(s *rolloutsv1alpha1.RolloutStatus) { *s = st })
	return ro
}

// setStatus changes the Rollout's status as the controller would, with
// the observed generation current.
func (s *suite) setStatus(t *testing.T, ro *rolloutsv1alpha1.Rollout, change func(*rolloutsv1alpha1.RolloutStatus)) {
	t.Helper()
	if err := s.updateStatus(ro, change); err != nil {
		t.Fatal(err)
	}
}

func (s *suite) updateStatus(ro *rolloutsv1alpha1.Rollout, change func(*rolloutsv1alpha1.RolloutStatus)) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := s.k8s.Get(context.Background(), client.ObjectKeyFromObject(ro), ro); err != nil {
			return err
		}
		change(&ro.Status)
		ro.Status.ObservedGeneration = ro.Generation
		return s.k8s.Status().Update(context.Background(), ro)
	})
}
