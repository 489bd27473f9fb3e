// Command async walks through the async patterns of the Reqivo guide with
// an AsyncSession, against a go-httpbin started inside this process on
// 127.0.0.1: gather over one session, gather that collects errors, a
// request in the background, a limit on requests in flight, and timeouts
// with a context. It prints what each step got and exits non-zero if any
// step does not get what the guide promises.
//
//	go run ./examples/async
package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/reqivo/reqivo"
	"github.com/reqivo/reqivo/examples/internal/tour"
)

func main() {
	tour.Main("async", []tour.Step{
		{Name: "gather over one session", Run: gatherOneSession},
		{Name: "gather collecting errors", Run: gatherErrors},
		{Name: "background request", Run: backgroundRequest},
		{Name: "concurrency limit", Run: concurrencyLimit},
		{Name: "timeout with context", Run: timeoutWithContext},
		{Name: "gather with a deadline", Run: gatherDeadline},
		{Name: "cancel a queued request", Run: cancelQueued},
	})
}

// newSession returns an async session on base; the caller closes it with
// closeInto so that an error from Close fails the step.
func newSession(base string, opts ...reqivo.Option) (*reqivo.AsyncSession, error) {
	return reqivo.NewAsyncSession(append([]reqivo.Option{reqivo.WithBaseURL(base)}, opts...)...)
}

// closeInto closes a and keeps its error in *err unless *err is set.
func closeInto(a *reqivo.AsyncSession, err *error) {
	if cerr := a.Close(); cerr != nil && *err == nil {
		*err = fmt.Errorf("close: %w", cerr)
	}
}

// argOf returns the value of query parameter key echoed by httpbin's /get.
func argOf(r *reqivo.Response, key string) (string, error) {
	var body struct {
		Args map[string][]string `json:"args"`
	}
	if err := r.JSON(&body); err != nil {
		return "", err
	}
	return strings.Join(body.Args[key], ","), nil
}

// Gather over one session: five GETs at once, results in the order asked.
// Python's asyncio.gather(*[s.get(u) for u in urls]), in Go.
func gatherOneSession(ctx context.Context, base string) (_ string, err error) {
	a, err := newSession(base)
	if err != nil {
		return "", err
	}
	defer closeInto(a, &err)
	var fs []*reqivo.Future
	for i := range 5 {
		fs = append(fs, a.Get(ctx, "/get", reqivo.Query("i", strconv.Itoa(i))))
	}
	resps, err := reqivo.Gather(ctx, fs...)
	if err != nil {
		return "", err
	}
	var got []string
	for i, r := range resps {
		v, err := argOf(r, "i")
		if err != nil {
			return "", err
		}
		if v != strconv.Itoa(i) {
			return "", fmt.Errorf("response %d echoed i=%q", i, v)
		}
		got = append(got, v)
	}
	if n := a.Stats().ConnsOpened; n > 5 {
		return "", fmt.Errorf("%d connections for 5 requests", n)
	}
	return fmt.Sprintf("5 GETs in order, i=%s, %d requests on the wire", strings.Join(got, ","), a.Stats().Requests), nil
}

// Gather that collects errors (asyncio.gather(..., return_exceptions=True)):
// every request runs; the failed ones give nil and their errors are joined.
// An error status is a response, not a failure.
func gatherErrors(ctx context.Context, base string) (_ string, err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	refused := "http://" + ln.Addr().String() + "/"
	if err := ln.Close(); err != nil {
		return "", err
	}
	a, err := newSession(base)
	if err != nil {
		return "", err
	}
	defer closeInto(a, &err)
	resps, gerr := reqivo.Gather(ctx,
		a.Get(ctx, "/get"),
		a.Get(ctx, "ftp://127.0.0.1/file"),
		a.Get(ctx, refused),
		a.Get(ctx, "/status/503"),
	)
	if gerr == nil {
		return "", errors.New("no error from two failing requests")
	}
	switch {
	case resps[0] == nil || resps[0].StatusCode != http.StatusOK:
		return "", fmt.Errorf("GET /get: %v", resps[0])
	case resps[1] != nil || resps[2] != nil:
		return "", errors.New("a failed request has a response")
	case !errors.Is(gerr, reqivo.ErrInvalidURL):
		return "", fmt.Errorf("want ErrInvalidURL in %w", gerr)
	case !errors.Is(gerr, reqivo.ErrNetwork):
		return "", fmt.Errorf("want ErrNetwork in %w", gerr)
	case resps[3] == nil || resps[3].StatusCode != http.StatusServiceUnavailable:
		return "", fmt.Errorf("GET /status/503: %v", resps[3])
	}
	var herr *reqivo.HTTPError
	if !errors.As(resps[3].Err(), &herr) {
		return "", errors.New("503 response has no *HTTPError")
	}
	return fmt.Sprintf("200, ErrInvalidURL, ErrNetwork, %s (a response: %s)",
		resps[3].Status, strings.TrimPrefix(herr.Error(), "reqivo: ")), nil
}

// A request in the background (asyncio.create_task): start it, do other
// work, then wait for it.
func backgroundRequest(ctx context.Context, base string) (_ string, err error) {
	a, err := newSession(base)
	if err != nil {
		return "", err
	}
	defer closeInto(a, &err)
	slow := a.Get(ctx, "/delay/0.2")
	polls := 0
	for done := false; !done; {
		select {
		case <-slow.Done():
			done = true
		case <-time.After(20 * time.Millisecond):
			polls++ // other work while the request runs
		}
	}
	resp, err := slow.Wait()
	if err != nil {
		return "", err
	}
	if !resp.OK() {
		return "", fmt.Errorf("GET /delay/0.2: %s", resp.Status)
	}
	if polls == 0 {
		return "", errors.New("the request blocked the caller")
	}
	again, err := slow.Wait() // any number of times, the same result
	if err != nil || again != resp {
		return "", errors.New("second Wait differs")
	}
	return fmt.Sprintf("GET /delay/0.2 -> %s after %d rounds of other work", resp.Status, polls), nil
}

// A limit on requests in flight (asyncio.Semaphore(3)): nine slow requests,
// never more than three on the wire, as counted by a middleware.
func concurrencyLimit(ctx context.Context, base string) (_ string, err error) {
	const limit, n = 3, 9
	const delay = 100 * time.Millisecond
	var cur, peak atomic.Int64
	count := func(next http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			c := cur.Add(1)
			defer cur.Add(-1)
			for p := peak.Load(); c > p && !peak.CompareAndSwap(p, c); p = peak.Load() {
			}
			return next.RoundTrip(r)
		})
	}
	a, err := newSession(base, reqivo.WithMaxConcurrency(limit), reqivo.WithMiddleware(count))
	if err != nil {
		return "", err
	}
	defer closeInto(a, &err)
	start := time.Now()
	var fs []*reqivo.Future
	for range n {
		fs = append(fs, a.Get(ctx, "/delay/"+delay.String()))
	}
	if _, err := reqivo.Gather(ctx, fs...); err != nil {
		return "", err
	}
	elapsed := time.Since(start)
	if p := peak.Load(); p < 1 || p > limit {
		return "", fmt.Errorf("peak of %d requests in flight, limit %d", p, limit)
	}
	// Three rounds of three at least: a lower bound, whatever the machine.
	if elapsed < n/limit*delay {
		return "", fmt.Errorf("%d requests of %v took %v: more than %d ran at once", n, delay, elapsed, limit)
	}
	return fmt.Sprintf("%d requests, at most %d in flight (limit %d)", n, peak.Load(), limit), nil
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// Timeouts with a context (asyncio.wait_for): the request's context ends
// first and the future resolves with a timeout.
func timeoutWithContext(ctx context.Context, base string) (_ string, err error) {
	a, err := newSession(base)
	if err != nil {
		return "", err
	}
	defer closeInto(a, &err)
	tctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	resp, err := a.Get(tctx, "/delay/5").Wait()
	if err == nil {
		return "", fmt.Errorf("GET /delay/5 with a 100ms context: %s", resp.Status)
	}
	if !errors.Is(err, reqivo.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		return "", fmt.Errorf("want ErrTimeout and context.DeadlineExceeded, got %w", err)
	}
	// The per-request Timeout option does the same without a context.
	_, err = a.Get(ctx, "/delay/5", reqivo.Timeout(100*time.Millisecond)).Wait()
	if !errors.Is(err, reqivo.ErrTimeout) {
		return "", fmt.Errorf("want ErrTimeout from Timeout(100ms), got %v", err)
	}
	return "GET /delay/5 ended by a 100ms context and by Timeout(100ms): ErrTimeout", nil
}

// Gather with a deadline (asyncio.wait(..., timeout=)): Gather stops
// waiting when its context ends, and says so; the requests go on under
// their own contexts until those end.
func gatherDeadline(ctx context.Context, base string) (_ string, err error) {
	a, err := newSession(base)
	if err != nil {
		return "", err
	}
	defer closeInto(a, &err)
	reqCtx, cancelReqs := context.WithCancel(ctx)
	defer cancelReqs()
	fast, slow := a.Get(reqCtx, "/get"), a.Get(reqCtx, "/delay/5")
	if _, err := fast.Wait(); err != nil {
		return "", err
	}
	gctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	resps, gerr := reqivo.Gather(gctx, fast, slow)
	if !errors.Is(gerr, context.DeadlineExceeded) {
		return "", fmt.Errorf("want context.DeadlineExceeded from Gather, got %v", gerr)
	}
	if resps[0] == nil || resps[1] != nil {
		return "", fmt.Errorf("want the fast response only, got %v", resps)
	}
	cancelReqs() // stop the slow one; Close would otherwise wait for it
	if _, err := slow.Wait(); !errors.Is(err, context.Canceled) {
		return "", fmt.Errorf("want context.Canceled from the slow request, got %v", err)
	}
	return fmt.Sprintf("stopped after 100ms with the fast response (%s)", strings.TrimPrefix(gerr.Error(), "reqivo: ")), nil
}

// A request waiting for a slot is not sent if its context ends first.
func cancelQueued(ctx context.Context, base string) (_ string, err error) {
	a, err := newSession(base, reqivo.WithMaxConcurrency(1))
	if err != nil {
		return "", err
	}
	defer closeInto(a, &err)
	busy := a.Get(ctx, "/delay/0.3")
	qctx, cancel := context.WithCancel(ctx)
	queued := a.Get(qctx, "/get")
	cancel()
	if _, err := queued.Wait(); !errors.Is(err, context.Canceled) {
		return "", fmt.Errorf("want context.Canceled from the queued request, got %v", err)
	}
	if _, err := busy.Wait(); err != nil {
		return "", err
	}
	if n := a.Stats().Requests; n != 1 {
		return "", fmt.Errorf("%d requests on the wire, want 1", n)
	}
	return "cancelled while queued, never sent; the running one finished", nil
}
