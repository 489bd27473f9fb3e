// Errors: the kinds every request error matches with errors.Is, the
// *RequestError that carries the method and a redacted URL, and *HTTPError
// for responses with a status of 400 or more.

package reqivo

import (
	"compress/flate"
	"compress/gzip"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/net/http/httpguts"
)

// kind is a sentinel error that may also match a broader kind: ErrTLS
// matches ErrNetwork, ErrConnectTimeout and ErrReadTimeout match ErrTimeout.
type kind struct {
	msg    string
	parent error
}

func (k *kind) Error() string { return k.msg }

// Is reports whether target is the broader kind k belongs to.
func (k *kind) Is(target error) bool { return k.parent != nil && target == k.parent }

// The kinds of error. Every error a request returns matches exactly one of
// them with errors.Is (ErrTLS also matches ErrNetwork, ErrConnectTimeout and
// ErrReadTimeout also match ErrTimeout), and keeps its cause chain, so
// errors.Is(err, context.DeadlineExceeded) and errors.As(err, &opErr) with a
// *net.OpError work as they do with net/http.
//
// The one exception is an error returned by an OnRequest or OnResponse
// hook: it is the caller's own, so it is the cause of the *RequestError as
// the hook made it, and matches a kind only if it already did. errors.Is
// finds it as it finds the hook's own sentinel.
var (
	// ErrClosed: the session was closed.
	ErrClosed error = &kind{msg: "reqivo: session closed"}
	// ErrInvalidURL: a URL is empty, unparsable, has no host, has a scheme
	// other than http or https, or is scheme-relative (//host) on a session
	// with a base URL.
	ErrInvalidURL error = &kind{msg: "reqivo: invalid URL"}
	// ErrInvalidOption: an option has a bad value (a negative timeout, an
	// empty token, a body given twice ...).
	ErrInvalidOption error = &kind{msg: "reqivo: invalid option"}
	// ErrInvalidHeader: a header name or value holds CR, LF, NUL or another
	// byte HTTP does not allow there; nothing was sent.
	ErrInvalidHeader error = &kind{msg: "reqivo: invalid header"}
	// ErrTimeout: any timeout, the context's deadline included.
	ErrTimeout error = &kind{msg: "reqivo: timeout"}
	// ErrConnectTimeout: the TCP connect or TLS handshake took longer than
	// Timeouts.Connect. It also matches ErrTimeout.
	ErrConnectTimeout error = &kind{msg: "reqivo: connect timeout", parent: ErrTimeout}
	// ErrReadTimeout: the response headers, or the next piece of the body,
	// took longer than Timeouts.Read. It also matches ErrTimeout.
	ErrReadTimeout error = &kind{msg: "reqivo: read timeout", parent: ErrTimeout}
	// ErrNetwork: the connection was refused or reset, a name did not
	// resolve, or the server closed the connection before a response. A
	// request whose context the caller cancelled matches it too, with
	// context.Canceled in its chain.
	ErrNetwork error = &kind{msg: "reqivo: network error"}
	// ErrTLS: the TLS handshake failed (an unknown authority, a wrong host
	// name ...). It also matches ErrNetwork.
	ErrTLS error = &kind{msg: "reqivo: TLS error", parent: ErrNetwork}
	// ErrTooManyRedirects: the redirect chain was longer than the limit set
	// with WithMaxRedirects.
	ErrTooManyRedirects error = &kind{msg: "reqivo: too many redirects"}
	// ErrRedirectLoop: a redirect led back to a URL already visited in the
	// chain, with nothing (no new cookie) that could make the answer differ.
	ErrRedirectLoop error = &kind{msg: "reqivo: redirect loop"}
	// ErrInvalidResponse: the response was malformed (bad headers, a body
	// shorter than its Content-Length, headers over the size limit) or its
	// JSON could not be decoded.
	ErrInvalidResponse error = &kind{msg: "reqivo: invalid response"}
	// ErrBodyTooLarge: the response body, decoded, is over
	// Limits.MaxResponseBytes.
	ErrBodyTooLarge error = &kind{msg: "reqivo: response body too large"}
	// ErrWebSocket: a WebSocket handshake was refused, the peer broke the
	// protocol, or a message was over the size limit.
	ErrWebSocket error = &kind{msg: "reqivo: websocket error"}
)

// RequestError is the error every failed request returns: the method, the
// URL with its password and secret query values redacted, and the cause,
// which matches one of the kinds above.
type RequestError struct {
	Method string
	URL    string
	Err    error
}

func (e *RequestError) Error() string {
	m := e.Method
	if m != "" && !httpguts.ValidHeaderFieldName(m) {
		m = quote(m) // a refused method, shown escaped
	}
	return "reqivo: " + m + " " + e.URL + ": " + strings.TrimPrefix(e.Err.Error(), "reqivo: ")
}

// Unwrap returns the cause.
func (e *RequestError) Unwrap() error { return e.Err }

// HTTPError is what Response.Err returns for a status of 400 or more.
type HTTPError struct {
	StatusCode int
	Status     string // "404 Not Found"
	Method     string
	URL        string // redacted, as in RequestError
	Body       []byte // the first 4 KiB of the body
}

func (e *HTTPError) Error() string {
	return "reqivo: " + e.Method + " " + e.URL + ": " + e.Status
}

// kindError ties a cause to its kind: errors.Is matches both the kind and
// everything in the cause's chain.
type kindError struct {
	kind  error
	cause error
	msg   string // optional detail before the cause
}

func (e *kindError) Error() string {
	var b strings.Builder
	b.WriteString(e.kind.Error())
	if e.msg != "" {
		b.WriteString(": ")
		b.WriteString(e.msg)
	}
	if e.cause != nil {
		b.WriteString(": ")
		b.WriteString(strings.TrimPrefix(e.cause.Error(), "reqivo: "))
	}
	return b.String()
}

func (e *kindError) Unwrap() []error {
	if e.cause == nil {
		return []error{e.kind}
	}
	return []error{e.kind, e.cause}
}

// wrapKind returns an error matching k, with msg and cause.
func wrapKind(k error, msg string, cause error) error {
	return &kindError{kind: k, msg: msg, cause: cause}
}

// errorf is wrapKind without a cause.
func errorf(k error, msg string) error { return &kindError{kind: k, msg: msg} }

// isKind reports whether err already carries one of our kinds.
func isKind(err error) bool {
	var k *kind
	return errors.As(err, &k)
}

// requestError wraps err in a *RequestError for method and u, classifying it
// first. ctx is the request's context: when it is done, the timeout or
// cancellation is what the caller sees.
func requestError(ctx context.Context, method string, u *url.URL, err error) error {
	var re *RequestError
	if errors.As(err, &re) {
		return err
	}
	return &RequestError{Method: method, URL: redactURL(u), Err: classify(ctx, err)}
}

// classify gives err its kind.
func classify(ctx context.Context, err error) error {
	if isKind(err) {
		return err
	}
	if ctx != nil {
		if cerr := ctx.Err(); cerr != nil {
			if cause := context.Cause(ctx); cause != nil && isKind(cause) {
				return wrapKind(cause, "", joinDistinct(err, cerr))
			}
			if errors.Is(cerr, context.DeadlineExceeded) {
				return wrapKind(ErrTimeout, "", joinDistinct(err, cerr))
			}
			// Canceled by the caller: no kind of ours fits better than the
			// network failing under the request; context.Canceled stays in
			// the chain for errors.Is.
			return wrapKind(ErrNetwork, "", joinDistinct(err, cerr))
		}
	}
	var tlsRecord tls.RecordHeaderError
	var certInvalid x509.CertificateInvalidError
	var unknownAuthority x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var certVerify *tls.CertificateVerificationError
	var alert tls.AlertError
	switch {
	case errors.As(err, &certVerify), errors.As(err, &certInvalid), errors.As(err, &unknownAuthority),
		errors.As(err, &hostname), errors.As(err, &tlsRecord), errors.As(err, &alert):
		return wrapKind(ErrTLS, "", err)
	}
	if isTLSHandshakeTimeout(err) {
		return wrapKind(ErrConnectTimeout, "", err)
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Op == "dial" {
		if opErr.Timeout() {
			return wrapKind(ErrConnectTimeout, "", err)
		}
		return wrapKind(ErrNetwork, "", err)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		if strings.Contains(err.Error(), "awaiting response headers") {
			return wrapKind(ErrReadTimeout, "", err)
		}
		return wrapKind(ErrTimeout, "", err)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, syscall.ECONNRESET) || malformed(err) {
		return wrapKind(ErrInvalidResponse, "", err)
	}
	return wrapKind(ErrNetwork, "", err)
}

// malformed reports whether err is the server's fault: a response or body
// that does not parse, rather than a connection that failed.
func malformed(err error) bool {
	var proto textproto.ProtocolError
	var corrupt flate.CorruptInputError
	if errors.As(err, &proto) || errors.As(err, &corrupt) ||
		errors.Is(err, gzip.ErrHeader) || errors.Is(err, gzip.ErrChecksum) {
		return true
	}
	msg := err.Error()
	if strings.Contains(msg, "header line too long") || strings.Contains(msg, "malformed HTTP") ||
		strings.Contains(msg, "server response headers exceeded") || strings.Contains(msg, "bogus") || strings.Contains(msg, "invalid") && strings.Contains(msg, "net/http") {
		return true
	}
	// net/http's chunked reader and trailer errors are unexported; their
	// messages are fixed.
	if strings.Contains(msg, "chunk") || strings.Contains(msg, "reading trailer") {
		return true
	}
	// net/http marks a connection broken by a response it could not parse
	// (bad Content-Length, bad header line ...); a read that failed on the
	// wire is a net.Error or an EOF instead.
	var ne net.Error
	return strings.Contains(msg, "transport connection broken") && !errors.As(err, &ne) && !errors.Is(err, io.EOF)
}

func isTLSHandshakeTimeout(err error) bool {
	// net/http's tlsHandshakeTimeoutError is unexported; its message is fixed.
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() && strings.Contains(err.Error(), "TLS handshake timeout")
}

// joinDistinct returns a, or a and b joined when b is not already in a's chain.
func joinDistinct(a, b error) error {
	if errors.Is(a, b) {
		return a
	}
	return errors.Join(a, b)
}

// secretQueryWords name query keys whose values are redacted in errors and
// logs: a key containing any of them, in any case.
var secretQueryWords = []string{"token", "key", "secret", "passw", "pwd", "signature", "auth", "credential", "session"}

func isSecretQueryKey(k string) bool {
	k = strings.ToLower(k)
	for _, w := range secretQueryWords {
		if strings.Contains(k, w) {
			return true
		}
	}
	return k == "sig"
}

// redactURL returns u as a string with its password and the values of
// secret query keys replaced by "xxxxx".
func redactURL(u *url.URL) string {
	if u == nil {
		return ""
	}
	c := *u
	if c.User != nil {
		if _, has := c.User.Password(); has {
			c.User = url.UserPassword(c.User.Username(), "xxxxx")
		}
	}
	if c.RawQuery != "" {
		c.RawQuery = redactQuery(c.RawQuery)
	}
	return c.String()
}

// RedactURL returns rawURL with its password and the values of query keys
// that look secret (token, key, secret, password, signature, auth ...)
// replaced by "xxxxx", as in the URLs errors and logs carry. A URL that does
// not parse is returned as "<unparsable URL>", so that nothing leaks.
func RedactURL(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "<unparsable URL>"
	}
	return redactURL(u)
}

// redactQuery keeps the order and encoding of q, replacing secret values.
func redactQuery(q string) string {
	parts := strings.Split(q, "&")
	changed := false
	for i, p := range parts {
		k, _, hasValue := strings.Cut(p, "=")
		dk, err := url.QueryUnescape(k)
		if err != nil {
			dk = k
		}
		if hasValue && isSecretQueryKey(dk) {
			parts[i] = k + "=xxxxx"
			changed = true
		}
	}
	if !changed {
		return q
	}
	return strings.Join(parts, "&")
}

// errorBodyBytes is how much of an error response's body HTTPError keeps.
const errorBodyBytes = 4 << 10

// httpError builds the *HTTPError for resp, whose body is body.
func httpError(method string, u *url.URL, statusCode int, status string, body []byte) *HTTPError {
	if len(body) > errorBodyBytes {
		body = body[:errorBodyBytes]
	}
	if status == "" {
		status = strconv.Itoa(statusCode)
	}
	return &HTTPError{
		StatusCode: statusCode,
		Status:     status,
		Method:     method,
		URL:        redactURL(u),
		Body:       append([]byte(nil), body...),
	}
}
