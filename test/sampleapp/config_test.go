package main

import (
	"strings"
	"testing"
	"time"
)

func envFunc(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestLoadConfigDefaults(t *testing.T) {
	cfg, err := LoadConfig(envFunc(nil))
	if err != nil {
		t.Fatalf("LoadConfig: %v", err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"ListenAddr", cfg.ListenAddr(), "127.0.0.1:8080"},
		{"PodIP", cfg.PodIP, ""},
		{"Target", cfg.Target, "World"},
		{"Name", cfg.Name, "sampleapp"},
		{"Version", cfg.Version, "0.0.0"},
		{"Source", cfg.Source, ""},
		{"PodName", cfg.PodName, ""},
		{"StartupDelay", cfg.StartupDelay, time.Duration(0)},
		{"CrashEnabled", cfg.CrashEnabled, false},
		{"ErrorRate", cfg.ErrorRate, 0.0},
		{"Latency", cfg.Latency, Latency{}},
		{"ReadyFile", cfg.ReadyFile, ""},
		{"SignalFile", cfg.SignalFile, ""},
		{"ShutdownTimeout", cfg.ShutdownTimeout, 10 * time.Second},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestLoadConfigValues(t *testing.T) {
	cfg, err := LoadConfig(envFunc(map[string]string{
		"POD_IP": "10.1.2.3", "PORT": "9090", "TARGET": "Ramp", "NAME": "notif",
		"VERSION": "1.2.3", "SOURCE": "git@x", "POD_NAME": "p", "POD_NAMESPACE": "ns",
		"NODE_NAME": "n", "POD_SERVICE_ACCOUNT": "sa", "SEED": "-42",
		"READY_FILE": "/tmp/r", "SIGNAL_FILE": "/tmp/s",
	}))
	if err != nil {
		t.Fatalf("LoadConfig: %v", err)
	}
	want := Config{
		PodIP: "10.1.2.3", Port: 9090, Target: "Ramp", Name: "notif", Version: "1.2.3",
		Source: "git@x", PodName: "p", PodNamespace: "ns", NodeName: "n",
		PodServiceAccount: "sa", Seed: -42, ReadyFile: "/tmp/r", SignalFile: "/tmp/s",
		ShutdownTimeout: 10 * time.Second,
	}
	if cfg != want {
		t.Errorf("LoadConfig =\n%+v\nwant\n%+v", cfg, want)
	}
	if got := cfg.ListenAddr(); got != "10.1.2.3:9090" {
		t.Errorf("ListenAddr = %q", got)
	}
	cfg.PodIP = "::1"
	if got := cfg.ListenAddr(); got != "[::1]:9090" {
		t.Errorf("ListenAddr IPv6 = %q", got)
	}
}

func TestLoadConfigKnobs(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		wantErr string // substring; "" means success
		check   func(Config) bool
	}{
		{"error rate fraction", map[string]string{"ERROR_RATE": "0.25"}, "", func(c Config) bool { return c.ErrorRate == 0.25 }},
		{"error rate zero", map[string]string{"ERROR_RATE": "0"}, "", func(c Config) bool { return c.ErrorRate == 0 }},
		{"error rate one", map[string]string{"ERROR_RATE": "1"}, "", func(c Config) bool { return c.ErrorRate == 1 }},
		{"error rate percent", map[string]string{"ERROR_RATE": "5%"}, "", func(c Config) bool { return c.ErrorRate == 0.05 }},
		{"error rate 100 percent", map[string]string{"ERROR_RATE": "100%"}, "", func(c Config) bool { return c.ErrorRate == 1 }},
		{"error rate spaces", map[string]string{"ERROR_RATE": " 12.5 % "}, "", func(c Config) bool { return c.ErrorRate == 0.125 }},
		{"error rate not a number", map[string]string{"ERROR_RATE": "abc"}, `ERROR_RATE="abc": must be a fraction in [0,1] or a percent like 5%`, nil},
		{"error rate above 1", map[string]string{"ERROR_RATE": "1.5"}, `ERROR_RATE="1.5"`, nil},
		{"error rate negative", map[string]string{"ERROR_RATE": "-0.1"}, `ERROR_RATE="-0.1"`, nil},
		{"error rate percent above 100", map[string]string{"ERROR_RATE": "150%"}, `ERROR_RATE="150%"`, nil},
		{"error rate NaN", map[string]string{"ERROR_RATE": "NaN"}, `ERROR_RATE="NaN"`, nil},
		{"error rate Inf", map[string]string{"ERROR_RATE": "Inf"}, `ERROR_RATE="Inf"`, nil},
		{"error rate bare percent", map[string]string{"ERROR_RATE": "%"}, `ERROR_RATE="%"`, nil},

		{"latency plain", map[string]string{"LATENCY": "50ms"}, "", func(c Config) bool { return c.Latency == Latency{Base: 50 * time.Millisecond} }},
		{"latency jitter", map[string]string{"LATENCY": "50ms+-10ms"}, "", func(c Config) bool {
			return c.Latency == Latency{Base: 50 * time.Millisecond, Jitter: 10 * time.Millisecond}
		}},
		{"latency jitter spaces", map[string]string{"LATENCY": "1s +- 200ms"}, "", func(c Config) bool {
			return c.Latency == Latency{Base: time.Second, Jitter: 200 * time.Millisecond}
		}},
		{"latency plus-minus sign", map[string]string{"LATENCY": "5ms±10ms"}, "", func(c Config) bool {
			return c.Latency == Latency{Base: 5 * time.Millisecond, Jitter: 10 * time.Millisecond}
		}},
		{"latency garbage", map[string]string{"LATENCY": "fast"}, `LATENCY="fast": must be`, nil},
		{"latency unitless", map[string]string{"LATENCY": "50"}, `LATENCY="50"`, nil},
		{"latency negative", map[string]string{"LATENCY": "-5ms"}, `LATENCY="-5ms"`, nil},
		{"latency bad jitter", map[string]string{"LATENCY": "50ms+-x"}, `LATENCY="50ms+-x"`, nil},
		{"latency empty jitter", map[string]string{"LATENCY": "50ms+-"}, `LATENCY="50ms+-"`, nil},
		{"latency negative jitter", map[string]string{"LATENCY": "50ms+--1ms"}, `LATENCY="50ms+--1ms"`, nil},

		{"startup delay", map[string]string{"STARTUP_DELAY": "2s"}, "", func(c Config) bool { return c.StartupDelay == 2*time.Second }},
		{"startup delay invalid", map[string]string{"STARTUP_DELAY": "2"}, `STARTUP_DELAY="2"`, nil},
		{"startup delay negative", map[string]string{"STARTUP_DELAY": "-1s"}, `STARTUP_DELAY="-1s"`, nil},
		{"crash after", map[string]string{"CRASH_AFTER": "30s"}, "", func(c Config) bool { return c.CrashEnabled && c.CrashAfter == 30*time.Second }},
		{"crash after zero", map[string]string{"CRASH_AFTER": "0s"}, "", func(c Config) bool { return c.CrashEnabled && c.CrashAfter == 0 }},
		{"crash after invalid", map[string]string{"CRASH_AFTER": "soon"}, `CRASH_AFTER="soon"`, nil},

		{"port zero", map[string]string{"PORT": "0"}, "", func(c Config) bool { return c.Port == 0 }},
		{"port invalid", map[string]string{"PORT": "http"}, `PORT="http"`, nil},
		{"port too large", map[string]string{"PORT": "70000"}, `PORT="70000"`, nil},
		{"pod ip invalid", map[string]string{"POD_IP": "not-an-ip"}, `POD_IP="not-an-ip"`, nil},
		{"seed", map[string]string{"SEED": "7"}, "", func(c Config) bool { return c.Seed == 7 }},
		{"seed invalid", map[string]string{"SEED": "1.5"}, `SEED="1.5"`, nil},
		{"empty means unset", map[string]string{"ERROR_RATE": "", "LATENCY": "", "TARGET": ""}, "", func(c Config) bool {
			return c.ErrorRate == 0 && c.Latency.IsZero() && c.Target == "World"
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := LoadConfig(envFunc(tt.env))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("LoadConfig error = %v, want containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("LoadConfig: %v", err)
			}
			if !tt.check(cfg) {
				t.Errorf("unexpected config %+v", cfg)
			}
		})
	}
}

func TestLoadConfigReportsAllErrors(t *testing.T) {
	_, err := LoadConfig(envFunc(map[string]string{"ERROR_RATE": "2", "LATENCY": "x", "PORT": "-1"}))
	if err == nil {
		t.Fatal("expected error")
	}
	for _, v := range []string{"ERROR_RATE", "LATENCY", "PORT"} {
		if !strings.Contains(err.Error(), v+"=") {
			t.Errorf("error %q does not name %s", err, v)
		}
	}
}

func TestLatencyString(t *testing.T) {
	for _, s := range []string{"50ms", "50ms+-10ms", "0s"} {
		l, err := parseLatency(s)
		if err != nil {
			t.Fatalf("parseLatency(%q): %v", s, err)
		}
		if got := l.String(); got != s {
			t.Errorf("String() = %q, want %q", got, s)
		}
	}
}
