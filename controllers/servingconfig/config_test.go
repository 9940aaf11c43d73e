package servingconfig

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

func TestParse(t *testing.T) {
	cases := map[string]struct {
		data map[string]string
		want Config
		// wantErrKeys, when set, are the keys the error must name.
		wantErrKeys []string
	}{
		"nil data: defaults":   {data: nil, want: Config{Domain: "example.com", RetainRevisions: 20}},
		"empty data: defaults": {data: map[string]string{}, want: Config{Domain: "example.com", RetainRevisions: 20}},
		"unknown keys are ignored": {
			data: map[string]string{"_example": "see the chart"},
			want: Config{Domain: "example.com", RetainRevisions: 20},
		},
		"domain and retain": {
			data: map[string]string{"domain": "apps.example.org", "gc.retain-revisions": "5"},
			want: Config{Domain: "apps.example.org", RetainRevisions: 5},
		},
		"surrounding spaces are trimmed": {
			data: map[string]string{"domain": " apps.example.org\n", "gc.retain-revisions": " 0 "},
			want: Config{Domain: "apps.example.org", RetainRevisions: 0},
		},
		"retain at the upper bound": {
			data: map[string]string{"gc.retain-revisions": "1000"},
			want: Config{Domain: "example.com", RetainRevisions: 1000},
		},
		"invalid domain":           {data: map[string]string{"domain": "Not A Domain"}, wantErrKeys: []string{"domain"}},
		"empty domain":             {data: map[string]string{"domain": ""}, wantErrKeys: []string{"domain"}},
		"negative retain":          {data: map[string]string{"gc.retain-revisions": "-1"}, wantErrKeys: []string{"gc.retain-revisions"}},
		"non-numeric retain":       {data: map[string]string{"gc.retain-revisions": "five"}, wantErrKeys: []string{"gc.retain-revisions"}},
		"retain above upper bound": {data: map[string]string{"gc.retain-revisions": "1001"}, wantErrKeys: []string{"gc.retain-revisions"}},
		"two bad keys: one error naming both": {
			data:        map[string]string{"domain": "Not A Domain", "gc.retain-revisions": "-1"},
			wantErrKeys: []string{"domain", `"Not A Domain"`, "gc.retain-revisions", `"-1"`},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := Parse(tc.data)
			if len(tc.wantErrKeys) > 0 {
				if err == nil {
					t.Fatalf("Parse() = %+v, want an error naming %q", got, tc.wantErrKeys)
				}
				for _, k := range tc.wantErrKeys {
					if !strings.Contains(err.Error(), k) {
						t.Errorf("Parse() error %q does not name %q", err, k)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse() error: %v", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Parse() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestStoreLoad(t *testing.T) {
	ctx := context.Background()
	c := fake.NewClientBuilder().Build()
	s := &Store{Reader: c, Namespace: "ramp-system"}
	defaults := Config{Domain: "example.com", RetainRevisions: 20}

	if diff := cmp.Diff(defaults, s.Get()); diff != "" {
		t.Errorf("Get() before any Load mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(defaults, s.Load(ctx)); diff != "" {
		t.Errorf("Load() without a ConfigMap mismatch (-want +got):\n%s", diff)
	}

	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "ramp-config", Namespace: "ramp-system"},
		Data:       map[string]string{"domain": "apps.example.org", "gc.retain-revisions": "5"},
	}
	if err := c.Create(ctx, cm); err != nil {
		t.Fatal(err)
	}
	good := Config{Domain: "apps.example.org", RetainRevisions: 5}
	if diff := cmp.Diff(good, s.Load(ctx)); diff != "" {
		t.Errorf("Load() of a good ConfigMap mismatch (-want +got):\n%s", diff)
	}

	// A ConfigMap of the same name in another namespace is not read.
	other := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "ramp-config", Namespace: "elsewhere"},
		Data:       map[string]string{"domain": "other.example.net"},
	}
	if err := c.Create(ctx, other); err != nil {
		t.Fatal(err)
	}

	cm.Data = map[string]string{"domain": "Not A Domain", "gc.retain-revisions": "7"}
	if err := c.Update(ctx, cm); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(good, s.Load(ctx)); diff != "" {
		t.Errorf("Load() of a bad ConfigMap mismatch, want the last good one (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(good, s.Get()); diff != "" {
		t.Errorf("Get() after a bad ConfigMap mismatch, want the last good one (-want +got):\n%s", diff)
	}

	cm.Data = map[string]string{"gc.retain-revisions": "3"}
	if err := c.Update(ctx, cm); err != nil {
		t.Fatal(err)
	}
	fixed := Config{Domain: "example.com", RetainRevisions: 3}
	if diff := cmp.Diff(fixed, s.Load(ctx)); diff != "" {
		t.Errorf("Load() of a fixed ConfigMap mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(fixed, s.Get()); diff != "" {
		t.Errorf("Get() after a fixed ConfigMap mismatch (-want +got):\n%s", diff)
	}
}

// A bad ConfigMap before any good one leaves the defaults in force.
func TestStoreLoadBadFirst(t *testing.T) {
	ctx := context.Background()
	c := fake.NewClientBuilder().WithObjects(&corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "ramp-config", Namespace: "ramp-system"},
		Data:       map[string]string{"gc.retain-revisions": "many"},
	}).Build()
	s := &Store{Reader: c, Namespace: "ramp-system"}
	defaults := Config{Domain: "example.com", RetainRevisions: 20}
	if diff := cmp.Diff(defaults, s.Load(ctx)); diff != "" {
		t.Errorf("Load() mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(defaults, s.Get()); diff != "" {
		t.Errorf("Get() mismatch (-want +got):\n%s", diff)
	}
}
