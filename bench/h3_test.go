//go:build linux

// HTTP/3 scenarios against Debian's Caddy (see internal/caddy): req's
// HTTP/3 as the peer of reqivoh3, whose own numbers come from the h3
// module's benchmarks (h3/bench_test.go), since req pins a quic-go older
// than reqivoh3's and the two cannot share one module graph. They run
// with BENCH_H3=1 and skip when caddy is not installed.
package bench

import (
	"context"
	"crypto/tls"
	"io"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/imroc/req/v3"
	"github.com/reqivo/reqivo"

	"github.com/reqivo/reqivo/bench/internal/caddy"
)

var (
	caddyOnce sync.Once
	caddySrv  *caddy.Server
	caddyErr  error
)

func caddyServer(b *testing.B) *caddy.Server {
	if os.Getenv("BENCH_H3") != "1" {
		b.Skip("set BENCH_H3=1 to run the Caddy scenarios")
	}
	caddyOnce.Do(func() { caddySrv, caddyErr = caddy.Start() })
	if caddyErr != nil {
		b.Skip(caddyErr)
	}
	return caddySrv
}

func init() {
	stopHooks = append(stopHooks, func() {
		if caddySrv != nil {
			caddySrv.Stop()
		}
	})
}

// h3Clients: req over HTTP/3 and, for a reference in the same run, req
// and Reqivo over HTTP/2.
var h3Clients = []struct {
	name string
	new  func(s *caddy.Server) h2Client
}{
	{"req-h3", func(s *caddy.Server) h2Client {
		// As its documentation shows. With req 3.54 on this Go its QUIC
		// handshake ignores the client's TLS settings (the roots, and
		// even InsecureSkipVerify) and fails with "certificate signed by
		// unknown authority": the scenario then skips (see BENCHMARKS.md).
		return h2Req{req.C().SetRootCertsFromFile(s.CAFile).EnableForceHTTP3()}
	}},
	{"req-h2", func(s *caddy.Server) h2Client { return h2Req{req.C().SetRootCertsFromFile(s.CAFile)} }},
	{"reqivo-h2", func(s *caddy.Server) h2Client {
		sess, err := reqivo.NewSession(reqivo.WithTLSConfig(&tls.Config{RootCAs: s.Roots}), reqivo.WithTimeout(5*time.Minute))
		if err != nil {
			panic(err)
		}
		return h2Reqivo{sess}
	}},
}

// probeH3 skips a client that cannot fetch from Caddy at all.
func probeH3(b *testing.B, s *caddy.Server, newClient func(*caddy.Server) h2Client) {
	c := newClient(s)
	defer c.Close()
	if err := c.Get(context.Background(), s.URL+"/small"); err != nil {
		b.Skipf("does not run here: %v", err)
	}
}

// BenchmarkH3Download50M: one 50 MiB download at a time on a warm client.
func BenchmarkH3Download50M(b *testing.B) {
	for _, c := range h3Clients {
		b.Run(c.name, func(b *testing.B) {
			s := caddyServer(b)
			probeH3(b, s, c.new)
			download(b, func() h2Client { return c.new(s) }, s.URL+"/blob50", caddy.Blob50Size, 1, false, discard)
		})
	}
}

// BenchmarkH3ColdTTFB: a new client per op fetches 2 KiB; the time to the
// first byte of the body, handshake included.
func BenchmarkH3ColdTTFB(b *testing.B) {
	for _, c := range h3Clients {
		b.Run(c.name, func(b *testing.B) {
			s := caddyServer(b)
			probeH3(b, s, c.new)
			var ttfb time.Duration
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				cl := c.new(s)
				w := &firstByteWriter{start: time.Now()}
				if _, err := cl.Download(context.Background(), s.URL+"/small", w); err != nil {
					b.Fatal(err)
				}
				ttfb += w.at
				cl.Close()
			}
			b.ReportMetric(float64(ttfb.Microseconds())/float64(b.N), "ttfb-µs")
		})
	}
}

// firstByteWriter records when its first write came.
type firstByteWriter struct {
	start time.Time
	at    time.Duration
}

func (w *firstByteWriter) Write(p []byte) (int, error) {
	if w.at == 0 {
		w.at = time.Since(w.start)
	}
	return len(p), nil
}

var _ io.Writer = (*firstByteWriter)(nil)
