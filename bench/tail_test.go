package bench

// Tail latency and hedged requests: a server whose p99 is 200 ms (1 % of
// its answers are slow), GETs from 8 goroutines. Each client reports
// p50, p99 and p999 of its requests and the extra load it put on the
// server (copies sent beyond one per request). Every pool keeps 100 idle
// connections per host (Reqivo's 64), so that no client churns
// connections: hedging is what is compared. See BENCHMARKS.md.

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reqivo/reqivo"
	resty3 "resty.dev/v3"
)

const (
	tailSlow      = 200 * time.Millisecond
	tailSlowEvery = 100 // 1 %
	tailWorkers   = 8
	tailHedge     = 10 * time.Millisecond // the hedge delay: well above the fast answers' p99 (~1 ms)
)

// tailServer answers at once, except one answer in tailSlowEvery (drawn
// from a fixed sequence, each arrival a new draw, hedged copies included)
// that waits tailSlow first. It counts the arrivals.
type tailServer struct {
	*httptest.Server
	arrivals atomic.Uint64
}

func newTailServer(b *testing.B) *tailServer {
	ts := &tailServer{}
	ts.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := ts.arrivals.Add(1)
		if splitmix(n)%tailSlowEvery == 0 {
			t := time.NewTimer(tailSlow)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				return
			}
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"id":1,"name":"tail"}`)
	}))
	b.Cleanup(ts.Close)
	return ts
}

// splitmix is SplitMix64: a fixed, well-mixed sequence from a counter.
func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// tailGet is one GET of a client under test, its body read whole.
type tailGet func(ctx context.Context, url string) error

func BenchmarkTailLatency(b *testing.B) {
	clients := []struct {
		name string
		make func(b *testing.B) tailGet
	}{
		{"nethttp", func(*testing.B) tailGet {
			c := &http.Client{Transport: tunedTransport()}
			return func(ctx context.Context, url string) error {
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
				resp, err := c.Do(req)
				if err != nil {
					return err
				}
				_, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				return err
			}
		}},
		{"reqivo", func(b *testing.B) tailGet { return reqivoTailGet(b) }},
		{"reqivo-hedged", func(b *testing.B) tailGet {
			return reqivoTailGet(b, reqivo.WithHedging(reqivo.Hedge{Delay: tailHedge, Max: 2}))
		}},
		{"resty3", func(b *testing.B) tailGet { return resty3TailGet(b, nil) }},
		{"resty3-hedged", func(b *testing.B) tailGet {
			// Its defaults but the delay and the copies: at most 3 hedges
			// a second, by waiting 1/3 s more before each.
			return resty3TailGet(b, resty3.NewHedging().SetDelay(tailHedge).SetMaxRequest(2))
		}},
		{"resty3-hedged-uncapped", func(b *testing.B) tailGet {
			return resty3TailGet(b, resty3.NewHedging().SetDelay(tailHedge).SetMaxRequest(2).SetMaxRequestPerSecond(0))
		}},
	}
	for _, c := range clients {
		b.Run(c.name, func(b *testing.B) {
			ts := newTailServer(b)
			get := c.make(b)
			url := ts.URL + "/tail"
			ctx := context.Background()
			var warm sync.WaitGroup // the pool warm: 4 requests per goroutine
			for range tailWorkers {
				warm.Go(func() {
					for range 4 {
						_ = get(ctx, url)
					}
				})
			}
			warm.Wait()
			ts.arrivals.Store(0)
			lat := make([]time.Duration, b.N)
			var next atomic.Int64
			var failed atomic.Value
			b.ResetTimer()
			var wg sync.WaitGroup
			for range tailWorkers {
				wg.Go(func() {
					for {
						i := next.Add(1) - 1
						if i >= int64(b.N) {
							return
						}
						start := time.Now()
						if err := get(ctx, url); err != nil {
							failed.Store(err)
						}
						lat[i] = time.Since(start)
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			if err, ok := failed.Load().(error); ok {
				b.Fatal(err)
			}
			slices.Sort(lat)
			b.ReportMetric(percentile(lat, 50), "p50-ms")
			b.ReportMetric(percentile(lat, 99), "p99-ms")
			b.ReportMetric(percentile(lat, 99.9), "p999-ms")
			b.ReportMetric(100*(float64(ts.arrivals.Load())/float64(b.N)-1), "extra-load-%")
		})
	}
}

// percentile is the p-th percentile of sorted, in milliseconds.
func percentile(sorted []time.Duration, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := min(int(float64(len(sorted))*p/100), len(sorted)-1)
	return float64(sorted[i]) / float64(time.Millisecond)
}

func reqivoTailGet(b *testing.B, opts ...reqivo.Option) tailGet {
	s, err := reqivo.NewSession(opts...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	return func(ctx context.Context, url string) error {
		resp, err := s.Get(ctx, url)
		if err != nil {
			return err
		}
		return statusErr(resp.StatusCode)
	}
}

func resty3TailGet(b *testing.B, h *resty3.Hedging) tailGet {
	c := resty3.NewWithTransportSettings(&resty3.TransportSettings{MaxIdleConnsPerHost: 100})
	if h != nil {
		c.SetHedging(h)
	}
	b.Cleanup(func() { c.Close() })
	return func(ctx context.Context, url string) error {
		resp, err := c.R().SetContext(ctx).Get(url)
		if err != nil {
			return err
		}
		if resp.StatusCode() != http.StatusOK {
			return fmt.Errorf("status %d", resp.StatusCode())
		}
		return nil
	}
}
