// A real redis-server for the tests: Debian's binary on 127.0.0.1, a
// random port, no persistence, stopped by its PID.

package redisstore

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// loaded is the store timeout of the tests not about timing: the default
// 250 ms bound is real, and a loaded test machine can pass it (then the
// store backs off and the test sees misses).
var loaded = Timeout(5 * time.Second)

// redisServer is one redis-server process.
type redisServer struct {
	cmd  *exec.Cmd
	addr string
	done chan struct{}
}

// startRedis starts redis-server for the test and stops it at cleanup. A
// missing binary fails the test: .ci/run installs it.
func startRedis(t *testing.T) *redisServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	require.NoError(t, ln.Close())
	r := &redisServer{addr: fmt.Sprintf("127.0.0.1:%d", port)}
	r.launch(t)
	t.Cleanup(func() { r.stop() })
	return r
}

// launch starts the process on r.addr and waits until it accepts.
func (r *redisServer) launch(t *testing.T) {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		bin, err = exec.LookPath("valkey-server")
	}
	require.NoError(t, err, "install redis-server (apt-get install -y redis-server)")
	_, port, _ := net.SplitHostPort(r.addr)
	cmd := exec.Command(bin, "--port", port, "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning",
		"--dir", t.TempDir())
	require.NoError(t, cmd.Start())
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	r.cmd, r.done = cmd, done
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", r.addr, time.Second)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis-server did not start on %s: %v", r.addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// restart stops the server and starts an empty one on the same address,
// as a restart without persistence does.
func (r *redisServer) restart(t *testing.T) {
	t.Helper()
	r.stop()
	r.launch(t)
}

// pause stops the process (SIGSTOP) until the test ends or resume: it
// keeps accepting connections (the kernel does) and answers nothing, as a
// hung Redis does.
func (r *redisServer) pause(t *testing.T) {
	t.Helper()
	require.NoError(t, r.cmd.Process.Signal(syscall.SIGSTOP))
	t.Cleanup(r.resume)
}

func (r *redisServer) resume() { _ = r.cmd.Process.Signal(syscall.SIGCONT) }

// stop kills the server by its PID and waits for it; a second call does
// nothing.
func (r *redisServer) stop() {
	select {
	case <-r.done:
		return
	default:
	}
	_ = r.cmd.Process.Signal(syscall.SIGCONT) // a paused one too
	_ = r.cmd.Process.Kill()
	<-r.done
}

// client returns a client of r closed at cleanup, with short timeouts so
// a stopped server fails calls fast.
func (r *redisServer) client(t *testing.T) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{
		Addr: r.addr, DialTimeout: time.Second, ReadTimeout: time.Second, WriteTimeout: time.Second,
		MaxRetries: -1, Protocol: 2, DisableIdentity: true,
	})
	t.Cleanup(func() { _ = c.Close() })
	require.NoError(t, c.Ping(context.Background()).Err())
	return c
}

// client2 is client without the ping: for a server already stopped.
func (r *redisServer) client2(t *testing.T) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{
		Addr: r.addr, DialTimeout: time.Second, ReadTimeout: time.Second, WriteTimeout: time.Second,
		MaxRetries: -1, Protocol: 2, DisableIdentity: true,
	})
	t.Cleanup(func() { _ = c.Close() })
	return c
}
