// Package servingconfig reads ConfigMap ramp-config, the serving core's
// cluster settings. A bad value is rejected with a log line and the last good
// configuration stays in force.
package servingconfig

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// ConfigMapName is the ConfigMap the serving core reads.
const ConfigMapName = "ramp-config"

// Config is the serving core's cluster configuration.
type Config struct {
	// Domain is the suffix of route URLs: <name>.<namespace>.<domain>.
	Domain string
	// RetainRevisions is how many unrouted Revisions per Configuration are
	// kept before the oldest are deleted.
	RetainRevisions int
}

// Defaults apply to keys that are absent.
var Defaults = Config{Domain: "example.com", RetainRevisions: 20}

// Parse reads a ConfigMap's data; every problem is reported, with its key.
func Parse(data map[string]string) (Config, error) {
	c := Defaults
	var errs []string
	if v, ok := data["domain"]; ok {
		v = strings.TrimSpace(v)
		if msgs := validation.IsDNS1123Subdomain(v); len(msgs) > 0 {
			errs = append(errs, fmt.Sprintf("domain %q: %s", v, strings.Join(msgs, "; ")))
		} else {
			c.Domain = v
		}
	}
	if v, ok := data["gc.retain-revisions"]; ok {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 0 || n > 1000 {
			errs = append(errs, fmt.Sprintf("gc.retain-revisions %q: must be an integer from 0 to 1000", v))
		} else {
			c.RetainRevisions = n
		}
	}
	if len(errs) > 0 {
		return Config{}, fmt.Errorf("invalid %s: %s", ConfigMapName, strings.Join(errs, ", "))
	}
	return c, nil
}

// Store holds the configuration in force.
type Store struct {
	Reader    client.Reader
	Namespace string

	mu   sync.Mutex
	last *Config
}

// Get returns the configuration in force (the defaults before any Load).
func (s *Store) Get() Config {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.last == nil {
		return Defaults
	}
	return *s.last
}

// Load reads the ConfigMap and returns the configuration in force: the new
// one if it parses, else the last good one.
func (s *Store) Load(ctx context.Context) Config {
	var cm corev1.ConfigMap
	err := s.Reader.Get(ctx, types.NamespacedName{Namespace: s.Namespace, Name: ConfigMapName}, &cm)
	var cfg Config
	switch {
	case client.IgnoreNotFound(err) != nil:
		ctrl.LoggerFrom(ctx).Error(err, "Reading configuration failed; keeping the last good one", "configmap", ConfigMapName)
		return s.Get()
	case err != nil:
		cfg = Defaults
	default:
		if cfg, err = Parse(cm.Data); err != nil {
			ctrl.LoggerFrom(ctx).Error(err, "Rejected configuration; keeping the last good one")
			return s.Get()
		}
	}
	s.mu.Lock()
	s.last = &cfg
	s.mu.Unlock()
	return cfg
}
