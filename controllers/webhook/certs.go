package webhook

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Certificate lifetimes. The CA lives long so that its bundle in the
// webhook configuration rarely changes; the serving certificate is
// renewed, signed by the same CA, well before it expires.
const (
	caLifetime    = 10 * 365 * 24 * time.Hour
	certLifetime  = 365 * 24 * time.Hour
	renewBefore   = 30 * 24 * time.Hour
	caRenewBefore = 365 * 24 * time.Hour
)

// Keys of the certificate Secret.
const (
	keyCACert = "ca.crt"
	keyCAKey  = "ca.key"
	keyCert   = "tls.crt"
	keyKey    = "tls.key"
)

// Certs keeps the webhook's serving certificate: a CA and a certificate it
// signs, stored in a Secret that every controller replica shares, served
// from memory (GetCertificate), with the CA written into the
// ValidatingWebhookConfiguration's caBundle. Ensure runs once before the
// webhook server starts; Start repeats it, so that a renewal, another
// replica's rotation or a caBundle reset by `helm upgrade` is picked up.
type Certs struct {
	// Client writes the Secret and the webhook configuration; Reader reads
	// them from the API server (no cache, no cluster-wide watch).
	Client client.Client
	Reader client.Reader
	// Secret holds the CA and the certificate.
	Secret types.NamespacedName
	// WebhookConfig names the ValidatingWebhookConfiguration whose
	// caBundle is kept; empty leaves it alone (e.g. a test that sets it).
	WebhookConfig string
	// Hosts are the certificate's names: DNS names and IP addresses.
	Hosts []string
	// Interval is the time between two checks (default 30s).
	Interval time.Duration
	Clock    clock.PassiveClock
	Log      logr.Logger

	cert atomic.Pointer[tls.Certificate]
	// readySince is when the certificate was first served with its CA in
	// the configuration (Unix nanoseconds; 0: not yet).
	readySince atomic.Int64
	warnOnce   sync.Once
}

// GetCertificate serves the current certificate (tls.Config.GetCertificate).
func (c *Certs) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	if cert := c.cert.Load(); cert != nil {
		return cert, nil
	}
	return nil, errors.New("the webhook certificate is not ready")
}

// TLSOpt makes a TLS config serve the current certificate.
func (c *Certs) TLSOpt(cfg *tls.Config) { cfg.GetCertificate = c.GetCertificate }

// NeedLeaderElection implements manager.LeaderElectionRunnable: every
// replica serves the webhook, so every replica keeps its certificate.
func (c *Certs) NeedLeaderElection() bool { return false }

// Start implements manager.Runnable.
func (c *Certs) Start(ctx context.Context) error {
	interval := c.Interval
	if interval <= 0 {
		interval = 30 * time.Second
	}
	if err := c.Ensure(ctx); err != nil && ctx.Err() == nil {
		c.Log.Error(err, "Making the webhook certificate failed; retrying", "secret", c.Secret)
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := c.Ensure(ctx); err != nil && ctx.Err() == nil {
				c.Log.Error(err, "Keeping the webhook certificate failed; retrying", "secret", c.Secret)
			}
		}
	}
}

// caSettle is how long the API server may take to see a new caBundle (its
// informer of webhook configurations): a replica becomes Ready that long
// after the CA is in the configuration, so that a client told "Ready" (helm
// install --wait) is not refused with "unknown authority".
const caSettle = 3 * time.Second

// Ready is a readiness check: ready caSettle after the certificate is
// served with its CA in the configuration.
func (c *Certs) Ready() error {
	since := c.readySince.Load()
	if since == 0 {
		return errors.New("the webhook certificate is not ready, or its CA is not in the webhook configuration yet")
	}
	if c.Clock.Since(time.Unix(0, since)) < caSettle {
		return errors.New("the webhook's CA was just written: waiting for the API server to use it")
	}
	return nil
}

// Ensure makes the Secret hold a valid CA and certificate for Hosts
// (creating or renewing them), serves that certificate and writes the CA
// into the webhook configuration.
func (c *Certs) Ensure(ctx context.Context) error {
	now := c.Clock.Now()
	sec := &corev1.Secret{}
	err := c.Reader.Get(ctx, c.Secret, sec)
	switch {
	case apierrors.IsNotFound(err):
		sec = &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: c.Secret.Namespace, Name: c.Secret.Name,
			Labels: map[string]string{"app.kubernetes.io/component": "webhook", "app.kubernetes.io/managed-by": "ramp-controller"}},
			Type: corev1.SecretTypeTLS}
		if sec.Data, err = issue(nil, c.Hosts, now); err != nil {
			return err
		}
		if err := c.Client.Create(ctx, sec); err != nil {
			if apierrors.IsAlreadyExists(err) {
				// Another replica made one first: use it.
				return c.Ensure(ctx)
			}
			return fmt.Errorf("creating webhook certificate secret %s: %w", c.Secret, err)
		}
		c.Log.Info("Created the webhook certificate", "secret", c.Secret, "hosts", c.Hosts)
	case err != nil:
		return fmt.Errorf("reading webhook certificate secret %s: %w", c.Secret, err)
	case !valid(sec.Data, c.Hosts, now):
		data, err := issue(sec.Data, c.Hosts, now)
		if err != nil {
			return err
		}
		sec.Data = data
		// The resourceVersion makes a concurrent renewal by another replica
		// a conflict: the next round reads theirs.
		if err := c.Client.Update(ctx, sec); err != nil {
			return fmt.Errorf("renewing webhook certificate secret %s: %w", c.Secret, err)
		}
		c.Log.Info("Renewed the webhook certificate", "secret", c.Secret, "hosts", c.Hosts)
	}
	cert, err := tls.X509KeyPair(sec.Data[keyCert], sec.Data[keyKey])
	if err != nil {
		return fmt.Errorf("webhook certificate secret %s: %w", c.Secret, err)
	}
	c.cert.Store(&cert)
	if err := c.patchCABundle(ctx, sec.Data[keyCACert]); err != nil {
		return err
	}
	c.readySince.CompareAndSwap(0, c.Clock.Now().UnixNano())
	return nil
}

// patchCABundle writes ca into every webhook of the configuration.
func (c *Certs) patchCABundle(ctx context.Context, ca []byte) error {
	if c.WebhookConfig == "" {
		return nil
	}
	vwc := &admissionregistrationv1.ValidatingWebhookConfiguration{}
	if err := c.Reader.Get(ctx, types.NamespacedName{Name: c.WebhookConfig}, vwc); err != nil {
		if apierrors.IsNotFound(err) {
			c.warnOnce.Do(func() {
				c.Log.Info("No ValidatingWebhookConfiguration to give the CA to: admission is not checked by the webhook", "name", c.WebhookConfig)
			})
			return nil
		}
		return fmt.Errorf("reading ValidatingWebhookConfiguration %s: %w", c.WebhookConfig, err)
	}
	orig := vwc.DeepCopy()
	changed := false
	for i := range vwc.Webhooks {
		if !bytes.Equal(vwc.Webhooks[i].ClientConfig.CABundle, ca) {
			vwc.Webhooks[i].ClientConfig.CABundle, changed = ca, true
		}
	}
	if !changed {
		return nil
	}
	if err := c.Client.Patch(ctx, vwc, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{})); err != nil {
		return fmt.Errorf("writing the CA into ValidatingWebhookConfiguration %s: %w", c.WebhookConfig, err)
	}
	c.Log.Info("Wrote the webhook CA into the ValidatingWebhookConfiguration", "name", c.WebhookConfig)
	return nil
}

// valid reports whether data holds a CA and a certificate it signed, for
// every host, not about to expire.
func valid(data map[string][]byte, hosts []string, now time.Time) bool {
	ca, _, err := parseCA(data)
	if err != nil || now.Add(caRenewBefore).After(ca.NotAfter) {
		return false
	}
	if _, err := tls.X509KeyPair(data[keyCert], data[keyKey]); err != nil {
		return false
	}
	block, _ := pem.Decode(data[keyCert])
	if block == nil {
		return false
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil || now.Add(renewBefore).After(cert.NotAfter) || now.Before(cert.NotBefore) {
		return false
	}
	if cert.CheckSignatureFrom(ca) != nil {
		return false
	}
	for _, h := range hosts {
		if cert.VerifyHostname(h) != nil {
			return false
		}
	}
	return true
}

func parseCA(data map[string][]byte) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	cb, _ := pem.Decode(data[keyCACert])
	kb, _ := pem.Decode(data[keyCAKey])
	if cb == nil || kb == nil {
		return nil, nil, errors.New("no CA")
	}
	ca, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, nil, err
	}
	key, err := x509.ParseECPrivateKey(kb.Bytes)
	if err != nil {
		return nil, nil, err
	}
	return ca, key, nil
}

// issue returns Secret data with a certificate for hosts, signed by the CA
// in old if that CA is still good, else by a new CA.
func issue(old map[string][]byte, hosts []string, now time.Time) (map[string][]byte, error) {
	ca, caKey, err := parseCA(old)
	if err != nil || now.Add(caRenewBefore).After(ca.NotAfter) {
		if ca, caKey, err = newCA(now); err != nil {
			return nil, err
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: hosts[0]},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(certLifetime),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if !slices.Contains(tmpl.DNSNames, h) {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("signing the webhook certificate: %w", err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	caKeyDER, err := x509.MarshalECPrivateKey(caKey)
	if err != nil {
		return nil, err
	}
	return map[string][]byte{
		keyCACert: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw}),
		keyCAKey:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: caKeyDER}),
		keyCert:   pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyKey:    pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
	}, nil
}

func newCA(now time.Time) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "ramp-webhook-ca"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(caLifetime),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("making the webhook CA: %w", err)
	}
	ca, err := x509.ParseCertificate(der)
	return ca, key, err
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return n
}
