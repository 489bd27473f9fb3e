package reqivo

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fanout is the number of GETs one benchmark iteration sends.
const fanout = 1000

// BenchmarkFanout sends 1,000 GETs to a local server per iteration, all
// on one session: with futures (async), and with plain goroutines and a
// sync.WaitGroup (waitgroup), each at the default bound of 64 requests in
// flight and unbounded (1,000 in flight). "pergoroutine" is the design
// async.go does not use, kept to measure it: a goroutine per request
// blocked on a semaphore channel.
func BenchmarkFanout(b *testing.B) {
	srv := setupServer(b, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok")
	})
	benchFanout(b, WithBaseURL(srv.URL))
}

// BenchmarkFanoutInProcess is BenchmarkFanout with a transport that
// answers in process: no sockets, so the cost of the futures themselves
// stands out from the noise of the loopback network.
func BenchmarkFanoutInProcess(b *testing.B) {
	benchFanout(b, WithBaseURL("http://bench.test"), WithTransport(okTransport{}))
}

type okTransport struct{}

func (okTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	return &http.Response{
		StatusCode: http.StatusOK, Status: "200 OK",
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{"Content-Type": {"text/plain"}}, ContentLength: 2,
		Body: io.NopCloser(strings.NewReader("ok")), Request: req,
	}, nil
}

func benchFanout(b *testing.B, opts ...Option) {
	for _, limit := range []int{DefaultMaxConcurrency, fanout} {
		suffix := "/" + strconv.Itoa(limit)
		b.Run("async"+suffix, func(b *testing.B) {
			a, err := NewAsyncSession(append(opts, WithMaxConcurrency(limit))...)
			if err != nil {
				b.Fatal(err)
			}
			defer a.Close()
			fs := make([]*Future, fanout)
			runFanout(b, func() {
				for i := range fs {
					fs[i] = a.Get(context.Background(), "/")
				}
				for _, f := range fs {
					if _, err := f.Wait(); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
		b.Run("waitgroup"+suffix, func(b *testing.B) {
			s := newTestSession(b, opts...)
			sem := make(chan struct{}, limit)
			rs := make([]*Response, fanout)
			errs := make([]error, fanout)
			runFanout(b, func() {
				var wg sync.WaitGroup
				for i := range fanout {
					wg.Add(1)
					sem <- struct{}{}
					go func() {
						defer wg.Done()
						rs[i], errs[i] = s.Get(context.Background(), "/")
						<-sem
					}()
				}
				wg.Wait()
				for _, err := range errs {
					if err != nil {
						b.Fatal(err)
					}
				}
			})
		})
		b.Run("pergoroutine"+suffix, func(b *testing.B) {
			s := newTestSession(b, opts...)
			sem := make(chan struct{}, limit)
			fs := make([]*Future, fanout)
			runFanout(b, func() {
				for i := range fs {
					f := &Future{done: make(chan struct{})}
					fs[i] = f
					go func() {
						ctx := context.Background()
						select {
						case sem <- struct{}{}:
						case <-ctx.Done():
						}
						resp, err := s.Get(ctx, "/")
						<-sem
						f.resp, f.err = resp, err
						close(f.done)
					}()
				}
				for _, f := range fs {
					if _, err := f.Wait(); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

func runFanout(b *testing.B, iteration func()) {
	b.ReportAllocs()
	var cpu time.Duration
	for b.Loop() {
		start := processCPU()
		iteration()
		cpu += processCPU() - start
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*fanout), "ns/req")
	// CPU time used by the process per request: less sensitive than wall
	// time to other processes sharing the machine.
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*fanout), "cpu-ns/req")
}
