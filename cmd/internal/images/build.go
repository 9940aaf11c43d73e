package images

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Component is one image: a Go main package and what it is.
type Component struct {
	Name        string // the image's last path element and the binary's name
	Package     string // Go package path relative to the module root, ./cmd/controller
	Description string
}

// Components are the images Ramp ships: what the chart runs (controller,
// gateway), what the controller injects (queue) and the demo's sample app.
var Components = []Component{
	{Name: "controller", Package: "./cmd/controller", Description: "Ramp controller: serving core, autoscaler and rollouts"},
	{Name: "gateway", Package: "./cmd/gateway", Description: "Ramp gateway: routes by host, weight, tag and header"},
	{Name: "queue", Package: "./cmd/queue", Description: "Ramp queue-proxy: the sidecar of every revision pod"},
	{Name: "sampleapp", Package: "./test/sampleapp", Description: "Ramp sample app: the demo's service"},
}

// NodeComponents are images the local cluster's real node needs and Ramp
// does not ship: built only when named with --only.
var NodeComponents = []Component{
	{Name: "pause", Package: "./test/pause", Description: "The sandbox image of the local cluster's real node"},
}

// DefaultPlatforms are the platforms of every image index.
var DefaultPlatforms = []v1.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64"}}

// MaxCompressedSize bounds each platform's image (all its layers, config
// and manifest, compressed).
const MaxCompressedSize = 25 << 20

// Metadata is what every image records about its source.
type Metadata struct {
	Registry string    // ghcr.io/rampdev
	Version  string    // the chart's appVersion, also the tag
	Revision string    // the source commit
	Source   string    // the repository URL
	Created  time.Time // the commit's time: every timestamp in the image
}

// Ref is the reference of component c: <registry>/<name>:<version>.
func (m Metadata) Ref(c Component) string { return m.Registry + "/" + c.Name + ":" + m.Version }

// Compiler builds the static binary of pkg for a platform and returns its
// bytes.
type Compiler interface {
	Compile(ctx context.Context, pkg string, p v1.Platform, m Metadata) ([]byte, error)
}

// GoCompiler runs `go build` in Dir (the module root): CGO off, -trimpath,
// no build id, no VCS stamping, the version linked in.
type GoCompiler struct {
	Dir    string
	Go     string   // the go command; "go" if empty
	Env    []string // added to the environment (GOCACHE=..., GOFLAGS=...)
	OutDir string   // where binaries are written; a temporary directory if empty
}

var _ Compiler = (*GoCompiler)(nil)

// Compile implements Compiler.
func (g *GoCompiler) Compile(ctx context.Context, pkg string, p v1.Platform, m Metadata) ([]byte, error) {
	dir := g.OutDir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "ramp-images-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	out := filepath.Join(dir, p.OS+"-"+p.Architecture, filepath.Base(pkg))
	const v = "github.com/rampdev/ramp/cmd/internal/version"
	ldflags := fmt.Sprintf("-s -w -buildid= -X %s.Version=%s -X %s.Revision=%s", v, m.Version, v, m.Revision)
	gocmd := g.Go
	if gocmd == "" {
		gocmd = "go"
	}
	cmd := exec.CommandContext(ctx, gocmd, "build", "-trimpath", "-buildvcs=false", "-ldflags="+ldflags, "-o", out, pkg)
	cmd.Dir = g.Dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+p.OS, "GOARCH="+p.Architecture)
	cmd.Env = append(cmd.Env, g.Env...)
	if msg, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build %s for %s/%s: %w\n%s", pkg, p.OS, p.Architecture, err, strings.TrimSpace(string(msg)))
	}
	return os.ReadFile(out)
}

// Built is one component's image index and what was measured of it.
type Built struct {
	Component Component
	Ref       string
	Index     v1.ImageIndex
	Digest    v1.Hash
	// Sizes are the compressed sizes of each platform's image, by
	// "os/arch".
	Sizes map[string]int64
}

// ErrTooLarge means an image is over MaxCompressedSize.
var ErrTooLarge = errors.New("image too large")

// Build builds component c for each platform and assembles its index.
func Build(ctx context.Context, c Component, platforms []v1.Platform, m Metadata, comp Compiler, progress func(format string, args ...any)) (*Built, error) {
	if len(platforms) == 0 {
		return nil, errors.New("no platforms to build")
	}
	base, err := tarLayer(baseFiles(), m.Created)
	if err != nil {
		return nil, err
	}
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	b := &Built{Component: c, Ref: m.Ref(c), Sizes: map[string]int64{}}
	for _, p := range platforms {
		start := time.Now()
		bin, err := comp.Compile(ctx, c.Package, p, m)
		if err != nil {
			return nil, err
		}
		img, err := Image(c, p, base, bin, m)
		if err != nil {
			return nil, fmt.Errorf("assembling %s for %s/%s: %w", c.Name, p.OS, p.Architecture, err)
		}
		size, err := compressedSize(img)
		if err != nil {
			return nil, err
		}
		key := p.OS + "/" + p.Architecture
		if size > MaxCompressedSize {
			return nil, fmt.Errorf("%w: %s for %s is %s compressed, over the limit of %s", ErrTooLarge, c.Name, key, MB(size), MB(MaxCompressedSize))
		}
		b.Sizes[key] = size
		plat := p
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &plat}})
		if progress != nil {
			progress("   %s %s: %s compressed (%s)", c.Name, key, MB(size), time.Since(start).Round(100*time.Millisecond))
		}
	}
	b.Index = mutate.Annotations(idx, labels(c, m)).(v1.ImageIndex)
	if b.Digest, err = b.Index.Digest(); err != nil {
		return nil, err
	}
	return b, nil
}

// Image is component c's image for platform p: the base layer, then the
// binary at BinDir/<name> as the entrypoint, run as UID 65532.
func Image(c Component, p v1.Platform, base v1.Layer, binary []byte, m Metadata) (v1.Image, error) {
	binLayer, err := tarLayer(binaryFiles(c.Name, binary), m.Created)
	if err != nil {
		return nil, err
	}
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	created := v1.Time{Time: m.Created}
	img, err = mutate.Append(img,
		mutate.Addendum{Layer: base, MediaType: types.OCILayer, History: v1.History{Created: created, CreatedBy: "ramp-images: base (passwd, CA certificates, /tmp)"}},
		mutate.Addendum{Layer: binLayer, MediaType: types.OCILayer, History: v1.History{Created: created, CreatedBy: "ramp-images: " + BinDir + "/" + c.Name + " from " + c.Package}},
	)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Variant = p.OS, p.Architecture, p.Variant
	cf.Created = created
	cf.Config = v1.Config{
		Entrypoint: []string{BinDir + "/" + c.Name},
		User:       fmt.Sprintf("%d:%d", UID, UID),
		WorkingDir: "/home/" + UserName,
		Env:        []string{"PATH=" + BinDir, "SSL_CERT_FILE=" + CertFile},
		Labels:     labels(c, m),
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, err
	}
	return mutate.Annotations(img, labels(c, m)).(v1.Image), nil
}

// labels are the OCI annotations of component c, also its config labels.
func labels(c Component, m Metadata) map[string]string {
	l := map[string]string{
		"org.opencontainers.image.title":       c.Name,
		"org.opencontainers.image.description": c.Description,
		"org.opencontainers.image.source":      m.Source,
		"org.opencontainers.image.version":     m.Version,
		"org.opencontainers.image.revision":    m.Revision,
		"org.opencontainers.image.created":     m.Created.UTC().Format(time.RFC3339),
	}
	for k, v := range l {
		if v == "" {
			delete(l, k)
		}
	}
	return l
}

// compressedSize is what pulling img transfers: manifest, config and
// compressed layers.
func compressedSize(img v1.Image) (int64, error) {
	man, err := img.Manifest()
	if err != nil {
		return 0, err
	}
	raw, err := img.RawManifest()
	if err != nil {
		return 0, err
	}
	n := int64(len(raw)) + man.Config.Size
	for _, l := range man.Layers {
		n += l.Size
	}
	return n, nil
}

// MB formats a size in megabytes.
func MB(n int64) string { return fmt.Sprintf("%.1f MB", float64(n)/(1<<20)) }
