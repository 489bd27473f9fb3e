// Request options: per-request headers, query parameters, bodies, timeout
// and streaming.

package reqivo

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// RequestOption configures one request.
type RequestOption func(*requestConfig) error

// requestConfig is what the request options build.
type requestConfig struct {
	header        http.Header // per-request headers, canonical keys
	query         url.Values
	body          io.Reader
	getBody       func() (io.ReadCloser, error)
	contentLength int64 // -1: unknown (chunked)
	contentType   string
	bodySet       bool
	timeout       time.Duration
	timeoutSet    bool
	stream        bool
	idle          time.Duration // IdleTimeout: replaces Timeouts.Read for this request
	idleSet       bool
	host          string        // a Host given with Header, sent as req.Host
	pathParams    []string      // PathParam: name, value pairs
	extra         *requestExtra // tracing and progress; nil on the default path
	reconnect     int           // Reconnect, for Events when reconnectSet
	reconnectSet  bool
	hedge         *Hedge // Hedging: replaces the session's; nil: the session's

	download *downloadConfig // Resume, VerifySHA256 (resume.go): nil unless given
	in       entry           // the entry point the options are given to (begin.go)
	// prior is the attempts the entry point has sent before this request
	// (a Download's earlier bodies): they count against MaxAttempts.
	prior int
}

// Header sets a header on this request only, replacing the session's value
// of it. CR, LF or NUL in the name or value fail the request with
// ErrInvalidHeader.
func Header(key, value string) RequestOption {
	return func(rc *requestConfig) error {
		if err := validateHeaderField(key, value); err != nil {
			return err
		}
		if rc.header == nil {
			rc.header = make(http.Header, 4)
		}
		rc.header[http.CanonicalHeaderKey(key)] = []string{value}
		return nil
	}
}

// PathParam fills the segment {name} of the request URL's path with value,
// escaped with url.PathEscape (and "." or ".." as %2E, %2E%2E), so that a
// value such as "../admin" stays one segment and cannot change the path:
// "users/{id}" with PathParam("id", "7") is "users/7". A {name} left
// unfilled fails the request with ErrInvalidURL, before anything is sent.
func PathParam(name, value string) RequestOption {
	return func(rc *requestConfig) error {
		if name == "" || strings.ContainsAny(name, "{}") {
			return errorf(ErrInvalidOption, "bad path parameter name "+quote(name))
		}
		rc.pathParams = append(rc.pathParams, name, value)
		return nil
	}
}

// Query adds a query parameter, after any the URL has.
func Query(key, value string) RequestOption {
	return func(rc *requestConfig) error {
		if rc.query == nil {
			rc.query = url.Values{}
		}
		rc.query.Add(key, value)
		return nil
	}
}

// Params adds query parameters, after any the URL has.
func Params(v url.Values) RequestOption {
	return func(rc *requestConfig) error {
		if rc.query == nil {
			rc.query = url.Values{}
		}
		for k, vs := range v {
			rc.query[k] = append(rc.query[k], vs...)
		}
		return nil
	}
}

// Body sends r as the request body. A *bytes.Buffer, *bytes.Reader or
// *strings.Reader is sent with its length and can be replayed (307/308
// redirects, retries); any other reader is sent chunked, once. If r is an
// io.Closer it is closed after the request.
func Body(r io.Reader) RequestOption {
	return func(rc *requestConfig) error {
		if err := rc.setBody(); err != nil {
			if c, ok := r.(io.Closer); ok {
				c.Close() // refused, but closed as the request's body would be
			}
			return err
		}
		switch v := r.(type) {
		case nil:
			return errorf(ErrInvalidOption, "nil body reader")
		case *bytes.Buffer:
			return rc.bytesBody(v.Bytes())
		case *bytes.Reader:
			b := make([]byte, v.Len())
			_, _ = v.Read(b)
			return rc.bytesBody(b)
		case *strings.Reader:
			b := make([]byte, v.Len())
			_, _ = v.Read(b)
			return rc.bytesBody(b)
		default:
			rc.body = r
			rc.contentLength = -1
		}
		return nil
	}
}

// BodyBytes sends b as the request body (replayable). b must not change
// until the request returns.
func BodyBytes(b []byte) RequestOption {
	return func(rc *requestConfig) error {
		if err := rc.setBody(); err != nil {
			return err
		}
		return rc.bytesBody(b)
	}
}

// BodyString sends s as the request body (replayable).
func BodyString(s string) RequestOption {
	return func(rc *requestConfig) error {
		if err := rc.setBody(); err != nil {
			return err
		}
		return rc.bytesBody([]byte(s))
	}
}

// JSON sends v encoded as JSON with "Content-Type: application/json"
// (replayable). A value that cannot be encoded fails the request with
// ErrInvalidOption.
func JSON(v any) RequestOption {
	return func(rc *requestConfig) error {
		if err := rc.setBody(); err != nil {
			return err
		}
		b, err := json.Marshal(v)
		if err != nil {
			return wrapKind(ErrInvalidOption, "JSON body", err)
		}
		rc.contentType = "application/json"
		return rc.bytesBody(b)
	}
}

// Form sends v URL-encoded with "Content-Type:
// application/x-www-form-urlencoded" (replayable).
func Form(v url.Values) RequestOption {
	return func(rc *requestConfig) error {
		if err := rc.setBody(); err != nil {
			return err
		}
		rc.contentType = "application/x-www-form-urlencoded"
		return rc.bytesBody([]byte(v.Encode()))
	}
}

// Timeout replaces the session's total timeout for this request; zero means
// no total deadline.
func Timeout(d time.Duration) RequestOption {
	return func(rc *requestConfig) error {
		if d < 0 {
			return errorf(ErrInvalidOption, "negative timeout "+d.String())
		}
		rc.timeout, rc.timeoutSet = d, true
		return nil
	}
}

// Stream leaves the response body unread and unbounded: Response.Body is
// the live body and the caller must Close the Response. The total timeout
// keeps running until then.
func Stream() RequestOption {
	return func(rc *requestConfig) error {
		rc.stream = true
		return nil
	}
}

// apply applies opts and returns the first error. After an error the rest
// are still applied, their errors dropped, so that every body they hold is
// taken and can be closed with the failed request (closeBody).
func (rc *requestConfig) apply(opts []RequestOption) error {
	var first error
	for _, o := range opts {
		err := errorf(ErrInvalidOption, "nil request option")
		if o != nil {
			err = o(rc)
		}
		if err != nil && first == nil {
			first = err
		}
	}
	return first
}

// closeBody closes the body an option took (a file, a multipart stream), as
// it would be closed after a request, when the request fails before it is
// sent.
func (rc *requestConfig) closeBody() {
	if c, ok := rc.body.(io.Closer); ok {
		c.Close()
	}
}

func (rc *requestConfig) setBody() error {
	if rc.bodySet {
		return errorf(ErrInvalidOption, "request body given twice")
	}
	rc.bodySet = true
	return nil
}

func (rc *requestConfig) bytesBody(b []byte) error {
	rc.contentLength = int64(len(b))
	if len(b) == 0 {
		rc.body = http.NoBody
		rc.getBody = func() (io.ReadCloser, error) { return http.NoBody, nil }
		return nil
	}
	rc.body = bytes.NewReader(b)
	rc.getBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	return nil
}
