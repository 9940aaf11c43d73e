package analysis

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
)

// PrometheusConfig is how the controller reaches Prometheus: its address,
// TLS and credentials. The controller's --prometheus-* flags fill it; the
// errors name them.
type PrometheusConfig struct {
	// URL is the server's address, http or https ("https://prometheus.monitoring:9090").
	URL string
	// Timeout bounds each query on the server and on the client (0: only
	// the caller's deadline).
	Timeout time.Duration

	// CAFile is a PEM bundle of the CAs that verify an https server
	// (default: the system's roots). Read once, at start.
	CAFile string
	// CertFile and KeyFile are a PEM client certificate and key, for
	// servers that require mutual TLS. Read again at each TLS handshake,
	// so that a rotated certificate is used without a restart.
	CertFile, KeyFile string
	// InsecureSkipVerify turns off the verification of the server's
	// certificate. Only for tests; it conflicts with CAFile.
	InsecureSkipVerify bool

	// BearerTokenFile holds a token sent as "Authorization: Bearer". Read
	// at each request (tokens rotate).
	BearerTokenFile string
	// Username and PasswordFile are HTTP basic credentials; the password is
	// read at each request. They conflict with BearerTokenFile.
	Username, PasswordFile string
}

// maxPrometheusResponse bounds a query's answer: far more than the buckets
// or numbers a metric needs, and small enough to never hurt the
// controller.
const maxPrometheusResponse = 16 << 20

// Validate checks c without reading any file.
func (c PrometheusConfig) Validate() error {
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("prometheus address %q: want an http or https URL such as http://prometheus:9090 (--prometheus-url)", c.URL)
	}
	if u.User != nil {
		return errors.New("prometheus address (--prometheus-url) must not hold credentials: use --prometheus-username and --prometheus-password-file")
	}
	if c.Timeout < 0 {
		return fmt.Errorf("prometheus timeout must not be negative, got %s (--prometheus-timeout)", c.Timeout)
	}
	https := u.Scheme == "https"
	switch {
	case !https && (c.CAFile != "" || c.CertFile != "" || c.KeyFile != "" || c.InsecureSkipVerify):
		return fmt.Errorf("prometheus TLS settings (--prometheus-ca-file, --prometheus-cert-file, --prometheus-key-file, --prometheus-insecure-skip-verify) need an https --prometheus-url, not %s", c.URL)
	case (c.CertFile == "") != (c.KeyFile == ""):
		return errors.New("prometheus client certificate: set both --prometheus-cert-file and --prometheus-key-file, or neither")
	case c.InsecureSkipVerify && c.CAFile != "":
		return errors.New("prometheus: set either --prometheus-ca-file or --prometheus-insecure-skip-verify, not both")
	case c.BearerTokenFile != "" && (c.Username != "" || c.PasswordFile != ""):
		return errors.New("prometheus credentials: set either --prometheus-bearer-token-file or --prometheus-username with --prometheus-password-file, not both")
	case (c.Username == "") != (c.PasswordFile == ""):
		return errors.New("prometheus basic auth: set both --prometheus-username and --prometheus-password-file, or neither")
	case !https && (c.BearerTokenFile != "" || c.PasswordFile != ""):
		return fmt.Errorf("prometheus credentials would cross the network in clear text: use an https --prometheus-url, not %s", c.URL)
	}
	return nil
}

// NewPrometheusFromConfig returns a provider querying the server of c. It
// checks c and reads every file it names once, so that a missing file or
// a bad certificate fails at start.
func NewPrometheusFromConfig(c PrometheusConfig) (*Prometheus, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	rt, err := newPrometheusTransport(c)
	if err != nil {
		return nil, err
	}
	client, err := api.NewClient(api.Config{Address: c.URL, Client: &http.Client{Transport: rt, Timeout: c.Timeout}})
	if err != nil {
		return nil, fmt.Errorf("prometheus client for %s: %w", c.URL, err)
	}
	return &Prometheus{API: v1.NewAPI(client), Timeout: c.Timeout}, nil
}

// promTransport adds the credentials to requests for the configured host
// (never to another host a redirect leads to), bounds answers, and turns
// 401 and 403 into errors that say which credentials were refused.
type promTransport struct {
	base   http.RoundTripper
	host   string // scheme://host:port credentials go to
	cfg    PrometheusConfig
	client string // the credentials, for messages
}

func newPrometheusTransport(c PrometheusConfig) (*promTransport, error) {
	u, _ := url.Parse(c.URL) // checked by Validate
	base := http.DefaultTransport.(*http.Transport).Clone()
	base.MaxIdleConnsPerHost = maxParallelMeasurements * 2
	base.TLSHandshakeTimeout = 10 * time.Second
	base.ResponseHeaderTimeout = c.Timeout
	if u.Scheme == "https" {
		tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: c.InsecureSkipVerify} //nolint:gosec // only with --prometheus-insecure-skip-verify
		if c.CAFile != "" {
			pem, err := os.ReadFile(c.CAFile)
			if err != nil {
				return nil, fmt.Errorf("prometheus CA file (--prometheus-ca-file): %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("prometheus CA file %s (--prometheus-ca-file) holds no PEM certificate", c.CAFile)
			}
			tc.RootCAs = pool
		}
		if c.CertFile != "" {
			load := func() (*tls.Certificate, error) {
				cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
				if err != nil {
					return nil, fmt.Errorf("prometheus client certificate (--prometheus-cert-file %s, --prometheus-key-file %s): %w", c.CertFile, c.KeyFile, err)
				}
				return &cert, nil
			}
			if _, err := load(); err != nil {
				return nil, err
			}
			tc.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return load() }
		}
		base.TLSClientConfig = tc
	}
	t := &promTransport{base: base, host: u.Scheme + "://" + u.Host, cfg: c}
	switch {
	case c.BearerTokenFile != "":
		t.client = "the bearer token of " + c.BearerTokenFile
	case c.Username != "":
		t.client = fmt.Sprintf("basic auth as %s with the password of %s", c.Username, c.PasswordFile)
	default:
		t.client = "no credentials (see --prometheus-bearer-token-file, --prometheus-username)"
	}
	if _, err := t.credentials(); err != nil {
		return nil, err
	}
	return t, nil
}

// credentials is the Authorization header, read from the files now.
func (t *promTransport) credentials() (string, error) {
	read := func(flag, file string) (string, error) {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("prometheus %s: %w", flag, err)
		}
		s := strings.TrimSpace(string(b))
		if s == "" {
			return "", fmt.Errorf("prometheus %s %s is empty", flag, file)
		}
		return s, nil
	}
	switch {
	case t.cfg.BearerTokenFile != "":
		tok, err := read("--prometheus-bearer-token-file", t.cfg.BearerTokenFile)
		if err != nil {
			return "", err
		}
		return "Bearer " + tok, nil
	case t.cfg.Username != "":
		pw, err := read("--prometheus-password-file", t.cfg.PasswordFile)
		if err != nil {
			return "", err
		}
		r := &http.Request{Header: http.Header{}}
		r.SetBasicAuth(t.cfg.Username, pw)
		return r.Header.Get("Authorization"), nil
	}
	return "", nil
}

// RoundTrip implements http.RoundTripper.
func (t *promTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme+"://"+req.URL.Host == t.host {
		auth, err := t.credentials()
		if err != nil {
			return nil, err
		}
		if auth != "" {
			req = req.Clone(req.Context())
			req.Header.Set("Authorization", auth)
		}
	}
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		_ = resp.Body.Close()
		return nil, fmt.Errorf("prometheus at %s answered %s to %s", t.host, resp.Status, t.client)
	}
	resp.Body = &limitedBody{rc: resp.Body, left: maxPrometheusResponse}
	return resp, nil
}

// limitedBody fails a body longer than its limit instead of truncating it.
type limitedBody struct {
	rc   io.ReadCloser
	left int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		var one [1]byte
		if n, err := b.rc.Read(one[:]); n == 0 && err != nil {
			return 0, err // the end, right at the limit
		}
		return 0, fmt.Errorf("prometheus answer longer than %d MiB: narrow the query", maxPrometheusResponse>>20)
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *limitedBody) Close() error { return b.rc.Close() }
