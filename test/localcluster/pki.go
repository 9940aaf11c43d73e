package localcluster

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// pki holds the paths of the cluster's certificates and keys. Everything is
// generated once, on the first `up`, and reused afterwards so that kubeconfigs
// handed out earlier keep working across down/up.
type pki struct {
	dir string
}

func (p pki) caCert() string      { return filepath.Join(p.dir, "ca.crt") }
func (p pki) caKey() string       { return filepath.Join(p.dir, "ca.key") }
func (p pki) servingCert() string { return filepath.Join(p.dir, "apiserver.crt") }
func (p pki) servingKey() string  { return filepath.Join(p.dir, "apiserver.key") }
func (p pki) saKey() string       { return filepath.Join(p.dir, "sa.key") }
func (p pki) saPub() string       { return filepath.Join(p.dir, "sa.pub") }
func (p pki) tokensFile() string  { return filepath.Join(p.dir, "tokens.csv") }

// identities are the static-token users of the local cluster. The admin and
// the node agent are cluster infrastructure (system:masters); the
// controller-manager runs as itself and uses per-controller service accounts,
// as on a kubeadm cluster.
var identities = []struct{ name, groups string }{
	{"admin", "system:masters"},
	{"ramp-node", "system:masters"},
	{"system:kube-controller-manager", ""},
}

// ensure creates whatever is missing. It never overwrites existing material.
func (p pki) ensure() error {
	if err := os.MkdirAll(p.dir, 0o700); err != nil {
		return fmt.Errorf("creating %s: %w", p.dir, err)
	}
	if !exists(p.caCert()) {
		if err := p.writeCA(); err != nil {
			return err
		}
	}
	// Certificates from before the real node lack its address: renew them.
	if !exists(p.servingCert()) || !certHasIP(p.servingCert(), RealNodeIP) {
		if err := p.writeServing(); err != nil {
			return err
		}
	}
	if !exists(p.kubeletClientCert()) || !certHasIP(p.kubeletCert(), RealNodeIP) {
		if err := p.writeKubeletCerts(); err != nil {
			return err
		}
	}
	if !exists(p.saKey()) {
		if err := p.writeSAKey(); err != nil {
			return err
		}
	}
	if !exists(p.tokensFile()) {
		if err := p.writeTokens(); err != nil {
			return err
		}
	}
	return nil
}

func (p pki) writeCA() error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("generating CA key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "ramp-local-ca"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return fmt.Errorf("signing CA certificate: %w", err)
	}
	if err := writePEM(p.caKey(), "EC PRIVATE KEY", mustMarshalEC(key)); err != nil {
		return err
	}
	return writePEM(p.caCert(), "CERTIFICATE", der)
}

func (p pki) writeServing() error {
	return p.writeLeaf(p.servingCert(), p.servingKey(), &x509.Certificate{
		Subject:     pkix.Name{CommonName: "kube-apiserver"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames: []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
			"kubernetes.default.svc.cluster.local"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP(serviceIP), net.ParseIP(RealNodeIP)},
	})
}

// The node agent serves the kubelet API (logs) on 127.0.0.1 with this
// certificate, and accepts only the API server's client certificate.
func (p pki) kubeletCert() string       { return filepath.Join(p.dir, "kubelet.crt") }
func (p pki) kubeletKey() string        { return filepath.Join(p.dir, "kubelet.key") }
func (p pki) kubeletClientCert() string { return filepath.Join(p.dir, "apiserver-kubelet-client.crt") }
func (p pki) kubeletClientKey() string  { return filepath.Join(p.dir, "apiserver-kubelet-client.key") }

func (p pki) writeKubeletCerts() error {
	err := p.writeLeaf(p.kubeletCert(), p.kubeletKey(), &x509.Certificate{
		Subject:     pkix.Name{CommonName: "ramp-node"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:    []string{"localhost"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP(RealNodeIP)},
	})
	if err != nil {
		return err
	}
	return p.writeLeaf(p.kubeletClientCert(), p.kubeletClientKey(), &x509.Certificate{
		Subject:     pkix.Name{CommonName: "kube-apiserver-kubelet-client", Organization: []string{"system:masters"}},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
}

// writeLeaf signs a certificate from tmpl with the cluster CA.
func (p pki) writeLeaf(certPath, keyPath string, tmpl *x509.Certificate) error {
	caCert, caKey, err := p.loadCA()
	if err != nil {
		return err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("generating key for %s: %w", tmpl.Subject.CommonName, err)
	}
	tmpl.SerialNumber = serial()
	tmpl.NotBefore = time.Now().Add(-time.Hour)
	tmpl.NotAfter = time.Now().AddDate(10, 0, 0)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		return fmt.Errorf("signing certificate for %s: %w", tmpl.Subject.CommonName, err)
	}
	if err := writePEM(keyPath, "EC PRIVATE KEY", mustMarshalEC(key)); err != nil {
		return err
	}
	return writePEM(certPath, "CERTIFICATE", der)
}

func (p pki) writeSAKey() error {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return fmt.Errorf("generating service-account key: %w", err)
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return fmt.Errorf("encoding service-account public key: %w", err)
	}
	if err := writePEM(p.saKey(), "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(key)); err != nil {
		return err
	}
	return writePEM(p.saPub(), "PUBLIC KEY", pub)
}

// writeTokens writes the static token file (token,user,uid,"groups") and one
// <user>.token file per identity.
func (p pki) writeTokens() error {
	var csv []byte
	for _, id := range identities {
		tok := randomHex(24)
		line := fmt.Sprintf("%s,%s,%s", tok, id.name, id.name)
		if id.groups != "" {
			line += fmt.Sprintf(",%q", id.groups)
		}
		csv = append(csv, line+"\n"...)
		if err := os.WriteFile(p.tokenFile(id.name), []byte(tok), 0o600); err != nil {
			return fmt.Errorf("writing token for %s: %w", id.name, err)
		}
	}
	return os.WriteFile(p.tokensFile(), csv, 0o600)
}

func (p pki) tokenFile(user string) string {
	return filepath.Join(p.dir, sanitize(user)+".token")
}

func (p pki) token(user string) (string, error) {
	b, err := os.ReadFile(p.tokenFile(user))
	if err != nil {
		return "", fmt.Errorf("reading token of %s: %w", user, err)
	}
	return string(b), nil
}

func (p pki) loadCA() (*x509.Certificate, *ecdsa.PrivateKey, error) {
	certPEM, err := os.ReadFile(p.caCert())
	if err != nil {
		return nil, nil, fmt.Errorf("reading CA: %w", err)
	}
	keyPEM, err := os.ReadFile(p.caKey())
	if err != nil {
		return nil, nil, fmt.Errorf("reading CA key: %w", err)
	}
	cb, _ := pem.Decode(certPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		return nil, nil, fmt.Errorf("CA files in %s are not PEM", p.dir)
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("parsing CA certificate: %w", err)
	}
	key, err := x509.ParseECPrivateKey(kb.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("parsing CA key: %w", err)
	}
	return cert, key, nil
}

func writePEM(path, typ string, der []byte) error {
	data := pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

func mustMarshalEC(k *ecdsa.PrivateKey) []byte {
	b, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		panic(err) // only fails for unsupported curves; P-256 is supported
	}
	return b
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		panic(err)
	}
	return n
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

func sanitize(s string) string {
	out := []byte(s)
	for i, c := range out {
		if c == ':' || c == '/' {
			out[i] = '-'
		}
	}
	return string(out)
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// certHasIP reports whether the certificate at path names ip.
func certHasIP(path, ip string) bool {
	b, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return false
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return false
	}
	want := net.ParseIP(ip)
	for _, a := range cert.IPAddresses {
		if a.Equal(want) {
			return true
		}
	}
	return false
}
