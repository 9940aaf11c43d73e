// Package images builds Ramp's OCI images from Go code, without a daemon:
// static binaries on a minimal base made here (no shell; CA certificates,
// /etc/passwd with the non-root user 65532, /tmp), one image index per
// component with a manifest per platform. Every input that could vary
// between two builds of one commit is fixed: file times are the commit's
// time, files are sorted, owners are numeric, so one commit gives the same
// digests on any machine with the same Go toolchain.
package images

import (
	"archive/tar"
	"bytes"
	_ "embed"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// caCertificates is Mozilla's CA bundle as Debian ships it
// (ca-certificates 20230311+deb12u1, /etc/ssl/certs/ca-certificates.crt),
// vendored so that the base layer does not depend on the build machine.
//
//go:embed ca-certificates.crt
var caCertificates []byte

// The non-root user every image runs as (distroless' "nonroot").
const (
	UID      = 65532
	UserName = "nonroot"
	// CertFile is where the CA bundle is, also set as SSL_CERT_FILE.
	CertFile = "/etc/ssl/certs/ca-certificates.crt"
	// BinDir holds the component's binary, the image's entrypoint.
	BinDir = "/usr/bin"
)

// file is one entry of a layer: a directory when body is nil and dir is
// set, else a regular file.
type file struct {
	name     string // without a leading slash
	mode     int64
	uid, gid int
	dir      bool
	body     []byte
}

// baseFiles are the minimal root filesystem every image shares.
func baseFiles() []file {
	passwd := fmt.Sprintf("root:x:0:0:root:/root:/sbin/nologin\n%s:x:%d:%d:%s:/home/%s:/sbin/nologin\n", UserName, UID, UID, UserName, UserName)
	group := fmt.Sprintf("root:x:0:\n%s:x:%d:\n", UserName, UID)
	return []file{
		{name: "etc", mode: 0o755, dir: true},
		{name: "etc/group", mode: 0o644, body: []byte(group)},
		{name: "etc/nsswitch.conf", mode: 0o644, body: []byte("hosts: files dns\n")},
		{name: "etc/passwd", mode: 0o644, body: []byte(passwd)},
		{name: "etc/ssl", mode: 0o755, dir: true},
		{name: "etc/ssl/certs", mode: 0o755, dir: true},
		{name: strings.TrimPrefix(CertFile, "/"), mode: 0o644, body: caCertificates},
		{name: "home", mode: 0o755, dir: true},
		{name: "home/" + UserName, mode: 0o700, uid: UID, gid: UID, dir: true},
		{name: "root", mode: 0o700, dir: true},
		{name: "tmp", mode: 0o1777, dir: true},
	}
}

// binaryFiles puts the binary name at BinDir/name.
func binaryFiles(name string, binary []byte) []file {
	return []file{
		{name: "usr", mode: 0o755, dir: true},
		{name: "usr/bin", mode: 0o755, dir: true},
		{name: path.Join(strings.TrimPrefix(BinDir, "/"), name), mode: 0o755, body: binary},
	}
}

// tarLayer writes files, sorted by name, into a tar with every time set to
// at, and returns it as a gzip-compressed OCI layer.
func tarLayer(files []file, at time.Time) (v1.Layer, error) {
	sorted := append([]file(nil), files...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].name < sorted[j].name })
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range sorted {
		h := &tar.Header{
			Name: f.name, Mode: f.mode, Uid: f.uid, Gid: f.gid,
			ModTime: at, Format: tar.FormatPAX,
		}
		if f.dir {
			h.Typeflag, h.Name = tar.TypeDir, f.name+"/"
		} else {
			h.Typeflag, h.Size = tar.TypeReg, int64(len(f.body))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("writing %s into a layer: %w", f.name, err)
		}
		if _, err := tw.Write(f.body); err != nil {
			return nil, fmt.Errorf("writing %s into a layer: %w", f.name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	b := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil },
		tarball.WithMediaType(types.OCILayer))
}
