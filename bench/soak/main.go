// Command soak runs a mixed load through one Reqivo session against a
// local server behind Toxiproxy faults (latency, reset_peer, limit_data,
// timeout) for a set time, then checks that nothing leaked: goroutines,
// open files and heap come back to their baseline, every request
// returned, no POST reached the server more often than the retry policy
// allows, and every error has a kind.
//
//	go run ./soak -duration 30s     # from bench/; CI's form
//	go run ./soak -duration 10m     # the figures in BENCHMARKS.md
//
// The server runs in a child process (this binary with -serve), so the
// counts are the client's alone. Traffic stays on 127.0.0.1.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

func main() {
	duration := flag.Duration("duration", 30*time.Second, "how long the load runs")
	workers := flag.Int("workers", 16, "goroutines sending requests")
	child := flag.Bool("serve", false, "run as the soak's server (internal)")
	flag.Parse()
	if *child {
		if err := serve(); err != nil {
			fmt.Fprintln(os.Stderr, "soak server:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(*duration, *workers); err != nil {
		fmt.Fprintln(os.Stderr, "soak: FAIL:", err)
		os.Exit(1)
	}
	fmt.Println("soak: ok")
}

func run(duration time.Duration, workers int) error {
	proxy, direct, stop, err := startServer()
	if err != nil {
		return err
	}
	defer stop()
	dir, err := os.MkdirTemp("", "reqivo-soak-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	// A warm-up through a session of its own, closed, so that what the
	// standard library sets up once (TLS tables, DNS config, pools of
	// buffers) is in the baseline.
	warm := newLoad(proxy, dir, 1)
	if err := warm.once(context.Background()); err != nil {
		fmt.Println("soak: warm-up saw", err)
	}
	warm.close()
	base := measure()

	l := newLoad(proxy, dir, workers)
	peak := l.drive(duration)
	l.close()

	end, settled := settle(base)
	report := l.report(base, peak, end)
	fmt.Print(report)

	var problems []string
	if !settled {
		problems = append(problems, fmt.Sprintf("resources did not come back: goroutines %d -> %d, fds %d -> %d, heap %.1f -> %.1f MiB",
			base.goroutines, end.goroutines, base.fds, end.fds, mib(base.heap), mib(end.heap)))
		buf := make([]byte, 1<<20)
		fmt.Fprintf(os.Stderr, "%s\n", buf[:runtime.Stack(buf, true)])
	}
	problems = append(problems, l.problems()...)
	problems = append(problems, l.checkKeys(direct)...)
	if len(problems) > 0 {
		return fmt.Errorf("%d problem(s):\n  %s", len(problems), strings.Join(problems, "\n  "))
	}
	return nil
}

// startServer starts this binary as the server and returns the proxy's
// and the origin's addresses.
func startServer() (proxy, direct string, stop func(), err error) {
	exe, err := os.Executable()
	if err != nil {
		return "", "", nil, err
	}
	cmd := exec.Command(exe, "-serve")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return "", "", nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return "", "", nil, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return "", "", nil, err
	}
	stop = func() {
		stdin.Close()
		cmd.Process.Kill()
		cmd.Wait()
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		stop()
		return "", "", nil, fmt.Errorf("server did not start: %w", err)
	}
	var ready string
	if _, err := fmt.Sscan(line, &ready, &proxy, &direct); err != nil || ready != "ready" {
		stop()
		return "", "", nil, fmt.Errorf("server said %q", line)
	}
	return proxy, direct, stop, nil
}
