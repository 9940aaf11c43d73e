package analysis

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkWebMeasure measures one look of a web metric that measures
// both sides (two requests to a 127.0.0.1 server answering a small JSON
// document): templates parsed and rendered, requests sent, answers read
// and decoded, the path evaluated.
func BenchmarkWebMeasure(b *testing.B) {
	body := []byte(`{"status":"success","data":{"ok":0.99,"results":[{"value":3},{"value":4}]}}`)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	defer srv.Close()
	w := NewWeb()
	q := webQuery(&WebRequest{URL: srv.URL + "/api/ok?rev={{.Revision}}", JSONPath: "$.data.results[-1].value",
		Headers: []WebHeader{{Name: "X-Ns", Value: "{{.Namespace}}"}}})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		m, err := w.Measure(ctx, q)
		if err != nil || !m.Canary.Valid || !m.Stable.Valid {
			b.Fatalf("%+v, %v", m, err)
		}
	}
	b.ReportMetric(2, "requests/op")
}
