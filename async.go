// AsyncSession: a Session whose requests return a Future at once and run
// on goroutines, with a bound on the requests in flight.

package reqivo

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
)

// AsyncSession is a Session whose request methods return a *Future at once
// instead of blocking: the seed's AsyncSession in Go shape. At most
// WithMaxConcurrency requests (64 if not set) run at a time; the others
// wait in line, first come first served, without holding a goroutine. A
// request whose context ends while it waits is not sent: its Future
// resolves at once with the context's error.
//
// All the Session's state methods (SetHeader, SetBasicAuth, SetCookie,
// OnRequest, Stats ...) are promoted and act on the same state. Every
// request an AsyncSession sends counts against the bound: its own Do,
// Download, WebSocket (for the handshake) and HTTPClient block until a
// slot is free, in the same line as the futures. Only the Session reached
// through the field (a.Session.Get ...) sends outside the bound. Hooks run
// on the session's goroutines, for several requests at once.
//
// The bound counts a request until its Response is returned: a response
// read with Stream holds no slot, and Close does not wait, while its body
// is read.
//
// An AsyncSession is safe for concurrent use by multiple goroutines. Close
// it when done: Close waits for every request it accepted.
//
// The zero AsyncSession is not usable: make one with NewAsyncSession. The
// requests of one that was not made so resolve at once, and its Close
// returns, with an error matching ErrInvalidOption.
type AsyncSession struct {
	*Session

	max int // requests in flight at once, >= 1

	mu      sync.Mutex // guards the fields below
	running int        // goroutines running requests, <= max
	pending int        // requests accepted and not yet resolved
	head    *Future    // the line of waiting requests, oldest first
	tail    *Future
	closing bool          // Close was called: no more requests are accepted
	idle    chan struct{} // closed once closing and pending == 0
	closed  chan struct{} // closed once Close has closed the Session
	workers sync.WaitGroup
}

// NewAsyncSession returns an async session configured by opts, which are
// the Session's options plus WithMaxConcurrency. An invalid option gives
// an error matching ErrInvalidOption, ErrInvalidURL or ErrInvalidHeader.
func NewAsyncSession(opts ...Option) (*AsyncSession, error) {
	s := newSession(opts, true)
	if s.err != nil {
		return nil, s.err
	}
	return &AsyncSession{
		Session: s,
		max:     s.cfg.maxConcurrency,
		idle:    make(chan struct{}),
		closed:  make(chan struct{}),
	}, nil
}

// MaxConcurrency returns the bound on requests in flight at once.
func (a *AsyncSession) MaxConcurrency() int { return a.max }

// Get starts a GET request. See Request.
func (a *AsyncSession) Get(ctx context.Context, url string, opts ...RequestOption) *Future {
	return a.Request(ctx, http.MethodGet, url, opts...)
}

// Head starts a HEAD request. See Request.
func (a *AsyncSession) Head(ctx context.Context, url string, opts ...RequestOption) *Future {
	return a.Request(ctx, http.MethodHead, url, opts...)
}

// Options starts an OPTIONS request. See Request.
func (a *AsyncSession) Options(ctx context.Context, url string, opts ...RequestOption) *Future {
	return a.Request(ctx, http.MethodOptions, url, opts...)
}

// Delete starts a DELETE request. See Request.
func (a *AsyncSession) Delete(ctx context.Context, url string, opts ...RequestOption) *Future {
	return a.Request(ctx, http.MethodDelete, url, opts...)
}

// Post starts a POST request. See Request.
func (a *AsyncSession) Post(ctx context.Context, url string, opts ...RequestOption) *Future {
	return a.Request(ctx, http.MethodPost, url, opts...)
}

// Put starts a PUT request. See Request.
func (a *AsyncSession) Put(ctx context.Context, url string, opts ...RequestOption) *Future {
	return a.Request(ctx, http.MethodPut, url, opts...)
}

// Patch starts a PATCH request. See Request.
func (a *AsyncSession) Patch(ctx context.Context, url string, opts ...RequestOption) *Future {
	return a.Request(ctx, http.MethodPatch, url, opts...)
}

// Request starts a request and returns its Future at once. The request
// runs as Session.Request does, on a goroutine of the session, as soon as
// fewer than MaxConcurrency requests are in flight; the Future then holds
// what Session.Request returned. ctx governs the request while it waits in
// line and while it runs.
//
// On a session that is closed or closing, the Future resolves at once with
// an error matching ErrClosed.
func (a *AsyncSession) Request(ctx context.Context, method, url string, opts ...RequestOption) *Future {
	return a.start(&Future{done: make(chan struct{}), a: a, ctx: ctx, method: method, url: url, opts: opts})
}

// start runs f on a slot, at once or when its turn in line comes.
func (a *AsyncSession) start(f *Future) *Future {
	ctx := f.ctx
	if !a.made() {
		f.refuse(errNotMade)
		return f
	}
	if ctx == nil {
		// Session.Request refuses a nil context before any I/O, with the
		// error every other request method gives.
		f.run()
		return f
	}
	a.mu.Lock()
	if a.closing {
		a.mu.Unlock()
		f.refuse(ErrClosed)
		return f
	}
	a.pending++
	if a.running < a.max {
		a.running++
		a.workers.Add(1)
		a.mu.Unlock()
		go a.work(f)
		return f
	}
	f.queued = true
	if a.tail == nil {
		a.head = f
	} else {
		a.tail.next, f.prev = f, a.tail
	}
	a.tail = f
	if ctx.Done() != nil {
		// Set under mu: a worker reads stop when it takes f out of line.
		f.stop = context.AfterFunc(ctx, func() { a.cancelQueued(f) })
	}
	a.mu.Unlock()
	return f
}

// errNotMade is what an AsyncSession not made by NewAsyncSession returns.
var errNotMade = errorf(ErrInvalidOption, "AsyncSession not made by NewAsyncSession")

// made reports whether a was made by NewAsyncSession.
func (a *AsyncSession) made() bool { return a != nil && a.Session != nil && a.idle != nil }

// work runs f, then the requests waiting in line, until the line is empty.
func (a *AsyncSession) work(f *Future) {
	defer a.workers.Done()
	for f != nil {
		f.run()
		a.mu.Lock()
		a.resolvedLocked()
		next := a.head
		if next == nil {
			a.running--
		} else {
			a.unlinkLocked(next)
		}
		a.mu.Unlock()
		if next != nil && next.stop != nil {
			// If the AfterFunc already started, cancelQueued finds next out
			// of line and does nothing; the request then fails fast on its
			// done context.
			next.stop()
		}
		f = next
	}
}

// cancelQueued resolves f with its context's error if f is still in line.
func (a *AsyncSession) cancelQueued(f *Future) {
	a.mu.Lock()
	if !f.queued {
		a.mu.Unlock()
		return
	}
	a.unlinkLocked(f)
	a.mu.Unlock()
	f.refuse(classify(f.ctx, fmt.Errorf("waiting for a slot: %w", f.ctx.Err())))
	a.mu.Lock()
	a.resolvedLocked() // after resolving: Close waits for this
	a.mu.Unlock()
}

// unlinkLocked takes f out of the line. a.mu must be held.
func (a *AsyncSession) unlinkLocked(f *Future) {
	if f.prev == nil {
		a.head = f.next
	} else {
		f.prev.next = f.next
	}
	if f.next == nil {
		a.tail = f.prev
	} else {
		f.next.prev = f.prev
	}
	f.prev, f.next, f.queued = nil, nil, false
}

// resolvedLocked counts one accepted request as resolved. a.mu must be held.
func (a *AsyncSession) resolvedLocked() {
	a.pending--
	if a.closing && a.pending == 0 {
		close(a.idle)
	}
}

// Close stops accepting requests, waits for every request already
// accepted (running or waiting in line) to resolve, then closes the
// Session. Requests made after Close starts resolve at once with
// ErrClosed. Calling Close again, as for Session.Close, returns nil: it
// waits for the first call to finish. Close must not be called
// from a hook of one of the session's own requests, which it would wait
// for. To stop sooner, cancel the requests' contexts.
func (a *AsyncSession) Close() error {
	if !a.made() {
		return errNotMade
	}
	a.mu.Lock()
	first := !a.closing
	a.closing = true
	if first && a.pending == 0 {
		close(a.idle)
	}
	a.mu.Unlock()
	if !first {
		<-a.closed
		return nil
	}
	<-a.idle
	a.workers.Wait()
	err := a.Session.Close()
	close(a.closed)
	if errors.Is(err, ErrClosed) {
		// The Session was closed directly; it is closed all the same.
		err = nil
	}
	return err
}

// Future is the result of a request started by an AsyncSession; it
// resolves once, when the request ends. Wait and Done may be called any
// number of times from any goroutines. A Future is made by AsyncSession;
// the zero Future and a nil *Future are resolved already, with an error
// matching ErrInvalidOption.
type Future struct {
	done chan struct{} // closed when resp and err are set
	resp *Response
	err  error

	// The request, until it runs; owned by the AsyncSession.
	a          *AsyncSession
	ctx        context.Context
	method     string
	url        string
	opts       []RequestOption
	fn         func() (*Response, error) // a blocking call's work; nil for a request
	queued     bool                      // in line; guarded by a.mu, as prev and next
	prev, next *Future                   // the line
	stop       func() bool
}

// closedChan is the Done channel of a zero or nil Future.
var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// Wait blocks until the request ends and returns what Session.Request
// returned: a Response (any status: check Response.Err) or an error. Every
// call returns the same Response, shared: it is safe for concurrent use
// except for reading its Body.
func (f *Future) Wait() (*Response, error) {
	if f == nil || f.done == nil {
		return nil, errorf(ErrInvalidOption, "nil or zero Future")
	}
	<-f.done
	return f.resp, f.err
}

// Done returns a channel closed once the request has ended, for select.
func (f *Future) Done() <-chan struct{} {
	if f == nil || f.done == nil {
		return closedChan
	}
	return f.done
}

// run sends the request and resolves f.
func (f *Future) run() {
	if f.fn != nil {
		f.resolve(f.fn())
		return
	}
	resp, err := f.a.Session.Request(f.ctx, f.method, f.url, f.opts...)
	f.resolve(resp, err)
}

// refuse resolves f with err without sending the request, closing the
// request body as Session.Request does when it refuses one.
func (f *Future) refuse(err error) {
	var rc requestConfig
	_ = rc.apply(f.opts) // only to take the bodies, to close them
	rc.closeBody()
	u := RedactURL(f.url)
	if f.a.made() {
		if r, rerr := f.a.Session.resolve(f.url); rerr == nil {
			u = redactURL(r)
		}
	}
	f.resolve(nil, newRequestError(f.method, u, err))
}

func (f *Future) resolve(resp *Response, err error) {
	f.resp, f.err = resp, err
	f.a, f.ctx, f.opts, f.stop, f.fn = nil, nil, nil, nil, nil // let the request be collected
	close(f.done)
}

// Gather waits for every future and returns their responses in order, nil
// for the failed ones, with errors.Join of the failures (nil if none).
// A response with an error status is a response, not a failure: check
// Response.Err. When ctx ends first, Gather stops waiting: it returns the
// responses of the futures resolved by then, and its error joins their
// failures with one that wraps ctx's error (and matches ErrTimeout when
// the deadline passed). The requests themselves go on under their own
// contexts. Gather starts no goroutine. A nil ctx is an error matching
// ErrInvalidOption; a nil Future is a failure matching ErrInvalidOption.
func Gather(ctx context.Context, fs ...*Future) ([]*Response, error) {
	if ctx == nil {
		return nil, errorf(ErrInvalidOption, "nil context")
	}
	out := make([]*Response, len(fs))
	var errs []error
	var stopped error
	for i, f := range fs {
		if stopped == nil {
			// select picks at random when f and ctx are both done: stop
			// only if a future is in fact left unresolved.
			select {
			case <-f.Done():
			case <-ctx.Done():
				if left := unresolved(fs[i:]); left > 0 {
					stopped = gatherStopped(ctx, left, len(fs))
				}
			}
		}
		select {
		case <-f.Done():
			resp, err := f.Wait()
			if err != nil {
				errs = append(errs, err)
			}
			out[i] = resp
		default:
		}
	}
	if stopped != nil {
		errs = append(errs, stopped)
	}
	return out, errors.Join(errs...)
}

// gatherStopped says that Gather stopped waiting because ctx ended.
func gatherStopped(ctx context.Context, left, all int) error {
	msg := fmt.Sprintf("gather stopped with %d of %d futures unresolved", left, all)
	cerr := ctx.Err()
	if errors.Is(cerr, context.DeadlineExceeded) {
		return wrapKind(ErrTimeout, msg, cerr)
	}
	if cause := context.Cause(ctx); cause != nil && cause != cerr {
		cerr = errors.Join(cerr, cause)
	}
	return fmt.Errorf("reqivo: %s: %w", msg, cerr)
}

func unresolved(fs []*Future) int {
	n := 0
	for _, f := range fs {
		select {
		case <-f.Done():
		default:
			n++
		}
	}
	return n
}

// Do is Session.Do counted against the bound: it waits for a slot, in line
// with the futures, and holds it until the response's headers are in (its
// body is the caller's to read and close). While it waits, req's context
// governs it; a request refused before it runs has its body closed. Like
// the futures' requests, it must not be called from one of the session's
// own hooks, which may hold the last slot.
func (a *AsyncSession) Do(req *http.Request) (*http.Response, error) {
	if req == nil || req.URL == nil || !a.made() {
		if !a.made() && req != nil && req.Body != nil {
			req.Body.Close()
		}
		if !a.made() {
			return nil, newRequestError("", "", errNotMade)
		}
		return a.Session.Do(req)
	}
	var hresp *http.Response
	ran := false
	f := a.start(&Future{done: make(chan struct{}), a: a, ctx: req.Context(), method: req.Method, url: req.URL.String(),
		fn: func() (*Response, error) {
			ran = true
			r, err := a.Session.Do(req)
			hresp = r
			return nil, err
		}})
	_, err := f.Wait() // Wait orders the writes of fn before these reads
	if !ran && req.Body != nil {
		req.Body.Close()
	}
	return hresp, err
}

// Download is Session.Download counted against the bound for the whole
// transfer: it waits for a slot, in line with the futures.
func (a *AsyncSession) Download(ctx context.Context, rawURL, path string, opts ...RequestOption) (*Response, error) {
	if !a.made() {
		return nil, newRequestError(http.MethodGet, RedactURL(rawURL), errNotMade)
	}
	return a.start(&Future{done: make(chan struct{}), a: a, ctx: ctx, method: http.MethodGet, url: rawURL,
		fn: func() (*Response, error) { return a.Session.Download(ctx, rawURL, path, opts...) }}).Wait()
}

// WebSocket is Session.WebSocket with its handshake counted against the
// bound: it waits for a slot, in line with the futures, and frees it once
// the connection is open (messages are not counted).
func (a *AsyncSession) WebSocket(ctx context.Context, rawURL string, opts ...WebSocketOption) (*WebSocket, error) {
	if !a.made() {
		return nil, newRequestError(http.MethodGet, RedactURL(rawURL), errNotMade)
	}
	var ws *WebSocket
	_, err := a.start(&Future{done: make(chan struct{}), a: a, ctx: ctx, method: http.MethodGet, url: rawURL,
		fn: func() (*Response, error) {
			var err error
			ws, err = a.Session.WebSocket(ctx, rawURL, opts...)
			return nil, err
		}}).Wait()
	return ws, err
}

// HTTPClient is Session.HTTPClient with every request counted against the
// bound, as Do.
func (a *AsyncSession) HTTPClient() *http.Client { return newClient(asyncTransport{a}) }

// asyncTransport is the RoundTripper of AsyncSession.HTTPClient.
type asyncTransport struct{ a *AsyncSession }

func (t asyncTransport) RoundTrip(req *http.Request) (*http.Response, error) { return t.a.Do(req) }
