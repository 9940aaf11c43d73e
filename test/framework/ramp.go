package framework

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/rampdev/ramp/controllers/manager"
)

// CRDDir is where `make manifests` writes Ramp's CRDs.
func CRDDir() (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, "charts", "ramp", "templates", "crds"), nil
}

// InstallCRDs creates (or updates) Ramp's CRDs and waits until they are
// established.
func (c *Cluster) InstallCRDs(ctx context.Context) error {
	dir, err := CRDDir()
	if err != nil {
		return err
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(files) == 0 {
		return fmt.Errorf("no CRDs in %s (run make manifests): %w", dir, err)
	}
	s := runtime.NewScheme()
	_ = apiextensionsv1.AddToScheme(s)
	cl, err := client.New(c.Config, client.Options{Scheme: s})
	if err != nil {
		return err
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := yaml.Unmarshal(b, crd); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		if err := cl.Create(ctx, crd); err != nil && !strings.Contains(err.Error(), "already exists") {
			return fmt.Errorf("creating CRD %s: %w", crd.Name, err)
		}
		err = Poll(ctx, 30*time.Second, 200*time.Millisecond, func(ctx context.Context) error {
			got := &apiextensionsv1.CustomResourceDefinition{}
			if err := cl.Get(ctx, client.ObjectKeyFromObject(crd), got); err != nil {
				return err
			}
			for _, cond := range got.Status.Conditions {
				if cond.Type == apiextensionsv1.Established && cond.Status == apiextensionsv1.ConditionTrue {
					return nil
				}
			}
			return fmt.Errorf("CRD %s not established", crd.Name)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// StartController runs Ramp's controller in this process against the
// cluster until ctx ends. Its queue-proxy image maps to bin/queue.
func (c *Cluster) StartController(ctx context.Context) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ramp-system"}}
	if err := c.Client.Create(ctx, ns); client.IgnoreAlreadyExists(err) != nil {
		return err
	}
	mgr, err := manager.New(c.Config, manager.Options{
		Namespace: "ramp-system", MetricsAddr: "0", HealthAddr: "0",
		QueueImage: "ramp/queue:e2e", ProgressDeadline: 2 * time.Minute, ScaleToZeroGrace: 30 * time.Second,
	})
	if err != nil {
		return err
	}
	c.Client, err = client.New(c.Config, client.Options{Scheme: manager.Scheme()})
	if err != nil {
		return err
	}
	go func() {
		if err := mgr.Start(ctx); err != nil {
			fmt.Fprintf(os.Stderr, "controller stopped: %v\n", err)
		}
	}()
	return nil
}
