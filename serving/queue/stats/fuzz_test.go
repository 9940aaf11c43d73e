package stats

import (
	"encoding/json"
	"testing"
)

// FuzzParse: the autoscaler reads every queue-proxy's report; none may
// panic it, and an accepted report survives Delta against itself and a
// re-encoding.
func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"v":1}`))
	f.Add([]byte(`{"v":1,"requests":10}`))
	f.Add([]byte(`{"v":2}`))
	f.Add([]byte(`[1,2]`))
	f.Add([]byte(`{"v":1,"latency":{"counts":[1,2,3]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse(data)
		if err != nil {
			return
		}
		_ = Delta(s, s)
		_ = AverageConcurrency(s, s)
		_ = Restarted(s, s)
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatalf("re-encoding %+v: %v", s, err)
		}
		if _, err := Parse(b); err != nil {
			t.Fatalf("a re-encoded report does not parse: %v\n%s", err, b)
		}
	})
}
