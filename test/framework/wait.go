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
