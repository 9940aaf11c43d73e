package webhook

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"testing"
	"time"

	"github.com/go-logr/logr"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

var secretKey = types.NamespacedName{Namespace: "ramp-system", Name: "ramp-webhook-cert"}

func newCerts(c client.Client, clk *clocktesting.FakeClock, hosts ...string) *Certs {
	return &Certs{Client: c, Reader: c, Secret: secretKey, WebhookConfig: "ramp-validation", Hosts: hosts, Clock: clk, Log: logr.Discard()}
}

// served returns the certificate Certs serves, checked against the CA in
// the webhook configuration for host, as the API server checks it.
func served(t *testing.T, c client.Client, certs *Certs, host string, now time.Time) *x509.Certificate {
	t.Helper()
	tc, err := certs.GetCertificate(&tls.ClientHelloInfo{})
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(tc.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	vwc := &admissionregistrationv1.ValidatingWebhookConfiguration{}
	if err := c.Get(context.Background(), types.NamespacedName{Name: "ramp-validation"}, vwc); err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(vwc.Webhooks[0].ClientConfig.CABundle) {
		t.Fatal("no CA in the webhook configuration")
	}
	if _, err := leaf.Verify(x509.VerifyOptions{DNSName: host, Roots: pool, CurrentTime: now}); err != nil {
		t.Fatalf("the served certificate does not verify for %s with the configuration's CA: %v", host, err)
	}
	return leaf
}

func TestCerts(t *testing.T) {
	ctx := context.Background()
	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	vwc := &admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "ramp-validation"},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{{Name: "rollouts.validation.rollouts.ramp.dev"}}}
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(vwc).Build()
	t0 := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	clk := clocktesting.NewFakeClock(t0)
	hosts := []string{"ramp-webhook.ramp-system.svc", "ramp-webhook.ramp-system.svc.cluster.local"}

	// Given no Secret, when a replica ensures its certificate,
	first := newCerts(c, clk, hosts...)
	if first.Ready() == nil {
		t.Fatal("ready before any certificate")
	}
	if err := first.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	// then it serves one for the Service that the configuration's CA
	// verifies, and is Ready once the API server has had time to see the CA.
	if first.Ready() == nil {
		t.Fatal("ready at once: the API server may not use the new CA yet")
	}
	clk.Step(caSettle)
	if err := first.Ready(); err != nil {
		t.Fatal(err)
	}
	leaf := served(t, c, first, hosts[0], t0)
	served(t, c, first, hosts[1], t0)
	sec := &corev1.Secret{}
	if err := c.Get(ctx, secretKey, sec); err != nil {
		t.Fatal(err)
	}

	// When a second replica starts, it serves the same certificate.
	second := newCerts(c, clk, hosts...)
	if err := second.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	if got := served(t, c, second, hosts[0], t0); !got.Equal(leaf) {
		t.Error("the second replica serves another certificate")
	}

	// When helm upgrade blanks the caBundle, the next round writes it again.
	if err := c.Get(ctx, types.NamespacedName{Name: "ramp-validation"}, vwc); err != nil {
		t.Fatal(err)
	}
	vwc.Webhooks[0].ClientConfig.CABundle = nil
	if err := c.Update(ctx, vwc); err != nil {
		t.Fatal(err)
	}
	if err := first.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	served(t, c, first, hosts[0], t0)

	// When the certificate nears its end, it is renewed by the same CA.
	later := t0.Add(certLifetime - renewBefore + time.Hour)
	clk.SetTime(later)
	if err := first.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	renewed := served(t, c, first, hosts[0], later)
	if renewed.Equal(leaf) || !renewed.NotAfter.After(leaf.NotAfter) {
		t.Errorf("not renewed: NotAfter %s, was %s", renewed.NotAfter, leaf.NotAfter)
	}
	after := &corev1.Secret{}
	if err := c.Get(ctx, secretKey, after); err != nil {
		t.Fatal(err)
	}
	if string(after.Data[keyCACert]) != string(sec.Data[keyCACert]) {
		t.Error("the CA changed on a renewal: the API server would distrust the other replicas until they reload")
	}
	// And the other replica picks the renewal up.
	if err := second.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	if got := served(t, c, second, hosts[0], later); !got.Equal(renewed) {
		t.Error("the second replica did not pick up the renewal")
	}

	// When the Service's name changes, a certificate for the new name is issued.
	moved := newCerts(c, clk, "ramp-webhook.other.svc")
	if err := moved.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	served(t, c, moved, "ramp-webhook.other.svc", later)

	// A corrupt Secret is replaced, not served.
	if err := c.Get(ctx, secretKey, after); err != nil {
		t.Fatal(err)
	}
	after.Data[keyCert] = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("junk")})
	if err := c.Update(ctx, after); err != nil {
		t.Fatal(err)
	}
	if err := moved.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	served(t, c, moved, "ramp-webhook.other.svc", later)
}
