// Command flakes runs the test suite several times and prints a table of
// every test that failed at least once: the flake hunt behind
// `make test-flakes N=3`.
//
//	go run ./test/flakes -n 3 -- -race ./...
//
// Everything after "--" is passed to `go test -json -count=1`. The
// environment is passed through, so GOMAXPROCS=1 or KUBEBUILDER_ASSETS
// work as for `go test`. It exits 1 when any test failed in any run.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"
)

func main() {
	code, err := run(os.Args[1:], os.Stdout, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "flakes:", err)
		os.Exit(2)
	}
	os.Exit(code)
}

// event is one line of `go test -json`.
type event struct {
	Action  string
	Package string
	Test    string
	Elapsed float64
	Output  string
}

// tally is one test's record over the runs.
type tally struct {
	pkg, test   string
	runs, fails int
	// lastOutput is the output of its last failure, trimmed.
	lastOutput []string
}

func run(args []string, stdout, stderr io.Writer) (int, error) {
	fs := flag.NewFlagSet("flakes", flag.ContinueOnError)
	n := fs.Int("n", 3, "how many times to run the suite")
	if err := fs.Parse(args); err != nil {
		return 2, err
	}
	if *n < 1 || *n > 50 {
		return 2, fmt.Errorf("-n %d: want 1 to 50", *n)
	}
	goArgs := fs.Args()
	if len(goArgs) == 0 {
		goArgs = []string{"./..."}
	}
	tallies := map[string]*tally{}
	var durations []time.Duration
	for i := range *n {
		start := time.Now()
		fmt.Fprintf(stderr, ">> run %d/%d: go test -json -count=1 %s\n", i+1, *n, strings.Join(goArgs, " "))
		failed, err := once(goArgs, tallies, stderr)
		if err != nil {
			return 2, err
		}
		durations = append(durations, time.Since(start).Round(time.Second))
		fmt.Fprintf(stderr, ">> run %d/%d took %s, %d failed tests\n", i+1, *n, durations[i], failed)
	}
	var flaky []*tally
	for _, t := range tallies {
		if t.fails > 0 {
			flaky = append(flaky, t)
		}
	}
	slices.SortFunc(flaky, func(a, b *tally) int {
		if a.fails != b.fails {
			return b.fails - a.fails
		}
		return strings.Compare(a.pkg+a.test, b.pkg+b.test)
	})
	fmt.Fprintf(stdout, "\n%d runs (%s); %d tests seen\n", *n, joinDurations(durations), len(tallies))
	if len(flaky) == 0 {
		fmt.Fprintln(stdout, "no test failed in any run")
		return 0, nil
	}
	fmt.Fprintln(stdout, "\n| failed | runs | package | test |")
	fmt.Fprintln(stdout, "|---|---|---|---|")
	for _, t := range flaky {
		fmt.Fprintf(stdout, "| %d | %d | %s | %s |\n", t.fails, t.runs, t.pkg, orDash(t.test))
	}
	for _, t := range flaky {
		fmt.Fprintf(stdout, "\n--- %s %s, last failure:\n%s\n", t.pkg, orDash(t.test), strings.Join(t.lastOutput, ""))
	}
	return 1, nil
}

// once runs the suite one time and adds to tallies; it returns how many
// tests (or packages, for a build failure) failed.
func once(goArgs []string, tallies map[string]*tally, stderr io.Writer) (int, error) {
	cmd := exec.Command("go", append([]string{"test", "-json", "-count=1"}, goArgs...)...)
	cmd.Stderr = stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return 0, err
	}
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("starting go test: %w", err)
	}
	failed, err := tallyEvents(out, tallies)
	// go test exits non-zero when a test failed: that is what we count.
	_ = cmd.Wait()
	return failed, err
}

// tallyEvents reads `go test -json` events and adds each finished test
// (and package) to tallies; it returns how many failed.
func tallyEvents(r io.Reader, tallies map[string]*tally) (int, error) {
	outputs := map[string][]string{}
	failed := 0
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 1<<20), 16<<20)
	for sc.Scan() {
		var e event
		if json.Unmarshal(sc.Bytes(), &e) != nil {
			continue // a build error line: go test reports the package as failed too
		}
		key := e.Package + " " + e.Test
		switch e.Action {
		case "output":
			o := outputs[key]
			if len(o) >= 40 {
				o = o[1:]
			}
			outputs[key] = append(o, e.Output)
		case "pass", "fail":
			t := tallies[key]
			if t == nil {
				t = &tally{pkg: e.Package, test: e.Test}
				tallies[key] = t
			}
			t.runs++
			if e.Action == "fail" {
				t.fails++
				failed++
				t.lastOutput = outputs[key]
			}
			delete(outputs, key)
		}
	}
	return failed, sc.Err()
}

func joinDurations(ds []time.Duration) string {
	s := make([]string, len(ds))
	for i, d := range ds {
		s[i] = d.String()
	}
	return strings.Join(s, ", ")
}

func orDash(s string) string {
	if s == "" {
		return "(package)"
	}
	return s
}
