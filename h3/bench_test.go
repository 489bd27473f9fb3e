//go:build linux

package reqivoh3_test

// Benchmarks of HTTP/3 against HTTP/2 and HTTP/1.1 over TLS on loopback,
// against Debian's Caddy (see bench/BENCHMARKS.md, "HTTP/3"). They run
// only with BENCH_H3=1: a 50 MiB download per iteration is too slow for a
// smoke run.
//
//	cd h3 && BENCH_H3=1 go test -mod=mod -run=NONE -bench=Caddy -benchtime=5x .

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/quic-go/quic-go/http3"
	"github.com/reqivo/reqivo"

	reqivoh3 "github.com/reqivo/reqivo/h3"
	"github.com/reqivo/reqivo/h3/internal/caddytest"
)

const blob50 = 50 << 20

// benchCaddy starts Caddy with /small.txt (2 KiB) and /blob50 (50 MiB of
// random bytes), or skips.
func benchCaddy(b *testing.B) *caddytest.Server {
	b.Helper()
	if os.Getenv("BENCH_H3") != "1" {
		b.Skip("set BENCH_H3=1 to run the HTTP/3 benchmarks against Caddy")
	}
	dir := b.TempDir()
	small := make([]byte, 2<<10)
	_, _ = rand.Read(small)
	if err := os.WriteFile(filepath.Join(dir, "small.txt"), small, 0o600); err != nil {
		b.Fatal(err)
	}
	f, err := os.Create(filepath.Join(dir, "blob50"))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.CopyN(f, rand.Reader, blob50); err != nil {
		b.Fatal(err)
	}
	f.Close()
	srv, err := caddytest.Start(dir, b.TempDir())
	if err != nil {
		b.Skip(err)
	}
	b.Cleanup(srv.Stop)
	return srv
}

// benchClient is one way to fetch a URL.
type benchClient struct {
	name string
	new  func(srv *caddytest.Server) (fetch func(ctx context.Context, url string, w io.Writer) (int64, error), close func())
}

// reqivoClient is a session at its defaults plus opts, streaming bodies.
func reqivoClient(wantProto string, h1 bool, opts ...reqivo.Option) func(srv *caddytest.Server) (func(context.Context, string, io.Writer) (int64, error), func()) {
	return func(srv *caddytest.Server) (func(context.Context, string, io.Writer) (int64, error), func()) {
		tc := &tls.Config{RootCAs: srv.Roots}
		all := append([]reqivo.Option{reqivo.WithTLSConfig(tc), reqivo.WithTimeout(5 * time.Minute)}, opts...)
		if h1 {
			// ALPN offers http/1.1 alone: the pool always adds h2 to its
			// own handshakes, so this one is made here.
			d := &tls.Dialer{Config: &tls.Config{RootCAs: srv.Roots, NextProtos: []string{"http/1.1"}}}
			all = append(all, reqivo.WithDialTLSContext(d.DialContext))
		}
		s, err := reqivo.NewSession(all...)
		if err != nil {
			panic(err)
		}
		return func(ctx context.Context, url string, w io.Writer) (int64, error) {
			resp, err := s.Get(ctx, url, reqivo.Stream())
			if err != nil {
				return 0, err
			}
			defer resp.Body.Close()
			if resp.Proto != wantProto {
				return 0, fmt.Errorf("came over %s, want %s", resp.Proto, wantProto)
			}
			return io.Copy(w, resp.Body)
		}, func() { s.Close() }
	}
}

// rawClient is a bare http.RoundTripper: the floor under the library.
func rawClient(newRT func(roots *tls.Config) (http.RoundTripper, func())) func(srv *caddytest.Server) (func(context.Context, string, io.Writer) (int64, error), func()) {
	return func(srv *caddytest.Server) (func(context.Context, string, io.Writer) (int64, error), func()) {
		rt, closeRT := newRT(&tls.Config{RootCAs: srv.Roots})
		c := &http.Client{Transport: rt}
		return func(ctx context.Context, url string, w io.Writer) (int64, error) {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			if err != nil {
				return 0, err
			}
			resp, err := c.Do(req)
			if err != nil {
				return 0, err
			}
			defer resp.Body.Close()
			return io.Copy(w, resp.Body)
		}, closeRT
	}
}

var benchClients = []benchClient{
	{"reqivo-h3", reqivoClient("HTTP/3.0", false, reqivoh3.Option(reqivoh3.Only()))},
	{"reqivo-h2", reqivoClient("HTTP/2.0", false)},
	{"reqivo-h1tls", reqivoClient("HTTP/1.1", true)},
	{"quicgo-h3", rawClient(func(tc *tls.Config) (http.RoundTripper, func()) {
		t := &http3.Transport{TLSClientConfig: tc}
		return t, func() { t.Close() }
	})},
	{"nethttp-h2", rawClient(func(tc *tls.Config) (http.RoundTripper, func()) {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.TLSClientConfig = tc
		return t, t.CloseIdleConnections
	})},
}

// BenchmarkCaddyDownload50M: one 50 MiB download at a time on a warm
// client: MiB/s and the client's CPU (user+system) per MiB.
func BenchmarkCaddyDownload50M(b *testing.B) {
	srv := benchCaddy(b)
	for _, c := range benchClients {
		b.Run(c.name, func(b *testing.B) {
			fetch, closeFn := c.new(srv)
			defer closeFn()
			ctx := context.Background()
			if _, err := fetch(ctx, srv.URL+"/small.txt", io.Discard); err != nil { // warm
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			start, cpu0 := time.Now(), cpuTime()
			for range b.N {
				n, err := fetch(ctx, srv.URL+"/blob50", io.Discard)
				if err != nil {
					b.Fatal(err)
				}
				if n != blob50 {
					b.Fatalf("read %d bytes", n)
				}
			}
			elapsed, cpu := time.Since(start), cpuTime()-cpu0
			b.StopTimer()
			mib := float64(blob50) * float64(b.N) / (1 << 20)
			b.ReportMetric(mib/elapsed.Seconds(), "MiB/s")
			b.ReportMetric(float64(cpu.Microseconds())/mib, "cpu-µs/MiB")
		})
	}
}

// BenchmarkCaddyColdTTFB: a new client per op fetches 2 KiB: the time to
// the first byte of the body on a cold connection (handshake included).
func BenchmarkCaddyColdTTFB(b *testing.B) {
	srv := benchCaddy(b)
	for _, c := range benchClients {
		b.Run(c.name, func(b *testing.B) {
			ctx := context.Background()
			var ttfb time.Duration
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				fetch, closeFn := c.new(srv)
				fw := &firstByte{start: time.Now()}
				if _, err := fetch(ctx, srv.URL+"/small.txt", fw); err != nil {
					b.Fatal(err)
				}
				ttfb += fw.at
				closeFn()
			}
			b.ReportMetric(float64(ttfb.Microseconds())/float64(b.N), "ttfb-µs")
		})
	}
}

// firstByte records when its first write came.
type firstByte struct {
	start time.Time
	at    time.Duration
}

func (w *firstByte) Write(p []byte) (int, error) {
	if w.at == 0 {
		w.at = time.Since(w.start)
	}
	return len(p), nil
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
