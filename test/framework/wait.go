package framework

import (
	"context"
	"testing"
	"time"
)

// Eventually calls check every interval until it returns nil, failing the
// test with the last error after timeout.
func Eventually(t testing.TB, timeout time.Duration, check func(ctx context.Context) error) {
	t.Helper()
	if err := Poll(context.Background(), timeout, 200*time.Millisecond, check); err != nil {
		t.Fatalf("condition not met within %s: %v", timeout, err)
	}
}

// Poll calls check until it returns nil or timeout passes, and returns the
// last error.
func Poll(ctx context.Context, timeout, interval time.Duration, check func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		err := check(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(interval):
		}
	}
}

// Consistently fails the test as soon as check returns an error during d,
// checking every 200ms.
func Consistently(t testing.TB, d time.Duration, check func() error) {
	t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		if err := check(); err != nil {
			t.Fatalf("stopped holding: %v", err)
		}
	}
}
