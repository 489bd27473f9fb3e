// The body stack: the layers a final response's body is read through, in
// one place and one order, and the watch that bounds an attempt's
// silences with the read timeout.

package reqivo

import (
	"bytes"
	"context"
	"io"
	"math"
	"net/http"
	"sync"
	"time"
)

// bodyStack wraps the final response's body, from the wire out:
//
//  1. the transport's body, in wire bytes;
//  2. loggedBody (WithLogger at Debug): counts wire bytes and writes the
//     attempt's record at EOF or Close; send adds it, since every attempt
//     is logged, the ones retried or redirected too;
//     2b. fillBody (WithCache, a storable response; the cache's plan made
//     it, the hop hands it here): appends the wire bytes to the cache
//     entry and stores it at EOF;
//  3. decodedBody: undoes the Content-Encoding, when the session asked
//     for it (prepare decided: compress);
//  4. progressReader (OnDownloadProgress): counts decoded bytes;
//  5. for Stream, liveBody: the attempt's watch between reads, errors
//     given their kinds, and the call released on Close; without Stream,
//     watchedBody (only when a read timeout runs), and the body is then
//     read whole by buffer, which replaces Body with the bytes.
func (c *call) bodyStack(r *Response, w *watch, fill *fillBody) {
	resp := r.Response
	if fill != nil {
		fill.rc, resp.Body = resp.Body, fill
	}
	if c.compress {
		c.s.cfg.compression.decode(resp)
	}
	if x := c.rc.extra; x != nil {
		x.wrapDownload(resp)
	}
	switch {
	case c.rc.stream:
		resp.Body = &liveBody{r: resp.Body, w: w, ctx: resp.Request.Context(), callCtx: c.ctx, cancel: c.cancel, s: c.s, slot: c.slot}
	case w != nil:
		resp.Body = &watchedBody{r: resp.Body, w: w}
	}
}

// watch bounds the silences of one attempt with the call's read timeout:
// the wait for its headers, then each read of its body. It is the one
// holder of the attempt's context, cancelled with ErrReadTimeout when a
// silence runs too long and released by stop. A hedged copy's watch may
// have no timer (no read timeout runs): it holds the copy's cancel only.
type watch struct {
	d      time.Duration
	timer  *time.Timer // nil: no read timeout
	cancel context.CancelCauseFunc
}

// arm returns req with the context of a new attempt, and the attempt's
// watch, started: nil when the total deadline bounds every silence.
func (c *call) arm(req *http.Request) (*http.Request, *watch) {
	if c.read == 0 {
		return req, nil
	}
	ctx, cancel := context.WithCancelCause(c.ctx)
	w := &watch{d: c.read, cancel: cancel}
	w.timer = time.AfterFunc(c.read, func() { cancel(ErrReadTimeout) })
	return req.WithContext(ctx), w
}

// rearm starts the wait for headers again, for another round trip of the
// same attempt (an auth challenge answered). A nil watch has none.
func (w *watch) rearm() {
	if w != nil && w.timer != nil {
		w.timer.Reset(w.d)
	}
}

// headersIn stops the wait for headers.
func (w *watch) headersIn() {
	if w.timer != nil {
		w.timer.Stop()
	}
}

// read is r.Read with the timer armed only while it waits: time the caller
// spends between two reads is not the server's silence.
func (w *watch) read(r io.Reader, p []byte) (int, error) {
	if w.timer == nil {
		return r.Read(p)
	}
	w.timer.Reset(w.d)
	n, err := r.Read(p)
	w.timer.Stop()
	return n, err
}

// stop ends the attempt: its timer and its context. A nil watch has
// nothing to stop.
func (w *watch) stop() {
	if w == nil {
		return
	}
	if w.timer != nil {
		w.timer.Stop()
	}
	w.cancel(nil)
}

// watchedBody is a body read under a watch.
type watchedBody struct {
	r io.ReadCloser
	w *watch
}

func (b *watchedBody) Read(p []byte) (int, error) { return b.w.read(b.r, p) }
func (b *watchedBody) Close() error               { return b.r.Close() }

// liveBody is the Body of a streamed response: it keeps the attempt's
// watch between reads, gives read errors their kinds, and releases the
// call on Close. It holds what it needs of the call rather than the call,
// which then stays on its goroutine's stack.
type liveBody struct {
	r       io.ReadCloser
	w       *watch          // nil: no read timeout of its own
	ctx     context.Context // the attempt's
	callCtx context.Context
	cancel  context.CancelFunc // the call's total deadline; nil: none
	s       *Session
	slot    *slots // the call's; nil: none
	once    sync.Once
}

func (b *liveBody) Read(p []byte) (int, error) {
	var n int
	var err error
	if b.w != nil {
		n, err = b.w.read(b.r, p)
	} else {
		n, err = b.r.Read(p)
	}
	if err != nil && err != io.EOF {
		err = classifyAttempt(b.callCtx, b.ctx, err)
	}
	return n, err
}

func (b *liveBody) Close() error {
	err := b.r.Close()
	b.once.Do(b.release)
	return err
}

// release is call.release for the streamed call.
func (b *liveBody) release() {
	b.w.stop()
	if b.cancel != nil {
		b.cancel()
	}
	b.slot.leave()
	b.s.done()
}

// peekError keeps the first 4 KiB of a streamed error response's body for
// Err (HTTPError.Body and its reason), and leaves Body yielding every byte.
func (r *Response) peekError() {
	if r.StatusCode < 400 || r.Body == http.NoBody {
		return
	}
	buf := make([]byte, errorBodyBytes)
	n, err := io.ReadFull(r.Body, buf)
	r.body = buf[:n]
	r.Body = &prefixedBody{prefix: bytes.NewReader(buf[:n]), err: err, rest: r.Body}
}

// prefixedBody yields prefix, then the rest of the body (or the error that
// stopped the peek).
type prefixedBody struct {
	prefix *bytes.Reader
	err    error
	rest   io.ReadCloser
}

func (b *prefixedBody) Read(p []byte) (int, error) {
	if b.prefix.Len() > 0 {
		return b.prefix.Read(p)
	}
	switch b.err {
	case nil:
		return b.rest.Read(p)
	case io.EOF, io.ErrUnexpectedEOF:
		return 0, io.EOF // the whole body fit in the peek
	}
	return 0, b.err
}

func (b *prefixedBody) Close() error { return b.rest.Close() }

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
