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
// instead of blocking, for code that starts many requests and collects
// their answers later (Gather, Future.Wait). At most
// WithMaxConcurrency requests (64 if not set) are in flight at a time; the
// others wait in line, first come first served, a future without holding a
// goroutine. A request whose context ends while it waits is not sent: it
// fails at once with the context's error.
//
// All the Session's state methods (SetHeader, SetBasicAuth, SetCookie,
// OnRequest, Stats ...) are promoted and act on the same state. Every
// request the session sends counts against the bound, however it is made:
// the futures, Do, HTTPClient, Download, Events, JSONLines, GetJSON, the
// handshake of WebSocket, and the Session reached through the field
// (a.Session.Get ...), all in the same line. Hooks run on the session's
// goroutines, for several requests at once; a request made from a hook
// waits in line like any other, so a hook must not wait for one when the
// bound may be reached.
//
// A request holds its slot until it is over: a buffered response until
// it is returned; a streamed one (Stream, Do and HTTPClient, Events,
// JSONLines, Download) until its body is read to the end or closed, so an
// open event stream holds a slot for as long as it stays open (each
// reconnection takes one again); a WebSocket until its handshake ends
// (messages are not counted). Close every streamed body, and give the
// bound room for the streams kept open.
//
// An AsyncSession is safe for concurrent use by multiple goroutines. Close
// it when done: Close waits for every future it accepted.
//
// The zero AsyncSession is not usable: make one with NewAsyncSession. The
// requests of one that was not made so resolve at once, and its Close
// returns, with an error matching ErrInvalidOption.
type AsyncSession struct {
	*Session

	max   int    // requests in flight at once, >= 1
	slots *slots // the Session's bound

	mu      sync.Mutex    // guards the fields below
	pending int           // futures accepted and not yet resolved
	closing bool          // Close was called: no more futures are accepted
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
	s.slots = newSlots(s.cfg.maxConcurrency)
	return &AsyncSession{
		Session: s,
		max:     s.cfg.maxConcurrency,
		slots:   s.slots,
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
// its turn in line comes; the Future then holds what Session.Request
// returned. ctx governs the request while it waits in line and while it
// runs.
//
// On a session that is closed or closing, the Future resolves at once with
// an error matching ErrClosed.
func (a *AsyncSession) Request(ctx context.Context, method, url string, opts ...RequestOption) *Future {
	f := &Future{done: make(chan struct{}), a: a, ctx: ctx, method: method, url: url, opts: opts}
	if !a.made() {
		f.refuse(errNotMade)
		return f
	}
	if ctx == nil {
		// Session.Request refuses a nil context before any I/O, with the
		// error every other request method gives.
		f.resolve(a.Session.Request(ctx, method, url, opts...))
		return f
	}
	a.mu.Lock()
	if a.closing {
		a.mu.Unlock()
		f.refuse(ErrClosed)
		return f
	}
	a.pending++
	a.mu.Unlock()
	if a.slots.enqueue(f) {
		a.dispatch(f)
	}
	return f
}

// errNotMade is what an AsyncSession not made by NewAsyncSession returns.
var errNotMade = errorf(ErrInvalidOption, "AsyncSession not made by NewAsyncSession")

// made reports whether a was made by NewAsyncSession.
func (a *AsyncSession) made() bool { return a != nil && a.Session != nil && a.idle != nil }

// dispatch runs f, which holds a slot, on a goroutine of its own.
func (a *AsyncSession) dispatch(f *Future) {
	a.workers.Add(1) // f is pending: Close has not passed its wait for idle
	go a.work(f)
}

// work sends f's request with f's slot in its context, for its call to
// claim, and resolves f.
func (a *AsyncSession) work(f *Future) {
	defer a.workers.Done()
	h := &f.held
	h.s = a.slots
	f.sctx = slotContext{Context: f.ctx, h: h}
	resp, err := a.Session.Request(&f.sctx, f.method, f.url, f.opts...)
	if h.unclaimed() {
		a.slots.leave() // refused before its call began
	}
	f.resolve(resp, err)
	a.mu.Lock()
	a.resolvedLocked()
	a.mu.Unlock()
}

// cancelQueued resolves f with its context's error if f is still in line.
func (a *AsyncSession) cancelQueued(f *Future) {
	if !a.slots.dequeue(f) {
		return
	}
	f.refuse(waitEnded(f.ctx))
	a.mu.Lock()
	a.resolvedLocked() // after resolving: Close waits for this
	a.mu.Unlock()
}

// resolvedLocked counts one accepted request as resolved. a.mu must be held.
func (a *AsyncSession) resolvedLocked() {
	a.pending--
	if a.closing && a.pending == 0 {
		close(a.idle)
	}
}

// Close stops accepting futures, waits for every future already accepted
// (running or waiting in line) to resolve, then closes the Session.
// Futures made after Close starts resolve at once with ErrClosed; the
// requests of the blocking methods are their callers' to wait for. Calling Close again, as for Session.Close, returns nil: it
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
	a      *AsyncSession
	ctx    context.Context
	method string
	url    string
	opts   []RequestOption
	w      waiter      // its place in line; guarded by the slots' mu
	stop   func() bool // stops the AfterFunc of ctx; guarded by the slots' mu
	held   heldSlot    // its slot, once it runs
	sctx   slotContext // ctx with held, for the request (kept: a streamed body may still read it)
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
	f.a, f.ctx, f.opts, f.stop = nil, nil, nil, nil // let the request be collected
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

// Do is Session.Do: it waits in line for a slot, which it holds until the
// response's body is closed. While it waits, req's context governs it; a
// request refused before it runs has its body closed.
func (a *AsyncSession) Do(req *http.Request) (*http.Response, error) {
	if !a.made() {
		if req != nil && req.Body != nil {
			req.Body.Close()
		}
		return nil, newRequestError("", "", errNotMade)
	}
	return a.Session.Do(req)
}

// Download is Session.Download: each request of the transfer (a resumed
// one too) waits in line for a slot, and holds it while the body is
// written.
func (a *AsyncSession) Download(ctx context.Context, rawURL, path string, opts ...RequestOption) (*Response, error) {
	if !a.made() {
		return nil, newRequestError(http.MethodGet, RedactURL(rawURL), errNotMade)
	}
	return a.Session.Download(ctx, rawURL, path, opts...)
}

// WebSocket is Session.WebSocket: its handshake waits in line for a slot,
// and frees it once the connection is open (messages are not counted).
func (a *AsyncSession) WebSocket(ctx context.Context, rawURL string, opts ...WebSocketOption) (*WebSocket, error) {
	if !a.made() {
		return nil, newRequestError(http.MethodGet, RedactURL(rawURL), errNotMade)
	}
	return a.Session.WebSocket(ctx, rawURL, opts...)
}

// HTTPClient is Session.HTTPClient: every request of the client counts
// against the bound, as Do.
func (a *AsyncSession) HTTPClient() *http.Client {
	if !a.made() {
		return newClient(sessionTransport{})
	}
	return a.Session.HTTPClient()
}
