// Typed JSON: requests whose 2xx JSON answer is decoded into a value of a
// type parameter, and whose other answers are errors.

package reqivo

import (
	"context"
	"io"
	"mime"
	"net/http"
	"strings"
)

// GetJSON sends a GET request and decodes its JSON answer into a T. See
// RequestJSON.
func GetJSON[T any](ctx context.Context, s *Session, url string, opts ...RequestOption) (T, *Response, error) {
	return RequestJSON[T](ctx, s, http.MethodGet, url, opts...)
}

// PostJSON sends body encoded as JSON in a POST request and decodes the
// JSON answer into a T. See RequestJSON.
func PostJSON[T any](ctx context.Context, s *Session, url string, body any, opts ...RequestOption) (T, *Response, error) {
	return RequestJSON[T](ctx, s, http.MethodPost, url, append([]RequestOption{JSON(body)}, opts...)...)
}

// RequestJSON sends a request with "Accept: application/json" (unless the
// session or the request sets Accept) and decodes the answer into a T.
//
// Only a 2xx answer whose Content-Type is JSON (application/json or any
// type ending in +json) is decoded; a 204 No Content gives the zero T with
// no error. Any other status returns the Response and its *HTTPError; a 2xx
// answer that is not JSON, or whose JSON does not decode into a T, returns
// the Response and a *RequestError matching ErrInvalidResponse: never a
// zero T that looks like an answer. An error sending the request returns a
// nil Response. The Response's body is read (with Stream, read and closed).
func RequestJSON[T any](ctx context.Context, s *Session, method, url string, opts ...RequestOption) (T, *Response, error) {
	var zero T
	if s == nil {
		return zero, nil, &RequestError{Method: method, URL: RedactURL(url), Err: errorf(ErrInvalidOption, "nil session")}
	}
	if _, ok := s.state.Load().header["Accept"]; !ok {
		opts = append([]RequestOption{acceptJSON}, opts...)
	}
	resp, err := s.Request(ctx, method, url, opts...)
	if err != nil {
		return zero, nil, err
	}
	defer resp.Close()
	if !resp.OK() {
		body := resp.body
		if !resp.buffered {
			body, _ = io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		}
		return zero, resp, httpError(resp.Request.Method, resp.Request.URL, resp.StatusCode, resp.Status, body)
	}
	if resp.StatusCode == http.StatusNoContent {
		return zero, resp, nil
	}
	invalid := func(err error) (T, *Response, error) {
		return zero, resp, &RequestError{Method: resp.Request.Method, URL: redactURL(resp.Request.URL), Err: err}
	}
	ct := resp.Header.Get("Content-Type")
	if !isJSONType(ct) {
		if ct == "" {
			ct = "none"
		}
		return invalid(errorf(ErrInvalidResponse, "Content-Type "+quote(ct)+" is not JSON"))
	}
	var v T
	if err := resp.JSON(&v); err != nil {
		return invalid(err)
	}
	return v, resp, nil
}

// acceptJSON is the Accept header of RequestJSON; a request's own Header
// replaces it.
var acceptJSON = Header("Accept", "application/json")

// isJSONType reports whether a Content-Type is JSON: application/json or
// a structured syntax suffix +json (RFC 6839).
func isJSONType(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	return mt == "application/json" || strings.HasSuffix(mt, "+json")
}
