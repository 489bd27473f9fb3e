// Streams: Server-Sent Events and JSON Lines read as iterators, over the
// session's full request path, with idle timeouts, a size cap per event
// and SSE reconnection.

package reqivo

import (
	"context"
	"errors"
	"io"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/reqivo/reqivo/internal/lines"
	"github.com/reqivo/reqivo/internal/sse"
)

// Defaults of streams.
const (
	// DefaultReconnects is how many times in a row a GET event stream
	// reconnects without getting an event in between (see Reconnect).
	DefaultReconnects = 5
	// DefaultReconnectWait is the wait before a reconnection when the
	// server has not set one with a retry field.
	DefaultReconnectWait = 3 * time.Second
	// DefaultMaxEventBytes is the default of Limits.MaxEventBytes.
	DefaultMaxEventBytes = 1 << 20
)

// maxReconnectBackoff caps the backoff of reconnections in a row; a longer
// retry field from the server is still waited in full.
const maxReconnectBackoff = 30 * time.Second

// Event is one Server-Sent Event.
//
// The strings of small events (up to 256 bytes each) are cut from blocks of
// 1 KiB shared with the events around them, which saves an allocation per
// event; an event kept for long keeps its block too (strings.Clone its
// strings to keep only them).
type Event struct {
	// ID is the last event ID: the id field of this event or of the latest
	// one before it that had one, as the SSE standard carries it.
	ID string
	// Type is the event field; "message" when absent.
	Type string
	// Data is the event's data lines joined with "\n".
	Data string
	// Retry is this event's retry field; 0 when absent.
	Retry time.Duration
}

// LineError says which line of a stream could not be used: the line
// number, counted from 1 with blank lines included, and why.
type LineError struct {
	Line int
	Err  error
}

func (e *LineError) Error() string {
	return "line " + strconv.Itoa(e.Line) + ": " + strings.TrimPrefix(e.Err.Error(), "reqivo: ")
}

// Unwrap returns the cause.
func (e *LineError) Unwrap() error { return e.Err }

// IdleTimeout bounds the silence of this request: the wait for the
// response headers, and each wait for the next bytes of the body
// (heartbeats count as bytes). Time the caller spends between two reads,
// such as in the body of a range loop over Events, is not silence. Past it
// the request fails with ErrReadTimeout. It replaces Timeouts.Read for this
// request, streamed or buffered; zero means no bound on silence. Negative
// is an error.
func IdleTimeout(d time.Duration) RequestOption {
	return func(rc *requestConfig) error {
		if d < 0 {
			return errorf(ErrInvalidOption, "negative idle timeout "+d.String())
		}
		rc.idle, rc.idleSet = d, true
		return nil
	}
}

// Reconnect sets how many times in a row an Events stream reconnects with
// no event in between; 0 means never. If not set, DefaultReconnects for
// GET and 0 for other methods. A request whose body cannot be replayed
// (a Body reader other than a bytes.Buffer, bytes.Reader or strings.Reader)
// cannot reconnect: Reconnect above 0 with one is an error. Negative is an
// error.
func Reconnect(max int) RequestOption {
	return func(rc *requestConfig) error {
		if max < 0 {
			return errorf(ErrInvalidOption, "negative Reconnect")
		}
		rc.reconnect, rc.reconnectSet = max, true
		return nil
	}
}

// streamDefaults is put before the caller's options on a stream: the body
// is live, no total timeout runs unless the caller gives Timeout, and
// Accept says what is expected unless the caller says otherwise.
func streamDefaults(in entry, accept string) RequestOption {
	return func(rc *requestConfig) error {
		rc.in = in
		rc.stream = true
		rc.timeout, rc.timeoutSet = 0, true
		rc.header = http.Header{"Accept": {accept}}
		return nil
	}
}

// Events sends a request and returns its response as Server-Sent Events
// (the WHATWG HTML standard), one per loop:
//
//	for ev, err := range s.Events(ctx, "POST", "/chat", reqivo.JSON(prompt)) {
//		if err != nil {
//			return err
//		}
//		fmt.Print(ev.Data)
//	}
//
// The request goes the session's whole way (headers, auth, cookies,
// middleware, hooks, redirects, retries) with "Accept: text/event-stream".
// Nothing is sent until the loop starts, and each loop sends anew.
//
// The stream is not bounded by the session's total timeout: only by ctx
// and by Timeout(d), which, when given, bounds the whole stream,
// reconnections included. IdleTimeout (or else Timeouts.Read) bounds each
// silence; time spent in the loop body is not silence. Breaking out of the
// loop closes the connection at once.
//
// A connection that drops or ends is reconnected, up to Reconnect times in
// a row without an event in between: after the server's retry field (or
// DefaultReconnectWait; a retry field over an hour counts as an hour),
// doubled for each reconnection in a row (up to 30 s unless the server
// asks for more), plus up to half again at random, and at least the
// Retry-After of the last response (up to an hour), with Last-Event-ID set
// to the last event ID. Each reconnection is reported to Observer.Retry,
// its Attempt counting the reconnections in a row from 1; the session's
// RetryPolicy does not bound them (Reconnect does). A body is replayed byte for
// byte. A 204 ends the stream; so does a stream that ends cleanly when no
// reconnection is left. A first connection that fails (a refused port, a
// name that does not resolve) is not reconnected: with nothing to resume,
// the error comes at once.
//
// An error is the last thing the loop yields: it is a *RequestError with
// the method and redacted URL (ErrReadTimeout for a silence over the
// bound, ErrBodyTooLarge for an event over Limits.MaxEventBytes,
// ErrInvalidResponse for a 2xx that is not text/event-stream, ErrCanceled
// when ctx is cancelled, or the error that made the last reconnection
// fail), or, for a status of 400 or more,
// an *HTTPError with the first 4 KiB of the body.
//
// Session.Close does not cut a running stream: it goes on until it ends,
// and a reconnection after Close fails with ErrClosed.
func (s *Session) Events(ctx context.Context, method, url string, opts ...RequestOption) iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		es, err := s.newEventStream(ctx, method, url, opts)
		if err != nil {
			yield(Event{}, err)
			return
		}
		if es.rc.timeout > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, es.rc.timeout)
			defer cancel()
		}
		es.run(ctx, yield)
	}
}

// eventStream is one run of an Events loop: its options, applied once and
// copied for each connection, and the parser that carries the last event
// ID and the reconnection time across them.
type eventStream struct {
	s      *Session
	method string
	rawURL string
	rc     *requestConfig
	max    int  // reconnections allowed in a row without an event
	conns  int  // connections made
	opened bool // a connection has been a stream: only then is a failure to connect reconnected
	p      *sse.Parser

	url        *url.URL      // the last connection's, as observers see it
	retryAfter time.Duration // the last response's Retry-After; 0: none
}

func (s *Session) newEventStream(ctx context.Context, method, rawURL string, opts []RequestOption) (*eventStream, error) {
	rc := new(requestConfig)
	all := make([]RequestOption, 0, len(opts)+1)
	all = append(all, streamDefaults(entryEvents, "text/event-stream"))
	_, err := s.admit(ctx, rc, rc.apply(append(all, opts...)))
	replayable := !rc.bodySet || rc.getBody != nil
	if err == nil && rc.reconnect > 0 && !replayable {
		err = errorf(ErrInvalidOption, "Reconnect with a body that cannot be replayed")
	}
	if err != nil {
		rc.closeBody()
		return nil, newRequestError(method, s.shownURL(rawURL), err)
	}
	es := &eventStream{s: s, method: method, rawURL: rawURL, rc: rc, p: sse.NewParser(s.cfg.limits.MaxEventBytes, maxServerWait)}
	switch {
	case rc.reconnectSet:
		es.max = rc.reconnect
	case method == http.MethodGet && replayable:
		es.max = DefaultReconnects
	}
	return es, nil
}

// run connects, yields events and reconnects until the stream ends or the
// caller stops.
func (es *eventStream) run(ctx context.Context, yield func(Event, error) bool) {
	failures := 0 // reconnections in a row without an event
	for {
		events, again, err := es.connection(ctx, yield)
		if !again {
			return
		}
		if events > 0 {
			failures = 0
		}
		if failures >= es.max || ctx.Err() != nil {
			if err != nil {
				yield(Event{}, err)
			}
			return
		}
		failures++
		base, ok := es.p.Reconnect()
		if !ok {
			base = DefaultReconnectWait
		}
		wait := es.s.reconnectWait(base, failures, es.retryAfter)
		es.s.retriedOutside(ctx, es.method, es.url, failures, wait, err)
		if serr := es.s.clock.sleep(ctx, wait); serr != nil {
			yield(Event{}, newRequestError(es.method, es.s.shownURL(es.rawURL), classify(ctx, serr)))
			return
		}
	}
}

// connection makes one connection and yields its events. again is true
// when the connection ended in a way reconnection is for (a clean end, a
// drop, a silence over the bound), with err the error, if any, to yield
// should no reconnection follow; otherwise the stream is over, any error
// already yielded.
func (es *eventStream) connection(ctx context.Context, yield func(Event, error) bool) (events int, again bool, err error) {
	resp, err := es.connect(ctx)
	if err != nil {
		// A stream that never opened (a refused port, a bad name) fails
		// at once: there is nothing to resume, and the caller should
		// hear so now, not after every reconnection's wait.
		if es.opened && reconnectable(ctx, err) {
			return 0, true, err
		}
		yield(Event{}, err)
		return 0, false, nil
	}
	defer resp.Close()
	es.url, es.retryAfter = resp.Request.URL, 0
	if ra, ok := parseRetryAfter(resp.Header.Get("Retry-After"), es.s.clock.now()); ok {
		es.retryAfter = ra
	}
	if resp.StatusCode == http.StatusNoContent {
		return 0, false, nil
	}
	if err := es.check(resp); err != nil {
		yield(Event{}, err)
		return 0, false, nil
	}
	es.opened = true
	es.p.Reset(resp.Body)
	for {
		ev, err := es.p.Next()
		if err != nil {
			if err == io.EOF {
				return events, true, nil
			}
			err = requestError(nil, es.method, resp.Request.URL, streamError(err))
			if reconnectable(ctx, err) {
				return events, true, err
			}
			yield(Event{}, err)
			return events, false, nil
		}
		events++
		if !yield(Event(ev), nil) {
			return events, false, nil
		}
	}
}

// connect sends the stream's request for one connection: the options as
// applied, with Last-Event-ID and a fresh copy of the body.
func (es *eventStream) connect(ctx context.Context) (*Response, error) {
	c := *es.rc
	c.header = es.rc.header.Clone()
	if id := es.p.LastID(); id != "" && httpguts.ValidHeaderFieldValue(id) {
		c.header["Last-Event-Id"] = []string{id}
	}
	c.timeout = 0 // a Timeout bounds the whole stream (see Events)
	if es.conns > 0 && c.getBody != nil {
		body, err := c.getBody()
		if err != nil {
			return nil, newRequestError(es.method, es.s.shownURL(es.rawURL), wrapKind(ErrInvalidOption, "replaying the body", err))
		}
		c.body = body
	}
	es.conns++
	return es.s.Request(ctx, es.method, es.rawURL, func(rc *requestConfig) error {
		*rc = c
		return nil
	})
}

// check refuses a response that is not an event stream.
func (es *eventStream) check(resp *Response) error {
	if err := streamStatus(es.method, resp); err != nil {
		return err
	}
	if !isEventStream(resp.Header.Get("Content-Type")) {
		return requestError(nil, es.method, resp.Request.URL,
			errorf(ErrInvalidResponse, "Content-Type "+quote(resp.Header.Get("Content-Type"))+", not text/event-stream"))
	}
	return nil
}

// streamStatus returns Response.Err's *HTTPError (with the first 4 KiB
// of the body, and the server's reason) for a status of 400 or more, and
// ErrInvalidResponse for another status that is not 2xx (a redirect not
// followed).
func streamStatus(method string, resp *Response) error {
	switch {
	case resp.StatusCode >= 400:
		return resp.Err()
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		return requestError(nil, method, resp.Request.URL,
			errorf(ErrInvalidResponse, "unexpected status "+quote(resp.Status)+" for a stream"))
	}
	return nil
}

func isEventStream(contentType string) bool {
	mt, _, _ := strings.Cut(contentType, ";")
	return strings.EqualFold(strings.TrimSpace(mt), "text/event-stream")
}

// reconnectable reports whether a stream that failed with err may
// reconnect: not when ctx is done (cancelled, or past a Timeout), nor for a
// failure another try would meet again.
func reconnectable(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	for _, k := range []error{ErrTLS, ErrBodyTooLarge} {
		if errors.Is(err, k) {
			return false
		}
	}
	return errors.Is(err, ErrNetwork) || errors.Is(err, ErrTimeout) || errors.Is(err, ErrInvalidResponse)
}

// jsonLinesAccept is the Accept header of JSONLines.
const jsonLinesAccept = "application/x-ndjson, application/jsonl, application/json;q=0.9"

// JSONLines sends a request and decodes its response as JSON Lines (or
// NDJSON), one value per line, yielded as each line arrives:
//
//	for ev, err := range reqivo.JSONLines[Progress](ctx, s, "GET", "/pull") {
//		if err != nil {
//			return err
//		}
//		fmt.Println(ev.Status)
//	}
//
// The request goes the session's whole way, as for Events, with an Accept
// for JSON Lines (NDJSON, JSON Lines, JSON) unless the request sets one
// with Header; timeouts, the end of the loop and Session.Close work as for
// Events. A last line without a line end is decoded too; blank lines are
// skipped.
//
// A line that does not decode yields an error matching ErrInvalidResponse,
// and a line over Limits.MaxEventBytes one matching ErrBodyTooLarge, each
// with a *LineError carrying the line number: the loop may go on with the
// next line, or stop. Any other error (a status of 400 or more as an
// *HTTPError, a read that failed) ends the loop. There is no
// reconnection.
func JSONLines[T any](ctx context.Context, s *Session, method, url string, opts ...RequestOption) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		var zero T
		all := make([]RequestOption, 0, len(opts)+1)
		all = append(all, streamDefaults(entryJSONLines, jsonLinesAccept))
		resp, err := s.Request(ctx, method, url, append(all, opts...)...)
		if err != nil {
			yield(zero, err)
			return
		}
		defer resp.Close()
		if resp.StatusCode == http.StatusNoContent {
			return
		}
		if err := streamStatus(method, resp); err != nil {
			yield(zero, err)
			return
		}
		fail := func(err error) error {
			return requestError(nil, method, resp.Request.URL, err)
		}
		dec := lines.NewDecoder(resp.Body, lines.Limit(s.cfg.limits.MaxEventBytes))
		for {
			var v T
			_, err := dec.Next(&v)
			switch {
			case err == nil:
				if !yield(v, nil) {
					return
				}
			case err == io.EOF:
				return
			case lineError(&err):
				if !yield(zero, fail(err)) {
					return
				}
			default:
				yield(zero, fail(classify(nil, err)))
				return
			}
		}
	}
}

// streamError gives a parser's error its kind: a line or an event over
// Limits.MaxEventBytes is ErrBodyTooLarge; a read's error is as it was.
func streamError(err error) error {
	if errors.Is(err, lines.ErrTooLong) || errors.Is(err, sse.ErrEventTooLarge) {
		return errorf(ErrBodyTooLarge, "event over Limits.MaxEventBytes")
	}
	return err
}

// lineError reports whether *err is about one line of a JSON Lines
// stream (the stream goes on) rather than the stream; if so, it makes *err
// the *LineError of its kind: ErrBodyTooLarge for a line over
// Limits.MaxEventBytes, ErrInvalidResponse for one that is not one JSON
// value.
func lineError(err *error) bool {
	var le *lines.Error
	if !errors.As(*err, &le) {
		return false
	}
	if errors.Is(le.Err, lines.ErrTooLong) {
		*err = wrapKind(ErrBodyTooLarge, "", &LineError{Line: le.Line, Err: errors.New("longer than Limits.MaxEventBytes")})
	} else {
		*err = wrapKind(ErrInvalidResponse, "", &LineError{Line: le.Line, Err: le.Err})
	}
	return true
}
