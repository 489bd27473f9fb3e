// Response: an *http.Response with its body read (unless streamed), and
// the conveniences of a requests-style response object.

package reqivo

import (
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/text/encoding/htmlindex"
)

// Response is an *http.Response with its body already read into memory
// (unless the request had Stream), so the connection is back in the pool.
// Body reads the buffered bytes again, so net/http-style code keeps
// working. A Response is safe for concurrent use by multiple goroutines
// once returned, except for reading Body.
type Response struct {
	*http.Response
	body     []byte
	buffered bool
	history  []*http.Response
	elapsed  time.Duration
	timings  *attempt // the final attempt's record; nil unless Timings were asked for
	retries  []Attempt
	bb       bufferedBody // the Body once buffered; here to save an allocation

	cacheStatus string // see CacheStatus
}

// Bytes returns the body. It is nil for a streamed response (use Body).
func (r *Response) Bytes() []byte { return r.body }

// Text returns the body decoded by the charset of the Content-Type, UTF-8
// if none is named; bytes that do not decode become U+FFFD. It is "" for a
// streamed response.
func (r *Response) Text() string {
	if len(r.body) == 0 {
		return ""
	}
	cs := ""
	if _, params, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err == nil {
		cs = strings.ToLower(params["charset"])
	}
	switch cs {
	case "", "utf-8", "utf8", "us-ascii", "ascii":
		if utf8.Valid(r.body) {
			return string(r.body)
		}
		return strings.ToValidUTF8(string(r.body), "\uFFFD")
	}
	enc, err := htmlindex.Get(cs)
	if err != nil {
		return strings.ToValidUTF8(string(r.body), "\uFFFD")
	}
	out, err := enc.NewDecoder().Bytes(r.body)
	if err != nil {
		return strings.ToValidUTF8(string(r.body), "\uFFFD")
	}
	return string(out)
}

// JSON decodes the body into v. For a streamed response it decodes from
// the live body, and a read of it that fails gives that failure's kind
// (ErrTimeout ...). Bad JSON gives an error matching ErrInvalidResponse.
func (r *Response) JSON(v any) error {
	var err error
	if r.buffered {
		err = json.Unmarshal(r.body, v)
	} else {
		dec := json.NewDecoder(r.Body)
		if err = dec.Decode(v); err == nil && dec.More() {
			err = errors.New("data after the JSON value")
		}
	}
	if err != nil && !isKind(err) {
		return wrapKind(ErrInvalidResponse, "decoding JSON", err)
	}
	return err
}

// OK reports whether the status is 2xx.
func (r *Response) OK() bool { return r.StatusCode >= 200 && r.StatusCode < 300 }

// Err returns an *HTTPError for a status of 400 or more, nil otherwise.
func (r *Response) Err() error {
	if r.StatusCode < 400 {
		return nil
	}
	return httpError(r.Request.Method, r.Request.URL, r.StatusCode, r.Status, r.Header, r.body)
}

// URL returns the final URL, after redirects.
func (r *Response) URL() *url.URL { return r.Request.URL }

// History returns the redirect hops before this response, oldest first,
// their bodies closed.
func (r *Response) History() []*http.Response { return r.history }

// Elapsed is how long the request took, from the call until the response
// was returned: redirects, retries and (unless streamed) the body read
// included.
func (r *Response) Elapsed() time.Duration { return r.elapsed }

// Attempts is how many times the final hop was sent: 1, or more after
// retries.
func (r *Response) Attempts() int { return len(r.retries) + 1 }

// Retries returns the tries of the final hop that were retried, oldest
// first, each with its status or error and the wait that followed; it is
// empty when the first try was the answer. len(Retries())+1 == Attempts().
func (r *Response) Retries() []Attempt { return slices.Clone(r.retries) }

// Close closes the body. It is safe to call always, and needed only for a
// streamed response.
func (r *Response) Close() error {
	if r.Body == nil {
		return nil
	}
	return r.Body.Close()
}
