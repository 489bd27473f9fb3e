// Session: persistent headers, auth, cookies, hooks and a connection pool
// shared by every request, safe for concurrent use.

package reqivo

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// Session sends requests with persistent headers, auth, cookies and hooks
// over one connection pool. A Session is safe for concurrent use by
// multiple goroutines; its state may change while requests run, and each
// request reads one consistent snapshot of it. The zero Session is not
// usable: make one with NewSession or New (its requests fail with
// ErrInvalidOption).
type Session struct {
	cfg        *config
	transport  *http.Transport   // the pool; nil with WithTransport
	rt         http.RoundTripper // middleware around the counted transport
	jar        http.CookieJar    // nil: no jar
	baseOrigin origin
	n          counters
	err        error // construction error, returned by every request (see New)
	clock      clock
	limiters   *limiters     // nil without WithRateLimit
	breakers   *breakers     // nil without WithCircuitBreaker
	budgets    *budgets      // nil: no retry budget (its cap lifted)
	cache      *sessionCache // nil: no cache
	alt        AltTransport  // nil without WithAltTransport
	slots      *slots        // an AsyncSession's bound; nil: none

	closed atomic.Bool

	mu    sync.Mutex // serialises the writers of state
	state atomic.Pointer[state]

	resolvedMu sync.Mutex                          // serialises the writers of resolved
	resolved   atomic.Pointer[map[string]*url.URL] // see resolve; never modified once published
}

// NewSession returns a session configured by opts. An invalid option gives
// an error matching ErrInvalidOption, ErrInvalidURL or ErrInvalidHeader.
func NewSession(opts ...Option) (*Session, error) {
	s := newSession(opts, false)
	if s.err != nil {
		return nil, s.err
	}
	return s, nil
}

// newSession always returns a usable session; a bad option is kept in
// s.err and returned by every request. async is true for the session of an
// AsyncSession, the only one WithMaxConcurrency applies to.
func newSession(opts []Option, async bool) *Session {
	c := defaultConfig()
	var err error
	for _, o := range opts {
		if o == nil {
			err = errorf(ErrInvalidOption, "nil option")
			break
		}
		if err = o(c); err != nil {
			break
		}
	}
	if err == nil {
		err = c.validate()
	}
	if err == nil && c.maxConcSet && !async {
		err = errorf(ErrInvalidOption, "WithMaxConcurrency bounds an AsyncSession: make one with NewAsyncSession")
	}
	s := &Session{cfg: c, err: err, clock: realClock}
	if err != nil {
		c = defaultConfig()
		s.cfg = c
	}
	s.clock = sessionClock(c)
	var base http.RoundTripper
	if c.transport != nil {
		base = c.transport
	} else {
		s.transport = newTransport(c, &s.n)
		base = newDialGate(s.transport, c.timeouts.Connect)
	}
	if c.alt != nil && s.err == nil {
		if r, aerr := newAltRouter(c, s.transport, base, &s.n, s.clock.now); aerr != nil {
			s.err = aerr
		} else {
			s.alt, base = r.alt, r
		}
	}
	s.rt = &countingTransport{next: base, n: &s.n}
	if c.rateLimit != nil {
		s.limiters = newLimiters(*c.rateLimit, &s.clock, &s.n.rateWait)
	}
	if c.breaker != nil {
		s.breakers = newBreakers(*c.breaker, &s.clock)
	}
	s.budgets = newBudgets(c, &s.clock, &s.n.budgetRefused)
	for i := len(c.middleware) - 1; i >= 0; i-- {
		s.rt = c.middleware[i](s.rt)
	}
	if c.cache != nil {
		s.cache = newSessionCache(c.cache, c.credentialsInvisible())
	}
	if c.jarSet {
		s.jar = c.jar
	} else {
		s.jar = newJar()
	}
	if c.baseURL != nil {
		s.baseOrigin = originOf(c.baseURL)
	}
	st := &state{header: c.header.Clone(), onRequest: c.onRequest, onResponse: c.onResponse}
	if c.authBasic {
		st.auth = basicAuthHeader(c.authUser, c.authPass)
	} else if c.bearer != "" {
		st.auth = "Bearer " + c.bearer
	} else if c.digest != nil {
		st.digest = newDigestAuth(c.digest[0], c.digest[1])
	}
	s.state.Store(st)
	return s
}

// BaseURL returns a copy of the base URL, or nil if none is set.
func (s *Session) BaseURL() *url.URL {
	if s.cfg.baseURL == nil {
		return nil
	}
	u := *s.cfg.baseURL
	return &u
}

// Get sends a GET request. See Request.
func (s *Session) Get(ctx context.Context, url string, opts ...RequestOption) (*Response, error) {
	return s.Request(ctx, http.MethodGet, url, opts...)
}

// Head sends a HEAD request. See Request.
func (s *Session) Head(ctx context.Context, url string, opts ...RequestOption) (*Response, error) {
	return s.Request(ctx, http.MethodHead, url, opts...)
}

// Options sends an OPTIONS request. See Request.
func (s *Session) Options(ctx context.Context, url string, opts ...RequestOption) (*Response, error) {
	return s.Request(ctx, http.MethodOptions, url, opts...)
}

// Delete sends a DELETE request. See Request.
func (s *Session) Delete(ctx context.Context, url string, opts ...RequestOption) (*Response, error) {
	return s.Request(ctx, http.MethodDelete, url, opts...)
}

// Post sends a POST request. See Request.
func (s *Session) Post(ctx context.Context, url string, opts ...RequestOption) (*Response, error) {
	return s.Request(ctx, http.MethodPost, url, opts...)
}

// Put sends a PUT request. See Request.
func (s *Session) Put(ctx context.Context, url string, opts ...RequestOption) (*Response, error) {
	return s.Request(ctx, http.MethodPut, url, opts...)
}

// Patch sends a PATCH request. See Request.
func (s *Session) Patch(ctx context.Context, url string, opts ...RequestOption) (*Response, error) {
	return s.Request(ctx, http.MethodPatch, url, opts...)
}

// Request sends a request and returns its response with the body read
// (unless Stream is given). A relative rawURL is resolved against the base
// URL. A response with any status is returned without error: check
// Response.Err or Response.OK. Every error is a *RequestError matching one
// of the kinds in errors.go.
func (s *Session) Request(ctx context.Context, method, rawURL string, opts ...RequestOption) (*Response, error) {
	rc := &noRequestOptions // read only: a request without options allocates no config
	var optErr error
	if len(opts) > 0 {
		rc = new(requestConfig)
		optErr = rc.apply(opts)
	}
	c, err := s.begin(ctx, method, rc, optErr)
	if err != nil {
		rc.closeBody()
		return nil, newRequestError(method, s.shownURL(rawURL), err)
	}
	var req http.Request // on the stack: execute sends a copy
	if err := s.newRequest(&req, method, rawURL, rc); err != nil {
		c.release(nil)
		rc.closeBody()
		return nil, newRequestError(method, s.shownURL(rawURL), err)
	}
	return c.execute(&req)
}

// newRequest builds the request of Request: the method checked, the path
// parameters filled in, the URL resolved with the query added, and the
// options' headers and body, into req.
func (s *Session) newRequest(req *http.Request, method, rawURL string, rc *requestConfig) error {
	if err := checkMethod(method); err != nil {
		return err
	}
	if hosts, ok := rc.header["Host"]; ok {
		// net/http sends req.Host, never a Host header: move it there
		// rather than drop it (merge checks it).
		rc.host = hosts[0]
		delete(rc.header, "Host")
	}
	u, err := s.resolvePath(rawURL, rc.pathParams)
	if err != nil {
		return err
	}
	if len(rc.query) > 0 {
		if u.RawQuery == "" {
			u.RawQuery = rc.query.Encode()
		} else {
			u.RawQuery += "&" + rc.query.Encode()
		}
	}
	*req = http.Request{
		Method:     method,
		URL:        u,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     rc.header,
		Host:       u.Host,
	}
	if rc.host != "" {
		req.Host = rc.host
	}
	if rc.bodySet {
		req.Body, req.GetBody, req.ContentLength = asReadCloser(rc.body), rc.getBody, rc.contentLength
	}
	if rc.extra != nil {
		rc.extra.wrapUpload(req)
	}
	return nil
}

// shownURL is rawURL as errors show it: resolved when it resolves (as
// every error after resolution shows it), redacted always.
func (s *Session) shownURL(rawURL string) string {
	if s.usable() {
		if u, err := s.resolve(rawURL); err == nil {
			return redactURL(u)
		}
	}
	return RedactURL(rawURL)
}

// noRequestOptions is the config of a request without options; nothing
// writes it.
var noRequestOptions requestConfig

// errZeroSession is what a Session not made by NewSession or New returns.
var errZeroSession = errorf(ErrInvalidOption, "the zero Session is not usable: make one with NewSession or New")

// usable reports whether s was made by NewSession or New.
func (s *Session) usable() bool { return s != nil && s.cfg != nil }

// Do sends req with the session applied: persistent headers under req's
// own, auth, cookies, hooks, redirects, retries and the timeouts. Like
// http.Client.Do, the response body is live and the caller must close it.
// req is not modified. A relative req.URL is resolved against the base URL.
func (s *Session) Do(req *http.Request) (*http.Response, error) {
	if req == nil || req.URL == nil {
		if req != nil {
			closeBody(req)
		}
		return nil, newRequestError("", "", errorf(ErrInvalidURL, "nil request or URL"))
	}
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	rc := requestConfig{stream: true}
	c, err := s.begin(req.Context(), method, &rc, nil)
	if err != nil {
		return nil, refuse(method, req, err)
	}
	r2, err := s.doRequest(req, method)
	if err != nil {
		c.release(nil)
		return nil, refuse(method, req, err)
	}
	resp, err := c.execute(r2)
	if err != nil {
		return nil, err
	}
	return resp.Response, nil
}

// doRequest is the copy of req that Do sends: its method set, its URL
// resolved against the base URL, its header checked.
func (s *Session) doRequest(req *http.Request, method string) (*http.Request, error) {
	if err := checkMethod(method); err != nil {
		return nil, err
	}
	var u *url.URL
	if req.URL.IsAbs() {
		c := *req.URL
		u = &c
		if err := checkAbsolute(u); err != nil {
			return nil, err
		}
	} else {
		var err error
		if u, err = s.resolve(req.URL.String()); err != nil {
			return nil, err
		}
	}
	r2 := req.Clone(req.Context())
	r2.Method = method
	r2.URL = u
	if r2.Host == "" || !req.URL.IsAbs() {
		r2.Host = u.Host
	}
	if err := validateHeader(r2.Header); err != nil {
		return nil, err
	}
	return r2, nil
}

// HTTPClient returns a new *http.Client whose transport applies the
// session (headers, auth, cookies, hooks, redirects, retries, timeouts):
// hand it to any SDK that takes one. Each call returns a new client, so
// changing one changes no other. The client itself follows no redirects
// and has no jar: the session does both.
func (s *Session) HTTPClient() *http.Client { return newClient(sessionTransport{s}) }

// newClient is an *http.Client on rt that leaves redirects to rt (the
// session follows them) and has no jar (the session keeps one).
func newClient(rt http.RoundTripper) *http.Client {
	return &http.Client{
		Transport:     rt,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// sessionTransport is the RoundTripper of HTTPClient.
type sessionTransport struct{ s *Session }

func (t sessionTransport) RoundTrip(req *http.Request) (*http.Response, error) { return t.s.Do(req) }

// Close closes the session's idle connections; requests in flight finish
// (a Stream or Download body is not cut), and their connections, HTTP/2
// ones included, are closed as the requests end. Later requests return
// ErrClosed; a second Close returns nil.
func (s *Session) Close() error {
	if !s.usable() {
		return errZeroSession
	}
	if !s.closed.CompareAndSwap(false, true) {
		return nil
	}
	if s.cache != nil {
		s.cache.close()
	}
	if s.transport != nil {
		s.transport.CloseIdleConnections()
	}
	if s.alt != nil {
		s.alt.CloseIdleConnections()
	}
	return nil
}

// Stats returns the session's counters.
func (s *Session) Stats() Stats {
	return Stats{
		Requests:           s.n.requests.Load(),
		ConnsOpened:        s.n.conns.Load(),
		RateLimitWait:      time.Duration(s.n.rateWait.Load()),
		CircuitRejected:    s.n.circuitRejected.Load(),
		CacheHits:          s.n.cacheHits.Load(),
		CacheMisses:        s.n.cacheMisses.Load(),
		CacheRevalidations: s.n.cacheRevalidate.Load(),
		QUICConnsOpened:    s.n.quicConns.Load(),
		Hedges:             s.n.hedges.Load(),
		RetryBudgetRefused: s.n.budgetRefused.Load(),
	}
}

func asReadCloser(r io.Reader) io.ReadCloser {
	if r == nil {
		return nil
	}
	if rc, ok := r.(io.ReadCloser); ok {
		return rc
	}
	return io.NopCloser(r)
}

// done ends a request; on a closed session it closes the idle connections
// the request may have put back.
func (s *Session) done() {
	if s.closed.Load() && s.transport != nil {
		s.transport.CloseIdleConnections()
		if s.alt != nil {
			s.alt.CloseIdleConnections()
		}
	}
}

// credentialsAllowed reports whether session credentials and manual
// cookies may go to u: with a base URL, only to its origin; without, to
// whatever the caller asked for (redirects are judged by the chain).
func (s *Session) credentialsAllowed(u *url.URL) bool {
	if s.cfg.baseURL == nil {
		return true
	}
	return originOf(u) == s.baseOrigin
}

// refuse ends a request that is not sent: its body is closed, as a sent
// one's would be, and err is returned in a *RequestError.
func refuse(method string, req *http.Request, err error) error {
	closeBody(req)
	return newRequestError(method, redactURL(req.URL), err)
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}
