package images

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// PushOptions say where to push a layout's images.
type PushOptions struct {
	// Registry is host[:port]/path: each image goes to
	// <Registry>/<name>:<tag>, name and tag kept from the layout.
	Registry string
	// Keychain finds credentials; authn.DefaultKeychain (the Docker config,
	// $DOCKER_CONFIG/config.json and its credential helpers) if nil.
	Keychain authn.Keychain
	// Insecure allows plain HTTP (loopback registries are always allowed).
	Insecure bool
	// Transport is the HTTP transport; one with dial, TLS and header
	// timeouts if nil.
	Transport http.RoundTripper
}

// Target is where ref goes under registry: its last path element and tag.
func Target(registry, ref string, insecure bool) (name.Tag, error) {
	registry = strings.TrimSuffix(strings.TrimSpace(registry), "/")
	if registry == "" {
		return name.Tag{}, errors.New("no registry: set REGISTRY=host[:port]/path")
	}
	src, err := name.NewTag(ref)
	if err != nil {
		return name.Tag{}, fmt.Errorf("image %q in the layout: %w", ref, err)
	}
	repo := src.RepositoryStr()
	repo = repo[strings.LastIndex(repo, "/")+1:]
	var opts []name.Option
	if insecure {
		opts = append(opts, name.Insecure)
	}
	t, err := name.NewTag(registry+"/"+repo+":"+src.TagStr(), opts...)
	if err != nil {
		return name.Tag{}, fmt.Errorf("registry %q: %w", registry, err)
	}
	return t, nil
}

// Push pushes every image of the layout entries to o.Registry. It first
// checks that every target accepts a push with the credentials found, so
// an unreachable registry or bad credentials push nothing; then it pushes
// each index (its platform images and layers first) and reports each one
// only once the registry has it.
func Push(ctx context.Context, entries []Entry, o PushOptions, progress func(format string, args ...any)) error {
	kc := o.Keychain
	if kc == nil {
		kc = authn.DefaultKeychain
	}
	tr := o.Transport
	if tr == nil {
		tr = defaultTransport()
	}
	targets := make([]name.Tag, len(entries))
	for i, e := range entries {
		t, err := Target(o.Registry, e.Ref, o.Insecure)
		if err != nil {
			return err
		}
		targets[i] = t
	}
	for _, t := range targets {
		if err := remote.CheckPushPermission(t, kc, tr); err != nil {
			return fmt.Errorf("the registry refuses a push to %s (nothing was pushed): %w", t.Context(), err)
		}
	}
	for i, e := range entries {
		t := targets[i]
		if err := remote.WriteIndex(t, e.Index, remote.WithContext(ctx), remote.WithAuthFromKeychain(kc), remote.WithTransport(tr)); err != nil {
			return fmt.Errorf("pushing %s (%d of %d images pushed): %w", t, i, len(entries), err)
		}
		d, err := e.Index.Digest()
		if err != nil {
			return err
		}
		if progress != nil {
			progress("   pushed %s@%s", t, d)
		}
	}
	return nil
}

func defaultTransport() http.RoundTripper {
	t := remote.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	t.TLSHandshakeTimeout = 10 * time.Second
	t.ResponseHeaderTimeout = 60 * time.Second
	return t
}
