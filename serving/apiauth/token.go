package apiauth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"k8s.io/utils/clock"
)

// TokenSource gives the bearer token a client sends.
type TokenSource interface {
	Token(ctx context.Context) (string, error)
}

// StaticToken is a fixed token.
type StaticToken string

// Token implements TokenSource.
func (s StaticToken) Token(context.Context) (string, error) {
	if s == "" {
		return "", errors.New("empty token")
	}
	return string(s), nil
}

// TokenFile reads a token from a file, such as a projected
// serviceAccountToken volume the kubelet rewrites before the token
// expires: it looks at the file at most once per Recheck and reads it
// again when its size or modification time changed.
type TokenFile struct {
	Path string
	// Clock paces the checks (default the real clock).
	Clock clock.PassiveClock
	// Recheck is the least time between two looks at the file (default 1s).
	Recheck time.Duration

	mu      sync.Mutex
	token   string
	modTime time.Time
	size    int64
	checked time.Time
}

var _ TokenSource = (*TokenFile)(nil)

// NewTokenFile returns a TokenFile of path.
func NewTokenFile(path string) *TokenFile { return &TokenFile{Path: path} }

// Token implements TokenSource.
func (f *TokenFile) Token(context.Context) (string, error) {
	clk := f.Clock
	if clk == nil {
		clk = clock.RealClock{}
	}
	recheck := f.Recheck
	if recheck <= 0 {
		recheck = time.Second
	}
	now := clk.Now()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.token != "" && now.Sub(f.checked) < recheck {
		return f.token, nil
	}
	fi, err := os.Stat(f.Path)
	if err != nil {
		return "", fmt.Errorf("token file: %w", err)
	}
	f.checked = now
	if f.token != "" && fi.ModTime().Equal(f.modTime) && fi.Size() == f.size {
		return f.token, nil
	}
	b, err := os.ReadFile(f.Path)
	if err != nil {
		return "", fmt.Errorf("token file: %w", err)
	}
	token := strings.TrimSpace(string(b))
	if token == "" {
		return "", fmt.Errorf("token file %s is empty", f.Path)
	}
	f.token, f.modTime, f.size = token, fi.ModTime(), fi.Size()
	return token, nil
}

// SetToken sets req's Authorization header to src's bearer token.
func SetToken(req *http.Request, src TokenSource) error {
	token, err := src.Token(req.Context())
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	return nil
}
