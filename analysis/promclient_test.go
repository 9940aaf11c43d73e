package analysis

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// promAPI answers vector(1) with 1 when check lets the request through,
// and records the Authorization headers it saw.
type promAPI struct {
	check func(r *http.Request) int // status to answer; 0: 200

	mu    sync.Mutex
	auths []string
}

func (a *promAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	a.auths = append(a.auths, r.Header.Get("Authorization"))
	a.mu.Unlock()
	if a.check != nil {
		if code := a.check(r); code != 0 {
			http.Error(w, http.StatusText(code), code)
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"1"]}]}}`))
}

func (a *promAPI) lastAuth() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.auths) == 0 {
		return ""
	}
	return a.auths[len(a.auths)-1]
}

// testServer is an httptest server bounded as every server must be.
func testServer(h http.Handler, tlsCfg *tls.Config) *httptest.Server {
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ReadHeaderTimeout, srv.Config.IdleTimeout, srv.Config.MaxHeaderBytes = 5*time.Second, 30*time.Second, 1<<16
	if tlsCfg != nil {
		srv.TLS = tlsCfg
		srv.StartTLS()
	} else {
		srv.Start()
	}
	return srv
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// testCA is a CA that signs leaf certificates for the tests.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  string
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"}, IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key, pem: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))}
}

// leaf returns a PEM certificate and key for a server (127.0.0.1) or a
// client.
func (ca *testCA) leaf(t *testing.T, client bool) (certPEM, keyPEM string, pair tls.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "leaf"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
	if client {
		tmpl.ExtKeyUsage, tmpl.IPAddresses = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, nil
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	keyPEM = string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}))
	pair, err = tls.X509KeyPair([]byte(certPEM), []byte(keyPEM))
	if err != nil {
		t.Fatal(err)
	}
	return certPEM, keyPEM, pair
}

func isOnline(t *testing.T, cfg PrometheusConfig) error {
	t.Helper()
	p, err := NewPrometheusFromConfig(cfg)
	if err != nil {
		t.Fatalf("NewPrometheusFromConfig(%+v): %v", cfg, err)
	}
	return p.IsOnline(context.Background())
}

func TestPrometheusTLS(t *testing.T) {
	ca := newTestCA(t)
	_, _, serverPair := ca.leaf(t, false)
	srv := testServer(&promAPI{}, &tls.Config{Certificates: []tls.Certificate{serverPair}, MinVersion: tls.VersionTLS12})
	defer srv.Close()
	caFile := writeFile(t, "ca.crt", ca.pem)

	if err := isOnline(t, PrometheusConfig{URL: srv.URL, Timeout: 5 * time.Second, CAFile: caFile}); err != nil {
		t.Errorf("with the CA: %v", err)
	}
	if err := isOnline(t, PrometheusConfig{URL: srv.URL, Timeout: 5 * time.Second}); err == nil || !strings.Contains(err.Error(), "certificate signed by unknown authority") {
		t.Errorf("without the CA: %v, want an unknown authority", err)
	}
	if err := isOnline(t, PrometheusConfig{URL: srv.URL, Timeout: 5 * time.Second, CAFile: writeFile(t, "other.crt", newTestCA(t).pem)}); err == nil {
		t.Error("with another CA: online, want a verification error")
	}
	if err := isOnline(t, PrometheusConfig{URL: srv.URL, Timeout: 5 * time.Second, InsecureSkipVerify: true}); err != nil {
		t.Errorf("with insecureSkipVerify: %v", err)
	}
}

func TestPrometheusClientCertificate(t *testing.T) {
	ca := newTestCA(t)
	_, _, serverPair := ca.leaf(t, false)
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	srv := testServer(&promAPI{}, &tls.Config{Certificates: []tls.Certificate{serverPair}, ClientAuth: tls.RequireAndVerifyClientCert,
		ClientCAs: pool, MinVersion: tls.VersionTLS12})
	defer srv.Close()
	caFile := writeFile(t, "ca.crt", ca.pem)
	certPEM, keyPEM, _ := ca.leaf(t, true)
	certFile, keyFile := writeFile(t, "tls.crt", certPEM), writeFile(t, "tls.key", keyPEM)

	if err := isOnline(t, PrometheusConfig{URL: srv.URL, Timeout: 5 * time.Second, CAFile: caFile, CertFile: certFile, KeyFile: keyFile}); err != nil {
		t.Errorf("with the client certificate: %v", err)
	}
	if err := isOnline(t, PrometheusConfig{URL: srv.URL, Timeout: 5 * time.Second, CAFile: caFile}); err == nil {
		t.Error("without a client certificate: online, want the handshake refused")
	}
}

func TestPrometheusCredentials(t *testing.T) {
	ca := newTestCA(t)
	_, _, serverPair := ca.leaf(t, false)
	api := &promAPI{}
	srv := testServer(api, &tls.Config{Certificates: []tls.Certificate{serverPair}, MinVersion: tls.VersionTLS12})
	defer srv.Close()
	caFile := writeFile(t, "ca.crt", ca.pem)

	t.Run("bearer token, re-read at each request", func(t *testing.T) {
		tokenFile := writeFile(t, "token", "s3cret\n")
		p, err := NewPrometheusFromConfig(PrometheusConfig{URL: srv.URL, CAFile: caFile, BearerTokenFile: tokenFile})
		if err != nil {
			t.Fatal(err)
		}
		if err := p.IsOnline(context.Background()); err != nil {
			t.Fatal(err)
		}
		if got := api.lastAuth(); got != "Bearer s3cret" {
			t.Errorf("Authorization %q, want Bearer s3cret", got)
		}
		if err := os.WriteFile(tokenFile, []byte("rotated"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := p.IsOnline(context.Background()); err != nil {
			t.Fatal(err)
		}
		if got := api.lastAuth(); got != "Bearer rotated" {
			t.Errorf("after rotation, Authorization %q, want Bearer rotated", got)
		}
	})
	t.Run("basic auth", func(t *testing.T) {
		if err := isOnline(t, PrometheusConfig{URL: srv.URL, CAFile: caFile, Username: "ramp", PasswordFile: writeFile(t, "pw", "hunter2")}); err != nil {
			t.Fatal(err)
		}
		r := &http.Request{Header: http.Header{"Authorization": {api.lastAuth()}}}
		if u, pw, ok := r.BasicAuth(); !ok || u != "ramp" || pw != "hunter2" {
			t.Errorf("basic auth %q %q %v, want ramp hunter2", u, pw, ok)
		}
	})
}

// A 401 is an Error look naming the credentials, never a pass.
func TestPrometheusUnauthorized(t *testing.T) {
	ca := newTestCA(t)
	_, _, serverPair := ca.leaf(t, false)
	api := &promAPI{check: func(r *http.Request) int {
		if r.Header.Get("Authorization") != "Bearer good" {
			return http.StatusUnauthorized
		}
		return 0
	}}
	srv := testServer(api, &tls.Config{Certificates: []tls.Certificate{serverPair}, MinVersion: tls.VersionTLS12})
	defer srv.Close()
	tokenFile := writeFile(t, "token", "bad")
	p, err := NewPrometheusFromConfig(PrometheusConfig{URL: srv.URL, CAFile: writeFile(t, "ca.crt", ca.pem), BearerTokenFile: tokenFile})
	if err != nil {
		t.Fatal(err)
	}
	m := Metric{Name: "e", Builtin: ErrorRate, Provider: PrometheusProvider, Counts: CountsQueries{Requests: reqT, Errors: errT},
		Margin: DefaultMargin(ErrorRate), Tolerance: DefaultTolerance(ErrorRate)}
	rep := Evaluate(context.Background(), Providers{PrometheusProvider: p}, seqSpec(m), at(30))
	want := "answered 401 Unauthorized to the bearer token of " + tokenFile
	if rep.Phase != Error || !strings.HasPrefix(rep.Message, "e: measuring canary: prometheus requests query `") || !strings.Contains(rep.Message, want) {
		t.Errorf("Evaluate() = %s %q, want an Error naming the metric, the query and %q", rep.Phase, rep.Message, want)
	}
	// A query metric is an Error too.
	q := Metric{Name: "q", Query: "up", Provider: PrometheusProvider, Thresholds: Thresholds{Max: ptr(1)}}
	if rep := Evaluate(context.Background(), Providers{PrometheusProvider: p}, spec(q), evalNow); rep.Phase != Error || !strings.Contains(rep.Message, want) {
		t.Errorf("Evaluate(query) = %s %q, want Error with %q", rep.Phase, rep.Message, want)
	}
}

// A server slower than the timeout is an error, not a hang.
func TestPrometheusTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := testServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		case <-time.After(10 * time.Second):
		}
	}), nil)
	defer srv.Close()
	defer close(release)
	err := isOnline(t, PrometheusConfig{URL: srv.URL, Timeout: 50 * time.Millisecond})
	if err == nil || (!strings.Contains(err.Error(), "deadline exceeded") && !strings.Contains(err.Error(), "Timeout")) {
		t.Errorf("IsOnline() = %v, want a timeout", err)
	}
}

// Credentials go to the configured host only, not to one a redirect
// points at.
func TestPrometheusCredentialsStayOnTheHost(t *testing.T) {
	ca := newTestCA(t)
	_, _, serverPair := ca.leaf(t, false)
	other := &promAPI{}
	otherSrv := testServer(other, &tls.Config{Certificates: []tls.Certificate{serverPair}, MinVersion: tls.VersionTLS12})
	defer otherSrv.Close()
	redirect := testServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, otherSrv.URL+r.URL.Path+"?"+r.URL.RawQuery, http.StatusTemporaryRedirect)
	}), &tls.Config{Certificates: []tls.Certificate{serverPair}, MinVersion: tls.VersionTLS12})
	defer redirect.Close()
	// Both listen on 127.0.0.1, on different ports: different hosts.
	_ = isOnline(t, PrometheusConfig{URL: redirect.URL, CAFile: writeFile(t, "ca.crt", ca.pem), BearerTokenFile: writeFile(t, "token", "s3cret")})
	if len(other.auths) == 0 {
		t.Fatal("the redirect was not followed: the test proves nothing")
	}
	if got := other.lastAuth(); got != "" {
		t.Errorf("the redirect target got Authorization %q, want none", got)
	}
}

// An answer larger than the limit is an error, not a controller out of
// memory.
func TestPrometheusAnswerLimit(t *testing.T) {
	srv := testServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"success","data":{"resultType":"vector","result":[`))
		chunk := []byte(strings.Repeat(`{"metric":{"pod":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"},"value":[1,"1"]},`, 1000))
		for written := 0; written <= maxPrometheusResponse; written += len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
		_, _ = w.Write([]byte(`{"metric":{},"value":[1,"1"]}]}}`))
	}), nil)
	defer srv.Close()
	err := isOnline(t, PrometheusConfig{URL: srv.URL, Timeout: 30 * time.Second})
	if err == nil || !strings.Contains(err.Error(), "prometheus answer longer than 16 MiB") {
		t.Errorf("IsOnline() = %v, want the answer refused as too long", err)
	}
}

func TestPrometheusConfigRefused(t *testing.T) {
	token := writeFile(t, "token", "t")
	tests := map[string]struct {
		cfg  PrometheusConfig
		want string
	}{
		"TLS over http":      {PrometheusConfig{URL: "http://p:9090", CAFile: token}, "need an https --prometheus-url"},
		"insecure over http": {PrometheusConfig{URL: "http://p:9090", InsecureSkipVerify: true}, "need an https --prometheus-url"},
		"token over http":    {PrometheusConfig{URL: "http://p:9090", BearerTokenFile: token}, "would cross the network in clear text"},
		"cert without key":   {PrometheusConfig{URL: "https://p", CertFile: token}, "set both --prometheus-cert-file and --prometheus-key-file"},
		"CA and insecure":    {PrometheusConfig{URL: "https://p", CAFile: token, InsecureSkipVerify: true}, "either --prometheus-ca-file or --prometheus-insecure-skip-verify"},
		"token and basic":    {PrometheusConfig{URL: "https://p", BearerTokenFile: token, Username: "u", PasswordFile: token}, "not both"},
		"user, no password":  {PrometheusConfig{URL: "https://p", Username: "u"}, "set both --prometheus-username and --prometheus-password-file"},
		"credentials in URL": {PrometheusConfig{URL: "https://u:p@p"}, "must not hold credentials"},
		"missing token":      {PrometheusConfig{URL: "https://p", BearerTokenFile: "/nonexistent/token"}, "--prometheus-bearer-token-file: open /nonexistent/token"},
		"empty token":        {PrometheusConfig{URL: "https://p", BearerTokenFile: writeFile(t, "empty", "\n")}, "is empty"},
		"CA without PEM":     {PrometheusConfig{URL: "https://p", CAFile: token}, "holds no PEM certificate"},
		"missing CA":         {PrometheusConfig{URL: "https://p", CAFile: "/nonexistent/ca"}, "prometheus CA file (--prometheus-ca-file): open /nonexistent/ca"},
		"bad key pair":       {PrometheusConfig{URL: "https://p", CertFile: token, KeyFile: token}, "prometheus client certificate (--prometheus-cert-file"},
		"negative timeout":   {PrometheusConfig{URL: "https://p", Timeout: -1}, "must not be negative"},
		"a URL without host": {PrometheusConfig{URL: "https://"}, "want an http or https URL"},
		"missing password":   {PrometheusConfig{URL: "https://p", Username: "u", PasswordFile: "/nonexistent/pw"}, "--prometheus-password-file"},
		"not a URL at all":   {PrometheusConfig{URL: "prometheus"}, "(--prometheus-url)"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := NewPrometheusFromConfig(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("NewPrometheusFromConfig(%+v) = %v, want an error containing %q", tc.cfg, err, tc.want)
			}
		})
	}
}

func TestCheckQuery(t *testing.T) {
	c := docCounts(t)
	for _, q := range []string{c.Requests, c.Errors, c.Histogram, `histogram_quantile(0.9, sum by (le) (rate(x_bucket[{{.Window}}])))`, "up"} {
		if err := CheckQuery(q); err != nil {
			t.Errorf("CheckQuery(%q) = %v", q, err)
		}
	}
	tests := map[string]struct{ query, want string }{
		"unclosed":        {`sum(rate(x{rev="{{.Revision}}"}[{{.Window}}])`, "not PromQL: 1:"},
		"no range":        {`rate(x{rev="{{.Revision}}"})`, "expected type range vector"},
		"unknown":         {`frobnicate(x)`, `unknown function with name "frobnicate"`},
		"bad matcher":     {`x{rev=={{.Revision}}}`, "not PromQL"},
		"bad template":    {`x{{.Pod}}`, "query template (variables: .Namespace .Revision .Tag .Window)"},
		"shows the query": {`sum(x{rev="{{.Revision}}"}`, "rendered with placeholder values: `sum(x{rev=\"app-00001\"}`"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if err := CheckQuery(tc.query); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("CheckQuery(%q) = %v, want an error containing %q", tc.query, err, tc.want)
			}
		})
	}
}
