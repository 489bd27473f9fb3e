// Retries: which attempts are sent again, how long to wait between them
// (exponential backoff with full jitter, Retry-After honoured up to a cap),
// and the clock those waits run on.

package reqivo

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// RetryPolicy says when and how a session retries a request. Each redirect
// hop is retried on its own; every attempt counts in Stats.
type RetryPolicy struct {
	// MaxAttempts is the number of attempts in all, the first included;
	// less than 2 means no retries.
	MaxAttempts int
	// MinWait is the first backoff; each next one doubles, and the wait is
	// drawn at random below it (full jitter). If not set, 100 ms.
	MinWait time.Duration
	// MaxWait caps one wait, a Retry-After included: a server asking for
	// longer ends the retries with its response. If not set, 5 s.
	MaxWait time.Duration
	// Retry decides whether an attempt is retried; resp is nil when err is
	// not. If nil, DefaultRetry. A request whose body cannot be replayed is
	// never retried, whatever Retry says.
	Retry func(req *http.Request, resp *http.Response, err error) bool
}

// Default retry waits.
const (
	DefaultRetryMinWait = 100 * time.Millisecond
	DefaultRetryMaxWait = 5 * time.Second
)

// WithRetry turns retries on. Negative waits, or MinWait over MaxWait, are
// an error. If not set, no request is retried.
func WithRetry(p RetryPolicy) Option {
	return func(c *config) error {
		if p.MinWait < 0 || p.MaxWait < 0 || p.MaxAttempts < 0 {
			return errorf(ErrInvalidOption, "negative value in RetryPolicy")
		}
		if p.MinWait == 0 {
			p.MinWait = DefaultRetryMinWait
		}
		if p.MaxWait == 0 {
			p.MaxWait = DefaultRetryMaxWait
		}
		if p.MinWait > p.MaxWait {
			return errorf(ErrInvalidOption, "RetryPolicy.MinWait over MaxWait")
		}
		if p.Retry == nil {
			p.Retry = DefaultRetry
		}
		c.retry = &p
		return nil
	}
}

// DefaultRetry is the default rule: retry network errors (a connection
// refused, reset or cut off in the middle of the body; not a TLS failure)
// and an attempt's read timeout, and the statuses 429, 502, 503 and 504,
// only for idempotent methods (GET, HEAD, OPTIONS, PUT, DELETE, TRACE) or
// a request carrying an Idempotency-Key header. Nothing is retried once
// the request's context is done: the caller cancelled it or its total
// deadline passed.
func DefaultRetry(req *http.Request, resp *http.Response, err error) bool {
	if errors.Is(err, ErrCircuitOpen) {
		return true // nothing was sent: safe for any method
	}
	if !idempotent(req) {
		return false
	}
	if err != nil {
		if req.Context().Err() != nil {
			return false
		}
		err = classify(nil, err)
		if errors.Is(err, ErrReadTimeout) {
			return true
		}
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return false
		}
		return errors.Is(err, ErrNetwork) && !errors.Is(err, ErrTLS)
	}
	switch resp.StatusCode {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

func idempotent(req *http.Request) bool {
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodPut, http.MethodDelete, http.MethodTrace:
		return true
	}
	_, ok := req.Header["Idempotency-Key"]
	return ok
}

// replayable reports whether req's body can be sent again.
func replayable(req *http.Request) bool {
	return req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
}

// clock is what retries wait on; tests replace it.
type clock struct {
	now    func() time.Time
	sleep  func(ctx context.Context, d time.Duration) error
	jitter func(n int64) int64 // a random number in [0, n)
}

var realClock = clock{now: time.Now, sleep: sleepCtx, jitter: rand.Int64N}

// sleepCtx waits d, or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Attempt is one try of a request that was then retried: what it got back
// and how long the session waited before the next try.
type Attempt struct {
	// StatusCode is the status of the response; 0 when Err is set.
	StatusCode int
	// Err is the error that ended the try, matching one of the kinds in
	// errors.go; nil when a response came back.
	Err error
	// Wait is how long the session waited before the next try.
	Wait time.Duration
}

// backoff is the wait before retry n (1 is the first): a random duration
// below min(MaxWait, MinWait * 2^(n-1)).
func (p *RetryPolicy) backoff(n int, jitter func(int64) int64) time.Duration {
	ceiling := p.MaxWait
	if n < 1 {
		n = 1
	}
	if shift := n - 1; shift < 62 {
		if w := p.MinWait << shift; w > 0 && w>>shift == p.MinWait && w < ceiling {
			ceiling = w
		}
	}
	if ceiling <= 0 {
		return 0
	}
	n64 := int64(ceiling)
	if n64 < math.MaxInt64 {
		n64++ // the draw includes the ceiling
	}
	return time.Duration(jitter(n64))
}

// maxRetryAfter bounds what parseRetryAfter returns, so that no value
// overflows a Duration; anything longer is over every sane MaxWait.
const maxRetryAfter = 1000 * time.Hour

// parseRetryAfter reads a Retry-After value: delay seconds or an HTTP date
// (RFC 9110, 10.2.3). A date in the past is no wait; garbage, negative or
// fractional values are not ok.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if v[0] >= '0' && v[0] <= '9' {
		for i := 0; i < len(v); i++ {
			if v[i] < '0' || v[i] > '9' {
				return 0, false
			}
		}
		secs, err := strconv.ParseInt(v, 10, 64)
		if err != nil || secs > int64(maxRetryAfter/time.Second) {
			return maxRetryAfter, true // overflowing: longer than any wait
		}
		return time.Duration(secs) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	d := t.Sub(now)
	if d < 0 {
		return 0, true
	}
	if d > maxRetryAfter {
		d = maxRetryAfter
	}
	return d, true
}
