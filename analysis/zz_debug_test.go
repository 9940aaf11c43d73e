package analysis

import (
	"strings"
	"testing"
	"context"
	"time"
)

func TestZZTrace(t *testing.T) {
	for _, l := range []string{
		`{"run":"a","second":0,"revision":"canary","requests":1,"errors":0,"latencies":[1e400]}`,
		`{"run":"a","second":0,"revision":"canary","requests":1,"errors":0,"latencies":[null]}`,
		`{"run":"a","second":null,"revision":"canary","requests":null,"errors":null,"latencies":null}`,
		`{"run":"a","second":0,"revision":"canary","requests":1,"errors":0,"latencies":[1e10]}`,
		`{"run":"a","second":0,"revision":"canary","requests":1,"errors":0,"latencies":["x"]}`,
		`{"run":"a","second":"0","revision":"canary","requests":1,"errors":0,"latencies":[1]}`,
		`{"run":"a","second":0,"revision":"canary","requests":1,"errors":0,"latencies":[1],"x":1}`,
		`{"run":"a","second":0.5,"revision":"canary","requests":1,"errors":0,"latencies":[1]}`,
		`{"run":"a","second":0,"revision":"canary","requests":1,"errors":0,"latencies":[1]} {"a":1}`,
		`[1]`,
		`null`,
	} {
		runs, err := ReadTrace(strings.NewReader(l), "t.jsonl")
		if err != nil {
			te := err.(*TraceError)
			t.Logf("%s\n   -> field=%q err=%v", l, te.Field, err)
			continue
		}
		s, _ := runs[0].Sample(context.Background(), Target{Revision: "canary"}, replayEpoch, replayEpoch.Add(time.Hour))
		t.Logf("%s\n   -> OK %d runs, sample %+v count=%d q=%v", l, len(runs), s.Requests, s.Latency.Count(), s.Latency.Quantile(0.5))
	}
}
