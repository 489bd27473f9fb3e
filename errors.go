// Errors: the kinds every request error matches with errors.Is, the
// *RequestError that carries the method and a redacted URL, and *HTTPError
// for responses with a status of 400 or more.

package reqivo

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/reqivo/reqivo/internal/authscheme"
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
	// resolve, or the connection was lost before the response or in the
	// middle of its body.
	ErrNetwork error = &kind{msg: "reqivo: network error"}
	// ErrCanceled: the caller's context was cancelled (context.Canceled is
	// in the chain). It does not match ErrNetwork, and no retry follows it.
	ErrCanceled error = &kind{msg: "reqivo: canceled"}
	// ErrTLS: the TLS handshake failed (an unknown authority, a wrong host
	// name ...). It also matches ErrNetwork.
	ErrTLS error = &kind{msg: "reqivo: TLS error", parent: ErrNetwork}
	// ErrTooManyRedirects: the redirect chain was longer than the limit set
	// with WithMaxRedirects.
	ErrTooManyRedirects error = &kind{msg: "reqivo: too many redirects"}
	// ErrRedirectLoop: a redirect led back to a URL already visited in the
	// chain, with nothing (no new cookie) that could make the answer differ.
	ErrRedirectLoop error = &kind{msg: "reqivo: redirect loop"}
	// ErrInvalidResponse: the response was malformed (bad headers, a bad
	// chunked encoding, headers over the size limit), its JSON could not
	// be decoded, or a download failed its checks.
	ErrInvalidResponse error = &kind{msg: "reqivo: invalid response"}
	// ErrBodyTooLarge: the response body, decoded, is over
	// Limits.MaxResponseBytes.
	ErrBodyTooLarge error = &kind{msg: "reqivo: response body too large"}
	// ErrRateLimited: the session's own rate limit (WithRateLimit) would
	// have held the request past its deadline, so it failed at once rather
	// than sleep into a timeout; nothing was sent. It is not a server's
	// 429, which is a response. It also matches ErrTimeout, and
	// context.DeadlineExceeded is in its chain.
	ErrRateLimited error = &kind{msg: "reqivo: rate limited", parent: ErrTimeout}
	// ErrCircuitOpen: the host's circuit breaker (WithCircuitBreaker) is
	// open after failures in a row, or is half-open with its one probe in
	// flight; nothing was sent.
	ErrCircuitOpen error = &kind{msg: "reqivo: circuit open"}
	// ErrWebSocket: a WebSocket handshake was refused, the peer broke the
	// protocol, or a message was over the size limit.
	ErrWebSocket error = &kind{msg: "reqivo: websocket error"}
	// ErrAuth: the credentials for a request could not be had: the token
	// source of WithTokenSource failed (its error is the cause) or gave a
	// token that cannot be sent. The token is never in the message.
	ErrAuth error = &kind{msg: "reqivo: auth error"}
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

// Timeout reports whether the request failed on a timeout (the error
// matches ErrTimeout), so that os.IsTimeout and (*url.Error).Timeout work
// on it, through HTTPClient too.
func (e *RequestError) Timeout() bool { return errors.Is(e.Err, ErrTimeout) }

// HTTPError is what Response.Err returns for a status of 400 or more.
type HTTPError struct {
	StatusCode int
	Status     string // "404 Not Found"
	Method     string
	URL        string // redacted, as in RequestError
	Body       []byte // the first 4 KiB of the body
	// Header is the response's header (Retry-After, RateLimit-*, request
	// ids), without Set-Cookie and Set-Cookie2; nil if the response had none.
	Header http.Header
}

// Error is the method, the URL and the status, then the server's stated
// reason when the body gives one: an RFC 9457 problem's detail or title,
// or a JSON message or error string; else a Bearer challenge's error and
// error_description (at most 200 characters, control bytes escaped).
func (e *HTTPError) Error() string {
	msg := "reqivo: " + e.Method + " " + e.URL + ": " + e.Status
	if r := bodyReason(e.Body); r != "" {
		msg += ": " + r
	} else if r := challengeReason(e.Header); r != "" {
		msg += ": " + r
	}
	return msg
}

// challengeReason is what a Bearer challenge of h says was wrong (RFC
// 6750, 3: "invalid_token: the token was revoked"), or "".
func challengeReason(h http.Header) string {
	v := h.Values("Www-Authenticate")
	if len(v) == 0 {
		return ""
	}
	code, desc := authscheme.BearerError(v)
	if desc != "" {
		code += ": " + desc
	}
	return shortReason(code)
}

// maxReason bounds the reason HTTPError.Error shows, in characters.
const maxReason = 200

// bodyReason is the reason an error body states, or "": the first of
// detail, title, message and error that is a non-empty string, at the top
// level or in an "error" object (as many APIs nest it).
func bodyReason(body []byte) string {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' {
		return ""
	}
	var top map[string]json.RawMessage
	if json.Unmarshal(body, &top) != nil {
		return ""
	}
	r := reasonIn(top)
	if r == "" {
		var nested map[string]json.RawMessage
		if json.Unmarshal(top["error"], &nested) == nil {
			r = reasonIn(nested)
		}
	}
	return shortReason(r)
}

func reasonIn(m map[string]json.RawMessage) string {
	for _, k := range []string{"detail", "title", "message", "error"} {
		var v string
		if json.Unmarshal(m[k], &v) == nil && strings.TrimSpace(v) != "" {
			return v
		}
	}
	return ""
}

// shortReason cuts r to maxReason characters and escapes its control
// characters, so a server cannot forge lines in a log.
func shortReason(r string) string {
	var b strings.Builder
	n := 0
	for _, c := range strings.TrimSpace(r) {
		if n == maxReason {
			b.WriteString("...")
			break
		}
		n++
		if unicode.IsControl(c) || c == utf8.RuneError {
			q := strconv.QuoteRune(c)
			b.WriteString(q[1 : len(q)-1])
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
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

// givenUpError ends a request whose retries ran out: it says how many
// attempts were sent (not those a breaker or the rate limit refused before
// the wire), and matches what the last one got.
type givenUpError struct {
	sent int
	err  error
}

func (e *givenUpError) Error() string {
	n := strconv.Itoa(e.sent) + " attempts"
	if e.sent == 1 {
		n = "1 attempt"
	}
	return "reqivo: giving up after " + n + ": " + strings.TrimPrefix(e.err.Error(), "reqivo: ")
}

func (e *givenUpError) Unwrap() error { return e.err }

// wrapKind returns an error matching k, with msg and cause.
func wrapKind(k error, msg string, cause error) error {
	return &kindError{kind: k, msg: msg, cause: cause}
}

// errorf is wrapKind without a cause.
func errorf(k error, msg string) error { return &kindError{kind: k, msg: msg} }

// bySetter names setter in err, a kind error from a validation (nil
// stays nil), so that a bad persistent setting says what set it.
func bySetter(setter string, err error) error {
	var ke *kindError
	if err == nil || !errors.As(err, &ke) {
		return err
	}
	return &kindError{kind: ke.kind, msg: setter + ": " + ke.msg, cause: ke.cause}
}

// isKind reports whether err already carries one of our kinds.
func isKind(err error) bool {
	var k *kind
	return errors.As(err, &k)
}

// errorBodyBytes is how much of an error response's body HTTPError keeps.
const errorBodyBytes = 4 << 10

// httpError builds the *HTTPError for a response with that status, header
// and body.
func httpError(method string, u *url.URL, statusCode int, status string, header http.Header, body []byte) *HTTPError {
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
		Header:     errorHeader(header),
	}
}

// errorHeader is a copy of h without the cookies it set: an error is often
// logged whole, and a session cookie has no place in a log.
func errorHeader(h http.Header) http.Header {
	if h == nil {
		return nil
	}
	c := h.Clone()
	delete(c, "Set-Cookie")
	delete(c, "Set-Cookie2")
	return c
}
