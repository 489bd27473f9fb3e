// Begin: the one way into a request for every entry point (Request, Do,
// WebSocket's handshake, Events, JSONLines, Download): the session's
// guards in one order, each option checked against the entry point it is
// given to, the call opened, and the one builder of the *RequestError an
// entry point returns.

package reqivo

import (
	"context"
	"errors"
	"net/url"
	"time"
)

// entry is the entry point a request comes in by: it says which request
// options apply. An option that cannot apply is refused, never ignored.
type entry uint8

const (
	entryRequest   entry = iota // Request and the methods built on it, Do
	entryEvents                 // Events: Reconnect applies
	entryJSONLines              // JSONLines: a stream with no reconnection
	entryDownload               // Download: Resume and VerifySHA256 apply
)

// errNilContext refuses a request given a nil context.
var errNilContext = errorf(ErrInvalidOption, "nil context")

// errReconnectOnly refuses Reconnect on a request that is not Events (on
// JSONLines too: it has no reconnection).
var errReconnectOnly = errorf(ErrInvalidOption, "Reconnect is an option of Events only")

// admit is the guards every entry point passes before anything is done or
// sent, in this order: a session made by NewSession or New, its
// construction error (which wins over any other), the request options
// (optErr: the first that failed), an open session, a context, each option
// in its place, and the session's settings valid. It returns the state
// snapshot the request is merged from.
func (s *Session) admit(ctx context.Context, rc *requestConfig, optErr error) (*state, error) {
	switch {
	case !s.usable():
		return nil, errZeroSession
	case s.err != nil:
		return nil, s.err
	case optErr != nil:
		return nil, optErr
	case s.closed.Load():
		return nil, ErrClosed
	case ctx == nil:
		return nil, errNilContext
	}
	if err := rc.misplaced(); err != nil {
		return nil, err
	}
	st := s.state.Load()
	if err := st.firstInvalid(); err != nil {
		return nil, err
	}
	return st, nil
}

// begin admits a request that is sent once (see admit) and opens its call:
// a slot of an AsyncSession's bound, the context with the total deadline,
// the read timeout, the observation. The call is released by its end (or
// by fail), which frees the slot. It is returned by value so that it can
// live on the caller's stack.
func (s *Session) begin(ctx context.Context, method string, rc *requestConfig, optErr error) (call, error) {
	st, err := s.admit(ctx, rc, optErr)
	if err != nil {
		return call{}, err
	}
	slot, err := s.slots.take(ctx) // an AsyncSession's bound: held until the call's release
	if err != nil {
		return call{}, err
	}
	c := call{s: s, st: st, rc: rc, method: method, start: time.Now(), slot: slot}
	c.deadlines(ctx)
	return c, nil
}

// misplaced refuses an option given to an entry point where it cannot
// apply, rather than let the caller believe it did.
func (rc *requestConfig) misplaced() error {
	switch {
	case rc.reconnectSet && rc.in != entryEvents:
		return errReconnectOnly
	case rc.download != nil && rc.in != entryDownload:
		return errDownloadOnly
	}
	return nil
}

// newRequestError is the one builder of the *RequestError an entry point
// returns: err, which already has its kind, for method and the URL shown
// (redacted by the caller). An err that is a *RequestError already is
// returned as it is.
func newRequestError(method, shown string, err error) error {
	var re *RequestError
	if errors.As(err, &re) {
		return err
	}
	return &RequestError{Method: method, URL: shown, Err: err}
}

// requestError is newRequestError for the URL u, with err classified
// first against ctx (the request's context: when it is done, the timeout
// or cancellation is what the caller sees; nil: err as it is).
func requestError(ctx context.Context, method string, u *url.URL, err error) error {
	var re *RequestError
	if errors.As(err, &re) {
		return err
	}
	return newRequestError(method, redactURL(u), classify(ctx, err))
}
