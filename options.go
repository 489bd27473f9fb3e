// Session options: the configuration a Session is built from, validated
// once by NewSession.

package reqivo

import (
	"crypto/tls"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Version is this library's version, sent in the default User-Agent.
const Version = "0.3.0"

// DefaultUserAgent is the User-Agent a session sends unless told otherwise.
const DefaultUserAgent = "reqivo-go/" + Version

// Default values of the options.
const (
	DefaultTimeout        = 30 * time.Second
	DefaultConnectTimeout = 10 * time.Second
	DefaultReadTimeout    = 30 * time.Second
	DefaultMaxRedirects   = 10
	DefaultMaxConcurrency = 64
)

// Timeouts bounds the phases of a request. A zero field keeps its default;
// a negative one is an error.
type Timeouts struct {
	// Connect covers the TCP connect and the TLS handshake. If not set, 10 s.
	Connect time.Duration
	// Read is the longest wait for the response headers of each attempt
	// (counted from its start, connecting and sending included), and for
	// each read of the body to get data (time the caller spends between
	// two reads of a stream does not count). When it is not shorter than
	// the total deadline, that deadline bounds the same waits and no timer
	// of its own runs. If not set, 30 s.
	Read time.Duration
	// Total is a hard deadline on the whole request, redirects, retries
	// and the body read included. If not set, 30 s.
	Total time.Duration
}

// Option configures a Session. Options are applied in order by NewSession,
// which returns the first invalid one's error.
type Option func(*config) error

// config is what the options build; it does not change after NewSession.
type config struct {
	baseURL        *url.URL
	timeouts       Timeouts
	header         http.Header
	authUser       string
	authPass       string
	authBasic      bool
	bearer         string
	limits         Limits
	poolLimitsSet  bool // WithLimits set a field of the pooled transport
	maxRedirects   int
	jar            http.CookieJar
	jarSet         bool
	transport      http.RoundTripper
	middleware     []func(http.RoundTripper) http.RoundTripper
	onRequest      []func(*http.Request) error
	onResponse     []func(*Response) error
	retry          *RetryPolicy
	sensitive      map[string]bool // canonical header names
	tlsConfig      *tls.Config
	proxy          *url.URL
	proxySet       bool
	maxConcurrency int
	maxConcSet     bool              // WithMaxConcurrency: only an AsyncSession takes it
	logger         *slog.Logger      // WithLogger; nil: no logging
	logSlot        int               // the logger's place in observers
	observers      []Observer        // WithObserver and WithLogger, in order
	trace          bool              // WithTrace
	compression    *compression      // WithCompression; nil: gzip and deflate
	dial           DialFunc          // WithDialContext; nil: a net.Dialer
	dialTLS        DialFunc          // WithDialTLSContext; nil: dial, then TLS
	inProcess      *inProcessDialers // an in-process server's; nil: none. Wins over dial, dialTLS and proxy
	clock          Clock             // WithClock; nil: the real clock

	rateLimit *RateLimit      // WithRateLimit; nil: no limit
	breaker   *CircuitBreaker // WithCircuitBreaker; nil: no breakers
	budget    *RetryBudget    // WithRetryBudget; nil: the default budget
	hedge     *Hedge          // WithHedging; nil: no hedging
	// Auth beyond basic and bearer (see authplan.go).
	digest *[2]string // WithDigestAuth: user and password; nil: none
	tokens tokens     // WithTokenSource or WithTokenFunc; nil: none
	netrc  *netrcFile // WithNetrc; nil: none

	cache Cache // WithCache; nil: no cache

	alt func(AltTransportEnv) (AltTransport, error) // WithAltTransport; nil: TCP only
}

func defaultConfig() *config {
	return &config{
		timeouts: Timeouts{
			Connect: DefaultConnectTimeout,
			Read:    DefaultReadTimeout,
			Total:   DefaultTimeout,
		},
		header:         http.Header{"User-Agent": {DefaultUserAgent}},
		limits:         DefaultLimits(),
		maxRedirects:   DefaultMaxRedirects,
		sensitive:      defaultSensitive(),
		maxConcurrency: DefaultMaxConcurrency,
	}
}

func defaultSensitive() map[string]bool {
	return map[string]bool{
		"Authorization":       true,
		"Proxy-Authorization": true,
		"Cookie":              true,
		"X-Api-Key":           true,
		"X-Auth-Token":        true,
	}
}

// WithBaseURL sets the URL relative request URLs are joined under: base
// https://h/v1 (with or without a trailing slash) and users or /users give
// https://h/v1/users. Dot segments never climb above the base path, and a
// scheme-relative URL (//host) is refused: a path from user input cannot
// change the host (ErrInvalidURL). It must be absolute http or https, with
// a host; session credentials and manual cookies then go only to its
// origin. If not set, every request URL must be absolute.
func WithBaseURL(u string) Option {
	return func(c *config) error {
		b, err := parseAbsoluteURL(u)
		if err != nil {
			// Said of the base URL, since it is reported by requests
			// whose own URL may be relative.
			return bySetter("base URL "+quote(RedactURL(u)), err)
		}
		if b.RawQuery != "" || b.Fragment != "" {
			return errorf(ErrInvalidURL, "base URL "+quote(RedactURL(u))+" has a query or fragment")
		}
		c.baseURL = b
		return nil
	}
}

// WithTimeout sets the total time one request may take, redirects, retries
// and reading the body included (Timeouts.Total). Zero means no total
// deadline, as in http.Client. If not set, 30 s.
func WithTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 {
			return errorf(ErrInvalidOption, "negative timeout "+d.String())
		}
		c.timeouts.Total = d
		return nil
	}
}

// WithTimeouts sets the connect, read and total timeouts; a zero field keeps
// its default (10 s, 30 s, 30 s).
func WithTimeouts(t Timeouts) Option {
	return func(c *config) error {
		if t.Connect < 0 || t.Read < 0 || t.Total < 0 {
			return errorf(ErrInvalidOption, "negative timeout in Timeouts")
		}
		if t.Connect > 0 {
			c.timeouts.Connect = t.Connect
		}
		if t.Read > 0 {
			c.timeouts.Read = t.Read
		}
		if t.Total > 0 {
			c.timeouts.Total = t.Total
		}
		return nil
	}
}

// WithHeader sets a persistent header sent with every request (a
// per-request Header replaces it). The default set is only
// "User-Agent: reqivo-go/<version>". A name or value with CR, LF, NUL or
// another byte HTTP forbids there is an error matching ErrInvalidHeader.
func WithHeader(key, value string) Option {
	return func(c *config) error {
		if err := validateHeaderField(key, value); err != nil {
			return err
		}
		c.header.Set(key, value)
		return nil
	}
}

// WithBasicAuth sets session basic auth, sent only to the base URL's origin
// (or, with no base URL, to the host of each request the caller makes).
func WithBasicAuth(user, pass string) Option {
	return func(c *config) error {
		if err := validateBasicAuth("WithBasicAuth", user, pass); err != nil {
			return err
		}
		c.authBasic, c.authUser, c.authPass, c.bearer, c.digest = true, user, pass, "", nil
		return nil
	}
}

// WithBearerToken sets session bearer auth, scoped as WithBasicAuth. An empty
// token is an error.
func WithBearerToken(tok string) Option {
	return func(c *config) error {
		if err := validateBearer("WithBearerToken", tok); err != nil {
			return err
		}
		c.authBasic, c.authUser, c.authPass, c.bearer, c.digest = false, "", "", tok, nil
		return nil
	}
}

// WithLimits sets the pool and size limits. A zero field keeps its default
// (see Limits); a negative pool field is an error.
func WithLimits(l Limits) Option {
	return func(c *config) error {
		lim, err := l.withDefaults()
		if err != nil {
			return err
		}
		c.limits = lim
		// DefaultLimits() with its MaxResponseBytes changed sets no pool field.
		d := DefaultLimits()
		d.MaxResponseBytes = lim.MaxResponseBytes
		d.MaxEventBytes = lim.MaxEventBytes
		c.poolLimitsSet = lim != d
		return nil
	}
}

// WithMaxRedirects sets how many redirects a request follows; 0 disables
// following (the 3xx response is returned). If not set, 10.
func WithMaxRedirects(n int) Option {
	return func(c *config) error {
		if n < 0 {
			return errorf(ErrInvalidOption, "negative max redirects")
		}
		c.maxRedirects = n
		return nil
	}
}

// WithCookieJar replaces the session's cookie jar; nil disables the jar
// (cookies set with SetCookie are still sent). If not set, a
// net/http/cookiejar with the public suffix list, guarded: it enforces the
// cookie prefixes of RFC 6265bis, keeps a non-secure origin from setting
// or overwriting a Secure cookie, and caps the cookies it keeps and sends
// (SECURITY.md lists the rules). A jar passed here is used as it is.
func WithCookieJar(jar http.CookieJar) Option {
	return func(c *config) error {
		c.jar, c.jarSet = jar, true
		return nil
	}
}

// WithTransport replaces the pooled *http.Transport, for tests and custom
// stacks; the session then does not tune or close it, and WithTLSConfig,
// WithProxy and the fields of Limits but MaxResponseBytes are an error with
// it. Timeouts.Connect, and the part of Timeouts.Read that waits for the
// response headers, are the transport's own business then. nil is an
// error.
func WithTransport(rt http.RoundTripper) Option {
	return func(c *config) error {
		if rt == nil {
			return errorf(ErrInvalidOption, "nil transport")
		}
		c.transport = rt
		return nil
	}
}

// WithMiddleware wraps the transport; the first middleware is the
// outermost. Each sees every attempt (redirect hops and retries included).
// A response a middleware returns is the session's, as with any
// RoundTripper: its header may be changed in place (the cache serves a
// confirmed stored response in a 304's header), so a middleware must not
// keep it, or return one header map twice.
func WithMiddleware(mw ...func(http.RoundTripper) http.RoundTripper) Option {
	return func(c *config) error {
		for _, m := range mw {
			if m == nil {
				return errorf(ErrInvalidOption, "nil middleware")
			}
		}
		c.middleware = append(c.middleware, mw...)
		return nil
	}
}

// WithOnRequest adds a hook run once per request, after headers, auth and
// cookies are merged; an error from it stops the request before it is sent
// (see Session.OnRequest).
func WithOnRequest(hook func(*http.Request) error) Option {
	return func(c *config) error {
		if hook == nil {
			return errorf(ErrInvalidOption, "nil hook")
		}
		c.onRequest = append(c.onRequest, hook)
		return nil
	}
}

// WithOnResponse adds a hook run once per request with the final response;
// an error from it is returned by the request, with the response closed
// (see Session.OnResponse).
func WithOnResponse(hook func(*Response) error) Option {
	return func(c *config) error {
		if hook == nil {
			return errorf(ErrInvalidOption, "nil hook")
		}
		c.onResponse = append(c.onResponse, hook)
		return nil
	}
}

// WithSensitiveHeaders names more headers to treat like credentials: never
// carried by a redirect to another origin or from https to http, and, when
// set as persistent headers on a session with a base URL, sent only to the
// base URL's origin. The default set is Authorization, Proxy-Authorization,
// Cookie, X-Api-Key and X-Auth-Token.
func WithSensitiveHeaders(names ...string) Option {
	return func(c *config) error {
		for _, n := range names {
			if err := validateHeaderField(n, ""); err != nil || n == "" {
				return errorf(ErrInvalidOption, "bad sensitive header name "+quote(n))
			}
			c.sensitive[http.CanonicalHeaderKey(n)] = true
		}
		return nil
	}
}

// WithTLSConfig sets the TLS configuration of the pool (client
// certificates, roots, minimum version); it is cloned. Verification stays on
// unless the config itself turns it off. If not set, the system roots and
// TLS 1.2 or later.
func WithTLSConfig(tc *tls.Config) Option {
	return func(c *config) error {
		if tc == nil {
			return errorf(ErrInvalidOption, "nil TLS config")
		}
		c.tlsConfig = tc.Clone()
		return nil
	}
}

// WithProxy sets an explicit proxy (http, https or socks5 URL); "" means no
// proxy at all. If not set, HTTP_PROXY, HTTPS_PROXY and NO_PROXY are read
// from the environment.
func WithProxy(rawURL string) Option {
	return func(c *config) error {
		c.proxySet = true
		if rawURL == "" {
			c.proxy = nil
			return nil
		}
		u, err := url.Parse(rawURL)
		if err != nil || u.Host == "" {
			return errorf(ErrInvalidURL, "bad proxy URL "+quote(RedactURL(rawURL)))
		}
		switch u.Scheme {
		case "http", "https", "socks5", "socks5h":
		default:
			return errorf(ErrInvalidURL, "unsupported proxy scheme "+quote(u.Scheme))
		}
		c.proxy = u
		return nil
	}
}

// WithMaxConcurrency bounds the requests an AsyncSession has in flight at
// once, however they are made; the rest wait in line (see AsyncSession for
// how long a request holds its slot). If not set, 64. It is an option of
// NewAsyncSession only: NewSession and New refuse it with ErrInvalidOption
// rather than leave a bound that nothing applies.
func WithMaxConcurrency(n int) Option {
	return func(c *config) error {
		if n < 1 {
			return errorf(ErrInvalidOption, "max concurrency must be at least 1")
		}
		c.maxConcurrency, c.maxConcSet = n, true
		return nil
	}
}

// validate checks what no single option can.
func (c *config) validate() error {
	if c.transport != nil && (c.tlsConfig != nil || c.proxySet || c.poolLimitsSet) {
		return errorf(ErrInvalidOption, "WithTLSConfig, WithProxy and the pool fields of WithLimits configure the pooled transport; they cannot be used with WithTransport")
	}
	if c.transport != nil && (c.dial != nil || c.dialTLS != nil) {
		return errorf(ErrInvalidOption, "WithDialContext and WithDialTLSContext configure the pooled transport; they cannot be used with WithTransport")
	}
	if c.transport != nil && c.inProcess != nil {
		return errorf(ErrInvalidOption, "an in-process server answers through the pooled transport; it cannot be used with WithTransport")
	}
	return nil
}

// quote quotes s for an error message as strconv.Quote does: a control
// byte in a refused name or value (CR, LF ...) is shown escaped, never
// written into the caller's logs as it is.
func quote(s string) string { return strconv.Quote(s) }

// WithOptions bundles opts into one option, applied in order where it
// stands: a preset a package can hand to its callers (the reqivotest
// helpers are built this way). A nil option in it is an error.
func WithOptions(opts ...Option) Option {
	return func(c *config) error {
		for _, o := range opts {
			if o == nil {
				return errorf(ErrInvalidOption, "nil option")
			}
			if err := o(c); err != nil {
				return err
			}
		}
		return nil
	}
}
