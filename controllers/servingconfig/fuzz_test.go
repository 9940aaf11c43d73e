package servingconfig

import "testing"

// FuzzParse: the ramp-config ConfigMap is user input; any value of its
// keys is accepted into a usable config or refused.
func FuzzParse(f *testing.F) {
	f.Add("example.com", "20")
	f.Add("", "-1")
	f.Add("Not A Domain", "1e9")
	f.Add("a..b", "0x10")
	f.Fuzz(func(t *testing.T, domain, retain string) {
		c, err := Parse(map[string]string{"domain": domain, "gc.retain-revisions": retain})
		if err == nil && (c.Domain == "" || c.RetainRevisions < 0) {
			t.Fatalf("Parse(%q, %q) = %+v", domain, retain, c)
		}
	})
}
