package queue

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Config is the queue-proxy's configuration, read from its environment.
type Config struct {
	PodIP       string
	PodName     string
	ServingPort int
	AdminPort   int
	MetricsPort int
	UserPort    int
	// UserProtocol is UserProtocolHTTP1 or UserProtocolH2C: how HTTP/2
	// (h2c) clients' requests are forwarded. HTTP/1.1 clients are always
	// forwarded over HTTP/1.1.
	UserProtocol string
	// ContainerConcurrency bounds the requests in flight to the user
	// container; 0 means unlimited.
	ContainerConcurrency int
	// QueueDepth bounds the requests waiting for a slot when
	// ContainerConcurrency are in flight (unused when unlimited).
	QueueDepth      int
	RevisionTimeout time.Duration
	UserProbe       ProbeSpec
	Revision        string
	// DrainTimeout bounds how long shutdown waits for requests in flight.
	DrainTimeout time.Duration
	// HeaderTimeout bounds reading a request's header on the serving port
	// (0: DefaultHeaderTimeout); IdleTimeout closes idle client
	// connections (0: 5 minutes). Not read from the environment (tests).
	HeaderTimeout, IdleTimeout time.Duration
}

// LoadConfig reads the environment through getenv; every problem is
// reported with the variable's name.
func LoadConfig(getenv func(string) string) (Config, error) {
	c := Config{
		PodIP:        getenv(EnvPodIP),
		PodName:      getenv(EnvPod),
		Revision:     getenv(EnvRevision),
		DrainTimeout: 30 * time.Second,
	}
	if c.PodIP == "" {
		c.PodIP = "127.0.0.1"
	}
	var errs []error
	intVar := func(name string, def, limit int, dst *int) bool {
		v := getenv(name)
		if v == "" {
			*dst = def
			return false
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > limit {
			errs = append(errs, fmt.Errorf("%s=%q: must be an integer from 0 to %d", name, v, limit))
			return false
		}
		*dst = n
		return true
	}
	const maxPort, maxInt = 65535, 1<<31 - 1
	intVar(EnvServingPort, ServingPort, maxPort, &c.ServingPort)
	intVar(EnvAdminPort, AdminPort, maxPort, &c.AdminPort)
	intVar(EnvMetricsPort, MetricsPort, maxPort, &c.MetricsPort)
	intVar(EnvUserPort, 8080, maxPort, &c.UserPort)
	intVar(EnvContainerConcurrency, 0, 1<<20, &c.ContainerConcurrency)
	if !intVar(EnvQueueDepth, 0, 1<<20, &c.QueueDepth) {
		c.QueueDepth = DefaultQueueDepth(c.ContainerConcurrency)
	}
	var timeout int
	intVar(EnvRevisionTimeout, 300, maxInt, &timeout)
	c.RevisionTimeout = time.Duration(timeout) * time.Second
	switch p := getenv(EnvUserProtocol); p {
	case "", UserProtocolHTTP1:
		c.UserProtocol = UserProtocolHTTP1
	case UserProtocolH2C:
		c.UserProtocol = UserProtocolH2C
	default:
		errs = append(errs, fmt.Errorf("%s=%q: must be %q or %q", EnvUserProtocol, p, UserProtocolHTTP1, UserProtocolH2C))
	}
	if p := getenv(EnvUserProbe); p != "" {
		if err := json.Unmarshal([]byte(p), &c.UserProbe); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", EnvUserProbe, err))
		}
	}
	if c.UserProbe.Port == 0 {
		c.UserProbe.Port = c.UserPort
	}
	return c, errors.Join(errs...)
}
