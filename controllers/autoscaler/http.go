package autoscaler

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/rampdev/ramp/serving/autoscaler"
	"github.com/rampdev/ramp/serving/queue/stats"
)

// Port is the autoscaler's HTTP port on the controller pod: the gateway's
// activation signals and the telemetry API.
const Port = 8099

// Paths of the HTTP API.
const (
	// ActivatePath + "<namespace>/<revision>" (POST) asks to scale a
	// revision from zero; 202 when taken.
	ActivatePath = "/activate/"
	// RevisionsPath (GET) lists every revision's autoscaling state.
	RevisionsPath = "/api/v1/revisions"
	// TelemetryPath + "<namespace>/<revision>?window=1m&tag=t" (GET)
	// summarizes a revision's requests over the last window.
	TelemetryPath = "/api/v1/telemetry/"
	// SeriesPath + "<namespace>/<revision>?from=UNIX&to=UNIX&tag=t" (GET)
	// is a revision's telemetry second by second in [from, to), with the
	// latency histograms: what `ramp analysis record` writes as a trace.
	SeriesPath = "/api/v1/series/"
)

// Second is one second of a revision's telemetry as SeriesPath serves it.
type Second struct {
	Unix      int64           `json:"unix"`
	Requests  int64           `json:"requests"`
	Errors5xx int64           `json:"errors5xx"`
	Latency   stats.Histogram `json:"latency"`
}

// Telemetry is a window summary as the HTTP API serves it.
type Telemetry struct {
	Namespace     string  `json:"namespace"`
	Revision      string  `json:"revision"`
	Tag           string  `json:"tag,omitempty"`
	WindowSeconds float64 `json:"windowSeconds"`
	Requests      int64   `json:"requests"`
	Errors5xx     int64   `json:"errors5xx"`
	ErrorRate     float64 `json:"errorRate"`
	RequestRate   float64 `json:"requestsPerSecond"`
	P50Seconds    float64 `json:"p50Seconds"`
	P90Seconds    float64 `json:"p90Seconds"`
	P99Seconds    float64 `json:"p99Seconds"`
	Pods          int     `json:"pods"`
}

// maxWindow bounds the telemetry window a request may ask for.
const maxWindow = autoscaler.DefaultRetention

// Handler serves the autoscaler's HTTP API.
func (a *Autoscaler) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+ActivatePath+"{namespace}/{revision}", func(w http.ResponseWriter, r *http.Request) {
		err := a.Activate(r.Context(), r.PathValue("namespace"), r.PathValue("revision"))
		switch {
		case errors.Is(err, ErrUnknownRevision):
			http.Error(w, err.Error(), http.StatusNotFound)
		case err != nil:
			http.Error(w, err.Error(), http.StatusInternalServerError)
		default:
			w.WriteHeader(http.StatusAccepted)
		}
	})
	mux.HandleFunc("GET "+RevisionsPath, func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, a.Statuses())
	})
	mux.HandleFunc("GET "+TelemetryPath+"{namespace}/{revision}", func(w http.ResponseWriter, r *http.Request) {
		window := time.Minute
		if v := r.URL.Query().Get("window"); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil || d < time.Second || d > maxWindow {
				http.Error(w, "window must be a duration from 1s to "+maxWindow.String(), http.StatusBadRequest)
				return
			}
			window = d
		}
		tag, label := autoscaler.AllTags, ""
		if q := r.URL.Query(); q.Has("tag") {
			tag, label = q.Get("tag"), q.Get("tag")
		}
		ns, rev := r.PathValue("namespace"), r.PathValue("revision")
		now := a.clock.Now().Truncate(time.Second)
		s, err := a.store.Window(r.Context(), ns, rev, tag, now.Add(-window), now)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		t := Telemetry{Namespace: ns, Revision: rev, Tag: label, WindowSeconds: window.Seconds(),
			Requests: s.Requests, Errors5xx: s.Errors5xx, RequestRate: float64(s.Requests) / window.Seconds(), Pods: s.Pods}
		if s.Requests > 0 {
			t.ErrorRate = float64(s.Errors5xx) / float64(s.Requests)
		}
		if s.Latency.Count() > 0 {
			t.P50Seconds = s.Latency.Quantile(0.5).Seconds()
			t.P90Seconds = s.Latency.Quantile(0.9).Seconds()
			t.P99Seconds = s.Latency.Quantile(0.99).Seconds()
		}
		writeJSON(w, t)
	})
	mux.HandleFunc("GET "+SeriesPath+"{namespace}/{revision}", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		from, err1 := strconv.ParseInt(q.Get("from"), 10, 64)
		to, err2 := strconv.ParseInt(q.Get("to"), 10, 64)
		if err1 != nil || err2 != nil || to < from || to-from > int64(maxWindow/time.Second) {
			http.Error(w, "from and to must be Unix seconds with from <= to, at most "+maxWindow.String()+" apart", http.StatusBadRequest)
			return
		}
		tag := autoscaler.AllTags
		if q.Has("tag") {
			tag = q.Get("tag")
		}
		ns, rev := r.PathValue("namespace"), r.PathValue("revision")
		out := []Second{}
		for sec := from; sec < to; sec++ {
			s, err := a.store.Window(r.Context(), ns, rev, tag, time.Unix(sec, 0), time.Unix(sec+1, 0))
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			if s.Requests > 0 {
				out = append(out, Second{Unix: sec, Requests: s.Requests, Errors5xx: s.Errors5xx, Latency: s.Latency})
			}
		}
		writeJSON(w, out)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	return mux
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
