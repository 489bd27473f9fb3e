// Package reqivo is an HTTP client built on net/http: sessions that keep
// headers, cookies, auth and a connection pool across requests, a fluent
// facade, retries, and safe defaults.
//
// # Start here
//
//	s, err := reqivo.NewSession(reqivo.WithBaseURL("https://api.example.com/v1/"))
//	if err != nil {
//		return err // a bad option: errors.Is(err, reqivo.ErrInvalidOption)
//	}
//	defer s.Close()
//	resp, err := s.Get(ctx, "users", reqivo.Query("page", "2"))
//	if err != nil {
//		return err // nothing usable came back: network, timeout, bad input
//	}
//	if err := resp.Err(); err != nil {
//		return err // a status of 400 or more, as an *HTTPError
//	}
//	var users []User
//	err = resp.JSON(&users)
//
// The main symbols: [NewSession] and its options ([WithBaseURL],
// [WithTimeout], [WithRetry], [WithBearerToken], [WithTokenFunc]); the
// verbs ([Session.Get], [Session.Post], [Session.Request]) and request
// options ([Query], [JSON], [Header]); the [Response] ([Response.JSON],
// [Response.Err]); [GetJSON] for a typed answer; [New] for the fluent
// [Client]; [Session.Download], [Session.Events] and [JSONLines] for large
// and streamed bodies; the error kinds ([ErrTimeout], [ErrNetwork] ...)
// with [RequestError] and [HTTPError]. The sections below take each in
// turn.
//
// # Sessions
//
// A [Session] owns one tuned [net/http.Transport] (its pool), one cookie
// jar, persistent headers, auth and hooks. Every call that does I/O takes a
// [context.Context] first and returns an error instead of panicking (as in
// Start here).
//
// [Session.Get], [Session.Post] and the other verbs read the body whole
// (bounded by [Limits].MaxResponseBytes) before they return, so the
// connection is back in the pool and the Response's Body reads the
// buffered bytes again; [Stream] leaves the body live. Request options ([Header],
// [Query], [Params], [JSON], [Form], [Body], [BodyBytes], [BodyString],
// [Timeout], [Stream]) apply to one request.
//
// The session's pool speaks HTTP/2 to https origins that offer it (ALPN),
// with receive windows of 16 MiB per stream and 64 MiB per connection. A
// cold burst of requests to such an origin shares one connection: while the
// first request's TLS handshake is under way, the others wait for its
// result (never longer than [Timeouts].Connect), then use its h2
// connection, or dial their own if the origin speaks HTTP/1.1. A transport
// given with [WithTransport] is used as it is.
//
// A relative URL is joined under the base URL's path: base
// https://api.example.com/v1 (with or without a trailing slash) and
// "users" or "/users" give /v1/users. Dot segments never climb above the
// base path, and a scheme-relative "//host/path" is refused with
// [ErrInvalidURL] when a base URL is set, so a path taken from user input
// never changes the host. [PathParam] fills a {name} segment with an
// escaped value.
//
// # net/http interop
//
// [Session.Do] sends an *http.Request with the session applied and returns
// a live *http.Response, like [net/http.Client.Do]. [Session.HTTPClient]
// returns an *http.Client whose transport is the session, for SDKs that
// take one. [WithMiddleware] wraps the transport with
// func(http.RoundTripper) http.RoundTripper layers; [WithTransport]
// replaces it.
//
// # The facade
//
// [New] is the fluent form, for one client per API:
//
//	c := reqivo.New("https://api.example.com").BearerToken(tok)
//	defer c.Close()
//
// A [Client] is a Session. A bad base URL or option does not panic: it is
// kept, returned by [Client.Err] and by every request.
//
// # Async
//
// [NewAsyncSession] returns an [AsyncSession]: a Session whose verbs return
// a [*Future] at once. At most [WithMaxConcurrency] requests (64 by
// default) are in flight; the others wait in line, first come first
// served, without holding a goroutine, and one whose context ends while
// it waits is never sent. The bound covers every request of the session,
// however it is made (Do, HTTPClient, Events, Download, the Session field
// ...); a streamed response holds its slot until its body is closed.
// WithMaxConcurrency is an option of NewAsyncSession only: NewSession
// refuses it with ErrInvalidOption rather than keep a bound nothing applies.
//
//	a, err := reqivo.NewAsyncSession(reqivo.WithBaseURL(base), reqivo.WithMaxConcurrency(8))
//	if err != nil { ... }
//	defer a.Close() // waits for every request it accepted
//	var fs []*reqivo.Future
//	for _, id := range ids {
//		fs = append(fs, a.Get(ctx, "users/"+id))
//	}
//	resps, err := reqivo.Gather(ctx, fs...) // in order; nil for failures, errors.Join of them
//
// [Future.Wait] may be called any number of times from any goroutine;
// [Future.Done] is a channel for select. [Gather] stops waiting when its
// context ends and says so; the requests go on under their own contexts.
// The Session's state methods (SetHeader, SetBearerToken, SetCookie,
// OnRequest, Stats ...) work on an AsyncSession. [AsyncSession.Close] stops
// accepting requests (later ones fail with [ErrClosed]), waits for those
// accepted, then closes the session; calling it again returns nil.
//
// # Options
//
// [NewSession] validates every [Option] once; an invalid one is an error
// matching [ErrInvalidOption], [ErrInvalidURL] or [ErrInvalidHeader].
// Defaults: 30 s total timeout ([WithTimeout], [WithTimeouts]: connect 10 s,
// read 30 s), 10 redirects ([WithMaxRedirects]), a public-suffix cookie
// jar ([WithCookieJar]), 64 idle connections per host and a 64 MiB body
// cap ([WithLimits], [Limits]), TLS 1.2+ with verification ([WithTLSConfig]),
// the proxy from the environment ([WithProxy]), no retries ([WithRetry]).
//
// # Retries
//
// [WithRetry] retries network errors and 429, 502, 503 and 504 for
// idempotent requests (or those with an Idempotency-Key header), with
// exponential backoff and full jitter, honouring Retry-After up to
// [RetryPolicy].MaxWait. A body that cannot be replayed byte for byte is
// never retried, and no wait outlives the context. [Response.Attempts] and
// [Response.Retries] show what each try got and how long the session
// waited after it.
//
// Retries and hedges draw on a per-host retry budget ([WithRetryBudget];
// by default 20 % of the host's requests plus 10 a second over a sliding
// 10 s window), so that a failing host is not sent a retry storm.
// [WithHedging] and [Hedging] send another copy of an idempotent request
// whose response headers are late, the first response winning.
//
// # Resilience
//
// [WithRateLimit] keeps a token bucket per host that every attempt waits
// on, bounded by its deadline ([ErrRateLimited] when the wait could not
// end in time), paused by a 429 or 503 with Retry-After (at most
// [RateLimit].MaxPause) and slowed by the RateLimit and X-RateLimit-*
// fields a server sends. [WithCircuitBreaker]
// keeps a breaker per host: after [CircuitBreaker].Failures network
// errors, timeouts or 5xx in a row, requests to the host fail at once with
// [ErrCircuitOpen] until one probe after the cooldown succeeds;
// [Session.Breakers] reports each host's state. Both count in [Stats], and
// both forget a host left idle for five minutes, so a crawl of many
// hosts does not keep one of each.
//
// # Errors
//
// Every error a request returns is a [*RequestError] (the method and the
// URL with its userinfo, user name included, shown as REDACTED:REDACTED
// and its secret query values redacted) that matches
// one kind with [errors.Is]: [ErrClosed], [ErrInvalidURL],
// [ErrInvalidOption], [ErrInvalidHeader], [ErrTimeout] ([ErrConnectTimeout]
// and [ErrReadTimeout] match it too), [ErrNetwork] ([ErrTLS] matches it
// too), [ErrCanceled], [ErrTooManyRedirects], [ErrRedirectLoop],
// [ErrInvalidResponse], [ErrBodyTooLarge], [ErrWebSocket], [ErrRateLimited]
// (it matches ErrTimeout too), [ErrCircuitOpen], [ErrAuth]. The cause chain
// is kept: errors.Is(err, context.DeadlineExceeded) and errors.As(err,
// &opErr) work, and [RequestError.Timeout] makes os.IsTimeout true when a
// deadline fired. A request its caller cancelled matches [ErrCanceled],
// with context.Canceled in the chain, and is never retried. Two exceptions carry no kind of ours: an
// error returned by your own OnRequest or OnResponse hook comes back
// unchanged inside the *RequestError, and a file [Session.Download] could
// not write keeps its *fs.PathError. A status of 400 or more is not an error of the request; [Response.Err]
// turns it into an [*HTTPError], which keeps the start of the body and the
// response's header (Retry-After, rate-limit headers, request ids; not its
// cookies), as do GetJSON, Events, JSONLines and Download when they meet
// such a status.
//
// # Cookies and security
//
// Session credentials ([WithBasicAuth], [WithBearerToken],
// [Session.SetBasicAuth], [Session.SetBearerToken]) and cookies set by hand
// ([Session.SetCookie]), and sensitive headers set on the session, go only
// to the base URL's origin (scheme, host and port), or with no base URL to
// the host of each request the caller makes.
// No redirect carries Authorization, Proxy-Authorization, Cookie or a
// header named by [WithSensitiveHeaders] to another origin or from https to
// http, and once dropped they are not restored. Cookies the server sets
// live in the jar and follow their own domain, path and Secure rules; the
// default jar also enforces the __Secure- and __Host- prefixes, keeps
// plain-http origins from setting or overwriting Secure cookies, and caps
// cookie bombs (8,190 bytes of Cookie header to one host, as curl). TLS
// is verified unless the caller's own tls.Config turns it off. CR, LF or
// NUL in a header name or value is refused with [ErrInvalidHeader] before
// anything is sent. SECURITY.md lists each promise with its test.
//
// # Auth
//
// Beyond basic and bearer auth, [WithTokenFunc] keeps a token from an
// OAuth2 token endpoint (clientcredentials.Config.Token, or
// [RefreshTokenFunc]) and fetches a new one when it expires or the server
// refuses it; [WithTokenSource] sends a token from an oauth2.TokenSource,
// asked for each attempt; [WithDigestAuth] and
// [Session.SetDigestAuth] answer Digest challenges (RFC 7616), reusing the
// nonce per origin; [WithNetrc] reads a .netrc file, each entry going only
// to its exact host. A request's own Authorization wins over session auth
// (basic, bearer or Digest), which wins over the token source, which wins
// over netrc; none of them follows a redirect to another origin. A token
// fetch's failure is [ErrAuth].
//
// # Caching
//
// [WithCache] adds a private HTTP cache (RFC 9111) looked up per redirect
// hop, before the attempts: [NewMemoryCache] and [NewDiskCache] are the
// stores here, module redisstore has one in Redis, and any [Cache] (bytes
// under string keys, with a TTL) fits. [Response.CacheStatus] and the
// Cache-Status header say what the cache did; [Stats] counts it. A
// response to a request with credentials is keyed by an HMAC of them
// ([CacheSecret]); a session whose credentials the cache cannot see (a
// middleware, [WithTransport], a client certificate) and a private or
// cookie-setting response keep their entries to their session. Streams
// bypass the cache, and a body over what the store keeps per entry
// ([CacheEntryLimit]) is passed on, not stored. A store error only costs
// a trip to the network, and is a [NoticeCacheError].
//
// # Observability and payloads
//
// [WithLogger] logs one structured record per attempt and per notice
// (credentials redacted); [WithTrace] and [Trace] collect [Response.Timings]. Both are
// built on one seam, [Observer], which [WithObserver] hooks into every
// request: its start and end, each attempt, retry and redirect, and the
// [Notice]s of the cache, rate limiter, breaker and retry budget, with URLs
// redacted and headers seen through [Headers] (a failing store's error,
// [Notice].Err, is the store's own). Module github.com/reqivo/reqivo/otel
// (package reqivootel) turns it into OpenTelemetry traces and metrics.
// [Multipart] streams files and fields; [OnUploadProgress] and
// [OnDownloadProgress] report bytes as they move; [Session.Download] writes
// a file atomically, retries a body that breaks as the session's policy
// says (Retry-After honoured, MaxAttempts over the whole download), continues an interrupted transfer with [Resume], and checks the
// file with [VerifySHA256]. gzip and deflate are decoded out of the box, brotli
// and zstd with [WithCompression]. [GetJSON], [PostJSON] and [RequestJSON]
// decode a 2xx JSON answer into a typed value and return an [*HTTPError]
// for any other status.
//
// # Testing code that uses Reqivo
//
// Package [github.com/reqivo/reqivo/reqivotest] tests a client built on
// Reqivo without a network, through the session's whole pipeline: Handler
// answers from an http.Handler in process, NewMock declares routes with
// expectations, Cassette records real traffic to a redacted text file and
// replays it, and InstantWaits makes retry waits take no time. Each is an
// [Option], so a production constructor takes it as one more. They stand
// on root options users may want too: [WithDialContext] and
// [WithDialTLSContext] replace how the pool dials (unix sockets, custom
// dialers), [WithClock] sets the [Clock] waits run on, and [WithOptions]
// bundles options into one.
//
// # Streams
//
// [Session.Events] reads Server-Sent Events (the WHATWG standard) and
// [JSONLines] reads NDJSON, each as an iterator over the session's whole
// request path, values yielded as they arrive:
//
//	for ev, err := range s.Events(ctx, "POST", "/v1/chat", reqivo.JSON(prompt)) {
//		if err != nil {
//			return err
//		}
//		fmt.Print(ev.Data)
//	}
//
// A stream is not bounded by the session's total timeout, only by ctx and
// [Timeout] when given; [IdleTimeout] (or Timeouts.Read) bounds each
// silence, and the loop body's time never counts. Breaking out of the loop
// closes the connection. A GET event stream reconnects with Last-Event-ID
// and the server's retry ([Reconnect]), never sooner than a Retry-After,
// each reconnection reported to [Observer].Retry; an event or line over
// [Limits].MaxEventBytes is [ErrBodyTooLarge]; a status of 400 or more
// yields one [*HTTPError].
//
// # WebSockets
//
// [Session.WebSocket] dials a WebSocket through the session: the handshake
// carries its headers, cookies and auth under the same origin rules as a
// request, over its TLS settings and proxy.
//
//	ws, err := c.WebSocket(ctx, "/events", reqivo.Subprotocols("v1"))
//	if err != nil { ... } // ErrWebSocket, with an *HTTPError when refused
//	defer ws.Close()
//	err = ws.SendText(ctx, "hello")
//	typ, msg, err := ws.Receive(ctx)
//
// A [WebSocket] is safe for concurrent use; Ping needs a Receive running in
// another goroutine. A peer's close frame is a [*CloseError]; messages over
// [MaxMessageBytes] (10 MiB by default) fail with [ErrWebSocket].
//
// # Concurrency
//
// A Session (and so a Client) is safe for concurrent use by multiple
// goroutines. Its headers, auth, cookies and hooks may change while
// requests run; each request reads one consistent snapshot of them, so no
// request carries half an update. An AsyncSession is safe for concurrent
// use too; its hooks run on its own goroutines, several at once. A
// [WebSocket] allows one reader and one writer at a time (see its doc).
package reqivo
