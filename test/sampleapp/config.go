package main

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Defaults for the knobs documented on the package.
const (
	defaultPodIP           = "127.0.0.1"
	defaultPort            = 8080
	defaultTarget          = "World"
	defaultName            = "sampleapp"
	defaultVersion         = "0.0.0"
	defaultShutdownTimeout = 10 * time.Second
)

// Config is the fully parsed and validated configuration of the sample app.
type Config struct {
	// PodIP is the raw POD_IP value ("" if unset); it is reported by
	// /service/info. The listener falls back to 127.0.0.1 when it is empty.
	PodIP string
	Port  int

	Target            string
	Name              string
	Version           string
	Source            string
	PodName           string
	PodNamespace      string
	NodeName          string
	PodServiceAccount string

	StartupDelay time.Duration
	// CrashAfter is only meaningful when CrashEnabled is set (CRASH_AFTER
	// given); zero then means "crash immediately on start".
	CrashAfter   time.Duration
	CrashEnabled bool

	ErrorRate float64
	Latency   Latency
	Seed      int64

	ReadyFile  string
	SignalFile string

	ShutdownTimeout time.Duration
}

// Latency is an injected per-request delay: Base plus a uniform jitter in
// [-Jitter, +Jitter], clamped at zero.
type Latency struct {
	Base   time.Duration
	Jitter time.Duration
}

// String renders l in the LATENCY syntax.
func (l Latency) String() string {
	if l.Jitter == 0 {
		return l.Base.String()
	}
	return l.Base.String() + "+-" + l.Jitter.String()
}

// IsZero reports whether no latency is injected.
func (l Latency) IsZero() bool { return l.Base == 0 && l.Jitter == 0 }

// ListenAddr is the host:port the server binds.
func (c Config) ListenAddr() string {
	ip := c.PodIP
	if ip == "" {
		ip = defaultPodIP
	}
	return net.JoinHostPort(ip, strconv.Itoa(c.Port))
}

// LoadConfig builds a Config from getenv (normally os.Getenv). An empty
// variable is treated as unset. All invalid knobs are reported together, each
// error naming its variable.
func LoadConfig(getenv func(string) string) (Config, error) {
	env := func(key, def string) string {
		if v := strings.TrimSpace(getenv(key)); v != "" {
			return v
		}
		return def
	}
	cfg := Config{
		PodIP:             env("POD_IP", ""),
		Port:              defaultPort,
		Target:            env("TARGET", defaultTarget),
		Name:              env("NAME", defaultName),
		Version:           env("VERSION", defaultVersion),
		Source:            env("SOURCE", ""),
		PodName:           env("POD_NAME", ""),
		PodNamespace:      env("POD_NAMESPACE", ""),
		NodeName:          env("NODE_NAME", ""),
		PodServiceAccount: env("POD_SERVICE_ACCOUNT", ""),
		ReadyFile:         env("READY_FILE", ""),
		SignalFile:        env("SIGNAL_FILE", ""),
		Seed:              time.Now().UnixNano(),
		ShutdownTimeout:   defaultShutdownTimeout,
	}

	var errs []error
	fail := func(key, val, why string) {
		errs = append(errs, fmt.Errorf("%s=%q: %s", key, val, why))
	}

	if v := cfg.PodIP; v != "" {
		if _, err := netip.ParseAddr(v); err != nil {
			fail("POD_IP", v, "must be an IP address")
		}
	}
	if v := env("PORT", ""); v != "" {
		p, err := strconv.Atoi(v)
		if err != nil || p < 0 || p > 65535 {
			fail("PORT", v, "must be a port number in [0,65535]")
		} else {
			cfg.Port = p
		}
	}
	if v := env("STARTUP_DELAY", ""); v != "" {
		d, err := parseNonNegDuration(v)
		if err != nil {
			fail("STARTUP_DELAY", v, err.Error())
		}
		cfg.StartupDelay = d
	}
	if v := env("CRASH_AFTER", ""); v != "" {
		d, err := parseNonNegDuration(v)
		if err != nil {
			fail("CRASH_AFTER", v, err.Error())
		}
		cfg.CrashAfter, cfg.CrashEnabled = d, err == nil
	}
	if v := env("ERROR_RATE", ""); v != "" {
		r, err := parseErrorRate(v)
		if err != nil {
			fail("ERROR_RATE", v, err.Error())
		}
		cfg.ErrorRate = r
	}
	if v := env("LATENCY", ""); v != "" {
		l, err := parseLatency(v)
		if err != nil {
			fail("LATENCY", v, err.Error())
		}
		cfg.Latency = l
	}
	if v := env("SEED", ""); v != "" {
		s, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			fail("SEED", v, "must be a 64-bit signed integer")
		}
		cfg.Seed = s
	}
	if len(errs) > 0 {
		return Config{}, errors.Join(errs...)
	}
	return cfg, nil
}

func parseNonNegDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, errors.New("must be a non-negative Go duration like 2s or 500ms")
	}
	return d, nil
}

var errErrorRate = errors.New("must be a fraction in [0,1] or a percent like 5%")

// parseErrorRate accepts a fraction in [0,1] ("0.05") or a percent in
// [0%,100%] ("5%").
func parseErrorRate(s string) (float64, error) {
	scale := 1.0
	if num, ok := strings.CutSuffix(s, "%"); ok {
		s, scale = strings.TrimSpace(num), 100
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || f < 0 || f > scale {
		return 0, errErrorRate
	}
	return f / scale, nil
}

var errLatency = errors.New("must be a non-negative duration like 50ms, optionally with jitter like 50ms+-10ms")

// maxLatency bounds base and jitter so that sampling cannot overflow.
const maxLatency = time.Duration(1 << 60)

// parseLatency accepts "BASE" or "BASE+-JITTER" (also "BASE±JITTER").
func parseLatency(s string) (Latency, error) {
	base, jitter, hasJitter := strings.Cut(s, "+-")
	if !hasJitter {
		base, jitter, hasJitter = strings.Cut(s, "±")
	}
	var l Latency
	var err error
	if l.Base, err = parseNonNegDuration(strings.TrimSpace(base)); err != nil || l.Base > maxLatency {
		return Latency{}, errLatency
	}
	if hasJitter {
		l.Jitter, err = parseNonNegDuration(strings.TrimSpace(jitter))
		if err != nil || l.Jitter > maxLatency {
			return Latency{}, errLatency
		}
	}
	return l, nil
}
