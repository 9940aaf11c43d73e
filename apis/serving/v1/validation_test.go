package v1_test

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	servingv1 "github.com/rampdev/ramp/apis/serving/v1"
	"github.com/rampdev/ramp/test/framework"
)

// TestAdmission checks the CRDs' OpenAPI and CEL validation against a real
// API server: one envtest for every case in this file.
func TestAdmission(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := servingv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	env := framework.StartEnvtest(t, scheme, "../../../charts/ramp/templates/crds")
	c := env.Client
	ctx := context.Background()

	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "admission"}}
	if err := c.Create(ctx, ns); err != nil {
		t.Fatalf("creating namespace: %v", err)
	}

	t.Run("Create", func(t *testing.T) { testCreate(ctx, t, c, ns.Name) })
	t.Run("RevisionSpecIsImmutable", func(t *testing.T) { testRevisionImmutable(ctx, t, c, ns.Name) })
	t.Run("ContainerPortDefaults", func(t *testing.T) { testPortDefault(ctx, t, c, ns.Name) })
	t.Run("KnativeManifest", func(t *testing.T) { testKnativeManifest(ctx, t, c, ns.Name) })
}

func testCreate(ctx context.Context, t *testing.T, c client.Client, ns string) {
	const (
		sum       = `spec.traffic: Invalid value: traffic percents must sum to 100`
		exactly   = `Invalid value: exactly one of revisionName and latestRevision: true must be set on each target`
		scale     = `spec.template.metadata.annotations: Invalid value: annotation autoscaling.ramp.dev/initial-scale must be a non-negative integer`
		knScale   = `spec.template.metadata.annotations: Invalid value: annotation autoscaling.knative.dev/initial-scale must be a non-negative integer`
		deadline  = `spec.template.metadata.annotations: Invalid value: annotation serving.ramp.dev/progress-deadline must be a duration such as 90s or 10m`
		tmplName  = `spec.template.metadata.name: Invalid value: template.metadata.name must start with the service's name and a dash`
		cc        = `spec.template.spec.containerConcurrency: Invalid value: `
		onePorted = `spec.template.spec.containers: Invalid value: at most one container may declare ports: it is the serving container`
	)
	ported := servingv1.Container{Image: testImage, Ports: []servingv1.ContainerPort{{ContainerPort: 8080}}}
	sidecar := servingv1.Container{Name: "sidecar", Image: testImage, Ports: []servingv1.ContainerPort{{ContainerPort: 9000}}}

	cases := map[string]struct {
		obj     client.Object
		wantErr string
	}{
		// 1. Valid objects.
		"no-traffic":      {obj: service()},
		"split-50-50":     {obj: service(withTraffic(latest(50), pinned("x-00001", 50)))},
		"tags-100-and-0":  {obj: service(withTraffic(tagged("current", latest(100)), tagged("version110", pinned("x-00001", 0))))},
		"route":           {obj: route("route", pinned("x-00001", 100))},
		"route-empty":     {obj: route("route-empty")},
		"configuration":   {obj: configuration("configuration", "")},
		"sidecar-no-port": {obj: service(withContainers(ported, servingv1.Container{Name: "sidecar", Image: testImage}))},
		// 2.-3. Percents.
		"sum-99":       {obj: service(withTraffic(latest(49), pinned("x-00001", 50))), wantErr: sum},
		"sum-0":        {obj: service(withTraffic(pinned("x-00001", 0))), wantErr: sum},
		"percent-101":  {obj: service(withTraffic(latest(101))), wantErr: `spec.traffic[0].percent: Invalid value: 101: spec.traffic[0].percent in body should be less than or equal to 100`},
		"route-sum-99": {obj: route("route-sum-99", pinned("x-00001", 99)), wantErr: sum},
		// 4. Exactly one of revisionName and latestRevision.
		"both-targets": {obj: service(withTraffic(servingv1.TrafficTarget{RevisionName: "x-00001", LatestRevision: ptr(true), Percent: ptr[int64](100)})),
			wantErr: "spec.traffic: " + exactly},
		"neither-target":          {obj: service(withTraffic(servingv1.TrafficTarget{Percent: ptr[int64](100)})), wantErr: "spec.traffic: " + exactly},
		"latest-false":            {obj: service(withTraffic(servingv1.TrafficTarget{LatestRevision: ptr(false), Percent: ptr[int64](100)})), wantErr: "spec.traffic: " + exactly},
		"pinned-and-latest-false": {obj: service(withTraffic(servingv1.TrafficTarget{RevisionName: "x-00001", LatestRevision: ptr(false), Percent: ptr[int64](100)}))},
		// 5.-7. Tags.
		"duplicate-tags": {obj: service(withTraffic(tagged("a", latest(50)), tagged("a", pinned("x-00001", 50)))),
			wantErr: `spec.traffic: Invalid value: traffic tags must be unique`},
		"header-route": {obj: service(withTraffic(tagged("a", latest(100))), func(s *servingv1.Service) {
			s.Spec.HeaderRoutes = []servingv1.HeaderRoute{{Name: "X-Beta", Value: "true", Tag: "a"}}
		})},
		"header-route-unknown-tag": {obj: service(withTraffic(tagged("a", latest(100))), func(s *servingv1.Service) {
			s.Spec.HeaderRoutes = []servingv1.HeaderRoute{{Name: "X-Beta", Value: "true", Tag: "b"}}
		}), wantErr: `spec.headerRoutes: Invalid value: each header route must name the tag of a traffic target`},
		"header-route-bad-name": {obj: service(withTraffic(tagged("a", latest(100))), func(s *servingv1.Service) {
			s.Spec.HeaderRoutes = []servingv1.HeaderRoute{{Name: "X Beta", Value: "true", Tag: "a"}}
		}), wantErr: `spec.headerRoutes[0].name: Invalid value: "X Beta"`},
		"bad-tag": {obj: service(withTraffic(tagged("Bad_Tag", latest(100)))),
			wantErr: `spec.traffic[0].tag: Invalid value: "Bad_Tag": spec.traffic[0].tag in body should match '^[a-z]([-a-z0-9]*[a-z0-9])?$'`},
		"tag-label-64": {obj: service(named("svc"), withTraffic(tagged(validTag(60), latest(100)))),
			wantErr: `spec.traffic: Invalid value: each tag host label <tag>-<name> must be at most 63 characters`},
		"tag-label-63": {obj: service(named("svc2"), withTraffic(tagged(validTag(58), latest(100))))},
		"route-tag-label-64": {obj: route("rt", tagged(validTag(61), latest(100))),
			wantErr: `spec.traffic: Invalid value: each tag host label <tag>-<name> must be at most 63 characters`},
		// 8. Concurrency and timeout.
		"concurrency-minus-1": {obj: service(withConcurrency(-1)), wantErr: cc + `-1: spec.template.spec.containerConcurrency in body should be greater than or equal to 0`},
		"concurrency-1001":    {obj: service(withConcurrency(1001)), wantErr: cc + `1001: spec.template.spec.containerConcurrency in body should be less than or equal to 1000`},
		"concurrency-0":       {obj: service(withConcurrency(0))},
		"timeout-0": {obj: service(withTimeout(0)),
			wantErr: `spec.template.spec.timeoutSeconds: Invalid value: 0: spec.template.spec.timeoutSeconds in body should be greater than or equal to 1`},
		// 9. Containers and ports.
		"no-containers": {obj: service(withContainers([]servingv1.Container{}...)),
			wantErr: `spec.template.spec.containers: Invalid value: 0: spec.template.spec.containers in body should have at least 1 items`},
		"nil-containers": {obj: service(withRevisionSpec(func(r *servingv1.RevisionSpec) { r.Containers = nil })), wantErr: `spec.template.spec.containers: Required value`},
		"two-ported":     {obj: service(withContainers(ported, sidecar)), wantErr: onePorted},
		"queue-proxy-port": {obj: service(withPort(8012)),
			wantErr: `spec.template.spec.containers[0].ports[0].containerPort: Invalid value: 8012: ports 8012, 8013, 8022, 9090 and 9091 are reserved for the queue-proxy`},
		"port-8080": {obj: service(withPort(8080))},
		// 10. Annotations.
		"scale-minus-1":       {obj: service(withAnnotation("autoscaling.ramp.dev/initial-scale", "-1")), wantErr: scale},
		"scale-abc":           {obj: service(withAnnotation("autoscaling.ramp.dev/initial-scale", "abc")), wantErr: scale},
		"kn-scale-x":          {obj: service(withAnnotation("autoscaling.knative.dev/initial-scale", "x")), wantErr: knScale},
		"deadline-10-minutes": {obj: service(withAnnotation("serving.ramp.dev/progress-deadline", "10 minutes")), wantErr: deadline},
		"scale-0":             {obj: service(withAnnotation("autoscaling.ramp.dev/initial-scale", "0"))},
		"scale-3":             {obj: service(withAnnotation("autoscaling.ramp.dev/initial-scale", "3"), withAnnotation("autoscaling.knative.dev/initial-scale", "3"))},
		"deadline-90s":        {obj: service(withAnnotation("serving.ramp.dev/progress-deadline", "90s"))},
		"deadline-10m":        {obj: service(withAnnotation("serving.ramp.dev/progress-deadline", "10m"))},
		"deadline-1h30m":      {obj: service(withAnnotation("serving.ramp.dev/progress-deadline", "1h30m"))},
		"deadline-1.5h":       {obj: service(withAnnotation("serving.ramp.dev/progress-deadline", "1.5h"))},
		// 11. Template name.
		"tmpl-name":        {obj: service(withTemplateName("tmpl-name-00001"))},
		"tmpl-name-wrong":  {obj: service(withTemplateName("other-00001")), wantErr: tmplName},
		"tmpl-name-nodash": {obj: service(withTemplateName("tmpl-name-nodash00001")), wantErr: tmplName},
		"cfg-name-wrong": {obj: configuration("cfg-name-wrong", "other-00001"),
			wantErr: `spec.template.metadata.name: Invalid value: template.metadata.name must start with the configuration's name and a dash`},
		"cfg-name": {obj: configuration("cfg-name", "cfg-name-v2")},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			obj := tc.obj
			if obj.GetName() == "" {
				obj.SetName(strings.ReplaceAll(name, ".", "-"))
			}
			obj.SetNamespace(ns)
			framework.ExpectAdmission(t, c.Create(ctx, obj), tc.wantErr)
		})
	}
}

func testRevisionImmutable(ctx context.Context, t *testing.T, c client.Client, ns string) {
	rev := &servingv1.Revision{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "immutable-00001"},
		Spec:       revisionSpec(),
	}
	if err := c.Create(ctx, rev); err != nil {
		t.Fatalf("creating Revision: %v", err)
	}

	changed := rev.DeepCopy()
	changed.Spec.Containers[0].Image = "ramp/sampleapp:v2"
	err := c.Update(ctx, changed)
	const want = `spec: Invalid value: a Revision's spec is immutable: change the Configuration or Service template to make a new Revision`
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), want) {
		t.Errorf("updating the image: got error\n%v\nwant an Invalid error containing\n%s", err, want)
	}

	relabeled := rev.DeepCopy()
	relabeled.Labels = map[string]string{"team": "a"}
	if err := c.Update(ctx, relabeled); err != nil {
		t.Errorf("updating only labels: %v", err)
	}
	got := &servingv1.Revision{}
	if err := c.Get(ctx, client.ObjectKeyFromObject(rev), got); err != nil {
		t.Fatal(err)
	}
	if img := got.Spec.Containers[0].Image; img != testImage || got.Labels["team"] != "a" {
		t.Errorf("stored Revision has image %q, labels %v; want %q and team=a", img, got.Labels, testImage)
	}
}

func testPortDefault(ctx context.Context, t *testing.T, c client.Client, ns string) {
	s := service(withRevisionSpec(func(r *servingv1.RevisionSpec) {
		r.Containers[0].Ports = []servingv1.ContainerPort{{}}
	}))
	s.Namespace, s.Name = ns, "port-default"
	if err := c.Create(ctx, s); err != nil {
		t.Fatalf("Create: %v", err)
	}
	got := &servingv1.Service{}
	if err := c.Get(ctx, client.ObjectKeyFromObject(s), got); err != nil {
		t.Fatal(err)
	}
	ports := got.Spec.Template.Spec.Containers[0].Ports
	if len(ports) != 1 || ports[0].ContainerPort != 8080 {
		t.Errorf("ports after Create = %+v, want one port with containerPort 8080", ports)
	}
}

func testKnativeManifest(ctx context.Context, t *testing.T, c client.Client, ns string) {
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(knativeNotifications), &u.Object); err != nil {
		t.Fatal(err)
	}
	u.SetNamespace(ns)
	if err := c.Create(ctx, u); err != nil {
		t.Fatalf("creating the Knative tutorial's Service: %v", err)
	}
	got := &servingv1.Service{}
	if err := c.Get(ctx, client.ObjectKeyFromObject(u), got); err != nil {
		t.Fatal(err)
	}
	if n := len(got.Spec.Traffic); n != 1 || !got.Spec.Traffic[0].IsLatest() || got.Spec.Traffic[0].PercentOf() != 100 {
		t.Errorf("stored traffic = %+v, want latestRevision 100%%", got.Spec.Traffic)
	}
}
