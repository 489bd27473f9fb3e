// Benchmarks of Reqivo against net/http and the peer libraries. The server
// runs in another process (see internal/server): TestMain uses the one
// named by $BENCH_SERVER (run.sh starts it), or else re-runs this test
// binary as the server and stops it at the end.
//
// Besides ns/op, B/op and allocs/op, every benchmark reports cpu-ns/op
// (user+system CPU of this process per request, from getrusage) and
// conns/1k (connections the server accepted per 1,000 requests).
package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/reqivo/reqivo/bench/internal/fixture"
	"github.com/reqivo/reqivo/bench/internal/server"
)

const childEnv = "BENCH_SERVER_CHILD"

var (
	dataAddr, ctrlAddr string
	child              *exec.Cmd
	errSkip            = errors.New("not applicable")
	sample             = fixture.Sample()
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		// This process is the server.
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
		err := server.Run(ctx, os.Stdout)
		stop()
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench server:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	code := m.Run()
	stopChild()
	for _, stop := range stopHooks {
		stop()
	}
	os.Exit(code)
}

// stopHooks stop the other servers a scenario started (nginx).
var stopHooks []func()

var startOnce sync.Once
var startErr error

// serverAddrs returns the server's data and control addresses, starting
// the server on first use unless $BENCH_SERVER names one.
func serverAddrs(b *testing.B) (data, ctrl string) {
	startOnce.Do(func() {
		v := os.Getenv(server.EnvVar)
		if v == "" {
			v, startErr = startChild()
			if startErr != nil {
				return
			}
		}
		d, c, ok := strings.Cut(v, ",")
		if !ok {
			startErr = fmt.Errorf("bad %s %q", server.EnvVar, v)
			return
		}
		dataAddr, ctrlAddr = d, c
	})
	if startErr != nil {
		b.Fatal(startErr)
	}
	return dataAddr, ctrlAddr
}

// startChild re-runs this test binary as the server.
func startChild() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", err
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=1")
	cmd.Stderr = os.Stderr
	dieWithParent(cmd)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", err
	}
	if err := cmd.Start(); err != nil {
		return "", err
	}
	child = cmd
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		stopChild()
		return "", fmt.Errorf("bench server did not start: %v", err)
	}
	v, ok := strings.CutPrefix(strings.TrimSpace(line), server.EnvVar+"=")
	if !ok {
		stopChild()
		return "", fmt.Errorf("bench server said %q", line)
	}
	go io.Copy(io.Discard, out)
	return v, nil
}

// stopChild stops the server this process started, by its PID.
func stopChild() {
	if child == nil {
		return
	}
	child.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { child.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		child.Process.Kill()
		<-done
	}
	child = nil
}

// ctrlClient asks the control port; it has its own pool so it never
// touches the clients' connections.
var ctrlClient = &http.Client{Transport: &http.Transport{}, Timeout: 10 * time.Second}

// serverConns is how many connections the data port has accepted.
func serverConns(b *testing.B) int64 {
	_, ctrl := serverAddrs(b)
	resp, err := ctrlClient.Get("http://" + ctrl + "/conns")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.Fatal(err)
	}
	n, err := strconv.ParseInt(string(body), 10, 64)
	if err != nil {
		b.Fatal(err)
	}
	return n
}

// cpuTime is the user+system CPU this process has used.
func cpuTime() time.Duration {
	user, sys := cpuSplit()
	return user + sys
}

// cpuSplit is cpuTime's two parts: user and system (kernel) CPU.
func cpuSplit() (user, sys time.Duration) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, 0
	}
	return time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())
}

// clientOrder is the order the clients run in: $BENCH_CLIENTS (a comma
// list, which run.sh rotates between rounds) or the default one.
func clientOrder() []string {
	var names []string
	for _, c := range clients {
		names = append(names, c.name)
	}
	if v := os.Getenv("BENCH_CLIENTS"); v != "" {
		var order []string
		for _, n := range strings.Split(v, ",") {
			if slices.Contains(names, n) {
				order = append(order, n)
			}
		}
		return order
	}
	return names
}

func newClient(name, base string, pool100 bool) (client, error) {
	for _, c := range clients {
		if c.name == name {
			return c.new(base, pool100)
		}
	}
	return nil, fmt.Errorf("no client %q", name)
}

// forClients runs fn as one sub-benchmark per client, each with a new
// client that is closed at its end.
func forClients(b *testing.B, pool100 bool, fn func(b *testing.B, c client)) {
	for _, name := range clientOrder() {
		b.Run(name, func(b *testing.B) {
			data, _ := serverAddrs(b)
			c, err := newClient(name, "http://"+data, pool100)
			if errors.Is(err, errSkip) {
				b.Skip("not applicable")
			}
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			fn(b, c)
		})
	}
}

// measure runs op b.N times on conc goroutines, after a warm-up of check
// (the first call) and op on the same goroutines, and reports the metrics.
// An op is reqsPerOp requests.
func measure(b *testing.B, conc, reqsPerOp int, check, op func() error) {
	if err := check(); err != nil {
		b.Fatal("check: ", err)
	}
	if err := runOps(conc, 4*conc, op); err != nil {
		b.Fatal("warm-up: ", err)
	}
	conns0 := serverConns(b)
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	err := runOps(conc, b.N, op)
	cpu := cpuTime() - cpu0
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	conns := serverConns(b) - conns0
	reqs := float64(b.N) * float64(reqsPerOp)
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(conns)*1000/reqs, "conns/1k")
}

// runOps runs op n times in all on conc goroutines (conc 1: in this one)
// and returns the first error.
func runOps(conc, n int, op func() error) error {
	if conc == 1 {
		for range n {
			if err := op(); err != nil {
				return err
			}
		}
		return nil
	}
	var next atomic.Int64
	var first atomic.Pointer[error]
	var wg sync.WaitGroup
	for range conc {
		wg.Go(func() {
			for next.Add(1) <= int64(n) {
				if err := op(); err != nil {
					first.CompareAndSwap(nil, &err)
					return
				}
			}
		})
	}
	wg.Wait()
	if p := first.Load(); p != nil {
		return *p
	}
	return nil
}

func checkObject(got *fixture.Object) error {
	if !reflect.DeepEqual(*got, sample) {
		return fmt.Errorf("decoded %+v, want %+v", *got, sample)
	}
	return nil
}

func getOp(c client) (check, op func() error) {
	ctx := context.Background()
	check = func() error {
		var v fixture.Object
		if err := c.GetJSON(ctx, &v); err != nil {
			return err
		}
		return checkObject(&v)
	}
	op = func() error {
		var v fixture.Object
		return c.GetJSON(ctx, &v)
	}
	return check, op
}

// BenchmarkGET: sequential GET of a ~500-byte JSON object decoded into a
// struct.
func BenchmarkGET(b *testing.B) {
	forClients(b, false, func(b *testing.B, c client) {
		check, op := getOp(c)
		measure(b, 1, 1, check, op)
	})
}

// BenchmarkPOST: the object sent as JSON, echoed back and decoded.
func BenchmarkPOST(b *testing.B) {
	forClients(b, false, func(b *testing.B, c client) {
		ctx := context.Background()
		in := fixture.Sample()
		check := func() error {
			var out fixture.Object
			if err := c.PostJSON(ctx, &in, &out); err != nil {
				return err
			}
			return checkObject(&out)
		}
		op := func() error {
			var out fixture.Object
			return c.PostJSON(ctx, &in, &out)
		}
		measure(b, 1, 1, check, op)
	})
}

// BenchmarkGET64: the GET from 64 goroutines on one client, each library
// at its defaults.
func BenchmarkGET64(b *testing.B) {
	forClients(b, false, func(b *testing.B, c client) {
		check, op := getOp(c)
		measure(b, 64, 1, check, op)
	})
}

// BenchmarkGET64Pool100: the same with every pool raised to 100 idle
// connections per host.
func BenchmarkGET64Pool100(b *testing.B) {
	forClients(b, true, func(b *testing.B, c client) {
		check, op := getOp(c)
		measure(b, 64, 1, check, op)
	})
}

// BenchmarkBlob: GET of 1 MiB read whole.
func BenchmarkBlob(b *testing.B) {
	forClients(b, false, func(b *testing.B, c client) {
		ctx := context.Background()
		op := func() error {
			n, err := c.GetBlob(ctx)
			if err == nil && n != fixture.BlobSize {
				err = fmt.Errorf("read %d bytes, want %d", n, fixture.BlobSize)
			}
			return err
		}
		measure(b, 1, 1, op, op)
	})
}
