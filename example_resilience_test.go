package reqivo_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/reqivo/reqivo"
	"github.com/reqivo/reqivo/reqivotest"
)

// Retries, a rate limit and a circuit breaker together: a host that keeps
// failing is retried, then its breaker opens and later requests fail at
// once without being sent.
func ExampleWithCircuitBreaker() {
	bin := startHTTPBin()
	defer bin.Close()
	s, err := reqivo.NewSession(
		reqivo.WithBaseURL(bin.URL),
		reqivo.WithRetry(reqivo.RetryPolicy{MaxAttempts: 3, MinWait: time.Millisecond, MaxWait: 10 * time.Millisecond}),
		reqivo.WithRateLimit(reqivo.RateLimit{Rate: 100, Burst: 10}),
		reqivo.WithCircuitBreaker(reqivo.CircuitBreaker{Failures: 3, Cooldown: time.Minute}),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()
	ctx := context.Background()

	resp, err := s.Get(ctx, "/status/503") // three attempts, three failures
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(resp.StatusCode)

	_, err = s.Get(ctx, "/status/503") // the cooldown is longer than MaxWait: no retry
	fmt.Println(errors.Is(err, reqivo.ErrCircuitOpen))
	for _, state := range s.Breakers() {
		fmt.Println(state)
	}
	st := s.Stats()
	fmt.Println(st.Requests, st.CircuitRejected)
	// Output:
	// 503
	// true
	// open
	// 3 1
}

// A breaker's cooldown runs on the session's clock: with a virtual one, a
// test moves it on instead of sleeping.
func ExampleCircuitBreaker() {
	bin := startHTTPBin()
	defer bin.Close()
	clk := reqivotest.NewClock()
	s, err := reqivo.NewSession(
		reqivo.WithBaseURL(bin.URL),
		reqivo.WithCircuitBreaker(reqivo.CircuitBreaker{Failures: 1, Cooldown: time.Hour}),
		clk.Option(),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()
	ctx := context.Background()
	state := func() string {
		for _, st := range s.Breakers() {
			return st
		}
		return "none"
	}

	resp, _ := s.Get(ctx, "/status/500")
	fmt.Println(resp.StatusCode, state())
	_, err = s.Get(ctx, "/status/200")
	fmt.Println(errors.Is(err, reqivo.ErrCircuitOpen))
	clk.Advance(time.Hour)
	fmt.Println(state())
	resp, _ = s.Get(ctx, "/status/200") // the probe
	fmt.Println(resp.StatusCode, state())
	// Output:
	// 500 open
	// true
	// half-open
	// 200 closed
}

// A retry budget caps what retries add to a host's load: here no retry at
// all is allowed, so the first answer is returned and the refusal shows in
// Stats.
func ExampleWithRetryBudget() {
	bin := startHTTPBin()
	defer bin.Close()
	s, err := reqivo.NewSession(
		reqivo.WithBaseURL(bin.URL),
		reqivo.WithRetry(reqivo.RetryPolicy{MaxAttempts: 3}),
		reqivo.WithRetryBudget(reqivo.RetryBudget{Ratio: 0, MinPerSecond: 0}),
		reqivotest.InstantWaits(),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()
	resp, err := s.Get(context.Background(), "/status/503")
	if err != nil {
		fmt.Println(err)
		return
	}
	st := s.Stats()
	fmt.Println(resp.StatusCode, resp.Attempts(), st.Requests, st.RetryBudgetRefused)
	// Output: 503 1 1 1
}

// Hedging sends another copy of a GET whose answer is late; the first
// response wins. Hedging(Hedge{}) turns it off for one request.
func ExampleWithHedging() {
	bin := startHTTPBin()
	defer bin.Close()
	s, err := reqivo.NewSession(
		reqivo.WithBaseURL(bin.URL),
		reqivo.WithHedging(reqivo.Hedge{Delay: 50 * time.Millisecond, Max: 2}),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()
	resp, err := s.Get(context.Background(), "/get", reqivo.Hedging(reqivo.Hedge{}))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(resp.StatusCode, s.Stats().Hedges)
	// Output: 200 0
}
