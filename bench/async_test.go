//go:build async

// The async fan-out benchmark needs reqivo.AsyncSession (API.md "Async"),
// so it builds only with -tags async: go test -tags async -bench Fanout.

package bench

import (
	"context"
	"sync"
	"testing"

	"github.com/reqivo/reqivo"

	"github.com/reqivo/reqivo/bench/internal/fixture"
)

// fanout is how many GETs one op of BenchmarkFanout sends.
const fanout = 1000

// BenchmarkFanout: 1,000 GETs of the JSON object, decoded, through an
// AsyncSession (futures, then Gather) against plain goroutines and a
// WaitGroup on one Session (1,000 in flight), and against 64 workers on
// one Session (64 in flight, as AsyncSession), all at their defaults. One
// op is the whole fan-out; cpu-ns/op is per fan-out too, conns/1k per
// request.
func BenchmarkFanout(b *testing.B) {
	ctx := context.Background()
	b.Run("async", func(b *testing.B) {
		data, _ := serverAddrs(b)
		a, err := reqivo.NewAsyncSession(reqivo.WithBaseURL("http://" + data))
		if err != nil {
			b.Fatal(err)
		}
		defer a.Close()
		op := func() error {
			fs := make([]*reqivo.Future, fanout)
			for i := range fs {
				fs[i] = a.Get(ctx, "json")
			}
			rs, err := reqivo.Gather(ctx, fs...)
			if err != nil {
				return err
			}
			for _, r := range rs {
				var v fixture.Object
				if err := r.JSON(&v); err != nil {
					return err
				}
			}
			return nil
		}
		measure(b, 1, fanout, op, op)
	})
	b.Run("goroutines", func(b *testing.B) {
		data, _ := serverAddrs(b)
		s, err := reqivo.NewSession(reqivo.WithBaseURL("http://" + data))
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		op := func() error {
			errs := make([]error, fanout)
			var wg sync.WaitGroup
			for i := range fanout {
				wg.Go(func() {
					r, err := s.Get(ctx, "json")
					if err == nil {
						var v fixture.Object
						err = r.JSON(&v)
					}
					errs[i] = err
				})
			}
			wg.Wait()
			for _, err := range errs {
				if err != nil {
					return err
				}
			}
			return nil
		}
		measure(b, 1, fanout, op, op)
	})
	// workers64 bounds the goroutines' requests in flight to 64, as
	// AsyncSession does by default: what a careful hand-written fan-out
	// costs.
	b.Run("workers64", func(b *testing.B) {
		data, _ := serverAddrs(b)
		s, err := reqivo.NewSession(reqivo.WithBaseURL("http://" + data))
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		op := func() error {
			return runOps(reqivo.DefaultMaxConcurrency, fanout, func() error {
				r, err := s.Get(ctx, "json")
				if err != nil {
					return err
				}
				var v fixture.Object
				return r.JSON(&v)
			})
		}
		measure(b, 1, fanout, op, op)
	})
}
