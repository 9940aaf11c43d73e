package localcluster_test

import (
	"context"
	"strings"
	"testing"

	"github.com/rampdev/ramp/test/localcluster"
)

func TestRestartRefusesWhatItCannotRestart(t *testing.T) {
	c, err := localcluster.New(localcluster.Options{Dir: t.TempDir(), BinDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		names   []string
		wantErr string
	}{
		"an unknown component": {names: []string{"etcd", "kubelet"}, wantErr: "the components of this cluster are etcd, kube-apiserver"},
		"a stopped component":  {names: []string{"etcd"}, wantErr: "restarting etcd: it is not running"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			err := c.Restart(context.Background(), tc.names...)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Restart(%v) = %v, want an error containing %q", tc.names, err, tc.wantErr)
			}
		})
	}
}
