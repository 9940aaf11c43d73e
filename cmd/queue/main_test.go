package main

import (
	"strings"
	"testing"
)

func TestRunReportsEveryBadVariable(t *testing.T) {
	env := map[string]string{
		"CONTAINER_CONCURRENCY": "-1",
		"USER_PROTOCOL":         "grpc",
		"QUEUE_DEPTH":           "lots",
	}
	err := run(func(k string) string { return env[k] })
	if err == nil {
		t.Fatal("run with a bad environment succeeded")
	}
	for _, name := range []string{"CONTAINER_CONCURRENCY", "USER_PROTOCOL", "QUEUE_DEPTH"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error %q does not name %s", err, name)
		}
	}
}
