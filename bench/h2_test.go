//go:build linux

// HTTP/2 scenarios against Debian's nginx over TLS (see internal/nginx):
// a cold burst on a new client, a 50 MiB download over h2 and over
// HTTP/1.1-over-TLS, and 64 concurrent 4 MiB downloads over h2 for memory.
// They run with BENCH_H2=1 and skip when nginx is not installed; run.sh
// sets the one and installs the other.
package bench

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/imroc/req/v3"
	"github.com/reqivo/reqivo"
	resty3 "resty.dev/v3"

	"github.com/reqivo/reqivo/bench/internal/nginx"
)

var (
	nginxOnce sync.Once
	nginxSrv  *nginx.Server
	nginxErr  error
)

// nginxServer starts nginx on first use; a stop hook of TestMain stops it.
// The scenarios run only with BENCH_H2=1 (run.sh sets it): a 50 MiB
// download 100 times over, as the smoke run would do, is minutes.
func nginxServer(b *testing.B) *nginx.Server {
	if os.Getenv("BENCH_H2") != "1" {
		b.Skip("set BENCH_H2=1 to run the nginx scenarios (run.sh does)")
	}
	nginxOnce.Do(func() { nginxSrv, nginxErr = nginx.Start() })
	if nginxErr != nil {
		b.Skip(nginxErr)
	}
	return nginxSrv
}

func init() {
	stopHooks = append(stopHooks, func() {
		if nginxSrv != nil {
			nginxSrv.Stop()
		}
	})
}

// h2Client is one library driven over TLS the way its documentation shows.
type h2Client interface {
	// Get reads a small body whole.
	Get(ctx context.Context, url string) error
	// Download streams a body to w and returns its length.
	Download(ctx context.Context, url string, w io.Writer) (int64, error)
	Close()
}

var h2Clients = []struct {
	name string
	new  func(s *nginx.Server) (h2Client, error)
}{
	{"nethttp", newH2NetHTTP},
	{"resty3", newH2Resty3},
	{"req", newH2Req},
	{"reqivo", newH2Reqivo},
	{"curl", newCurl},
}

func h2ClientOrder() []string {
	var names []string
	for _, c := range h2Clients {
		names = append(names, c.name)
	}
	if v := os.Getenv("BENCH_CLIENTS"); v != "" {
		var order []string
		for _, n := range strings.Split(v, ",") {
			for _, c := range h2Clients {
				if c.name == n {
					order = append(order, n)
				}
			}
		}
		return order
	}
	return names
}

func forH2Clients(b *testing.B, fn func(b *testing.B, s *nginx.Server, newClient func() h2Client)) {
	for _, name := range h2ClientOrder() {
		b.Run(name, func(b *testing.B) {
			s := nginxServer(b)
			for _, c := range h2Clients {
				if c.name != name {
					continue
				}
				fn(b, s, func() h2Client {
					cl, err := c.new(s)
					if errors.Is(err, errSkip) {
						b.Skip("not applicable")
					}
					if err != nil {
						b.Fatal(err)
					}
					return cl
				})
			}
		})
	}
}

// ---- net/http ----

type h2NetHTTP struct {
	c *http.Client
	t *http.Transport
}

func newH2NetHTTP(s *nginx.Server) (h2Client, error) {
	t := tunedTransport()
	t.TLSClientConfig = &tls.Config{RootCAs: s.Roots}
	return &h2NetHTTP{c: &http.Client{Transport: t}, t: t}, nil
}

func (n *h2NetHTTP) do(ctx context.Context, url string, w io.Writer) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := n.c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if err := statusErr(resp.StatusCode); err != nil {
		return 0, err
	}
	return io.Copy(w, resp.Body)
}

func (n *h2NetHTTP) Get(ctx context.Context, url string) error {
	_, err := n.do(ctx, url, io.Discard)
	return err
}

func (n *h2NetHTTP) Download(ctx context.Context, url string, w io.Writer) (int64, error) {
	return n.do(ctx, url, w)
}

func (n *h2NetHTTP) Close() { n.t.CloseIdleConnections() }

// ---- resty v3 ----

type h2Resty3 struct{ c *resty3.Client }

func newH2Resty3(s *nginx.Server) (h2Client, error) {
	return h2Resty3{resty3.New().SetTLSClientConfig(&tls.Config{RootCAs: s.Roots})}, nil
}

func (r h2Resty3) Get(ctx context.Context, url string) error {
	resp, err := r.c.R().SetContext(ctx).Get(url)
	if err != nil {
		return err
	}
	return statusErr(resp.StatusCode())
}

func (r h2Resty3) Download(ctx context.Context, url string, w io.Writer) (int64, error) {
	resp, err := r.c.R().SetContext(ctx).SetResponseDoNotParse(true).Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if err := statusErr(resp.StatusCode()); err != nil {
		return 0, err
	}
	return io.Copy(w, resp.Body)
}

func (r h2Resty3) Close() { r.c.Close() }

// ---- req v3 ----

type h2Req struct{ c *req.Client }

func newH2Req(s *nginx.Server) (h2Client, error) {
	return h2Req{req.C().SetRootCertsFromFile(s.CAFile)}, nil
}

func (r h2Req) Get(ctx context.Context, url string) error {
	resp, err := r.c.R().SetContext(ctx).Get(url)
	if err != nil {
		return err
	}
	return statusErr(resp.StatusCode)
}

func (r h2Req) Download(ctx context.Context, url string, w io.Writer) (int64, error) {
	resp, err := r.c.R().SetContext(ctx).DisableAutoReadResponse().Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if err := statusErr(resp.StatusCode); err != nil {
		return 0, err
	}
	return io.Copy(w, resp.Body)
}

func (r h2Req) Close() { r.c.CloseIdleConnections() }

// ---- reqivo ----

type h2Reqivo struct{ s *reqivo.Session }

func newH2Reqivo(s *nginx.Server) (h2Client, error) {
	sess, err := reqivo.NewSession(reqivo.WithTLSConfig(&tls.Config{RootCAs: s.Roots}))
	if err != nil {
		return nil, err
	}
	return h2Reqivo{sess}, nil
}

func (r h2Reqivo) Get(ctx context.Context, url string) error {
	resp, err := r.s.Get(ctx, url)
	if err != nil {
		return err
	}
	return statusErr(resp.StatusCode)
}

func (r h2Reqivo) Download(ctx context.Context, url string, w io.Writer) (int64, error) {
	resp, err := r.s.Get(ctx, url, reqivo.Stream())
	if err != nil {
		return 0, err
	}
	defer resp.Close()
	if err := statusErr(resp.StatusCode); err != nil {
		return 0, err
	}
	return io.Copy(w, resp.Body)
}

func (r h2Reqivo) Close() { r.s.Close() }

// ---- curl (a process per download: the throughput reference) ----

type curlClient struct{ ca string }

func newCurl(s *nginx.Server) (h2Client, error) {
	if _, err := exec.LookPath("curl"); err != nil {
		return nil, errSkip
	}
	return curlClient{s.CAFile}, nil
}

func (c curlClient) Get(context.Context, string) error { return errSkip }

// Download runs curl; the protocol follows the URL's port (h2 or h1 only).
func (c curlClient) Download(ctx context.Context, url string, _ io.Writer) (int64, error) {
	out, err := exec.CommandContext(ctx, "curl", "-sS", "--http2", "--cacert", c.ca, "-o", "/dev/null",
		"-w", "%{size_download}", url).Output()
	if err != nil {
		return 0, fmt.Errorf("curl: %v", err)
	}
	return strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
}

func (c curlClient) Close() {}

// cpuTimeAll is the user+system CPU of this process and its waited-for
// children (curl).
func cpuTimeAll() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru); err != nil {
		return cpuTime()
	}
	return cpuTime() + time.Duration(ru.Utime.Nano()+ru.Stime.Nano())
}

// BenchmarkH2ColdBurst: a new client sends 64 concurrent GETs of a 2 KiB
// file to the h2 port; an op is the whole burst (client made and closed
// included). conns/burst counts the connections nginx accepted.
func BenchmarkH2ColdBurst(b *testing.B) {
	forH2Clients(b, func(b *testing.B, s *nginx.Server, newClient func() h2Client) {
		url := "https://" + s.H2 + "/small"
		probe := newClient()
		if err := probe.Get(context.Background(), url); errors.Is(err, errSkip) {
			b.Skip("not applicable")
		} else if err != nil {
			b.Fatal(err)
		}
		probe.Close()
		a0, err := s.Accepts()
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			c := newClient()
			if err := runOps(64, 64, func() error { return c.Get(context.Background(), url) }); err != nil {
				b.Fatal(err)
			}
			c.Close()
		}
		b.StopTimer()
		a1, err := s.Accepts()
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(a1-a0-1)/float64(b.N), "conns/burst") // -1: the status request
	})
}

// download measures b.N ops of conc concurrent downloads of size bytes
// from url on one warm client: MiB/s, client CPU per MiB and, with rss, the peak
// RSS of the process while they ran.
func download(b *testing.B, newClient func() h2Client, url string, size int64, conc int, rss bool, newWriter func() io.Writer) {
	c := newClient()
	defer c.Close()
	ctx := context.Background()
	op := func() error {
		n, err := c.Download(ctx, url, newWriter())
		if err == nil && n != size {
			err = fmt.Errorf("read %d bytes, want %d", n, size)
		}
		return err
	}
	if err := runOps(conc, conc, op); err != nil { // warm-up, connections made
		b.Fatal(err)
	}
	if rss {
		runtime.GC()
		debug.FreeOSMemory()
		resetPeakRSS()
	}
	b.ReportAllocs()
	b.ResetTimer()
	start, cpu0 := time.Now(), cpuTimeAll()
	err := runOps(conc, b.N*conc, op)
	elapsed, cpu := time.Since(start), cpuTimeAll()-cpu0
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	mib := float64(size) * float64(b.N*conc) / (1 << 20)
	b.ReportMetric(mib/elapsed.Seconds(), "MiB/s")
	b.ReportMetric(float64(cpu.Microseconds())/mib, "cpu-µs/MiB")
	if rss {
		b.ReportMetric(float64(peakRSS())/(1<<20), "peak-RSS-MiB")
	}
}

// BenchmarkH2Download50M: one 50 MiB download at a time on a warm client
// over h2.
func BenchmarkH2Download50M(b *testing.B) {
	forH2Clients(b, func(b *testing.B, s *nginx.Server, newClient func() h2Client) {
		download(b, newClient, "https://"+s.H2+"/blob50", nginx.Blob50Size, 1, false, discard)
	})
}

// BenchmarkH1TLSDownload50M: the same over HTTP/1.1 over TLS.
func BenchmarkH1TLSDownload50M(b *testing.B) {
	forH2Clients(b, func(b *testing.B, s *nginx.Server, newClient func() h2Client) {
		download(b, newClient, "https://"+s.H1+"/blob50", nginx.Blob50Size, 1, false, discard)
	})
}

// BenchmarkH2Streams64: 64 concurrent 4 MiB downloads over h2 (one
// connection for Reqivo and net/http): memory per window.
func BenchmarkH2Streams64(b *testing.B) {
	forH2Clients(b, func(b *testing.B, s *nginx.Server, newClient func() h2Client) {
		if strings.HasPrefix(b.Name(), "BenchmarkH2Streams64/curl") {
			b.Skip("not applicable")
		}
		download(b, newClient, "https://"+s.H2+"/blob4", nginx.Blob4Size, 64, true, discard)
	})
}

// BenchmarkH2Stalled64: the same, but each reader stops for 1 s after
// its first read, so the server fills the receive windows: peak RSS shows
// what the client buffers per connection.
func BenchmarkH2Stalled64(b *testing.B) {
	forH2Clients(b, func(b *testing.B, s *nginx.Server, newClient func() h2Client) {
		if strings.HasPrefix(b.Name(), "BenchmarkH2Stalled64/curl") {
			b.Skip("not applicable")
		}
		download(b, newClient, "https://"+s.H2+"/blob4", nginx.Blob4Size, 64, true, func() io.Writer { return &stallWriter{d: time.Second} })
	})
}

func discard() io.Writer { return io.Discard }

// stallWriter sleeps d before its second write.
type stallWriter struct {
	d time.Duration
	n int
}

func (w *stallWriter) Write(p []byte) (int, error) {
	if w.n++; w.n == 2 {
		time.Sleep(w.d)
	}
	return len(p), nil
}

// resetPeakRSS resets the kernel's peak RSS (VmHWM) of this process.
func resetPeakRSS() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// peakRSS is VmHWM in bytes, or 0 if unknown.
func peakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				n, _ := strconv.ParseInt(f[0], 10, 64)
				return n << 10
			}
		}
	}
	return 0
}
