package node

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// ErrImageNotFound means no binary stands for an image.
var ErrImageNotFound = fmt.Errorf("image not found")

// image is a container image resolved to a local binary: `<registry>/<name>:<tag>`
// runs bin/<name> with RAMP_IMAGE_TAG=<tag>.
type image struct {
	ref    string
	name   string
	tag    string
	binary string
}

// parseImage splits a reference into its last path element and tag. Digests
// are accepted and ignored; a missing tag is "latest".
func parseImage(ref string) (name, tag string, err error) {
	r := strings.TrimSpace(ref)
	if r == "" {
		return "", "", fmt.Errorf("empty image reference")
	}
	if i := strings.Index(r, "@"); i >= 0 {
		r = r[:i]
	}
	last := r[strings.LastIndex(r, "/")+1:]
	name, tag, found := strings.Cut(last, ":")
	if !found || tag == "" {
		tag = "latest"
	}
	if name == "" || strings.ContainsAny(name, " \t") {
		return "", "", fmt.Errorf("invalid image reference %q", ref)
	}
	return name, tag, nil
}

// resolveImage maps ref to a binary in binDir.
func resolveImage(binDir, ref string) (image, error) {
	name, tag, err := parseImage(ref)
	if err != nil {
		return image{}, err
	}
	bin := filepath.Join(binDir, name)
	st, err := os.Stat(bin)
	if err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
		return image{}, fmt.Errorf("%w: %q maps to %s, which does not exist (the local node runs images as binaries built by `make build`)",
			ErrImageNotFound, ref, bin)
	}
	return image{ref: ref, name: name, tag: tag, binary: bin}, nil
}
