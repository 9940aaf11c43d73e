package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	servingv1 "github.com/rampdev/ramp/apis/serving/v1"
	"github.com/rampdev/ramp/serving/apiauth"
	"github.com/rampdev/ramp/serving/gateway/routing"
	"github.com/rampdev/ramp/serving/proxy"
)

// Options configure a gateway process.
type Options struct {
	// IP to bind (the pod IP).
	IP string
	// DrainDelay keeps serving after SIGTERM while endpoints are updated.
	DrainDelay time.Duration
	// ActivationTimeout bounds how long a request waits for a revision to
	// scale from zero.
	ActivationTimeout time.Duration
	// MaxHeldPerRevision bounds the requests held while one revision
	// scales from zero; past it they get 503 with Retry-After (default
	// routing.DefaultMaxWaiters).
	MaxHeldPerRevision int
	// MaxHeld bounds the requests held for all revisions together (default
	// routing.DefaultMaxTotalWaiters).
	MaxHeld int
	// Limits bound the proxy listeners' connections.
	Limits Limits
	// Signaller asks the autoscaler to scale from zero; when nil it is an
	// HTTPSignaller to AutoscalerService or AutoscalerURLs, or a no-op
	// when neither is set.
	Signaller routing.ScaleSignaller
	// AutoscalerService is the controller's autoscaler Service
	// ("namespace/name"), found through its EndpointSlices.
	AutoscalerService string
	// AutoscalerPort is the autoscaler's port on those endpoints.
	AutoscalerPort int
	// AutoscalerURLs are fixed base URLs of the autoscaler (tests).
	AutoscalerURLs []string
	// AutoscalerTokenFile holds the gateway's ServiceAccount token for
	// apiauth.AutoscalerAudience (a projected serviceAccountToken volume),
	// sent with every activation signal; re-read when it changes.
	// AutoscalerToken, when set, is used instead (tests).
	AutoscalerTokenFile string
	AutoscalerToken     apiauth.TokenSource
	// PprofAddr, when set, serves net/http/pprof on this loopback address
	// ("127.0.0.1:6060"), for profiling the proxy under load. Off by
	// default; any other address is refused.
	PprofAddr string
}

// Run watches routes and endpoints, serves the external, internal and admin
// listeners, and drains on ctx's end.
func Run(ctx context.Context, cfg *rest.Config, o Options, log *zap.Logger) error {
	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	_ = servingv1.AddToScheme(scheme)
	hasRevision, err := labels.NewRequirement(servingv1.LabelRevision, selection.Exists, nil)
	if err != nil {
		return err
	}
	mgr, err := ctrl.NewManager(cfg, manager.Options{
		Scheme:                 scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		// Only revision EndpointSlices matter to the gateway.
		Cache: cache.Options{ByObject: map[client.Object]cache.ByObject{
			&discoveryv1.EndpointSlice{}: {Label: labels.NewSelector().Add(*hasRevision)},
		}},
	})
	if err != nil {
		return fmt.Errorf("creating manager: %w", err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	rec := NewRecorder(reg)
	router := routing.NewRouter(rec)
	signaller := o.Signaller
	switch {
	case signaller != nil:
	case o.AutoscalerService != "" || len(o.AutoscalerURLs) > 0:
		token, err := autoscalerToken(o)
		if err != nil {
			return err
		}
		var resolver Resolver = StaticResolver(o.AutoscalerURLs)
		if o.AutoscalerService != "" {
			ns, name, ok := strings.Cut(o.AutoscalerService, "/")
			if !ok || ns == "" || name == "" {
				return fmt.Errorf("autoscaler service %q: want namespace/name", o.AutoscalerService)
			}
			resolver = &ServiceResolver{Reader: mgr.GetAPIReader(),
				Service: types.NamespacedName{Namespace: ns, Name: name}, Port: o.AutoscalerPort, TTL: 10 * time.Second}
		}
		hs := NewHTTPSignaller(resolver, log.Named("signal"))
		hs.Token = token
		signaller = hs
	default:
		log.Warn("No autoscaler configured: revisions at zero wait for someone else to scale them")
		signaller = routing.NopSignaller{}
	}
	act := routing.NewActivator(router, o.activatorConfig(signaller))
	adminAuth, err := newAdminAuth(apiauth.ClientReviewer{Client: mgr.GetClient()}, log.Named("admin-auth"))
	if err != nil {
		return err
	}
	syncer := &Syncer{Client: mgr.GetClient(), Router: router}
	syncer.ProbeStarting()
	defer syncer.Stop()
	if err := syncer.SetupWithManager(mgr); err != nil {
		return err
	}
	// Apply a first table once the caches are in sync, even if no Route
	// or EndpointSlice event ever arrives (an empty cluster).
	err = mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		if !mgr.GetCache().WaitForCacheSync(ctx) {
			return nil
		}
		_, err := syncer.Reconcile(ctx, worldKey)
		return err
	}))
	if err != nil {
		return err
	}
	mgrCtx, stopMgr := context.WithCancel(context.WithoutCancel(ctx))
	defer stopMgr()
	mgrErr := make(chan error, 1)
	go func() { mgrErr <- mgr.Start(mgrCtx) }()
	return serve(ctx, o, log, servingState{router: router, activator: act, recorder: rec, registry: reg,
		synced: syncer.Synced, hashes: syncer.Hashes, background: mgrErr, stop: stopMgr, adminAuth: adminAuth})
}

// activatorConfig is the Activator's configuration from o.
func (o Options) activatorConfig(s routing.ScaleSignaller) routing.ActivatorConfig {
	return routing.ActivatorConfig{Signaller: s, ActivationTimeout: o.ActivationTimeout,
		MaxWaiters: o.MaxHeldPerRevision, MaxTotalWaiters: o.MaxHeld}
}

// servingState is what the listeners need, however the routing table is
// fed (from Kubernetes, or from a static file).
type servingState struct {
	router     *routing.Router
	activator  *routing.Activator
	recorder   *Recorder
	registry   *prometheus.Registry
	synced     func() bool
	hashes     func() map[string]string
	background <-chan error // a feeder that stopped
	stop       func()       // stops the feeder after draining
	// adminAuth guards the admin API (auth.go); nil leaves it open (a
	// static table, without Kubernetes to review tokens).
	adminAuth func(http.Handler) http.Handler
}

// serve runs the external, internal and admin listeners until ctx ends,
// then drains.
func serve(ctx context.Context, o Options, log *zap.Logger, st servingState) error {
	px := NewProxy(st.router, st.activator, log, st.recorder)
	var draining atomic.Bool
	admin := http.NewServeMux()
	admin.HandleFunc("GET /ready", func(w http.ResponseWriter, _ *http.Request) {
		switch {
		case draining.Load():
			http.Error(w, "draining", http.StatusServiceUnavailable)
		case !st.synced():
			http.Error(w, "no routing table yet", http.StatusServiceUnavailable)
		default:
			_, _ = w.Write([]byte("ready"))
		}
	})
	admin.HandleFunc("GET "+HashesPath, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(st.hashes())
	})
	admin.Handle("GET /metrics", promhttp.HandlerFor(st.registry, promhttp.HandlerOpts{}))
	var adminHandler http.Handler = admin
	if st.adminAuth != nil {
		adminHandler = st.adminAuth(admin)
	}
	adminSrv := newAdminServer(addrOf(o.IP, AdminPort), adminHandler)
	if o.PprofAddr != "" {
		ps, err := newPprofServer(o.PprofAddr)
		if err != nil {
			return err
		}
		pl, err := net.Listen("tcp", ps.Addr)
		if err != nil {
			return fmt.Errorf("listening on %s: %w", ps.Addr, err)
		}
		go func() { _ = ps.Serve(pl) }()
		defer func() { _ = ps.Close() }()
		log.Info("Serving pprof", zap.String("addr", ps.Addr))
	}
	if err := st.recorder.observeHeld(st.registry, st.activator.Waiting); err != nil {
		return err
	}
	activation := o.ActivationTimeout
	if activation <= 0 {
		activation = routing.DefaultActivationTimeout
	}
	lim := o.Limits.withDefaults(activation)

	var lns []net.Listener
	for _, addr := range []string{addrOf(o.IP, ExternalPort), addrOf(o.IP, InternalPort), adminSrv.Addr} {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			for _, l := range lns {
				_ = l.Close()
			}
			return fmt.Errorf("listening on %s: %w", addr, err)
		}
		lns = append(lns, l)
	}
	listeners := []*proxyListener{
		newProxyListener(lns[0], px, true, lim, log),
		newProxyListener(lns[1], px, false, lim, log),
	}
	errc := make(chan error, 2*len(listeners)+1)
	for _, pl := range listeners {
		pl.serve(errc)
	}
	go func() {
		if err := adminSrv.Serve(lns[2]); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- err
		}
	}()
	log.Info("Gateway serving", zap.String("ip", o.IP), zap.Int("external", ExternalPort),
		zap.Int("internal", InternalPort), zap.Int("admin", AdminPort))
	select {
	case err := <-errc:
		for _, pl := range listeners {
			pl.close()
		}
		_ = adminSrv.Close()
		return err
	case err := <-st.background:
		for _, pl := range listeners {
			pl.close()
		}
		_ = adminSrv.Close()
		return err
	case <-ctx.Done():
	}
	// Drain: report not-ready, keep routing while endpoints drop this pod,
	// then finish requests in flight.
	draining.Store(true)
	log.Info("Draining", zap.Duration("delay", o.DrainDelay))
	time.Sleep(o.DrainDelay)
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	drain(sctx, px, listeners, log)
	_ = adminSrv.Shutdown(sctx)
	if st.stop != nil {
		st.stop()
	}
	return nil
}

func addrOf(ip string, port int) string { return net.JoinHostPort(ip, strconv.Itoa(port)) }

// newAdminServer is the admin port's server: small GETs, so short
// timeouts and small headers and bodies.
func newAdminServer(addr string, h http.Handler) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           proxy.LimitBody(h, adminMaxBody),
		ReadHeaderTimeout: adminHeaderTimeout,
		ReadTimeout:       adminReadTimeout,
		WriteTimeout:      adminWriteTimeout,
		IdleTimeout:       adminIdleTimeout,
		MaxHeaderBytes:    adminMaxHeader,
	}
}
