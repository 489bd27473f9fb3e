package bench

// The cost of Reqivo's HTTP cache: a hit (memory, disk) against a loopback
// request, and what a miss adds to a request without a cache. Sequential,
// one request at a time: latency, not throughput.

import (
	"context"
	"strconv"
	"testing"

	"github.com/reqivo/reqivo"
)

func BenchmarkCache(b *testing.B) {
	data, _ := serverAddrs(b)
	origin := "http://" + data
	disk := func(b *testing.B) reqivo.Cache {
		c, err := reqivo.NewDiskCache(b.TempDir(), 64<<20)
		if err != nil {
			b.Fatal(err)
		}
		return c
	}
	mem := func(*testing.B) reqivo.Cache { return reqivo.NewMemoryCache(64 << 20) }
	cases := []struct {
		name  string
		cache func(*testing.B) reqivo.Cache // nil: no cache
		miss  bool                          // a new URI every request
		path  string                        // "": /cached
	}{
		{"loopback-no-cache", nil, false, ""},
		{"loopback-no-cache-new-uri", nil, true, ""}, // the baseline of the miss
		{"miss-memory", mem, true, ""},
		{"hit-memory", mem, false, ""},
		{"hit-disk", disk, false, ""},
		// Each request revalidated: a 304 and the stored body. Its
		// baseline is loopback-no-cache, the same body sent whole.
		{"revalidate-memory", mem, false, "/revalidate"},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			var opts []reqivo.Option
			if tc.cache != nil {
				opts = append(opts, reqivo.WithCache(tc.cache(b)))
			}
			s, err := reqivo.NewSession(opts...)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			ctx := context.Background()
			url := origin + "/cached"
			if tc.path != "" {
				url = origin + tc.path
			}
			for range 4 { // warm the pool, and the cache for the hits
				if _, err := s.Get(ctx, url); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cpuTime()
			for i := 0; i < b.N; i++ {
				u := url
				if tc.miss {
					u = url + "?i=" + strconv.Itoa(i)
				}
				r, err := s.Get(ctx, u)
				if err != nil {
					b.Fatal(err)
				}
				if len(r.Bytes()) == 0 {
					b.Fatal("empty body")
				}
			}
			cpu := cpuTime() - cpu0
			b.StopTimer()
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
			if tc.cache != nil && !tc.miss {
				if st := s.Stats(); st.CacheHits+st.CacheRevalidations < int64(b.N) {
					b.Fatalf("%d hits and %d revalidations for %d requests", st.CacheHits, st.CacheRevalidations, b.N)
				}
			}
		})
	}
}
