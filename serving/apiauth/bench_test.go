package apiauth

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// The cost the middleware adds to a request whose token and access are
// cached (every request after a caller's first, for a minute).
func BenchmarkHandlerCached(b *testing.B) {
	fake := newFake()
	a, err := New(Options{Audience: AutoscalerAudience, Reviewer: fake})
	if err != nil {
		b.Fatal(err)
	}
	h := a.Handler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusAccepted) }), rule)
	req := httptest.NewRequest(http.MethodPost, "/activate", nil)
	req.Header.Set("Authorization", "Bearer gateway-token")
	h.ServeHTTP(httptest.NewRecorder(), req)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusAccepted {
			b.Fatalf("status %d", w.Code)
		}
	}
	b.StopTimer()
	if tok, acc := fake.calls(); tok != 1 || acc != 1 {
		b.Fatalf("%d token and %d access reviews, want 1 each (the cache missed)", tok, acc)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/request")
}
