package apiauth

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"
)

// writeToken replaces the file the way the kubelet's atomic writer does:
// a new file renamed over the old one.
func writeToken(t *testing.T, path, token string, mod time.Time) {
	t.Helper()
	tmp := path + ".new"
	if err := os.WriteFile(tmp, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(tmp, mod, mod); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func TestTokenFileRereadsWhenTheFileChanges(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "token")
	clk := clocktesting.NewFakeClock(time.Unix(1_700_000_000, 0))
	f := &TokenFile{Path: path, Clock: clk}

	if _, err := f.Token(ctx); err == nil || !strings.Contains(err.Error(), "token file") {
		t.Errorf("missing file: %v", err)
	}
	writeToken(t, path, "first", clk.Now())
	if got, err := f.Token(ctx); err != nil || got != "first" {
		t.Fatalf("got %q, %v", got, err)
	}

	// Rotated: within the recheck interval the old token is kept, after it
	// the new one is read.
	writeToken(t, path, "second", clk.Now().Add(time.Minute))
	if got, _ := f.Token(ctx); got != "first" {
		t.Errorf("within a second of the last look: %q, want the cached first", got)
	}
	clk.Step(time.Second)
	if got, err := f.Token(ctx); err != nil || got != "second" {
		t.Errorf("after the rotation: %q, %v, want second", got, err)
	}

	// Emptied (a broken volume) is an error, not an empty header.
	writeToken(t, path, "", clk.Now().Add(2*time.Minute))
	clk.Step(time.Second)
	if _, err := f.Token(ctx); err == nil || !strings.Contains(err.Error(), "is empty") {
		t.Errorf("empty file: %v", err)
	}
}

func TestSetToken(t *testing.T) {
	req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1/", nil)
	if err := SetToken(req, StaticToken("abc")); err != nil || req.Header.Get("Authorization") != "Bearer abc" {
		t.Errorf("header %q, %v", req.Header.Get("Authorization"), err)
	}
	req.Header.Del("Authorization")
	if err := SetToken(req, StaticToken("")); err == nil || req.Header.Get("Authorization") != "" {
		t.Errorf("an empty token: %v, header %q", err, req.Header.Get("Authorization"))
	}
}
