// Command apicheck is a test workload (image ramp/apicheck) for the local
// cluster's RBAC test. It lists pods in its namespace every RAMP_INTERVAL
// (default 500ms) with the credentials from $KUBECONFIG, and serves the last
// HTTP status it got as JSON on $POD_IP:$PORT/:
//
//	{"status": 403, "error": "pods is forbidden: ..."}
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

type result struct {
	Status int    `json:"status"`
	Error  string `json:"error,omitempty"`
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "apicheck:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	cfg, err := clientcmd.BuildConfigFromFlags("", os.Getenv("KUBECONFIG"))
	if err != nil {
		return fmt.Errorf("loading $KUBECONFIG: %w", err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	ns := os.Getenv("POD_NAMESPACE")
	interval := 500 * time.Millisecond
	if v := os.Getenv("RAMP_INTERVAL"); v != "" {
		if interval, err = time.ParseDuration(v); err != nil {
			return fmt.Errorf("RAMP_INTERVAL: %w", err)
		}
	}
	var (
		mu   sync.Mutex
		last = result{}
	)
	check := func() {
		_, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{Limit: 1})
		r := result{Status: http.StatusOK}
		var se apierrors.APIStatus
		switch {
		case err == nil:
		case errors.As(err, &se):
			r = result{Status: int(se.Status().Code), Error: err.Error()}
		default:
			r = result{Status: 0, Error: err.Error()}
		}
		mu.Lock()
		last = r
		mu.Unlock()
	}
	check()
	go func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				check()
			}
		}
	}()
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	srv := &http.Server{
		Addr:              net.JoinHostPort(os.Getenv("POD_IP"), port),
		ReadHeaderTimeout: 5 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			mu.Lock()
			r := last
			mu.Unlock()
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(r)
		}),
	}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
