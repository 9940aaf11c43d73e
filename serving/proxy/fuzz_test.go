package proxy

import "testing"

// FuzzParseStatus: the first bytes an upstream answers an upgrade with.
func FuzzParseStatus(f *testing.F) {
	for _, s := range []string{"HTTP/1.1 101 Switching Protocols\r\n", "HTTP/1.0 200 OK", "HTTP/1.1 1x1", "HTTP/2 200", ""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if c := ParseStatus(b); c != 0 && (c < 0 || c > 999) {
			t.Fatalf("ParseStatus(%q) = %d", b, c)
		}
	})
}
