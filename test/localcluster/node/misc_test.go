package node

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestResolvePort(t *testing.T) {
	c := &corev1.Container{Name: "web", Ports: []corev1.ContainerPort{
		{Name: "http", ContainerPort: 8080}, {Name: "metrics", ContainerPort: 9090}}}
	cases := map[string]struct {
		port    intstr.IntOrString
		want    int
		wantErr string
	}{
		"int port":       {port: intstr.FromInt32(80), want: 80},
		"named port":     {port: intstr.FromString("metrics"), want: 9090},
		"numeric string": {port: intstr.FromString("8081"), want: 8081},
		"unknown name":   {port: intstr.FromString("grpc"), wantErr: `container web has no port named "grpc"`},
		"empty name":     {port: intstr.FromString(""), wantErr: `no port named ""`},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := resolvePort(c, tc.port)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("resolvePort(%v) = %d, %v; want error containing %q", tc.port, got, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("resolvePort(%v): %v", tc.port, err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("resolvePort(%v) (-want +got):\n%s", tc.port, diff)
			}
		})
	}
}

func TestThresholdAndPeriod(t *testing.T) {
	cases := map[string]struct {
		v, def     int32
		want       int
		wantPeriod time.Duration
	}{
		"zero is default":     {v: 0, def: 3, want: 3, wantPeriod: 10 * time.Second},
		"negative is default": {v: -2, def: 1, want: 1, wantPeriod: 10 * time.Second},
		"set value is kept":   {v: 7, def: 3, want: 7, wantPeriod: 7 * time.Second},
		"one is kept":         {v: 1, def: 3, want: 1, wantPeriod: time.Second},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got := [2]any{threshold(tc.v, tc.def), period(&corev1.Probe{PeriodSeconds: tc.v})}
			if diff := cmp.Diff([2]any{tc.want, tc.wantPeriod}, got); diff != "" {
				t.Errorf("threshold/period (-want +got):\n%s", diff)
			}
		})
	}
}

func TestExitCode(t *testing.T) {
	cases := map[string]struct {
		script string // run with /bin/sh -c; empty: no process at all
		err    error
		want   int
	}{
		"success":           {script: "exit 0", want: 0},
		"exit status":       {script: "exit 3", want: 3},
		"killed by SIGKILL": {script: "kill -9 $$", want: 137},
		"killed by SIGTERM": {script: "kill -TERM $$", want: 143},
		"never started":     {err: errors.New("exec: not found"), want: 128},
		"no state no error": {want: 0},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			var ps *os.ProcessState
			err := tc.err
			if tc.script != "" {
				cmd := exec.Command("/bin/sh", "-c", tc.script)
				err = cmd.Run()
				ps = cmd.ProcessState
			}
			if diff := cmp.Diff(tc.want, exitCode(ps, err)); diff != "" {
				t.Errorf("exitCode (-want +got):\n%s", diff)
			}
		})
	}
}

func TestShouldRestart(t *testing.T) {
	cases := map[string]struct {
		policy corev1.RestartPolicy
		init   bool
		exit   int
		want   bool
	}{
		"Always, success":            {policy: corev1.RestartPolicyAlways, exit: 0, want: true},
		"Always, failure":            {policy: corev1.RestartPolicyAlways, exit: 1, want: true},
		"default policy, success":    {exit: 0, want: true},
		"OnFailure, success":         {policy: corev1.RestartPolicyOnFailure, exit: 0, want: false},
		"OnFailure, failure":         {policy: corev1.RestartPolicyOnFailure, exit: 1, want: true},
		"Never, success":             {policy: corev1.RestartPolicyNever, exit: 0, want: false},
		"Never, failure":             {policy: corev1.RestartPolicyNever, exit: 1, want: false},
		"init under Always, success": {policy: corev1.RestartPolicyAlways, init: true, exit: 0, want: false},
		"init under Always, failure": {policy: corev1.RestartPolicyAlways, init: true, exit: 1, want: true},
		"init under OnFailure, fail": {policy: corev1.RestartPolicyOnFailure, init: true, exit: 2, want: true},
		"init under Never, failure":  {policy: corev1.RestartPolicyNever, init: true, exit: 1, want: false},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			pod := &corev1.Pod{Spec: corev1.PodSpec{RestartPolicy: tc.policy}}
			c := &container{pod: &podRuntime{spec: pod}, init: tc.init}
			if diff := cmp.Diff(tc.want, c.shouldRestart(tc.exit)); diff != "" {
				t.Errorf("shouldRestart(%d) (-want +got):\n%s", tc.exit, diff)
			}
		})
	}
}

// readDir returns the regular files under dir as name -> content.
func readDir(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = string(b)
	}
	return out
}

func TestRotateLog(t *testing.T) {
	cases := map[string]struct {
		files map[string]string
		want  map[string]string
	}{
		"first run creates the directory": {want: map[string]string{}},
		"second run keeps the previous log": {
			files: map[string]string{"c.log": "run1"},
			want:  map[string]string{"c.previous.log": "run1"},
		},
		"third run replaces the previous log": {
			files: map[string]string{"c.log": "run2", "c.previous.log": "run1"},
			want:  map[string]string{"c.previous.log": "run2"},
		},
		"other containers are untouched": {
			files: map[string]string{"c.log": "c", "d.log": "d"},
			want:  map[string]string{"c.previous.log": "c", "d.log": "d"},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "logs")
			if len(tc.files) > 0 {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			for n, content := range tc.files {
				if err := os.WriteFile(filepath.Join(dir, n), []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if err := rotateLog(filepath.Join(dir, "c.log")); err != nil {
				t.Fatalf("rotateLog: %v", err)
			}
			if diff := cmp.Diff(tc.want, readDir(t, dir)); diff != "" {
				t.Errorf("log directory (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRotateLogTwice(t *testing.T) {
	path := filepath.Join(t.TempDir(), "logs", "x.log")
	if err := rotateLog(path); err != nil {
		t.Fatalf("first rotateLog: %v", err)
	}
	if err := os.WriteFile(path, []byte("first run\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := rotateLog(path); err != nil {
		t.Fatalf("second rotateLog: %v", err)
	}
	want := map[string]string{"x.previous.log": "first run\n"}
	if diff := cmp.Diff(want, readDir(t, filepath.Dir(path))); diff != "" {
		t.Errorf("log directory (-want +got):\n%s", diff)
	}
}
