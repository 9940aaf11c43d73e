package rollout

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/rampdev/ramp/analysis"
	rolloutsv1alpha1 "github.com/rampdev/ramp/apis/rollouts/v1alpha1"
)

func TestLoadWebSecrets(t *testing.T) {
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "api"},
		Data: map[string][]byte{"token": []byte("Bearer t0ken"), "team": []byte("payments")}}
	forbidden := interceptor.Funcs{Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
		if _, ok := obj.(*corev1.Secret); ok {
			return apierrors.NewForbidden(schema.GroupResource{Resource: "secrets"}, key.Name, nil)
		}
		return c.Get(ctx, key, obj, opts...)
	}}
	spec := func(headers ...analysis.WebHeader) analysis.Spec {
		return analysis.Spec{Metrics: []analysis.Metric{
			{Name: "error-rate", Builtin: analysis.ErrorRate},
			{Name: "checkout-ok", Provider: analysis.WebProvider, Web: &analysis.WebRequest{URL: "http://x", Headers: headers}},
		}}
	}
	fromSecret := func(name, key string) analysis.WebHeader {
		return analysis.WebHeader{Name: "Authorization", Secret: &analysis.WebSecret{Name: name, Key: key}}
	}
	for name, tc := range map[string]struct {
		funcs   interceptor.Funcs
		headers []analysis.WebHeader
		want    []analysis.WebHeader
		wantErr string
		gets    int
	}{
		"read into the header, each key once": {
			headers: []analysis.WebHeader{{Name: "X-Plain", Value: "v"}, fromSecret("api", "token"),
				{Name: "X-Again", Secret: &analysis.WebSecret{Name: "api", Key: "token"}}, {Name: "X-Team", Secret: &analysis.WebSecret{Name: "api", Key: "team"}}},
			want: []analysis.WebHeader{{Name: "X-Plain", Value: "v"},
				{Name: "Authorization", Secret: &analysis.WebSecret{Name: "api", Key: "token", Value: "Bearer t0ken", Loaded: true}},
				{Name: "X-Again", Secret: &analysis.WebSecret{Name: "api", Key: "token", Value: "Bearer t0ken", Loaded: true}},
				{Name: "X-Team", Secret: &analysis.WebSecret{Name: "api", Key: "team", Value: "payments", Loaded: true}}},
			gets: 2,
		},
		"forbidden": {funcs: forbidden, headers: []analysis.WebHeader{fromSecret("api", "token")}, gets: 1,
			wantErr: `metric "checkout-ok": web.headers[0] (Authorization): the controller may not read Secret api (install the chart with analysis.secretArgs=true`},
		"missing": {headers: []analysis.WebHeader{fromSecret("nope", "token")}, gets: 1,
			wantErr: `metric "checkout-ok": web.headers[0] (Authorization): Secret nope not found`},
		"no such key": {headers: []analysis.WebHeader{fromSecret("api", "password")}, gets: 1,
			wantErr: `metric "checkout-ok": web.headers[0] (Authorization): Secret api has no key "password"`},
	} {
		t.Run(name, func(t *testing.T) {
			scheme := runtime.NewScheme()
			must(t, clientgoscheme.AddToScheme(scheme))
			gets := 0
			funcs := tc.funcs
			inner := funcs.Get
			funcs.Get = func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
				gets++
				if inner != nil {
					return inner(ctx, c, key, obj, opts...)
				}
				return c.Get(ctx, key, obj, opts...)
			}
			c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(secret.DeepCopy()).WithInterceptorFuncs(funcs).Build()
			r := &Reconciler{Client: c, APIReader: c}
			s := spec(tc.headers...)
			err := r.loadWebSecrets(context.Background(), "shop", &s)
			if gets != tc.gets {
				t.Errorf("%d Secret reads, want %d", gets, tc.gets)
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want, s.Metrics[1].Web.Headers); d != "" {
				t.Errorf("headers (-want +got):\n%s", d)
			}
		})
	}
}

// TestFillArgsWeb: template arguments fill a web metric's url, body and
// header values, and leave its own variables and Secret headers alone.
func TestFillArgsWeb(t *testing.T) {
	m := rolloutsv1alpha1.Metric{Name: "ok", Web: &rolloutsv1alpha1.WebMetric{
		URL:    "http://{{args.host}}/ok?rev={{.Revision}}",
		Method: "POST", Body: `{"team":"{{ args.team }}"}`, JSONPath: "$.ok",
		Headers: []rolloutsv1alpha1.WebHeader{
			{Name: "X-Team", Value: ptr.To("{{args.team}}")},
			{Name: "Authorization", ValueFrom: &rolloutsv1alpha1.WebHeaderSource{SecretKeyRef: rolloutsv1alpha1.KeyRef{Name: "api", Key: "token"}}},
		},
	}}
	got, err := fillArgs(m, map[string]string{"host": "metrics.shop", "team": "payments"})
	if err != nil {
		t.Fatal(err)
	}
	want := m.DeepCopy()
	want.Web.URL, want.Web.Body = "http://metrics.shop/ok?rev={{.Revision}}", `{"team":"payments"}`
	want.Web.Headers[0].Value = ptr.To("payments")
	if d := cmp.Diff(*want, got); d != "" {
		t.Errorf("filled metric (-want +got):\n%s", d)
	}
	if m.Web.URL != "http://{{args.host}}/ok?rev={{.Revision}}" {
		t.Errorf("fillArgs changed the template's metric: %s", m.Web.URL)
	}
	if _, err := fillArgs(m, map[string]string{"host": "x"}); err == nil || !strings.HasPrefix(err.Error(), "argument team") || !strings.Contains(err.Error(), "has no value") {
		t.Errorf("error %v, want the missing argument named", err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
