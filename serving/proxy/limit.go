package proxy

import (
	"fmt"
	"net/http"
)

// LimitBody answers 413 to requests whose declared body is over limit
// bytes, and makes reading past limit fail for the rest (chunked bodies),
// for handlers that read small bodies or none: the gateway's and the
// queue-proxy's admin endpoints.
func LimitBody(h http.Handler, limit int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > limit {
			w.Header().Set("Connection", "close")
			http.Error(w, fmt.Sprintf("request body over %d bytes", limit), http.StatusRequestEntityTooLarge)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		h.ServeHTTP(w, r)
	})
}
