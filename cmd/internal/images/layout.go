package images

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
)

// Annotations that name an index inside an OCI layout: the OCI one (podman's
// oci: transport and most tools) and containerd's (ctr images import).
const (
	RefNameAnnotation    = "org.opencontainers.image.ref.name"
	containerdAnnotation = "io.containerd.image.name"
)

// WriteLayout writes the images into a fresh OCI image layout at dir,
// each index named by its reference, and a digests.txt beside index.json
// ("<ref>@<digest>" per line). It writes into a temporary directory and
// renames it over dir, so dir is never half written.
func WriteLayout(dir string, built []*Built) error {
	if len(built) == 0 {
		return errors.New("no images to write")
	}
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(parent, ".images-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	p, err := layout.Write(tmp, empty.Index)
	if err != nil {
		return fmt.Errorf("creating an OCI layout: %w", err)
	}
	var digests strings.Builder
	for _, b := range built {
		ann := map[string]string{RefNameAnnotation: b.Ref, containerdAnnotation: b.Ref}
		if err := p.AppendIndex(b.Index, layout.WithAnnotations(ann)); err != nil {
			return fmt.Errorf("writing %s into the OCI layout: %w", b.Ref, err)
		}
		fmt.Fprintf(&digests, "%s@%s\n", b.Ref, b.Digest)
	}
	if err := os.WriteFile(filepath.Join(tmp, "digests.txt"), []byte(digests.String()), 0o644); err != nil {
		return err
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	return os.Rename(tmp, dir)
}

// Entry is one named index of a layout.
type Entry struct {
	Ref   string
	Index v1.ImageIndex
}

// ReadLayout returns the named indexes of the OCI layout at dir, sorted by
// reference.
func ReadLayout(dir string) ([]Entry, error) {
	p, err := layout.FromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("reading the OCI layout %s (run `make images` first): %w", dir, err)
	}
	root, err := p.ImageIndex()
	if err != nil {
		return nil, fmt.Errorf("reading %s/index.json: %w", dir, err)
	}
	man, err := root.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("reading %s/index.json: %w", dir, err)
	}
	var out []Entry
	for _, d := range man.Manifests {
		ref := d.Annotations[RefNameAnnotation]
		if ref == "" || !d.MediaType.IsIndex() {
			continue
		}
		idx, err := root.ImageIndex(d.Digest)
		if err != nil {
			return nil, fmt.Errorf("reading %s from %s: %w", ref, dir, err)
		}
		out = append(out, Entry{Ref: ref, Index: idx})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("the OCI layout %s names no image index", dir)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Ref < out[j].Ref })
	return out, nil
}

// Report prints one line per image: reference, digest, and the compressed
// size of each platform.
func Report(w io.Writer, built []*Built) {
	for _, b := range built {
		keys := make([]string, 0, len(b.Sizes))
		for k := range b.Sizes {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		sizes := make([]string, 0, len(keys))
		for _, k := range keys {
			sizes = append(sizes, k+" "+MB(b.Sizes[k]))
		}
		fmt.Fprintf(w, "%-40s %s  %s\n", b.Ref, b.Digest, strings.Join(sizes, ", "))
	}
}
