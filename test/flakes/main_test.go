package main

import (
	"strings"
	"testing"
)

func TestTallyEvents(t *testing.T) {
	run := func(events string, tallies map[string]*tally) int {
		t.Helper()
		n, err := tallyEvents(strings.NewReader(events), tallies)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	tallies := map[string]*tally{}
	first := `{"Action":"output","Package":"p","Test":"TestA","Output":"boom\n"}
{"Action":"fail","Package":"p","Test":"TestA"}
{"Action":"pass","Package":"p","Test":"TestB"}
not json: a build error line
{"Action":"fail","Package":"p"}
`
	if n := run(first, tallies); n != 2 {
		t.Errorf("first run: %d failures, want 2 (TestA and the package)", n)
	}
	second := `{"Action":"pass","Package":"p","Test":"TestA"}
{"Action":"pass","Package":"p","Test":"TestB"}
{"Action":"pass","Package":"p"}
`
	if n := run(second, tallies); n != 0 {
		t.Errorf("second run: %d failures, want 0", n)
	}
	a := tallies["p TestA"]
	if a == nil || a.runs != 2 || a.fails != 1 || strings.Join(a.lastOutput, "") != "boom\n" {
		t.Errorf("TestA tally %+v, want 1 failure in 2 runs with its output", a)
	}
	if b := tallies["p TestB"]; b == nil || b.fails != 0 || b.runs != 2 {
		t.Errorf("TestB tally %+v, want 2 passes", b)
	}
}
