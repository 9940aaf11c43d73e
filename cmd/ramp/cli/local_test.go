package cli

import (
	"bytes"
	"context"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/rampdev/ramp/test/framework"
)

func TestLocalCommandsReportBadInputClearly(t *testing.T) {
	bin, err := framework.BinDir()
	if err != nil {
		t.Fatal(err)
	}
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	busyPort := strconv.Itoa(busy.Addr().(*net.TCPAddr).Port)

	cases := map[string]struct {
		args    []string
		wantErr string // "" means success
		wantOut string
	}{
		"missing binaries name the file and the fix": {
			args:    []string{"local", "up", "--bin-dir", "/nonexistent/bin"},
			wantErr: "/nonexistent/bin/k8s/etcd is missing; build it with `make tools build`",
		},
		"a busy port is named with a hint": {
			// Every other port is free, so the busy one is the one reported
			// (even while a developer's own cluster holds the defaults).
			args: []string{"local", "up", "--bin-dir", bin, "--apiserver-port", busyPort,
				"--etcd-port", strconv.Itoa(framework.FreePort(t)), "--etcd-peer-port", strconv.Itoa(framework.FreePort(t)), "--kubelet-port", strconv.Itoa(framework.FreePort(t))},
			wantErr: "kube-apiserver: port 127.0.0.1:" + busyPort + " is in use by another program",
		},
		"a malformed pod range is rejected": {
			args:    []string{"local", "up", "--bin-dir", bin, "--pod-cidr", "nonsense"},
			wantErr: `pod CIDR "nonsense"`,
		},
		"a pod range outside loopback is rejected": {
			args:    []string{"local", "up", "--bin-dir", bin, "--pod-cidr", "10.0.0.0/16"},
			wantErr: `pod CIDR "10.0.0.0/16" must be an IPv4 range inside 127.0.0.0/8`,
		},
		"down on a cluster that never ran succeeds": {
			args:    []string{"local", "down"},
			wantOut: "The local cluster is stopped.",
		},
		"unknown flags are errors": {
			args:    []string{"local", "up", "--no-such-flag"},
			wantErr: "unknown flag: --no-such-flag",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			var out bytes.Buffer
			args := append(slices.Clone(tc.args), "--dir", filepath.Join(t.TempDir(), "local"))
			err := Run(context.Background(), args, &out, &out)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			}
			if !strings.Contains(out.String(), tc.wantOut) {
				t.Fatalf("output %q, want it to contain %q", out.String(), tc.wantOut)
			}
		})
	}
}
