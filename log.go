// Logging: one structured record per attempt on the wire, and one per
// retry, with every credential redacted.

package reqivo

import (
	"context"
	"log/slog"
	"strings"
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
		Notice: func(ctx context.Context, n Notice) { logCacheNotice(ctx, l, n) },
	}
}

// logCacheNotice writes the record of a cache notice: at Debug what the
// cache did, at Warn what failed.
func logCacheNotice(ctx context.Context, l *slog.Logger, n Notice) {
	level := slog.LevelDebug
	switch n.Kind {
	case NoticeCacheHit, NoticeCacheMiss, NoticeCacheRevalidated, NoticeCacheStale:
	case NoticeCacheError:
		level = slog.LevelWarn
	default:
		return
	}
	if !l.Enabled(ctx, level) {
		return
	}
	attrs := []slog.Attr{slog.String("method", n.Method), slog.String("url", n.URL), slog.String("detail", n.Detail)}
	if n.Err != nil {
		attrs = append(attrs, slog.String("error", n.Err.Error()))
	}
	l.LogAttrs(ctx, level, "reqivo: "+strings.ReplaceAll(n.Kind.String(), "_", " "), attrs...)
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
