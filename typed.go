// Typed JSON: requests whose 2xx JSON answer is decoded into a value of a
// type parameter, and whose other answers are errors.

package reqivo

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"reflect"
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
// zero T that looks like an answer. So a JSON null is an error unless T can
// hold it (a pointer, map, slice or interface, which it sets to nil, or a
// json.Unmarshaler), and data after the JSON value is an error, streamed or
// not. An error sending the request returns a
// nil Response. The Response's body is read (with Stream, read and closed).
func RequestJSON[T any](ctx context.Context, s *Session, method, url string, opts ...RequestOption) (T, *Response, error) {
	var zero T
	if s == nil {
		return zero, nil, newRequestError(method, RedactURL(url), errorf(ErrInvalidOption, "nil session"))
	}
	if s.usable() { // else Request refuses it
		if _, ok := s.state.Load().header["Accept"]; !ok {
			opts = append([]RequestOption{acceptJSON}, opts...)
		}
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
		return zero, resp, httpError(resp.Request.Method, resp.Request.URL, resp.StatusCode, resp.Status, resp.Header, body)
	}
	if resp.StatusCode == http.StatusNoContent {
		return zero, resp, nil
	}
	invalid := func(err error) (T, *Response, error) {
		return zero, resp, newRequestError(resp.Request.Method, redactURL(resp.Request.URL), err)
	}
	ct := resp.Header.Get("Content-Type")
	if !isJSONType(ct) {
		if ct == "" {
			ct = "none"
		}
		return invalid(errorf(ErrInvalidResponse, "Content-Type "+quote(ct)+" is not JSON"))
	}
	var v T
	if err := decodeJSON(resp, &v); err != nil {
		return invalid(err)
	}
	return v, resp, nil
}

// decodeJSON decodes the one JSON value of resp's body into v, buffered or
// streamed alike. A JSON null is refused unless a T can hold it: it sets a
// pointer, map, slice or interface to nil, and a json.Unmarshaler decides
// for itself; for any other T it would leave the zero value, which looks
// like an answer. Data after the value is refused, as json.Unmarshal
// refuses it.
func decodeJSON[T any](resp *Response, v *T) error {
	if resp.buffered {
		if isJSONNull(resp.body) && !holdsNull[T]() {
			return nullError[T]()
		}
		return resp.JSON(v)
	}
	br := bufio.NewReader(resp.Body)
	if start, err := peekValue(br, 4); err == nil && isJSONNull(start) && !holdsNull[T]() {
		return nullError[T]()
	}
	dec := json.NewDecoder(br)
	if err := dec.Decode(v); err != nil {
		return wrapKind(ErrInvalidResponse, "decoding JSON", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return errorf(ErrInvalidResponse, "decoding JSON: data after the value")
	}
	return nil
}

// peekValue skips the JSON whitespace at the start of br and returns the n
// bytes after it, without consuming them.
func peekValue(br *bufio.Reader, n int) ([]byte, error) {
	for {
		b, err := br.Peek(1)
		if err != nil {
			return nil, err
		}
		switch b[0] {
		case ' ', '\t', '\n', '\r':
			_, _ = br.ReadByte()
			continue
		}
		return br.Peek(n)
	}
}

// isJSONNull reports whether b, spaces around it aside, is the JSON null.
func isJSONNull(b []byte) bool {
	return bytes.Equal(bytes.Trim(b, " \t\n\r"), []byte("null"))
}

var unmarshalerType = reflect.TypeFor[json.Unmarshaler]()

// holdsNull reports whether a JSON null decodes into a T as an answer of
// its own.
func holdsNull[T any]() bool {
	t := reflect.TypeFor[T]()
	switch t.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Interface:
		return true
	}
	return reflect.PointerTo(t).Implements(unmarshalerType)
}

func nullError[T any]() error {
	return errorf(ErrInvalidResponse, "decoding JSON: null is not a "+reflect.TypeFor[T]().String())
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
