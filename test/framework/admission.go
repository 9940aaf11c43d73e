package framework

import (
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// ExpectAdmission checks the outcome of a create or update against the API
// server's validation: accepted when wantErr is empty, otherwise an Invalid
// error whose message contains wantErr.
func ExpectAdmission(t testing.TB, err error, wantErr string) {
	t.Helper()
	switch {
	case wantErr == "" && err != nil:
		t.Fatalf("Create: unexpected error:\n%v", err)
	case wantErr == "":
	case err == nil:
		t.Fatalf("Create succeeded, want an Invalid error containing\n%s", wantErr)
	case !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), wantErr):
		t.Fatalf("Create: got error (invalid=%v)\n%v\nwant an Invalid error containing\n%s", apierrors.IsInvalid(err), err, wantErr)
	}
}
