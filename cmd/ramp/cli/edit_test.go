package cli

import (
	"context"
	"strings"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/client"

	rolloutsv1alpha1 "github.com/rampdev/ramp/apis/rollouts/v1alpha1"
	servingv1 "github.com/rampdev/ramp/apis/serving/v1"
)

func (s *suite) testCreateAndSetImage(t *testing.T) {
	ns := "edit"
	s.namespace(t, ns)
	get := func(t *testing.T, name string) *rolloutsv1alpha1.Rollout {
		t.Helper()
		ro := &rolloutsv1alpha1.Rollout{}
		if err := s.k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, ro); err != nil {
			t.Fatal(err)
		}
		return ro
	}

	t.Run("create", func(t *testing.T) {
		r := s.run(t, "rollout", "create", "web", "-n", ns, "--image", "ramp/sampleapp:v1", "--steps", "10,50%", "--pause", "30s", "--env", "MODE=prod")
		if r.err != nil || !strings.Contains(r.out, "Rollout web created in namespace edit") {
			t.Fatalf("error %v\n%s", r.err, r.out)
		}
		ro := get(t, "web")
		c := ro.Spec.Template.Spec.Containers[0]
		steps := ro.Spec.Strategy.Canary.Steps
		if c.Image != "ramp/sampleapp:v1" || c.Ports[0].ContainerPort != 8080 || c.Env[0].Name != "MODE" || c.Env[0].Value != "prod" ||
			len(steps) != 2 || *steps[0].Weight != 10 || *steps[1].Weight != 50 || steps[1].Pause.Duration.String() != "30s" {
			t.Errorf("created %+v", ro.Spec)
		}
		if r := s.run(t, "rollout", "create", "web", "-n", ns, "--image", "x"); r.err == nil || !strings.Contains(r.err.Error(), "already exists") {
			t.Errorf("a second create: %v", r.err)
		}
	})

	t.Run("create --dry-run --blue-green", func(t *testing.T) {
		r := s.run(t, "rollout", "create", "bg", "-n", ns, "--image", "ramp/sampleapp:v1", "--blue-green", "--dry-run")
		if r.err != nil || !strings.Contains(r.out, "kind: Rollout") || !strings.Contains(r.out, "blueGreen: {}") {
			t.Errorf("error %v\n%s", r.err, r.out)
		}
		if err := s.k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "bg"}, &rolloutsv1alpha1.Rollout{}); err == nil {
			t.Error("--dry-run created the rollout")
		}
	})

	t.Run("bad create flags", func(t *testing.T) {
		for args, want := range map[string]string{
			"x":                         "--image is required",
			"x --image i --steps 50,20": "weights must not decrease (20 after 50)",
			"x --image i --steps 10,a":  `"a" is not a whole percentage`,
			"x --image i --steps 101":   "101 is not between 0 and 100",
			"x --image i --env NOVALUE": `--env "NOVALUE": must be NAME=VALUE`,
			"x --image i --port 0":      "--port 0: must be 1 to 65535",
		} {
			r := s.run(t, append([]string{"rollout", "create", "-n", ns}, strings.Fields(args)...)...)
			if r.err == nil || !strings.Contains(r.err.Error(), want) {
				t.Errorf("create %s: %v, want %q", args, r.err, want)
			}
		}
	})

	t.Run("set image", func(t *testing.T) {
		r := s.run(t, "rollout", "set", "image", "web", "ramp/sampleapp:v2", "-n", ns)
		if r.err != nil || !strings.Contains(r.out, "Rollout web: image ramp/sampleapp:v2 (was ramp/sampleapp:v1)") {
			t.Fatalf("error %v\n%s", r.err, r.out)
		}
		ro := get(t, "web")
		if img := ro.Spec.Template.Spec.Containers[0].Image; img != "ramp/sampleapp:v2" || ro.Generation != 2 {
			t.Errorf("image %s, generation %d", img, ro.Generation)
		}
		r = s.run(t, "rollout", "set", "image", "web", "ramp/sampleapp:v2", "-n", ns)
		if r.err != nil || !strings.Contains(r.out, "already runs ramp/sampleapp:v2: nothing to roll out") || get(t, "web").Generation != 2 {
			t.Errorf("the same image again: %v\n%s", r.err, r.out)
		}
	})

	t.Run("set image with two containers", func(t *testing.T) {
		ro := makeRollout(ns, "two").Obj()
		ro.Spec.Template.Spec.Containers = []servingv1.Container{
			{Name: "app", Image: "ramp/sampleapp:v1", Ports: []servingv1.ContainerPort{{ContainerPort: 8080}}},
			{Name: "sidecar", Image: "ramp/apicheck:v1"},
		}
		if err := s.k8s.Create(context.Background(), ro); err != nil {
			t.Fatal(err)
		}
		if r := s.run(t, "rollout", "set", "image", "two", "x:v2", "-n", ns); r.err == nil || !strings.Contains(r.err.Error(), "has 2 containers (app, sidecar): name one with -c") {
			t.Errorf("without -c: %v", r.err)
		}
		if r := s.run(t, "rollout", "set", "image", "two", "x:v2", "-c", "nope", "-n", ns); r.err == nil || !strings.Contains(r.err.Error(), `no container "nope" (it has app, sidecar)`) {
			t.Errorf("an unknown container: %v", r.err)
		}
		if r := s.run(t, "rollout", "set", "image", "two", "ramp/apicheck:v2", "-c", "sidecar", "-n", ns); r.err != nil {
			t.Fatal(r.err)
		}
		if cs := get(t, "two").Spec.Template.Spec.Containers; cs[0].Image != "ramp/sampleapp:v1" || cs[1].Image != "ramp/apicheck:v2" {
			t.Errorf("containers %+v", cs)
		}
		if r := s.run(t, "rollout", "set", "image", "gone", "x", "-n", ns); r.err == nil || !strings.Contains(r.err.Error(), "gone") {
			t.Errorf("an unknown rollout: %v", r.err)
		}
	})
}
