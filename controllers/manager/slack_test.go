package manager_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rolloutsv1alpha1 "github.com/rampdev/ramp/apis/rollouts/v1alpha1"
	servingv1 "github.com/rampdev/ramp/apis/serving/v1"
	"github.com/rampdev/ramp/controllers/manager"
	"github.com/rampdev/ramp/controllers/notify"
	"github.com/rampdev/ramp/test/framework"
)

const secret = "8f742231b10e8888abcd99yyyzzz85a5"

func slashCommand(t *testing.T, addr, text, user string, ts time.Time) (int, string) {
	t.Helper()
	body := url.Values{"command": {"/ramp"}, "text": {text}, "user_id": {user}, "user_name": {user},
		"trigger_id": {"trigger-" + strconv.FormatInt(ts.UnixNano(), 10)}, "response_url": {"http://127.0.0.1:1/unused"}}.Encode()
	mac := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(mac, "v0:%d:%s", ts.Unix(), body)
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+notify.CommandsPath, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Slack-Request-Timestamp", strconv.FormatInt(ts.Unix(), 10))
	req.Header.Set("X-Slack-Signature", "v0="+hex.EncodeToString(mac.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// The controller's Slack endpoint (http mode) takes a signed slash command
// from an allowed user and turns it into the Rollout's action annotations;
// an unsigned or stale request, or a user not on the allowlist, changes
// nothing.
func TestSlackSlashCommandsActOnRollouts(t *testing.T) {
	root, err := framework.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	env := framework.StartEnvtest(t, manager.Scheme(), filepath.Join(root, "charts", "ramp", "templates", "crds"))
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ramp-system"}}); err != nil {
		t.Fatal(err)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(framework.FreePort(t)))
	mgr, err := manager.New(env.Config, manager.Options{
		Namespace: "ramp-system", MetricsAddr: "0", HealthAddr: "0", AutoscalerAddr: "0", SkipNameValidation: true,
		SlackMode: manager.SlackHTTP, SlackAddr: addr, NotifyLog: zap.NewNop(),
		Slack: notify.Config{Token: "xoxb-test", SigningSecret: secret, DefaultChannel: "#deploys", AllowedUsers: []string{"alice"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = mgr.Start(ctx) }()

	// Given a Rollout
	ro := &rolloutsv1alpha1.Rollout{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"},
		Spec: rolloutsv1alpha1.RolloutSpec{
			Template: servingv1.RevisionTemplateSpec{Spec: servingv1.RevisionSpec{Containers: []servingv1.Container{{Image: "ramp/sampleapp:v1"}}}},
			Strategy: rolloutsv1alpha1.Strategy{Canary: &rolloutsv1alpha1.CanaryStrategy{Steps: []rolloutsv1alpha1.CanaryStep{{Weight: ptr.To[int32](100)}}}},
		}}
	if err := env.Client.Create(ctx, ro); err != nil {
		t.Fatal(err)
	}
	action := func() string {
		got := &rolloutsv1alpha1.Rollout{}
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(ro), got); err != nil {
			t.Fatal(err)
		}
		return got.Annotations[rolloutsv1alpha1.AnnotationAction] + "|" + got.Annotations[rolloutsv1alpha1.AnnotationActionBy]
	}
	framework.Eventually(t, 30*time.Second, func(context.Context) error {
		_, err := net.DialTimeout("tcp", addr, time.Second)
		return err
	})

	// When a request is signed 6 minutes ago, Then it is refused
	if code, _ := slashCommand(t, addr, "approve default/web", "alice", time.Now().Add(-6*time.Minute)); code != http.StatusUnauthorized {
		t.Errorf("stale signature: %d, want 401", code)
	}
	// When bob, who is not on the allowlist, approves, Then nothing happens
	if code, body := slashCommand(t, addr, "approve default/web", "bob", time.Now()); code != 200 || !strings.Contains(body, "not authorized") {
		t.Errorf("bob: %d %q, want 200 saying he is not authorized", code, body)
	}
	if got := action(); got != "|" {
		t.Fatalf("annotations after refused requests: %q, want none", got)
	}
	// When alice approves, Then the Rollout carries the approve action by her
	if code, body := slashCommand(t, addr, "approve default/web", "alice", time.Now()); code != 200 {
		t.Fatalf("alice: %d %q", code, body)
	}
	if got := action(); got != "approve|slack:alice" {
		t.Errorf("annotations after alice's approve: %q, want approve by slack:alice", got)
	}
}
