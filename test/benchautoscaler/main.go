// Command benchautoscaler measures the autoscaler at 200 to 2,000 pods.
//
// For each pod count it starts two processes of its own binary: a
// simulator serving that many queue-proxy stats endpoints (real
// queue.Server admin handlers, driven by simulated requests) on distinct
// loopback addresses in 127.1.0.0/16, port 8022; and an autoscaler running
// the controller's production autoscaler (controllers/autoscaler over an
// in-memory cache of Revisions and EndpointSlices) that scrapes them every
// second. The autoscaler process measures its own CPU time and memory, so
// the figures are the autoscaler's alone, and reports per tick how many
// pods it scraped, how long the tick took and when each revision's
// decision was made.
//
//	go run ./test/benchautoscaler -pods 200,500,1000,2000 -duration 20s
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// maxPods bounds a run: every pod is a listener, a connection on each side
// and an address of 127.1.0.0/16.
const maxPods = 10000

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "benchautoscaler:", err)
		os.Exit(1)
	}
}

type options struct {
	role       string
	pods       []int
	podsPerRev int
	duration   time.Duration
	fill       int
	seed       uint64
	out        string
	profileDir string
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("benchautoscaler", flag.ContinueOnError)
	role := fs.String("role", "bench", "bench (the default), or the child roles sim and autoscaler")
	podList := fs.String("pods", "200,500,1000,2000", "pod counts to measure, comma-separated")
	podsPerRev := fs.Int("pods-per-revision", 10, "simulated pods per revision")
	duration := fs.Duration("duration", 20*time.Second, "measured time per pod count, at one tick a second")
	fill := fs.Int("fill", 900, "ticks run back to back before measuring, with the clock one second further each, to fill the 5-minute windows and the 15-minute telemetry ring (steady-state memory)")
	seed := fs.Uint64("seed", 1, "random seed of the simulated load")
	out := fs.String("out", "_out/bench/autoscaler.md", "write the report here too (empty: stdout only)")
	profileDir := fs.String("profile-dir", "", "write CPU and heap profiles of each autoscaler run's measured phase here")
	if err := fs.Parse(args); err != nil {
		return err
	}
	o := options{role: *role, podsPerRev: *podsPerRev, duration: *duration, fill: *fill, seed: *seed,
		out: *out, profileDir: *profileDir}
	for f := range strings.SplitSeq(*podList, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > maxPods {
			return fmt.Errorf("-pods: %q is not a pod count from 1 to %d", f, maxPods)
		}
		o.pods = append(o.pods, n)
	}
	if o.podsPerRev < 1 || o.duration < 3*time.Second || o.duration > 10*time.Minute || o.fill < 0 || o.fill > 3600 {
		return fmt.Errorf("-pods-per-revision must be ≥ 1, -duration from 3s to 10m, -fill from 0 to 3600")
	}
	switch o.role {
	case "sim":
		// Bounded even if the bench dies without closing our stdin.
		return runSim(o.pods[0], o.podsPerRev, o.seed, time.Duration(o.fill)*time.Second+o.duration+10*time.Minute)
	case "autoscaler":
		cpu, mem := "", ""
		if o.profileDir != "" {
			cpu = filepath.Join(o.profileDir, fmt.Sprintf("cpu-%d.pprof", o.pods[0]))
			mem = filepath.Join(o.profileDir, fmt.Sprintf("heap-%d.pprof", o.pods[0]))
		}
		return runAutoscaler(o.pods[0], o.podsPerRev, o.fill, o.duration, cpu, mem)
	case "bench":
		return runBench(o, stdout, stderr)
	}
	return fmt.Errorf("-role %q: want bench, sim or autoscaler", o.role)
}

func runBench(o options, stdout, stderr io.Writer) error {
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("finding this binary: %w", err)
	}
	if o.profileDir != "" {
		if err := os.MkdirAll(o.profileDir, 0o755); err != nil {
			return err
		}
	}
	var results []Result
	for _, n := range o.pods {
		fmt.Fprintf(stderr, ">> %d pods (%d revisions): starting the simulator\n", n, (n+o.podsPerRev-1)/o.podsPerRev)
		r, err := measure(self, o, n, stderr)
		if err != nil {
			return fmt.Errorf("%d pods: %w", n, err)
		}
		fmt.Fprintf(stderr, ">> %d pods: %s\n", n, summary(r))
		results = append(results, r)
	}
	var buf bytes.Buffer
	report(&buf, o, results)
	if _, err := stdout.Write(buf.Bytes()); err != nil {
		return err
	}
	if o.out != "" {
		if err := os.MkdirAll(filepath.Dir(o.out), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(o.out, buf.Bytes(), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(stderr, ">> wrote %s\n", o.out)
	}
	return nil
}

// measure runs one simulator and one autoscaler process for n pods.
func measure(self string, o options, n int, stderr io.Writer) (Result, error) {
	common := []string{"-pods", strconv.Itoa(n), "-pods-per-revision", strconv.Itoa(o.podsPerRev),
		"-duration", o.duration.String(), "-fill", strconv.Itoa(o.fill), "-seed", strconv.FormatUint(o.seed, 10)}
	sim := exec.Command(self, append([]string{"-role", "sim"}, common...)...)
	sim.Stderr = stderr
	stdin, err := sim.StdinPipe()
	if err != nil {
		return Result{}, err
	}
	simOut, err := sim.StdoutPipe()
	if err != nil {
		return Result{}, err
	}
	if err := sim.Start(); err != nil {
		return Result{}, fmt.Errorf("starting the simulator: %w", err)
	}
	defer func() {
		_ = stdin.Close() // the simulator stops when its stdin closes
		// Its exit status says nothing: it stops on a closed stdin or a kill.
		done := make(chan struct{})
		go func() { _ = sim.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = sim.Process.Kill()
			<-done
		}
	}()
	ready := make(chan error, 1)
	simLines := bufio.NewReader(simOut)
	go func() {
		line, err := simLines.ReadString('\n')
		if err == nil && !strings.HasPrefix(line, "ready ") {
			err = fmt.Errorf("simulator said %q", line)
		}
		ready <- err
	}()
	select {
	case err := <-ready:
		if err != nil {
			return Result{}, fmt.Errorf("simulator: %w", err)
		}
	case <-time.After(2 * time.Minute):
		return Result{}, errors.New("the simulator did not get ready within 2 minutes")
	}
	fmt.Fprintf(stderr, ">> %d pods: simulator ready; autoscaler filling %d ticks, then measuring %s\n", n, o.fill, o.duration)
	args := append([]string{"-role", "autoscaler"}, common...)
	if o.profileDir != "" {
		args = append(args, "-profile-dir", o.profileDir)
	}
	as := exec.Command(self, args...)
	as.Stderr = stderr
	var out bytes.Buffer
	as.Stdout = &out
	if err := as.Run(); err != nil {
		return Result{}, fmt.Errorf("autoscaler process: %w", err)
	}
	var r Result
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		return Result{}, fmt.Errorf("reading the autoscaler's result: %w", err)
	}
	_ = stdin.Close()
	line, err := simLines.ReadString('\n')
	if _, err2 := fmt.Sscanf(line, "connections %d", &r.Connections); err != nil || err2 != nil {
		return Result{}, fmt.Errorf("reading the simulator's connection count from %q: %w", line, errors.Join(err, err2))
	}
	return r, nil
}
