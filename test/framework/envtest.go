package framework

import (
	"path/filepath"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// Envtest is a running etcd and kube-apiserver for integration tests.
type Envtest struct {
	Config *rest.Config
	Client client.Client
	Scheme *runtime.Scheme
	env    *envtest.Environment
}

// StartEnvtest starts an API server on the binaries in bin/k8s, installs the
// CRDs found under crdDirs, and stops it when the test ends. A nil scheme
// means client-go's.
func StartEnvtest(t testing.TB, scheme *runtime.Scheme, crdDirs ...string) *Envtest {
	t.Helper()
	bin, err := BinDir()
	if err != nil {
		t.Fatal(err)
	}
	assets := filepath.Join(bin, "k8s")
	if err := requireBinaries(assets, "etcd", "kube-apiserver", "kubectl"); err != nil {
		t.Fatal(err)
	}
	if scheme == nil {
		scheme = clientgoscheme.Scheme
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     crdDirs,
		ErrorIfCRDPathMissing: len(crdDirs) > 0,
		Scheme:                scheme,
	}
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("starting envtest from %s: %v", assets, err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stopping envtest: %v", err)
		}
	})
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	return &Envtest{Config: cfg, Client: c, Scheme: scheme, env: env}
}
