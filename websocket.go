// WebSocket: a client connection dialled through the session, so the
// handshake carries the session's headers, cookies and auth under the same
// origin rules as a request, over the pool's TLS settings and proxy.

package reqivo

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"unicode/utf8"

	"github.com/coder/websocket"
	"golang.org/x/net/http/httpguts"
)

// MessageType is the type of a WebSocket data message. The zero value is
// no type; Receive never returns it with a message.
type MessageType int

// The data message types of RFC 6455.
const (
	MessageText   = MessageType(websocket.MessageText)   // UTF-8 text
	MessageBinary = MessageType(websocket.MessageBinary) // any bytes
)

// String returns "text", "binary", or the number of another type.
func (t MessageType) String() string {
	switch t {
	case MessageText:
		return "text"
	case MessageBinary:
		return "binary"
	}
	return "MessageType(" + strconv.Itoa(int(t)) + ")"
}

// Close status codes of RFC 6455 (section 7.4.1), for CloseWith and
// CloseError.Code. Applications may also use 3000 to 4999.
const (
	CloseNormalClosure   = 1000 // the purpose of the connection is fulfilled
	CloseGoingAway       = 1001 // a server going down, a browser leaving the page
	CloseProtocolError   = 1002
	CloseUnsupportedData = 1003
	CloseNoStatus        = 1005 // received only: the close frame had no code
	ClosePolicyViolation = 1008
	CloseMessageTooBig   = 1009
	CloseInternalError   = 1011
)

// DefaultMaxMessageBytes is the largest message Receive accepts unless
// MaxMessageBytes says otherwise: 10 MiB.
const DefaultMaxMessageBytes = 10 << 20

// WebSocketOption configures one Session.WebSocket dial. An invalid option,
// or a nil one, fails the dial with ErrInvalidOption before anything is
// sent.
type WebSocketOption func(*wsConfig) error

// wsConfig is what the WebSocket options build.
type wsConfig struct {
	subprotocols []string
	maxMessage   int64
	header       http.Header // per-dial headers, canonical keys
}

// Subprotocols offers the server these subprotocols, in order of
// preference; Subprotocol tells which one it picked. Each must be an HTTP
// token (no space, no comma). If not set, none are offered.
func Subprotocols(protocols ...string) WebSocketOption {
	return func(c *wsConfig) error {
		for _, p := range protocols {
			if p == "" || !httpguts.ValidHeaderFieldName(p) {
				return errorf(ErrInvalidOption, "bad subprotocol "+quote(p))
			}
		}
		c.subprotocols = append(c.subprotocols, protocols...)
		return nil
	}
}

// MaxMessageBytes caps the size of a message Receive accepts; a larger one
// fails with ErrWebSocket and the connection is closed with status 1009
// (message too big). n must be at least 1. If not set, 10 MiB.
func MaxMessageBytes(n int64) WebSocketOption {
	return func(c *wsConfig) error {
		if n < 1 {
			return errorf(ErrInvalidOption, "max message bytes must be at least 1")
		}
		c.maxMessage = n
		return nil
	}
}

// WebSocketHeader sets a header on this handshake only, replacing the
// session's value of it (an Authorization given here wins over session
// auth). CR, LF or NUL in the name or value fail the dial with
// ErrInvalidHeader; the headers of the handshake itself (Connection,
// Upgrade, Sec-WebSocket-*) cannot be set and fail it with
// ErrInvalidOption.
func WebSocketHeader(key, value string) WebSocketOption {
	return func(c *wsConfig) error {
		if err := validateHeaderField(key, value); err != nil {
			return err
		}
		ck := http.CanonicalHeaderKey(key)
		if ck == "Connection" || ck == "Upgrade" || strings.HasPrefix(ck, "Sec-Websocket-") {
			return errorf(ErrInvalidOption, "header "+quote(ck)+" belongs to the WebSocket handshake")
		}
		if c.header == nil {
			c.header = make(http.Header, 4)
		}
		c.header[ck] = []string{value}
		return nil
	}
}

// WebSocket is a client WebSocket connection made by Session.WebSocket.
//
// A WebSocket is safe for concurrent use by multiple goroutines: sends
// (Send, SendText, Ping, Close) may run while a Receive waits, and
// concurrent sends are written one whole message after the other.
// Concurrent Receive calls take turns, each getting whole messages. Ping
// needs a Receive running in another goroutine: that is what reads the
// pong.
//
// A WebSocket outlives the session that dialled it (Session.Close does not
// close it) and the context of the dial; Close it when done. The zero value
// is not connected: its methods fail with ErrWebSocket.
type WebSocket struct {
	conn     *websocket.Conn
	limit    int64
	readTurn chan struct{} // holds a token while a Receive reads
	peer     atomic.Pointer[CloseError]
	lost     atomic.Pointer[error] // why the connection is gone: every later call fails with it
}

// CloseError is the close frame the peer of a WebSocket sent: errors from
// a WebSocket closed by its peer match ErrWebSocket and wrap one (find it
// with errors.As). Its chain also holds the websocket.CloseError of
// github.com/coder/websocket, so websocket.CloseStatus(err) works.
type CloseError struct {
	Code   int    // a status code of RFC 6455, such as CloseNormalClosure; CloseNoStatus if the frame had none
	Reason string // may be empty
	err    error
}

// Error returns the status code and the reason.
func (e *CloseError) Error() string {
	msg := "reqivo: websocket closed by the peer with status " + strconv.Itoa(e.Code)
	if e.Reason != "" {
		msg += " " + quote(e.Reason)
	}
	return msg
}

// Unwrap returns the underlying error of github.com/coder/websocket.
func (e *CloseError) Unwrap() error { return e.err }

// WebSocket dials a WebSocket. rawURL may be ws, wss, http or https
// (http is dialled as ws, https as wss); a relative one is resolved against
// the base URL as for Request, and a scheme-relative one (//host) is
// refused with ErrInvalidURL.
//
// The handshake is a GET request with the session applied as for any
// request: persistent headers under those of WebSocketHeader, session auth
// and cookies set by hand only to the base URL's origin (ws and wss share
// the origin of http and https), jar cookies by their own rules, then the
// OnRequest hooks (OnResponse hooks are not run). It goes through the
// session's transport, middleware included, so its TLS settings, proxy and
// Stats apply; a middleware must not replace the body of a 101 response,
// which is the connection. Cookies set by the handshake response go into
// the jar. Redirects are not followed (a 3xx is a refusal) and the
// handshake is not retried.
//
// ctx, the session's total timeout and its connect and read timeouts bound
// the handshake only: later calls take their own contexts.
//
// Every error is a *RequestError. A server refusing the handshake (any
// status but 101) gives ErrWebSocket with an *HTTPError holding the status
// and the first 1 KiB of the body; a bad answer to the handshake gives
// ErrWebSocket; network failures and timeouts have the kinds they have for
// requests.
func (s *Session) WebSocket(ctx context.Context, rawURL string, opts ...WebSocketOption) (*WebSocket, error) {
	var optErr error
	cfg := wsConfig{maxMessage: DefaultMaxMessageBytes}
	for _, o := range opts {
		if o == nil {
			optErr = errorf(ErrInvalidOption, "nil WebSocket option")
		} else {
			optErr = o(&cfg)
		}
		if optErr != nil {
			break
		}
	}
	// The handshake is a call like any request's: the total deadline, and
	// the read timeout on the wait for the server's answer.
	c, err := s.begin(ctx, http.MethodGet, &noRequestOptions, optErr)
	if err != nil {
		return nil, newRequestError(http.MethodGet, s.shownWebSocketURL(rawURL), err)
	}
	u, err := s.resolveWebSocket(rawURL)
	if err != nil {
		c.release(nil)
		return nil, newRequestError(http.MethodGet, RedactURL(rawURL), err)
	}
	wsu := wsURL(u)
	shown := redactURL(wsu)
	fail := func(err error) (*WebSocket, error) {
		return nil, newRequestError(http.MethodGet, shown, err)
	}
	ctx = c.ctx

	hs := &handshake{c: &c}
	conn, resp, err := websocket.Dial(ctx, u.String(), &websocket.DialOptions{
		HTTPClient: &http.Client{
			Transport:     hs,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		HTTPHeader:   cfg.header,
		Subprotocols: cfg.subprotocols,
	})
	if err != nil {
		err = hs.failure(ctx, wsu, resp, err) // before release: it reads ctx
		c.release(hs.w)
		return fail(err)
	}
	c.release(hs.w)
	conn.SetReadLimit(cfg.maxMessage)
	return &WebSocket{conn: conn, limit: cfg.maxMessage, readTurn: make(chan struct{}, 1)}, nil
}

// shownWebSocketURL is rawURL as the errors of WebSocket show it.
func (s *Session) shownWebSocketURL(rawURL string) string {
	if s.usable() {
		if u, err := s.resolveWebSocket(rawURL); err == nil {
			return redactURL(wsURL(u))
		}
	}
	return RedactURL(rawURL)
}

// resolveWebSocket is resolve with ws and wss allowed; the URL it returns
// is http or https, which is what the handshake is sent to.
func (s *Session) resolveWebSocket(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "ws" && u.Scheme != "wss") {
		return s.resolve(raw)
	}
	if u.Host == "" || u.Hostname() == "" {
		return nil, errorf(ErrInvalidURL, "no host in "+quote(redactURL(u)))
	}
	if u.Scheme == "ws" {
		u.Scheme = "http"
	} else {
		u.Scheme = "https"
	}
	return u, nil
}

// wsURL returns u with the ws or wss scheme, as errors show it.
func wsURL(u *url.URL) *url.URL {
	c := *u
	switch c.Scheme {
	case "http":
		c.Scheme = "ws"
	case "https":
		c.Scheme = "wss"
	}
	return &c
}

// handshake is the RoundTripper of the dial: it applies the session to the
// handshake request and keeps the errors of our own kinds, which
// http.Client would bury in a *url.Error quoting the unredacted URL.
type handshake struct {
	c       *call
	w       *watch // the attempt's, released with the call
	prepErr error  // the session's merge or a hook refused the request
	sendErr error  // the round trip failed
}

func (h *handshake) RoundTrip(req *http.Request) (*http.Response, error) {
	r := req.Clone(req.Context())
	ch, err := h.c.s.prepare(r, h.c.st, "")
	if err != nil {
		h.prepErr = err
		return nil, err
	}
	h.c.chain = ch
	resp, w, err := h.c.send(r, 1)
	h.w = w
	if err != nil {
		h.sendErr = err
	}
	return resp, err
}

// failure turns a failed dial into the cause of its *RequestError.
func (h *handshake) failure(ctx context.Context, u *url.URL, resp *http.Response, err error) error {
	switch {
	case h.prepErr != nil:
		return h.prepErr
	case h.sendErr != nil:
		return h.sendErr // classified by send
	case resp != nil && resp.StatusCode != http.StatusSwitchingProtocols:
		var body []byte
		if resp.Body != nil {
			// The dialler kept the first 1 KiB of the body in memory.
			body, _ = io.ReadAll(resp.Body)
		}
		he := httpError(http.MethodGet, u, resp.StatusCode, resp.Status, resp.Header, body)
		return wrapKind(ErrWebSocket, "handshake refused", refusedError{he})
	case ctx.Err() != nil:
		return classify(ctx, err)
	}
	return wrapKind(ErrWebSocket, "", err)
}

// refusedError shows the status of a refused handshake and unwraps to its
// *HTTPError.
type refusedError struct{ h *HTTPError }

func (e refusedError) Error() string { return e.h.Status }
func (e refusedError) Unwrap() error { return e.h }

// Send sends data as one binary message. If ctx ends before the message
// is written, the connection is closed: a half-written frame cannot be
// taken back.
func (w *WebSocket) Send(ctx context.Context, data []byte) error {
	if err := w.check(ctx); err != nil {
		return err
	}
	return w.gone(w.fail(ctx, "send", w.conn.Write(ctx, websocket.MessageBinary, data)))
}

// gone records that the connection is gone, with err (the first failure
// of a read or write, which closes it), and returns err.
func (w *WebSocket) gone(err error) error {
	if err != nil {
		w.lost.CompareAndSwap(nil, &err)
	}
	return err
}

// SendText sends text as one text message. Text that is not valid UTF-8
// fails with ErrWebSocket and is not sent. If ctx ends before the message
// is written, the connection is closed.
func (w *WebSocket) SendText(ctx context.Context, text string) error {
	if err := w.check(ctx); err != nil {
		return err
	}
	if !utf8.ValidString(text) {
		return errorf(ErrWebSocket, "send: text message is not valid UTF-8")
	}
	return w.gone(w.fail(ctx, "send", w.conn.Write(ctx, websocket.MessageText, []byte(text))))
}

// Receive waits for the next data message and returns it whole, answering
// pings and reading pongs and close frames on the way. A message over the
// limit (MaxMessageBytes) fails with ErrWebSocket and closes the
// connection with status 1009. When the peer closes the connection,
// Receive and every later call return an error wrapping a *CloseError with
// its code and reason. If ctx ends while a message is being read, the
// connection is closed; while waiting for its turn behind another Receive,
// it is not.
func (w *WebSocket) Receive(ctx context.Context) (MessageType, []byte, error) {
	if err := w.check(ctx); err != nil {
		return 0, nil, err
	}
	select {
	case w.readTurn <- struct{}{}:
	case <-ctx.Done():
		return 0, nil, w.fail(ctx, "receive", ctx.Err())
	}
	defer func() { <-w.readTurn }()
	typ, data, err := w.conn.Read(ctx)
	if err != nil {
		return 0, nil, w.gone(w.fail(ctx, "receive", err))
	}
	return MessageType(typ), data, nil
}

// Ping sends a ping and waits for the pong, or until ctx ends (which does
// not close the connection). The pong is read by Receive: Ping returns only
// while another goroutine is in Receive.
func (w *WebSocket) Ping(ctx context.Context) error {
	if err := w.check(ctx); err != nil {
		return err
	}
	return w.fail(ctx, "ping", w.conn.Ping(ctx))
}

// Subprotocol returns the subprotocol the server picked from those offered
// with Subprotocols, or "" if none.
func (w *WebSocket) Subprotocol() string {
	if w == nil || w.conn == nil {
		return ""
	}
	return w.conn.Subprotocol()
}

// Close closes the connection with the closing handshake: it sends a close
// frame with status 1000 (normal closure), waits up to 5 s for the peer's,
// then closes the connection whatever happened. Calls in progress in other
// goroutines return. Closing a connection already closed, by either side or
// by the peer vanishing, returns nil.
func (w *WebSocket) Close() error { return w.close(CloseNormalClosure, "") }

// CloseWith is Close with a status code (1000 to 1003, 1007 to 1014, or
// 3000 to 4999 for applications) and a reason of at most 123 bytes of
// UTF-8. A code or reason that cannot be sent fails with ErrInvalidOption
// and leaves the connection open.
func (w *WebSocket) CloseWith(code int, reason string) error {
	if !sendableCloseCode(code) {
		return errorf(ErrInvalidOption, "close status "+strconv.Itoa(code)+" cannot be sent")
	}
	if len(reason) > 123 || !utf8.ValidString(reason) {
		return errorf(ErrInvalidOption, "close reason longer than 123 bytes or not UTF-8")
	}
	return w.close(code, reason)
}

func (w *WebSocket) close(code int, reason string) error {
	if w == nil || w.conn == nil {
		return errNotConnected
	}
	if w.lost.Load() != nil {
		// Gone already (the peer dropped it, a read or write failed):
		// closed all the same.
		_ = w.conn.CloseNow()
		return nil
	}
	err := w.conn.Close(websocket.StatusCode(code), reason)
	var ce websocket.CloseError
	if err == nil || errors.Is(err, net.ErrClosed) || errors.As(err, &ce) || errors.Is(err, io.EOF) {
		// Already closed, the peer answered with a code of its own, or the
		// peer is gone: either way the connection is closed.
		return nil
	}
	return w.fail(nil, "close", err)
}

// errNotConnected is what the methods of a WebSocket not made by
// Session.WebSocket return.
var errNotConnected = errorf(ErrWebSocket, "not connected: a WebSocket comes from Session.WebSocket")

// check refuses a WebSocket that was never dialled and a nil context.
func (w *WebSocket) check(ctx context.Context) error {
	if w == nil || w.conn == nil {
		return errNotConnected
	}
	if ctx == nil {
		return errorf(ErrInvalidOption, "nil context")
	}
	if lost := w.lost.Load(); lost != nil {
		return wrapKind(ErrWebSocket, "connection gone", *lost)
	}
	return nil
}

func sendableCloseCode(code int) bool {
	switch {
	case code >= 1000 && code <= 1003, code >= 1007 && code <= 1014, code >= 3000 && code <= 4999:
		return true
	}
	return false
}

// fail gives an error of the connection its kind: ErrWebSocket for close
// frames, oversize messages, protocol violations, a connection already
// closed and a peer gone without a close frame (an abnormal closure, EOF
// in the chain); the kinds of classify when ctx ended; ErrNetwork when a
// read or write on the socket failed (a reset, a broken pipe).
func (w *WebSocket) fail(ctx context.Context, op string, err error) error {
	if err == nil {
		return nil
	}
	var wce websocket.CloseError
	if errors.As(err, &wce) {
		ce := &CloseError{Code: int(wce.Code), Reason: wce.Reason, err: err}
		w.peer.CompareAndSwap(nil, ce)
		return wrapKind(ErrWebSocket, op, ce)
	}
	if errors.Is(err, websocket.ErrMessageTooBig) {
		return wrapKind(ErrWebSocket, op+": message over the limit of "+strconv.FormatInt(w.limit, 10)+" bytes", err)
	}
	if ctx != nil && ctx.Err() != nil {
		e := classify(ctx, err)
		if ke, ok := e.(*kindError); ok && ke.msg == "" {
			ke.msg = op
		}
		return e
	}
	if errors.Is(err, net.ErrClosed) {
		if ce := w.peer.Load(); ce != nil {
			return wrapKind(ErrWebSocket, op, ce)
		}
		return wrapKind(ErrWebSocket, op+": connection closed", err)
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) {
		return wrapKind(ErrNetwork, op, err)
	}
	return wrapKind(ErrWebSocket, op, err)
}
