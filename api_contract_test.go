package reqivo_test

// The public API of /work/shared/API.md, name by name, with the exact
// signatures outside code compiles against. This file only has to compile:
// a rename or a changed signature breaks the build here first.

import (
	"context"
	"crypto/tls"
	"io"
	"iter"
	"net/http"
	"net/url"
	"time"

	"golang.org/x/oauth2"

	"github.com/reqivo/reqivo"
)

type (
	verb      = func(*reqivo.Session, context.Context, string, ...reqivo.RequestOption) (*reqivo.Response, error)
	asyncVerb = func(*reqivo.AsyncSession, context.Context, string, ...reqivo.RequestOption) *reqivo.Future
)

// Session (session.go, auth.go, cookies.go).
var (
	_ func(...reqivo.Option) (*reqivo.Session, error) = reqivo.NewSession

	_ verb = (*reqivo.Session).Get
	_ verb = (*reqivo.Session).Head
	_ verb = (*reqivo.Session).Options
	_ verb = (*reqivo.Session).Delete
	_ verb = (*reqivo.Session).Post
	_ verb = (*reqivo.Session).Put
	_ verb = (*reqivo.Session).Patch

	_ func(*reqivo.Session, context.Context, string, string, ...reqivo.RequestOption) (*reqivo.Response, error) = (*reqivo.Session).Request

	_ func(*reqivo.Session, *http.Request) (*http.Response, error) = (*reqivo.Session).Do
	_ func(*reqivo.Session) *http.Client                           = (*reqivo.Session).HTTPClient
	_ func(*reqivo.Session) error                                  = (*reqivo.Session).Close
	_ func(*reqivo.Session) reqivo.Stats                           = (*reqivo.Session).Stats

	_ func(*reqivo.Session, string, string)                                                                = (*reqivo.Session).SetHeader
	_ func(*reqivo.Session, string)                                                                        = (*reqivo.Session).DelHeader
	_ func(*reqivo.Session) http.Header                                                                    = (*reqivo.Session).Header
	_ func(*reqivo.Session, string, string)                                                                = (*reqivo.Session).SetBasicAuth
	_ func(*reqivo.Session, string)                                                                        = (*reqivo.Session).SetBearerToken
	_ func(*reqivo.Session)                                                                                = (*reqivo.Session).ClearAuth
	_ func(*reqivo.Session, string, string)                                                                = (*reqivo.Session).SetCookie
	_ func(*reqivo.Session, string) []*http.Cookie                                                         = (*reqivo.Session).Cookies
	_ func(*reqivo.Session, func(*http.Request) error)                                                     = (*reqivo.Session).OnRequest
	_ func(*reqivo.Session, func(*reqivo.Response) error)                                                  = (*reqivo.Session).OnResponse
	_ func(*reqivo.Session, context.Context, string, ...reqivo.WebSocketOption) (*reqivo.WebSocket, error) = (*reqivo.Session).WebSocket
)

// Session options (options.go).
var (
	_ func(string) reqivo.Option                                       = reqivo.WithBaseURL
	_ func(time.Duration) reqivo.Option                                = reqivo.WithTimeout
	_ func(reqivo.Timeouts) reqivo.Option                              = reqivo.WithTimeouts
	_ func(string, string) reqivo.Option                               = reqivo.WithHeader
	_ func(string, string) reqivo.Option                               = reqivo.WithBasicAuth
	_ func(string) reqivo.Option                                       = reqivo.WithBearerToken
	_ func(reqivo.Limits) reqivo.Option                                = reqivo.WithLimits
	_ func(int) reqivo.Option                                          = reqivo.WithMaxRedirects
	_ func(http.CookieJar) reqivo.Option                               = reqivo.WithCookieJar
	_ func(http.RoundTripper) reqivo.Option                            = reqivo.WithTransport
	_ func(...func(http.RoundTripper) http.RoundTripper) reqivo.Option = reqivo.WithMiddleware
	_ func(func(*http.Request) error) reqivo.Option                    = reqivo.WithOnRequest
	_ func(func(*reqivo.Response) error) reqivo.Option                 = reqivo.WithOnResponse
	_ func(reqivo.RetryPolicy) reqivo.Option                           = reqivo.WithRetry
	_ func(...string) reqivo.Option                                    = reqivo.WithSensitiveHeaders
	_ func(*tls.Config) reqivo.Option                                  = reqivo.WithTLSConfig
	_ func(string) reqivo.Option                                       = reqivo.WithProxy
	_ func(int) reqivo.Option                                          = reqivo.WithMaxConcurrency
	_                                                                  = reqivo.Timeouts{Connect: time.Duration(0), Read: time.Duration(0), Total: time.Duration(0)}
	_                                                                  = reqivo.RetryPolicy{
		MaxAttempts: int(0),
		MinWait:     time.Duration(0),
		MaxWait:     time.Duration(0),
		Retry:       func(req *http.Request, resp *http.Response, err error) bool { return false },
	}
)

// Per-request options (request.go).
var (
	_ func(string, string) reqivo.RequestOption = reqivo.Header
	_ func(string, string) reqivo.RequestOption = reqivo.Query
	_ func(url.Values) reqivo.RequestOption     = reqivo.Params
	_ func(io.Reader) reqivo.RequestOption      = reqivo.Body
	_ func([]byte) reqivo.RequestOption         = reqivo.BodyBytes
	_ func(string) reqivo.RequestOption         = reqivo.BodyString
	_ func(any) reqivo.RequestOption            = reqivo.JSON
	_ func(url.Values) reqivo.RequestOption     = reqivo.Form
	_ func(time.Duration) reqivo.RequestOption  = reqivo.Timeout
	_ func() reqivo.RequestOption               = reqivo.Stream
)

// Response (response.go).
var (
	_ *http.Response                          = reqivo.Response{}.Response
	_ func(*reqivo.Response) []byte           = (*reqivo.Response).Bytes
	_ func(*reqivo.Response) string           = (*reqivo.Response).Text
	_ func(*reqivo.Response, any) error       = (*reqivo.Response).JSON
	_ func(*reqivo.Response) bool             = (*reqivo.Response).OK
	_ func(*reqivo.Response) error            = (*reqivo.Response).Err
	_ func(*reqivo.Response) *url.URL         = (*reqivo.Response).URL
	_ func(*reqivo.Response) []*http.Response = (*reqivo.Response).History
	_ func(*reqivo.Response) time.Duration    = (*reqivo.Response).Elapsed
	_ func(*reqivo.Response) error            = (*reqivo.Response).Close
)

// Facade (reqivo.go).
var (
	_ func(string, ...reqivo.Option) *reqivo.Client                     = reqivo.New
	_ *reqivo.Session                                                   = reqivo.Client{}.Session
	_ func(*reqivo.Client, string, string) *reqivo.Client               = (*reqivo.Client).BasicAuth
	_ func(*reqivo.Client, string) *reqivo.Client                       = (*reqivo.Client).BearerToken
	_ func(*reqivo.Client, string, string) *reqivo.Client               = (*reqivo.Client).Header
	_ func(*reqivo.Client, func(*http.Request) error) *reqivo.Client    = (*reqivo.Client).OnRequest
	_ func(*reqivo.Client, func(*reqivo.Response) error) *reqivo.Client = (*reqivo.Client).OnResponse
	_ func(*reqivo.Client) error                                        = (*reqivo.Client).Err
)

// Async (async.go).
var (
	_ func(...reqivo.Option) (*reqivo.AsyncSession, error) = reqivo.NewAsyncSession
	_ *reqivo.Session                                      = reqivo.AsyncSession{}.Session

	_ asyncVerb = (*reqivo.AsyncSession).Get
	_ asyncVerb = (*reqivo.AsyncSession).Head
	_ asyncVerb = (*reqivo.AsyncSession).Options
	_ asyncVerb = (*reqivo.AsyncSession).Delete
	_ asyncVerb = (*reqivo.AsyncSession).Post
	_ asyncVerb = (*reqivo.AsyncSession).Put
	_ asyncVerb = (*reqivo.AsyncSession).Patch

	_ func(*reqivo.AsyncSession, context.Context, string, string, ...reqivo.RequestOption) *reqivo.Future = (*reqivo.AsyncSession).Request
	_ func(*reqivo.AsyncSession) error                                                                    = (*reqivo.AsyncSession).Close

	_ func(*reqivo.Future) (*reqivo.Response, error)                       = (*reqivo.Future).Wait
	_ func(*reqivo.Future) <-chan struct{}                                 = (*reqivo.Future).Done
	_ func(context.Context, ...*reqivo.Future) ([]*reqivo.Response, error) = reqivo.Gather
)

// WebSocket (websocket.go).
var (
	_ func(*reqivo.WebSocket, context.Context, []byte) error                       = (*reqivo.WebSocket).Send
	_ func(*reqivo.WebSocket, context.Context, string) error                       = (*reqivo.WebSocket).SendText
	_ func(*reqivo.WebSocket, context.Context) (reqivo.MessageType, []byte, error) = (*reqivo.WebSocket).Receive
	_ func(*reqivo.WebSocket, context.Context) error                               = (*reqivo.WebSocket).Ping
	_ func(*reqivo.WebSocket) string                                               = (*reqivo.WebSocket).Subprotocol
	_ func(*reqivo.WebSocket) error                                                = (*reqivo.WebSocket).Close
	_ func(...string) reqivo.WebSocketOption                                       = reqivo.Subprotocols
	_ func(int64) reqivo.WebSocketOption                                           = reqivo.MaxMessageBytes
)

// Errors (errors.go).
var (
	_ = []error{
		reqivo.ErrClosed,
		reqivo.ErrInvalidURL,
		reqivo.ErrInvalidOption,
		reqivo.ErrInvalidHeader,
		reqivo.ErrTimeout,
		reqivo.ErrConnectTimeout,
		reqivo.ErrReadTimeout,
		reqivo.ErrNetwork,
		reqivo.ErrTLS,
		reqivo.ErrTooManyRedirects,
		reqivo.ErrRedirectLoop,
		reqivo.ErrInvalidResponse,
		reqivo.ErrBodyTooLarge,
		reqivo.ErrWebSocket,
		reqivo.ErrRateLimited,
		reqivo.ErrCircuitOpen,
		reqivo.ErrAuth,
	}
	_ error                            = &reqivo.RequestError{Method: "", URL: "", Err: error(nil)}
	_ func(*reqivo.RequestError) error = (*reqivo.RequestError).Unwrap
	_ error                            = &reqivo.HTTPError{StatusCode: int(0), Status: "", Method: "", URL: "", Body: []byte(nil)}
)

// Pool, limits, stats (pool.go).
var (
	_ = reqivo.Limits{
		MaxConnsPerHost:     int(0),
		MaxIdleConns:        int(0),
		MaxIdleConnsPerHost: int(0),
		IdleConnTimeout:     time.Duration(0),
		MaxResponseBytes:    int64(0),
	}
	_ = reqivo.Stats{Requests: int64(0), ConnsOpened: int64(0)}
)

// Resilience (ratelimit.go, breaker.go).
var (
	_                                           = reqivo.RateLimit{Rate: float64(0), Burst: int(0), Store: reqivo.RateStore(nil)}
	_ func(reqivo.RateLimit) reqivo.Option      = reqivo.WithRateLimit
	_                                           = reqivo.CircuitBreaker{Failures: int(0), Cooldown: time.Duration(0)}
	_ func(reqivo.CircuitBreaker) reqivo.Option = reqivo.WithCircuitBreaker
	_ func(*reqivo.Session) map[string]string   = (*reqivo.Session).Breakers
	_ interface {
		Reserve(context.Context, string, float64, int) (time.Duration, error)
	} = reqivo.RateStore(nil)
	_ = reqivo.Stats{RateLimitWait: time.Duration(0), CircuitRejected: int64(0)}
)

// Auth (v0.2, "Auth and resilience"): tokensource.go, digest.go, netrc.go.
var (
	_ func(oauth2.TokenSource) reqivo.Option = reqivo.WithTokenSource
	_ func(*reqivo.Session, string, string)  = (*reqivo.Session).SetDigestAuth
	_ func(string, string) reqivo.Option     = reqivo.WithDigestAuth
	_ func(string) reqivo.Option             = reqivo.WithNetrc
)

// v0.2 Streams (stream.go).
var (
	_ = reqivo.Event{ID: "", Type: "", Data: "", Retry: time.Duration(0)}

	_ func(*reqivo.Session, context.Context, string, string, ...reqivo.RequestOption) iter.Seq2[reqivo.Event, error] = (*reqivo.Session).Events
	_ func(context.Context, *reqivo.Session, string, string, ...reqivo.RequestOption) iter.Seq2[struct{}, error]     = reqivo.JSONLines[struct{}]
	_ func(time.Duration) reqivo.RequestOption                                                                       = reqivo.IdleTimeout
	_ func(int) reqivo.RequestOption                                                                                 = reqivo.Reconnect
	_                                                                                                                = reqivo.Limits{MaxEventBytes: int64(0)}
)

// v0.3 Retry budgets and hedged requests (budget.go, hedge.go).
var (
	_                                         = reqivo.RetryBudget{Ratio: float64(0), MinPerSecond: float64(0)}
	_ func(reqivo.RetryBudget) reqivo.Option  = reqivo.WithRetryBudget
	_ reqivo.NoticeKind                       = reqivo.NoticeRetryBudget
	_                                         = reqivo.Hedge{Delay: time.Duration(0), Max: int(0)}
	_ func(reqivo.Hedge) reqivo.Option        = reqivo.WithHedging
	_ func(reqivo.Hedge) reqivo.RequestOption = reqivo.Hedging
	_                                         = reqivo.AttemptInfo{Hedge: false}
)
