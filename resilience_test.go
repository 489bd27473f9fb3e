package reqivo

import (
	"context"
	"testing"
)

// BenchmarkGuards is the cost per request of the host guards, through a
// transport that answers in process: none (what every session without
// the options pays), a rate limit too high to wait on, breakers, and both.
func BenchmarkGuards(b *testing.B) {
	for _, bc := range []struct {
		name string
		opts []Option
	}{
		{"none", nil},
		{"ratelimit", []Option{WithRateLimit(RateLimit{Rate: 1e12, Burst: 1 << 30})}},
		{"breaker", []Option{WithCircuitBreaker(CircuitBreaker{})}},
		{"both", []Option{WithRateLimit(RateLimit{Rate: 1e12, Burst: 1 << 30}), WithCircuitBreaker(CircuitBreaker{})}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			s, err := NewSession(append([]Option{WithTransport(okTransport{})}, bc.opts...)...)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Get(ctx, "http://bench.test/"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
