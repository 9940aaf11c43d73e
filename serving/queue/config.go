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
	PodIP                string
	ServingPort          int
	AdminPort            int
	UserPort             int
	ContainerConcurrency int
	RevisionTimeout      time.Duration
	UserProbe            ProbeSpec
	Revision             string
	// DrainTimeout bounds how long shutdown waits for requests in flight.
	DrainTimeout time.Duration
}

// LoadConfig reads the environment through getenv; every problem is
// reported with the variable's name.
func LoadConfig(getenv func(string) string) (Config, error) {
	c := Config{PodIP: getenv(EnvPodIP), Revision: getenv(EnvRevision), DrainTimeout: 30 * time.Second}
	if c.PodIP == "" {
		c.PodIP = "127.0.0.1"
	}
	var errs []error
	intVar := func(name string, def int, dst *int) {
		v := getenv(name)
		if v == "" {
			*dst = def
			return
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			errs = append(errs, fmt.Errorf("%s=%q: must be a non-negative integer", name, v))
			return
		}
		*dst = n
	}
	intVar(EnvServingPort, ServingPort, &c.ServingPort)
	intVar(EnvAdminPort, AdminPort, &c.AdminPort)
	intVar(EnvUserPort, 8080, &c.UserPort)
	intVar(EnvContainerConcurrency, 0, &c.ContainerConcurrency)
	var timeout int
	intVar(EnvRevisionTimeout, 300, &timeout)
	c.RevisionTimeout = time.Duration(timeout) * time.Second
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
