// Observing: the one seam through which a session reports what its
// requests do (each logical request, each attempt on the wire, retries,
// redirects, and the notices of the features around them) to WithLogger,
// to Timings and to any Observer, such as the OpenTelemetry one of module
// github.com/reqivo/reqivo/otel.

package reqivo

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Observer watches the requests of a session. Each field may be nil; a
// session with no Observer (and no WithLogger, WithTrace or Trace) pays
// nothing for the seam.
//
// The session calls the funcs at fixed points of a request, in this order:
// RequestStart; for each physical request (each attempt, of each redirect
// hop) AttemptStart then AttemptEnd; Retry after an attempt the retry
// policy retries (or would, but gives up on); Redirect between two hops;
// Notice whenever a feature has something to say; RequestEnd last. A
// WebSocket handshake reports its attempt only.
//
// What the funcs get never holds a credential: URLs are redacted as by
// RedactURL, headers are seen through Headers, and errors are the
// session's own, which redact their URLs (all but Notice.Err: see there).
// The funcs run on the goroutine of the request, except AttemptEnd of a
// streamed response, which runs on the goroutine that reads its body to
// the end or closes it. They must not block: the request waits for them.
type Observer struct {
	// RequestStart is called when a logical request has been prepared
	// (headers merged, OnRequest hooks run) and is about to be sent. A
	// request refused before that reports nothing. The context it returns
	// (ctx itself if it has nothing to add) is the request's from then
	// on: its attempts, and the funcs of its later events, get it or a
	// context derived from it.
	RequestStart func(ctx context.Context, r RequestInfo) context.Context

	// RequestEnd is called when the request returns its Response or its
	// error. For a Stream request that is when the Response is returned,
	// its body still open.
	RequestEnd func(ctx context.Context, r RequestDone)

	// AttemptStart is called before a physical request goes on the wire.
	// add starts empty each time: headers set in it are added to the
	// attempt (trace context propagation); a value with CR, LF or NUL
	// makes the attempt fail with ErrInvalidHeader, nothing sent. The
	// context it returns is the attempt's: the transport and AttemptEnd
	// get it.
	AttemptStart func(ctx context.Context, a AttemptInfo, add http.Header) context.Context

	// AttemptEnd is called once per AttemptStart, when the attempt ends:
	// when its body has been read to the end or closed, at once when it
	// failed or has no body.
	AttemptEnd func(ctx context.Context, a AttemptDone)

	// Retry is called when the retry policy retries an attempt, before
	// the wait, or when it gives up on one it would retry (GivenUp).
	Retry func(ctx context.Context, r RetryInfo)

	// Redirect is called when a redirect is followed, after the response
	// that asked for it has ended and before the next hop starts.
	Redirect func(ctx context.Context, r RedirectInfo)

	// Notice is called for the events of features around the request
	// (cache, rate limit, circuit breaker); see NoticeKind.
	Notice func(ctx context.Context, n Notice)
}

// WithObserver adds o to the session's observers; several may be added,
// and they are called in the order given (WithLogger's among them, where
// it was given). A WithObserver with every field nil adds nothing.
func WithObserver(o Observer) Option {
	return func(c *config) error {
		if o.RequestStart == nil && o.RequestEnd == nil && o.AttemptStart == nil && o.AttemptEnd == nil &&
			o.Retry == nil && o.Redirect == nil && o.Notice == nil {
			return nil
		}
		c.observers = append(c.observers, o)
		return nil
	}
}

// RequestInfo says which request an event is about.
type RequestInfo struct {
	Method string
	// URL is the request's URL redacted as by RedactURL.
	URL string
	// Scheme is "http" or "https"; Host the host name or IP address,
	// without brackets; Port the port, explicit or the scheme's default.
	Scheme string
	Host   string
	Port   int
}

// requestInfo describes a request to method u.
func requestInfo(method string, u *url.URL) RequestInfo {
	ri := RequestInfo{Method: method, URL: redactURL(u), Scheme: u.Scheme, Host: u.Hostname()}
	if p := u.Port(); p != "" {
		ri.Port, _ = strconv.Atoi(p)
	} else if u.Scheme == "https" {
		ri.Port = 443
	} else {
		ri.Port = 80
	}
	return ri
}

// RequestDone is how a logical request ended.
type RequestDone struct {
	// RequestInfo is the final hop's request.
	RequestInfo
	// StatusCode is the final response's status; 0 when Err is set.
	StatusCode int
	// Attempts is how many times the final hop was sent; Redirects how
	// many redirects were followed; Resends how many physical requests
	// were sent after the first, retries and redirects included.
	Attempts, Redirects, Resends int
	// Elapsed runs from the call to its return.
	Elapsed time.Duration
	// Err is the error the request returned: a *RequestError.
	Err error
}

// AttemptInfo says which physical request an event is about.
type AttemptInfo struct {
	RequestInfo
	// Attempt is the number of this try of the hop, from 1; Hop the
	// redirect hop, from 0; Resends the number of physical requests of the
	// logical one sent before this one (OpenTelemetry's
	// http.request.resend_count).
	Attempt, Hop, Resends int
	// Hedge reports a hedged copy of the try (WithHedging): sent because
	// the try's first copy had no response headers after Hedge.Delay. The
	// copies of one try share its Attempt number.
	Hedge bool
}

// AttemptDone is how a physical request ended.
type AttemptDone struct {
	AttemptInfo
	// StatusCode is the response's status; 0 when Err is set and no
	// response came.
	StatusCode int
	// Proto is the response's protocol, "HTTP/1.1" or "HTTP/2.0"; "" when
	// no response came.
	Proto string
	// Err is the attempt's error, matching one of the kinds in errors.go:
	// the round trip failed, or the body broke off while read. nil when
	// the body was read to the end or closed early by the reader.
	Err error
	// Bytes is how many body bytes were read, as they came on the wire
	// (before any decompression).
	Bytes int64
	// Timings are the attempt's phases: Total is its duration, from
	// AttemptStart to its end, and ConnReused is always set; DNS, Connect,
	// TLS and TimeToFirstByte are measured only for a session with
	// WithTrace or a request with Trace (they cost a few allocations).
	Timings Timings
	// GotConn reports whether the attempt got a connection (when it did
	// not, Timings.ConnReused means nothing).
	GotConn bool
	// RequestHeader and ResponseHeader are the headers sent and received
	// (ResponseHeader is empty when no response came). They are valid
	// only during the call.
	RequestHeader, ResponseHeader Headers
}

// RetryInfo is a retry of an attempt, or the policy giving up on one.
type RetryInfo struct {
	AttemptInfo
	// StatusCode is the status of the retried attempt, or 0 with Err.
	StatusCode int
	Err        error
	// Wait is the wait before the next attempt (0 when GivenUp).
	Wait time.Duration
	// GivenUp reports that the policy would retry, but the wait is not to
	// be had (a Retry-After over MaxWait, a deadline too close): the
	// attempt's response is the answer, and Reason says why.
	GivenUp bool
	Reason  string
}

// RedirectInfo is a redirect followed, from the hop that asked for it to
// the next one.
type RedirectInfo struct {
	// From is the request that got the redirect; StatusCode its status.
	From       RequestInfo
	StatusCode int
	// To is the next hop's request; Hop its number, from 1.
	To  RequestInfo
	Hop int
	// Dropped names the headers with credentials the next hop does not
	// carry (its origin differs, or the chain left the first one), sorted.
	Dropped []string
}

// NoticeKind is what a Notice reports. Features add kinds as they land;
// an Observer should ignore the kinds it does not know.
type NoticeKind int

// The kinds of Notice.
const (
	NoticeCacheHit         NoticeKind = iota + 1 // answered from the cache, nothing sent
	NoticeCacheMiss                              // not in the cache (or not usable): sent
	NoticeCacheRevalidated                       // a stored response confirmed by a 304
	NoticeCacheStale                             // a stale stored response served
	NoticeRateLimitWait                          // waited Wait for the host's rate limit
	NoticeBreakerOpen                            // the host's circuit breaker opened
	NoticeBreakerHalfOpen                        // the breaker lets a probe through
	NoticeBreakerClosed                          // the breaker closed again
	NoticeBreakerRejected                        // refused by the open breaker, nothing sent
	NoticeRetryBudget                            // a retry or hedge refused by the host's retry budget, not sent
	NoticeCacheError                             // the cache's store failed, or held a corrupt entry (Err says which)
	NoticeRateStoreError                         // the RateStore failed: the host's local bucket was used (Err says why)
)

var noticeNames = [...]string{
	NoticeCacheHit:         "cache_hit",
	NoticeCacheMiss:        "cache_miss",
	NoticeCacheRevalidated: "cache_revalidated",
	NoticeCacheStale:       "cache_stale",
	NoticeRateLimitWait:    "rate_limit_wait",
	NoticeBreakerOpen:      "breaker_open",
	NoticeBreakerHalfOpen:  "breaker_half_open",
	NoticeBreakerClosed:    "breaker_closed",
	NoticeBreakerRejected:  "breaker_rejected",
	NoticeRetryBudget:      "retry_budget",
	NoticeCacheError:       "cache_error",
	NoticeRateStoreError:   "rate_store_error",
}

// String is the kind's name in snake case, as "cache_hit".
func (k NoticeKind) String() string {
	if k > 0 && int(k) < len(noticeNames) {
		return noticeNames[k]
	}
	return "notice_" + strconv.Itoa(int(k))
}

// Notice is an event of a feature around the request.
type Notice struct {
	Kind NoticeKind
	// RequestInfo is the request concerned; the session fills it in.
	RequestInfo
	// Wait is how long the request waited, for the kinds that wait.
	Wait time.Duration
	// Detail is a short text for people, never a secret.
	Detail string
	// Err is the failure, for the kinds that report one (NoticeCacheError,
	// NoticeRateStoreError); nil otherwise. It is the store's error as the
	// store returned it, for errors.Is and errors.As: its message is the
	// store's, and may quote a URL with its credentials, so an observer
	// that exports it redacts it (WithLogger and reqivootel replace the
	// URLs in it as RedactURL does).
	Err error
}
