// Logging: one structured record per attempt on the wire, one per retry
// and one per notice of the features around the request, with every
// credential redacted. The logger is an Observer like any other.

package reqivo

import (
	"context"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/reqivo/reqivo/internal/redact"
)

// redacted replaces a secret in logs, as in RedactURL.
const redacted = "xxxxx"

// WithLogger logs the session's traffic to l: at Debug, one record per
// attempt on the wire (each redirect hop and retry is one), written when
// the attempt ends, that is when its response body is read to the end or
// closed (for a Stream request, when the caller closes it), or when it
// fails; at Warn, one record per retry. A record holds the method, the URL
// redacted as by RedactURL, the status, the duration, the attempt number,
// the body bytes read, whether the connection was reused, and the request
// and response headers with the values of Authorization,
// Proxy-Authorization, Cookie, Set-Cookie, the headers named by
// WithSensitiveHeaders and others that look secret (a name with token, key,
// secret, auth, session, signature ...) redacted. Bodies are never logged.
//
// Each Notice of the features around the request is a record too, with
// its kind, the request's method and URL, and its wait, detail and error
// when it has them (the URLs a store's error quotes redacted as by
// RedactURL): at Debug the cache's hits, misses, revalidations and
// stale answers, the rate limit's waits and the breakers' refusals; at
// Info a breaker probing or closing again; at Warn a breaker opening, a
// retry the budget refused, and the failures of a cache store or a rate
// store (at most one record a second for each of these two, however
// often the store fails).
//
// The logger is an Observer of the session (see WithObserver), called in
// the place of the first WithLogger among the options; a later WithLogger
// replaces its logger. If not set, nothing is logged, and requests pay
// nothing for logging. A nil l is an error.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return errorf(ErrInvalidOption, "nil logger")
		}
		if c.logger == nil {
			c.logSlot = len(c.observers)
			c.observers = append(c.observers, Observer{})
		}
		c.logger = l
		c.observers[c.logSlot] = logObserver(l)
		return nil
	}
}

// logObserver writes the records of WithLogger from the seam's events.
func logObserver(l *slog.Logger) Observer {
	return Observer{
		AttemptEnd: func(ctx context.Context, a AttemptDone) { logAttempt(ctx, l, a) },
		Retry: func(ctx context.Context, r RetryInfo) {
			if r.GivenUp {
				logGiveUp(ctx, l, r)
			} else {
				logRetry(ctx, l, r)
			}
		},
		Notice: (&noticeLog{l: l}).log,
	}
}

// noticeLevels is the level of each kind's record; a kind not listed is
// written at Info.
var noticeLevels = [...]slog.Level{
	NoticeCacheHit:         slog.LevelDebug,
	NoticeCacheMiss:        slog.LevelDebug,
	NoticeCacheRevalidated: slog.LevelDebug,
	NoticeCacheStale:       slog.LevelDebug,
	NoticeRateLimitWait:    slog.LevelDebug,
	NoticeBreakerOpen:      slog.LevelWarn,
	NoticeBreakerHalfOpen:  slog.LevelInfo,
	NoticeBreakerClosed:    slog.LevelInfo,
	NoticeBreakerRejected:  slog.LevelDebug,
	NoticeRetryBudget:      slog.LevelWarn,
	NoticeCacheError:       slog.LevelWarn,
	NoticeRateStoreError:   slog.LevelWarn,
}

// noticeLevel is the level of k's records.
func noticeLevel(k NoticeKind) slog.Level {
	if k > 0 && int(k) < len(noticeLevels) {
		return noticeLevels[k]
	}
	return slog.LevelInfo
}

// noticeLog writes the records of notices. A store that fails fails for
// every request: its records are written at most once a second.
type noticeLog struct {
	l        *slog.Logger
	cacheErr atomic.Int64 // when the last NoticeCacheError record was written (Unix ns)
	rateErr  atomic.Int64 // the same for NoticeRateStoreError
	now      func() int64 // Unix ns; nil: time.Now (tests replace it)
}

func (nl *noticeLog) log(ctx context.Context, n Notice) {
	level := noticeLevel(n.Kind)
	if !nl.l.Enabled(ctx, level) {
		return
	}
	switch n.Kind {
	case NoticeCacheError:
		if !nl.first(&nl.cacheErr) {
			return
		}
	case NoticeRateStoreError:
		if !nl.first(&nl.rateErr) {
			return
		}
	}
	name := n.Kind.String()
	attrs := make([]slog.Attr, 0, 6)
	attrs = append(attrs, slog.String("kind", name))
	if n.Method != "" {
		attrs = append(attrs, slog.String("method", n.Method), slog.String("url", n.URL),
			slog.String("host", net.JoinHostPort(n.Host, strconv.Itoa(n.Port))))
	}
	if n.Wait > 0 {
		attrs = append(attrs, slog.Duration("wait", n.Wait))
	}
	if n.Detail != "" {
		attrs = append(attrs, slog.String("detail", n.Detail))
	}
	if n.Err != nil {
		// A store's error, not one the session made: redact what it quotes.
		attrs = append(attrs, slog.String("error", redact.URLsIn(n.Err.Error(), RedactURL)))
	}
	nl.l.LogAttrs(ctx, level, "reqivo: "+strings.ReplaceAll(name, "_", " "), attrs...)
}

// first reports whether no record of the kind whose last time is *last
// was written in the past second, and takes the second if so.
func (nl *noticeLog) first(last *atomic.Int64) bool {
	now := time.Now().UnixNano()
	if nl.now != nil {
		now = nl.now()
	}
	prev := last.Load()
	return (prev == 0 || now-prev >= int64(time.Second)) && last.CompareAndSwap(prev, now)
}

// logAttempt writes the Debug record of an attempt.
func logAttempt(ctx context.Context, l *slog.Logger, a AttemptDone) {
	if !l.Enabled(ctx, slog.LevelDebug) {
		return
	}
	attrs := make([]slog.Attr, 0, 10)
	attrs = append(attrs,
		slog.String("method", a.Method),
		slog.String("url", a.URL),
		slog.Int("attempt", a.Attempt),
	)
	if a.StatusCode != 0 {
		attrs = append(attrs, slog.Int("status", a.StatusCode))
	}
	attrs = append(attrs,
		slog.Duration("duration", a.Timings.Total),
		slog.Int64("bytes", a.Bytes),
	)
	if a.GotConn {
		attrs = append(attrs, slog.Bool("reused", a.Timings.ConnReused))
	}
	if a.Err != nil {
		attrs = append(attrs, slog.String("error", a.Err.Error()))
	}
	attrs = append(attrs, slog.Any("request_headers", a.RequestHeader))
	if a.StatusCode != 0 {
		attrs = append(attrs, slog.Any("response_headers", a.ResponseHeader))
	}
	l.LogAttrs(ctx, slog.LevelDebug, "reqivo: attempt", attrs...)
}

// logRetry writes the Warn record of a retry.
func logRetry(ctx context.Context, l *slog.Logger, r RetryInfo) {
	if !l.Enabled(ctx, slog.LevelWarn) {
		return
	}
	attrs := []slog.Attr{
		slog.String("method", r.Method),
		slog.String("url", r.URL),
		slog.Int("attempt", r.Attempt),
		slog.Duration("wait", r.Wait),
	}
	if r.StatusCode != 0 {
		attrs = append(attrs, slog.Int("status", r.StatusCode))
	}
	if r.Err != nil {
		attrs = append(attrs, slog.String("error", r.Err.Error()))
	}
	l.LogAttrs(ctx, slog.LevelWarn, "reqivo: retry", attrs...)
}

// logGiveUp writes the Warn record of an attempt the policy would retry
// but does not, and why.
func logGiveUp(ctx context.Context, l *slog.Logger, r RetryInfo) {
	if !l.Enabled(ctx, slog.LevelWarn) {
		return
	}
	l.LogAttrs(ctx, slog.LevelWarn, "reqivo: not retrying",
		slog.String("method", r.Method),
		slog.String("url", r.URL),
		slog.Int("attempt", r.Attempt),
		slog.Int("status", r.StatusCode),
		slog.String("reason", r.Reason),
	)
}
