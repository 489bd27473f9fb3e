// Response: an *http.Response with its body read (unless streamed), and
// the conveniences of the seed's response object.

package reqivo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
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
	timings  *tracer // nil unless tracing was asked for
	retries  []Attempt
	bb       bufferedBody // the Body once buffered; here to save an allocation
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
	return httpError(r.Request.Method, r.Request.URL, r.StatusCode, r.Status, r.body)
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

// bufferedBody is the Body of a buffered response.
type bufferedBody struct{ bytes.Reader }

func (*bufferedBody) Close() error { return nil }

// maxPrealloc bounds the buffer allocated on the word of a Content-Length
// before any of the body has come: past it the buffer grows as bytes
// arrive, so a server cannot make the client allocate what it never sends.
const maxPrealloc = 1 << 20

// buffer reads body whole, up to limit decoded bytes (negative: no limit),
// and closes it. A declared Content-Length over the limit fails before
// anything is read.
func (r *Response) buffer(body io.ReadCloser, limit int64) error {
	defer body.Close()
	cl := r.ContentLength
	if r.Body == http.NoBody || r.Request.Method == http.MethodHead {
		cl = 0 // a HEAD response's Content-Length describes a body it has not
	}
	if limit >= 0 && cl > limit {
		return errorf(ErrBodyTooLarge, "Content-Length over the limit")
	}
	hint := int64(512)
	if cl >= 0 {
		// One more byte than declared, so reading to EOF (which puts the
		// connection back in the pool) needs no second buffer.
		hint = min(cl, maxPrealloc) + 1
	}
	buf, err := readAllLimit(body, limit, hint)
	if err != nil {
		return err
	}
	r.body = buf
	r.buffered = true
	r.bb.Reset(buf)
	r.Body = &r.bb
	return nil
}

// readAllLimit reads r to EOF into a buffer of initial capacity hint,
// failing with ErrBodyTooLarge past limit bytes (negative: no limit). The
// buffer never grows past limit+1.
func readAllLimit(r io.Reader, limit, hint int64) ([]byte, error) {
	if limit == math.MaxInt64 {
		limit = -1 // limit+1 would overflow; no body gets that long anyway
	}
	if limit >= 0 && hint > limit+1 {
		hint = limit + 1
	}
	b := make([]byte, 0, max(hint, 1))
	for {
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if limit >= 0 && int64(len(b)) > limit {
			return nil, errorf(ErrBodyTooLarge, "body over the limit")
		}
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return nil, err
		}
		if len(b) == cap(b) {
			newCap := max(int64(cap(b))*2, 512)
			if limit >= 0 && newCap > limit+1 {
				newCap = limit + 1
			}
			nb := make([]byte, len(b), newCap)
			copy(nb, b)
			b = nb
		}
	}
}

// idleReader fails a body read that waits longer than d for data, by
// cancelling the request's context with ErrReadTimeout.
type idleReader struct {
	r      io.ReadCloser
	d      time.Duration
	timer  *time.Timer
	cancel context.CancelCauseFunc
}

func newIdleReader(r io.ReadCloser, d time.Duration, cancel context.CancelCauseFunc) *idleReader {
	ir := &idleReader{r: r, d: d, cancel: cancel}
	ir.timer = time.AfterFunc(d, func() { cancel(ErrReadTimeout) })
	ir.timer.Stop() // armed by Read
	return ir
}

// Read arms the timer only while it waits: time the caller spends between
// two reads of a stream is not the server's delay.
func (ir *idleReader) Read(p []byte) (int, error) {
	ir.timer.Reset(ir.d)
	n, err := ir.r.Read(p)
	ir.timer.Stop()
	return n, err
}

func (ir *idleReader) Close() error {
	ir.timer.Stop()
	return ir.r.Close()
}

// liveBody is the Body of a streamed response: it keeps the request's
// deadlines, maps their errors to our kinds, and releases them on Close.
type liveBody struct {
	r      io.ReadCloser
	ctx    context.Context
	cancel func()
	once   sync.Once
}

func newLiveBody(body io.ReadCloser, ctx context.Context, read time.Duration, cancelRead context.CancelCauseFunc, cancel func()) io.ReadCloser {
	if cancelRead != nil {
		body = newIdleReader(body, read, cancelRead)
	}
	return &liveBody{r: body, ctx: ctx, cancel: cancel}
}

func (b *liveBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && err != io.EOF {
		err = classify(b.ctx, err)
	}
	return n, err
}

func (b *liveBody) Close() error {
	err := b.r.Close()
	b.once.Do(b.cancel)
	return err
}
