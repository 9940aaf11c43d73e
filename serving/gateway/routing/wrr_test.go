package routing

import (
	"fmt"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// checkWindows fails unless every window of 100 consecutive revisions in
// seq counts each revision within 1 of its percent.
func checkWindows(t *testing.T, seq []string, want map[string]int) {
	t.Helper()
	counts := map[string]int{}
	for i, rev := range seq {
		counts[rev]++
		if i >= 100 {
			counts[seq[i-100]]--
		}
		if i < 99 {
			continue
		}
		for r, pct := range want {
			if d := counts[r] - pct; d < -1 || d > 1 {
				t.Fatalf("window [%d,%d]: %s got %d, want %d±1 (counts %v)", i-99, i, r, counts[r], pct, counts)
			}
		}
	}
}

func TestSplitExactInEveryWindow(t *testing.T) {
	cases := map[string][]int{
		"10/90":    {10, 90},
		"50/50":    {50, 50},
		"33/33/34": {33, 33, 34},
		"1/99":     {1, 99},
		"1/1/98":   {1, 1, 98},
		"100":      {100},
	}
	for name, pcts := range cases {
		t.Run(name, func(t *testing.T) {
			r := routerWith(t, nil, nil, splitRoute("ns", "svc", pcts...))
			want := map[string]int{}
			for i, p := range pcts {
				want[fmt.Sprintf("svc-%d", i+1)] = p
			}
			seq := make([]string, 10000)
			for i := range seq {
				seq[i] = mustPick(t, r, Request{Host: mainHost("ns", "svc")}).Revision
			}
			checkWindows(t, seq, want)
		})
	}
}

func TestSplitTotals(t *testing.T) {
	r := routerWith(t, nil, nil, splitRoute("ns", "svc", 10, 90))
	got := map[string]int{}
	for range 1000 {
		got[mustPick(t, r, Request{Host: mainHost("ns", "svc")}).Revision]++
	}
	if diff := cmp.Diff(map[string]int{"svc-1": 100, "svc-2": 900}, got); diff != "" {
		t.Errorf("1000 picks (-want +got):\n%s", diff)
	}
}

func TestSplitConcurrent(t *testing.T) {
	r := routerWith(t, nil, nil, splitRoute("ns", "svc", 10, 90))
	var mu sync.Mutex
	got := map[string]int{}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			local := map[string]int{}
			for range 1250 {
				d, err := r.Pick(Request{Host: mainHost("ns", "svc")})
				if err != nil {
					t.Error(err)
					return
				}
				local[d.Revision]++
			}
			mu.Lock()
			defer mu.Unlock()
			for k, v := range local {
				got[k] += v
			}
		})
	}
	wg.Wait()
	if diff := cmp.Diff(map[string]int{"svc-1": 1000, "svc-2": 9000}, got); diff != "" {
		t.Errorf("8×1250 picks (-want +got):\n%s", diff)
	}
}

func TestZeroPercentBackendNeverPicked(t *testing.T) {
	// Build drops 0% backends; the wrr state is defensive on its own too.
	w := newWRR([]Backend{{Revision: "a", Percent: 0}, {Revision: "b", Percent: 30}, {Revision: "c", Percent: -5}, {Revision: "d", Percent: 70}})
	got := map[int]int{}
	for range 1000 {
		got[w.next()]++
	}
	if diff := cmp.Diff(map[int]int{1: 300, 3: 700}, got); diff != "" {
		t.Errorf("picks by index (-want +got):\n%s", diff)
	}
	if i := newWRR([]Backend{{Revision: "a"}}).next(); i != -1 {
		t.Errorf("next on zero weights = %d, want -1", i)
	}
}

// TestSplitSurvivesSwaps: re-installing an unchanged rule keeps its
// position, so the windows stay exact across swaps; changing weights
// restarts the rule's state.
func TestSplitSurvivesSwaps(t *testing.T) {
	rt := splitRoute("ns", "svc", 10, 90)
	unrelated := splitRoute("ns", "other", 50, 50)
	r := routerWith(t, nil, nil, rt)
	seq := make([]string, 0, 10000)
	for i := range 10000 {
		if i%37 == 0 { // a fresh but identical table, plus a changing neighbour
			unrelated.Rules[0].Backends[0].Percent, unrelated.Rules[0].Backends[1].Percent = 50-i%50, 50+i%50
			r.Update(Build([]Route{unrelated, rt}, map[ServiceKey][]Endpoint{{"ns", "x"}: {{"10.0.0.1", i + 1}}}))
		}
		seq = append(seq, mustPick(t, r, Request{Host: mainHost("ns", "svc")}).Revision)
	}
	checkWindows(t, seq, map[string]int{"svc-1": 10, "svc-2": 90})

	before := r.snap.Load().rules[r.Table().hosts[mainHost("ns", "svc")].ord].wrr
	r.Update(Build([]Route{rt}, nil))
	if after := r.snap.Load().rules[r.Table().hosts[mainHost("ns", "svc")].ord].wrr; after != before {
		t.Error("unchanged rule got a new split state")
	}
	rt.Rules[0].Backends[0].Percent, rt.Rules[0].Backends[1].Percent = 20, 80
	r.Update(Build([]Route{rt}, nil))
	if after := r.snap.Load().rules[r.Table().hosts[mainHost("ns", "svc")].ord].wrr; after == before {
		t.Error("changed weights kept the old split state")
	}
	seq = seq[:0]
	for range 1000 {
		seq = append(seq, mustPick(t, r, Request{Host: mainHost("ns", "svc")}).Revision)
	}
	checkWindows(t, seq, map[string]int{"svc-1": 20, "svc-2": 80})
}

// The precomputed period and the step-by-step algorithm (weights too large
// to precompute) pick the same sequence.
func TestScheduleMatchesSteps(t *testing.T) {
	for _, pcts := range [][]int{{33, 33, 34}, {1, 99}, {10, 20, 30, 40}, {50, 50}, {7, 0, 93}} {
		var backends []Backend
		for i, p := range pcts {
			backends = append(backends, Backend{Revision: string(rune('a' + i)), Percent: p})
		}
		fast, slow := newWRR(backends), newWRR(backends)
		if fast.schedule == nil {
			t.Fatalf("%v: no schedule precomputed", pcts)
		}
		slow.schedule = nil
		for i := range 250 {
			if f, s := fast.next(), slow.next(); f != s {
				t.Fatalf("%v: pick %d is %d from the schedule, %d step by step", pcts, i, f, s)
			}
		}
	}
	big := newWRR([]Backend{{Revision: "a", Percent: maxSchedule}, {Revision: "b", Percent: 1}})
	if big.schedule != nil {
		t.Errorf("a period of %d picks was precomputed, want step by step past %d", big.total, maxSchedule)
	}
	got := map[int]int{}
	for range big.total {
		got[big.next()]++
	}
	if got[0] != maxSchedule || got[1] != 1 {
		t.Errorf("one period of %d picks: %v, want the weights", big.total, got)
	}
}
