package queue

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"
)

// Prober checks the user container as its readiness probe says.
type Prober struct {
	spec   ProbeSpec
	addr   string
	client *http.Client
}

// NewProber probes the user container at ip.
func NewProber(ip string, spec ProbeSpec) *Prober {
	return &Prober{
		spec:   spec,
		addr:   net.JoinHostPort(ip, strconv.Itoa(spec.Port)),
		client: &http.Client{Transport: &http.Transport{DisableKeepAlives: true}},
	}
}

// Probe runs one check.
func (p *Prober) Probe(ctx context.Context) error {
	timeout := time.Duration(max(p.spec.TimeoutSeconds, 1)) * time.Second
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if p.spec.HTTPPath == "" {
		conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", p.addr)
		if err != nil {
			return err
		}
		return conn.Close()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+p.addr+p.spec.HTTPPath, nil)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", "ramp-queue-proxy-probe")
	for k, v := range p.spec.HTTPHeaders {
		req.Header.Set(k, v)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode >= 400 {
		return fmt.Errorf("readiness probe %s returned %d", p.spec.HTTPPath, resp.StatusCode)
	}
	return nil
}
