package chaos

import (
	"fmt"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/rampdev/ramp/test/framework"
)

// row is one fault's line in the table.
type row struct {
	fault     string
	res       framework.LoadResult
	stopped   bool   // res holds the load's counts
	stateLost string // "no", or what was lost
	recovery  time.Duration
	note      string
}

// finish stops the fault's load, once, and records its counts: deferred,
// it records them when the fault fails half-way too.
func (r *row) finish(l *framework.Load) framework.LoadResult {
	if !r.stopped {
		r.res, r.stopped = l.Stop(), true
	}
	return r.res
}

// table collects the rows of the faults that ran.
type table struct {
	mu   sync.Mutex
	rows []*row
}

func (t *table) add(r *row) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.rows = append(t.rows, r)
}

// String renders the table: fault | requests | non-2xx | transport errors
// | state lost | recovery time, then a note per row.
func (t *table) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 0, 0, 1, ' ', tabwriter.Debug)
	fmt.Fprintln(w, "fault\t requests\t non-2xx\t transport errors\t state lost\t recovery time")
	for _, r := range t.rows {
		fmt.Fprintf(w, "%s\t %d\t %d\t %d\t %s\t %s\n", r.fault, r.res.Requests, r.res.Non2xx,
			r.res.TransportErrors, r.stateLost, r.recovery.Round(10*time.Millisecond))
	}
	_ = w.Flush()
	for _, r := range t.rows {
		note := r.note
		if r.res.Wrong > 0 {
			note = fmt.Sprintf("%d wrong 2xx answers; %s", r.res.Wrong, note)
		}
		if r.res.Shed > 0 {
			note = fmt.Sprintf("%d requests not sent (256 in flight already); %s", r.res.Shed, note)
		}
		if note != "" {
			fmt.Fprintf(&b, "- %s: %s\n", r.fault, note)
		}
	}
	return b.String()
}
