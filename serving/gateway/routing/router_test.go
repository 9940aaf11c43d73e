package routing

import (
	"errors"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func matchingRouter(t *testing.T, m Metrics) *Router {
	hello := splitRoute("default", "hello", 100) // hello-1
	hello.Rules = append(hello.Rules, tagRule("default", "hello", "canary", "hello-2"))
	private := splitRoute("default", "private", 100)
	private.ClusterLocal = true
	private.Rules[0].Hosts = []string{"private.default.svc.cluster.local"}
	private.Rules = append(private.Rules, Rule{Hosts: []string{"beta-private.default.svc.cluster.local"}, Tag: "beta",
		Backends: []Backend{{Revision: "private-2", Percent: 100}}}) // Service defaults to Revision
	empty := splitRoute("default", "empty", 0)
	other := splitRoute("other", "hello", 100)
	return routerWith(t, m, nil, hello, private, empty, other)
}

func TestPickMatching(t *testing.T) {
	main := Decision{Namespace: "default", Route: "hello", Revision: "hello-1", Service: "hello-1"}
	canary := Decision{Namespace: "default", Route: "hello", Revision: "hello-2", Service: "hello-2", Tag: "canary"}
	private := Decision{Namespace: "default", Route: "private", Revision: "private-1", Service: "private-1"}
	cases := map[string]struct {
		req     Request
		want    Decision
		wantErr error
	}{
		"main host":                       {req: Request{Host: "hello.default.example.com", External: true}, want: main},
		"port and case are ignored":       {req: Request{Host: "Hello.DEFAULT.example.com:8080", External: true}, want: main},
		"trailing dot is ignored":         {req: Request{Host: "hello.default.example.com.", External: true}, want: main},
		"in-cluster host":                 {req: Request{Host: "hello.default.svc.cluster.local"}, want: main},
		"same name in another namespace":  {req: Request{Host: "hello.other.example.com"}, want: Decision{Namespace: "other", Route: "hello", Revision: "hello-1", Service: "hello-1"}},
		"tag host":                        {req: Request{Host: "canary-hello.default.example.com", External: true}, want: canary},
		"tag in-cluster host":             {req: Request{Host: "canary-hello.default.svc.cluster.local:80"}, want: canary},
		"tag header on the main host":     {req: Request{Host: "hello.default.example.com", TagHeader: "canary"}, want: canary},
		"unknown tag header is ignored":   {req: Request{Host: "hello.default.example.com", TagHeader: "nope"}, want: main},
		"tag header is case-sensitive":    {req: Request{Host: "hello.default.example.com", TagHeader: "Canary"}, want: main},
		"tag header ignored on tag host":  {req: Request{Host: "canary-hello.default.example.com", TagHeader: "canary"}, want: canary},
		"cluster-local on internal":       {req: Request{Host: "private.default.svc.cluster.local"}, want: private},
		"cluster-local tag via header":    {req: Request{Host: "private.default.svc.cluster.local", TagHeader: "beta"}, want: Decision{Namespace: "default", Route: "private", Revision: "private-2", Service: "private-2", Tag: "beta"}},
		"cluster-local hidden externally": {req: Request{Host: "private.default.svc.cluster.local", External: true}, wantErr: ErrUnknownHost},
		"cluster-local tag hidden too":    {req: Request{Host: "beta-private.default.svc.cluster.local", External: true}, wantErr: ErrUnknownHost},
		"unknown host":                    {req: Request{Host: "nope.default.example.com"}, wantErr: ErrUnknownHost},
		"empty host":                      {req: Request{}, wantErr: ErrUnknownHost},
		"suffix is not a match":           {req: Request{Host: "x.hello.default.example.com"}, wantErr: ErrUnknownHost},
		"rule without backends":           {req: Request{Host: "empty.default.example.com"}, wantErr: ErrNoBackend},
	}
	r := matchingRouter(t, nil)
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := r.Pick(tc.req)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Pick error = %v, want %v", err, tc.wantErr)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Pick (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPickMetrics(t *testing.T) {
	m := newRecordingMetrics()
	r := matchingRouter(t, m)
	for _, h := range []string{"hello.default.example.com", "hello.default.example.com", "nope", "empty.default.example.com"} {
		_, _ = r.Pick(Request{Host: h})
	}
	_, _ = r.Pick(Request{Host: "private.default.svc.cluster.local", External: true})
	if diff := cmp.Diff(map[string]int{"default/hello/hello-1": 2}, m.routed); diff != "" {
		t.Errorf("Routed (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]int{RejectUnknownHost: 2, RejectNoBackend: 1}, m.rejected); diff != "" {
		t.Errorf("Rejected (-want +got):\n%s", diff)
	}
}

func TestAppliedHash(t *testing.T) {
	r := NewRouter(nil)
	if _, ok := r.AppliedHash("default", "hello"); ok {
		t.Fatal("AppliedHash before any Update: ok = true")
	}
	rt := splitRoute("default", "hello", 100)
	r.Update(Build([]Route{rt}, nil))
	rt.Hash = "h2"
	r2 := splitRoute("default", "second", 100)
	r.Update(Build([]Route{rt, r2}, nil))
	type result struct {
		Hash string
		OK   bool
	}
	got := map[string]result{}
	for _, name := range []string{"hello", "second", "gone"} {
		h, ok := r.AppliedHash("default", name)
		got[name] = result{h, ok}
	}
	want := map[string]result{"hello": {"h2", true}, "second": {"h-second", true}, "gone": {"", false}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("AppliedHash (-want +got):\n%s", diff)
	}
	r.Update(nil)
	if _, ok := r.AppliedHash("default", "hello"); ok {
		t.Error("AppliedHash after Update(nil): ok = true")
	}
}

// TestUpdateNeverFailsRequests swaps weights, revisions and endpoints while
// requests are being routed: every request must get a backend of one of the
// tables, and an endpoint when its table has one.
func TestUpdateNeverFailsRequests(t *testing.T) {
	tables := []*Table{
		Build([]Route{splitRoute("ns", "svc", 10, 90)},
			map[ServiceKey][]Endpoint{{"ns", "svc-1"}: {{"10.0.0.1", 8012}}, {"ns", "svc-2"}: {{"10.0.0.2", 8012}}}),
		Build([]Route{splitRoute("ns", "svc", 50, 50)},
			map[ServiceKey][]Endpoint{{"ns", "svc-1"}: {{"10.0.0.3", 8012}}, {"ns", "svc-2"}: {{"10.0.0.2", 8012}, {"10.0.0.4", 8012}}}),
		Build([]Route{splitRoute("ns", "svc", 0, 100, 0)},
			map[ServiceKey][]Endpoint{{"ns", "svc-2"}: {{"10.0.0.5", 8012}}}),
	}
	r := NewRouter(nil)
	r.Update(tables[0])
	stop := make(chan struct{})
	errs := make(chan error, 4)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					errs <- nil
					return
				default:
				}
				d, err := r.Pick(Request{Host: mainHost("ns", "svc")})
				if err != nil {
					errs <- err
					return
				}
				if ep, ok := r.Balancer().Pick(d.ServiceKey()); ok {
					r.Balancer().Acquire(ep)()
				}
			}
		})
	}
	for i := range 3000 {
		r.Update(tables[i%len(tables)])
	}
	close(stop)
	wg.Wait()
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatalf("request failed during swaps: %v", err)
		}
	}
}
