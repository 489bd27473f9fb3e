package bench

// Retry storms: a host that fails every request (503) while callers keep
// coming at a fixed rate, served by at most 64 goroutines at once. What
// the host gets, in attempts per request, without a retry budget, with
// the default one, and with a circuit breaker. See BENCHMARKS.md.

import (
	"context"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reqivo/reqivo"
)

const (
	stormWorkers = 64
	stormRate    = 100 // requests a second offered
)

// stormDuration is how long the host fails: $STORM_SECONDS (the figures
// use 10), or 0.3 s so that the smoke run stays fast.
func stormDuration(b *testing.B) time.Duration {
	if v := os.Getenv("STORM_SECONDS"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f <= 0 {
			b.Fatalf("bad STORM_SECONDS %q", v)
		}
		return time.Duration(f * float64(time.Second))
	}
	return 300 * time.Millisecond
}

func BenchmarkRetryStorm(b *testing.B) {
	retry := reqivo.WithRetry(reqivo.RetryPolicy{MaxAttempts: 4}) // default waits: 100 ms doubling, full jitter
	noBudget := reqivo.WithRetryBudget(reqivo.RetryBudget{Ratio: math.Inf(1)})
	breaker := reqivo.WithCircuitBreaker(reqivo.CircuitBreaker{Failures: 5, Cooldown: 30 * time.Second})
	cases := []struct {
		name string
		opts []reqivo.Option
	}{
		{"no-retries", nil},
		{"retries-no-budget", []reqivo.Option{retry, noBudget}},
		{"retries-default-budget", []reqivo.Option{retry}},
		{"retries-no-budget-breaker", []reqivo.Option{retry, noBudget, breaker}},
		{"retries-default-budget-breaker", []reqivo.Option{retry, breaker}},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			var hits atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				hits.Add(1)
				w.WriteHeader(http.StatusServiceUnavailable)
			}))
			defer srv.Close()
			s, err := reqivo.NewSession(tc.opts...)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			d := stormDuration(b)

			// One request every 1/stormRate s, to the first of 64 workers
			// free; none free: the request is shed.
			work := make(chan struct{})
			var sent, shed atomic.Int64
			var wg sync.WaitGroup
			for range stormWorkers {
				wg.Go(func() {
					for range work {
						resp, err := s.Get(context.Background(), srv.URL)
						if err == nil {
							resp.Close()
						}
					}
				})
			}
			b.ResetTimer()
			tick := time.NewTicker(time.Second / stormRate)
			end := time.After(d)
		loop:
			for {
				select {
				case <-tick.C:
					select {
					case work <- struct{}{}:
						sent.Add(1)
					default:
						shed.Add(1)
					}
				case <-end:
					break loop
				}
			}
			tick.Stop()
			close(work)
			wg.Wait()
			b.StopTimer()
			st := s.Stats()
			n := float64(max(sent.Load(), 1))
			b.ReportMetric(float64(hits.Load())/n, "attempts/req")
			b.ReportMetric(float64(hits.Load())/d.Seconds(), "host-attempts/s")
			b.ReportMetric(float64(shed.Load()), "shed")
			b.ReportMetric(float64(st.RetryBudgetRefused)/n, "budget-refused/req")
			b.ReportMetric(float64(st.CircuitRejected)/n, "breaker-rejected/req")
		})
	}
}
