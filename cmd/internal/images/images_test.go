package images

import (
	"archive/tar"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// fakeCompiler returns a fixed "binary" per package and platform.
type fakeCompiler struct{ size int }

func (f fakeCompiler) Compile(_ context.Context, pkg string, p v1.Platform, m Metadata) ([]byte, error) {
	if f.size > 0 {
		b := make([]byte, f.size)
		_, _ = rand.Read(b) // incompressible
		return b, nil
	}
	return []byte("#binary " + pkg + " " + p.Architecture + " " + m.Version), nil
}

var testMeta = Metadata{Registry: "ghcr.io/rampdev", Version: "0.1.0", Revision: "abc123", Source: Source,
	Created: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)}

func build(t *testing.T, m Metadata) *Built {
	t.Helper()
	b, err := Build(context.Background(), Components[0], DefaultPlatforms, m, fakeCompiler{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestBuildIsReproducible(t *testing.T) {
	a, b := build(t, testMeta), build(t, testMeta)
	if a.Digest != b.Digest {
		t.Fatalf("two builds of the same inputs: %s and %s", a.Digest, b.Digest)
	}
	later := testMeta
	later.Created = later.Created.Add(time.Second)
	if c := build(t, later); c.Digest == a.Digest {
		t.Fatalf("the commit time is not in the image: %s for both", c.Digest)
	}
	other := testMeta
	other.Revision = "def456"
	if c := build(t, other); c.Digest == a.Digest {
		t.Fatalf("the revision is not in the image: %s for both", c.Digest)
	}
}

func TestImageRunsAsNonRootWithoutAShell(t *testing.T) {
	b := build(t, testMeta)
	man, err := b.Index.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(man.Manifests) != 2 || man.Manifests[0].Platform.Architecture != "amd64" || man.Manifests[1].Platform.Architecture != "arm64" {
		t.Fatalf("index manifests: %+v, want linux/amd64 and linux/arm64", man.Manifests)
	}
	if man.Annotations["org.opencontainers.image.version"] != "0.1.0" || man.Annotations["org.opencontainers.image.source"] != Source {
		t.Errorf("index annotations %v", man.Annotations)
	}
	img, err := b.Index.Image(man.Manifests[1].Digest)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cf.Config
	if c.User != "65532:65532" || len(c.Entrypoint) != 1 || c.Entrypoint[0] != "/usr/bin/controller" || cf.Architecture != "arm64" || cf.OS != "linux" {
		t.Errorf("config: user %q entrypoint %v platform %s/%s", c.User, c.Entrypoint, cf.OS, cf.Architecture)
	}
	for k, want := range map[string]string{"org.opencontainers.image.revision": "abc123", "org.opencontainers.image.version": "0.1.0",
		"org.opencontainers.image.source": Source, "org.opencontainers.image.created": "2026-12-01T10:00:00Z"} {
		if c.Labels[k] != want {
			t.Errorf("label %s = %q, want %q", k, c.Labels[k], want)
		}
	}
	if !cf.Created.Equal(testMeta.Created) {
		t.Errorf("created %v, want the commit time %v", cf.Created, testMeta.Created)
	}

	files := map[string]*tar.Header{}
	bodies := map[string]string{}
	var order [][]string
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(rc)
		var names []string
		for {
			h, err := tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			files[h.Name], names = h, append(names, h.Name)
			body, _ := io.ReadAll(tr)
			bodies[h.Name] = string(body)
			if !h.ModTime.Equal(testMeta.Created) {
				t.Errorf("%s has time %v, want the commit time", h.Name, h.ModTime)
			}
		}
		rc.Close()
		order = append(order, names)
	}
	for _, names := range order {
		if !sort.StringsAreSorted(names) {
			t.Errorf("layer entries not sorted: %v", names)
		}
	}
	for _, sh := range []string{"bin/sh", "usr/bin/sh", "bin/busybox"} {
		if files[sh] != nil {
			t.Errorf("the image has a shell: %s", sh)
		}
	}
	if !strings.Contains(bodies["etc/passwd"], "nonroot:x:65532:65532:") {
		t.Errorf("/etc/passwd:\n%s", bodies["etc/passwd"])
	}
	if h := files["tmp/"]; h == nil || h.Mode&0o1777 != 0o1777 {
		t.Errorf("/tmp: %+v, want a sticky world-writable directory", h)
	}
	if h := files["home/nonroot/"]; h == nil || h.Uid != UID {
		t.Errorf("/home/nonroot: %+v, want owned by %d", h, UID)
	}
	if !strings.Contains(bodies["etc/ssl/certs/ca-certificates.crt"], "BEGIN CERTIFICATE") {
		t.Errorf("no CA certificates at %s", CertFile)
	}
	if h := files["usr/bin/controller"]; h == nil || h.Mode != 0o755 || bodies["usr/bin/controller"] != "#binary ./cmd/controller arm64 0.1.0" {
		t.Errorf("binary: %+v %q", h, bodies["usr/bin/controller"])
	}
}

func TestBuildRefusesAnImageOverTheSizeLimit(t *testing.T) {
	_, err := Build(context.Background(), Components[0], DefaultPlatforms[:1], testMeta, fakeCompiler{size: MaxCompressedSize + 1}, nil)
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "controller for linux/amd64") {
		t.Fatalf("err = %v, want ErrTooLarge naming the image", err)
	}
}

func TestLayoutRoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "images")
	if err := os.MkdirAll(filepath.Join(dir, "stale"), 0o755); err != nil {
		t.Fatal(err)
	}
	b := build(t, testMeta)
	if err := WriteLayout(dir, []*Built{b}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "stale")); !os.IsNotExist(err) {
		t.Errorf("the old layout's files are still there: %v", err)
	}
	digests, err := os.ReadFile(filepath.Join(dir, "digests.txt"))
	if err != nil || string(digests) != b.Ref+"@"+b.Digest.String()+"\n" {
		t.Errorf("digests.txt = %q, %v", digests, err)
	}
	entries, err := ReadLayout(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Ref != "ghcr.io/rampdev/controller:0.1.0" {
		t.Fatalf("entries %+v", entries)
	}
	if d, _ := entries[0].Index.Digest(); d != b.Digest {
		t.Errorf("read back %s, wrote %s", d, b.Digest)
	}
	if _, err := ReadLayout(filepath.Join(t.TempDir(), "none")); err == nil || !strings.Contains(err.Error(), "make images") {
		t.Errorf("a missing layout: %v, want a hint to run make images", err)
	}
}

func TestTarget(t *testing.T) {
	for reg, want := range map[string]string{
		"127.0.0.1:5000/ramp":  "127.0.0.1:5000/ramp/queue:0.1.0",
		"quay.io/me/":          "quay.io/me/queue:0.1.0",
		"registry.example.com": "registry.example.com/queue:0.1.0",
	} {
		got, err := Target(reg, "ghcr.io/rampdev/queue:0.1.0", false)
		if err != nil || got.String() != want {
			t.Errorf("Target(%q) = %v, %v; want %s", reg, got, err, want)
		}
	}
	for _, bad := range []string{"", "UPPER/case", "host:port/x"} {
		if _, err := Target(bad, "ghcr.io/rampdev/queue:0.1.0", false); err == nil {
			t.Errorf("Target(%q) accepted", bad)
		}
	}
}

func TestPushThenPull(t *testing.T) {
	srv := httptest.NewServer(registry.New(registry.Logger(nopLogger())))
	defer srv.Close()
	reg := strings.TrimPrefix(srv.URL, "http://") + "/ramp"
	b := build(t, testMeta)
	var lines []string
	if err := Push(context.Background(), []Entry{{Ref: b.Ref, Index: b.Index}}, PushOptions{Registry: reg, Keychain: authn.NewMultiKeychain()},
		func(f string, a ...any) { lines = append(lines, f) }); err != nil {
		t.Fatal(err)
	}
	ref, _ := name.ParseReference(reg + "/controller:0.1.0")
	idx, err := remote.Index(ref)
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := idx.Digest(); d != b.Digest {
		t.Errorf("pulled %s, pushed %s", d, b.Digest)
	}
	if len(lines) != 1 {
		t.Errorf("progress %v, want one line per image", lines)
	}
}

func TestPushWithBadCredentialsPushesNothing(t *testing.T) {
	var uploads atomic.Int32
	reg := registry.New(registry.Logger(nopLogger()))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "ramp" || p != "secret" {
			w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		if r.Method == http.MethodPost || r.Method == http.MethodPut || r.Method == http.MethodPatch {
			uploads.Add(1)
		}
		reg.ServeHTTP(w, r)
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	b := build(t, testMeta)
	entries := []Entry{{Ref: b.Ref, Index: b.Index}}
	wrong := authn.NewMultiKeychain(staticKeychain{authn.FromConfig(authn.AuthConfig{Username: "ramp", Password: "wrong"})})
	err := Push(context.Background(), entries, PushOptions{Registry: host + "/ramp", Keychain: wrong}, nil)
	if err == nil || !strings.Contains(err.Error(), "nothing was pushed") {
		t.Fatalf("push with a wrong password: %v, want a refusal before any upload", err)
	}
	if n := uploads.Load(); n != 0 {
		t.Errorf("%d uploads accepted before the refusal", n)
	}
	right := authn.NewMultiKeychain(staticKeychain{authn.FromConfig(authn.AuthConfig{Username: "ramp", Password: "secret"})})
	if err := Push(context.Background(), entries, PushOptions{Registry: host + "/ramp", Keychain: right}, nil); err != nil {
		t.Fatalf("push with the right password: %v", err)
	}
}

func TestPushToAnUnreachableRegistryFails(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	host := strings.TrimPrefix(srv.URL, "http://")
	srv.Close() // nothing listens there now
	b := build(t, testMeta)
	err := Push(context.Background(), []Entry{{Ref: b.Ref, Index: b.Index}}, PushOptions{Registry: host + "/ramp", Keychain: authn.NewMultiKeychain()}, nil)
	if err == nil || !strings.Contains(err.Error(), "nothing was pushed") || !strings.Contains(err.Error(), host) {
		t.Fatalf("err = %v, want a refusal naming %s", err, host)
	}
}

func TestOptionsAreChecked(t *testing.T) {
	if _, err := ParsePlatforms([]string{"linux"}); err == nil || !strings.Contains(err.Error(), "os/arch") {
		t.Errorf("ParsePlatforms(linux): %v", err)
	}
	if _, err := selectComponents([]string{"nope"}); err == nil || !strings.Contains(err.Error(), "controller, gateway, queue, sampleapp, pause") {
		t.Errorf("selectComponents(nope): %v", err)
	}
	if v, err := ChartAppVersion("../../../charts/ramp/Chart.yaml"); err != nil || v == "" {
		t.Errorf("ChartAppVersion: %q, %v", v, err)
	}
	if _, err := metadata(BuildOptions{Root: t.TempDir(), Registry: "r", Created: -1}); err == nil || !strings.Contains(err.Error(), "appVersion") {
		t.Errorf("metadata without a chart: %v", err)
	}
}

type staticKeychain struct{ a authn.Authenticator }

func (k staticKeychain) Resolve(authn.Resource) (authn.Authenticator, error) { return k.a, nil }

func nopLogger() *log.Logger { return log.New(io.Discard, "", 0) }
