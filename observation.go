// Observation: the seam's side of one call. It turns the points of the
// call's pipeline into the events of Observer, and keeps what they need
// that the call does not: the hop number, the physical requests sent, and
// each attempt's connection phases (which Timings reports).

package reqivo

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http/httpguts"
)

// observation is what one call reports to; the call holds none (nil)
// when nothing observes it, and then pays nothing.
type observation struct {
	obs       []Observer
	sensitive map[string]bool
	trace     bool     // Timings asked for: the Response keeps last
	started   bool     // RequestStart was called (not for a WebSocket handshake)
	hop       int      // the redirect hop being sent, from 0
	sent      int      // physical requests started
	last      *attempt // the latest attempt

	// info describes the request to method and u, made once for the
	// attempts that share them.
	info   RequestInfo
	method string
	u      url.URL
}

// requestInfo describes req, made again only when its method or URL
// differs from the last one's.
func (o *observation) requestInfo(req *http.Request) RequestInfo {
	if o.info.URL == "" || req.Method != o.method || *req.URL != o.u {
		o.info, o.method, o.u = requestInfo(req.Method, req.URL), req.Method, *req.URL
	}
	return o.info
}

// observe sets up the call's observation, if anything observes it.
func (c *call) observe(trace bool) {
	obs := c.s.cfg.observers
	if len(obs) == 0 && !trace {
		return
	}
	c.obs = &observation{obs: obs, sensitive: c.s.cfg.sensitive, trace: trace}
}

// startRequest reports the start of the logical request req; the context
// the observers return becomes the call's, and req's.
func (c *call) startRequest(req *http.Request) *http.Request {
	o := c.obs
	o.started = true
	ctx := c.ctx
	ri := o.requestInfo(req)
	for i := range o.obs {
		if f := o.obs[i].RequestStart; f != nil {
			ctx = f(ctx, ri)
		}
	}
	if ctx == c.ctx {
		return req
	}
	c.ctx = ctx
	return req.WithContext(ctx)
}

// endRequest reports the end of the logical request: r or err.
func (c *call) endRequest(r *Response, err error) {
	o := c.obs
	if !o.started {
		return
	}
	d := RequestDone{Redirects: o.hop, Resends: max(o.sent-1, 0), Elapsed: time.Since(c.start), Err: err,
		Attempts: len(c.retries) + 1}
	if o.last != nil {
		d.RequestInfo = o.last.info.RequestInfo
	}
	if r != nil {
		d.StatusCode = r.StatusCode
	}
	for i := range o.obs {
		if f := o.obs[i].RequestEnd; f != nil {
			f(c.ctx, d)
		}
	}
}

// retried reports that attempt n of req, which got resp or err, is
// retried after wait.
func (c *call) retried(req *http.Request, n int, wait time.Duration, resp *http.Response, err error) {
	ri := c.retryInfo(req, n, resp, err)
	ri.Wait = wait
	c.obs.retry(c.ctx, ri)
}

// retryInfo describes attempt n of req, which got resp or err, for a Retry
// event.
func (c *call) retryInfo(req *http.Request, n int, resp *http.Response, err error) RetryInfo {
	o := c.obs
	info := AttemptInfo{RequestInfo: o.requestInfo(req), Attempt: n, Hop: o.hop, Resends: o.sent}
	if at := o.last; at != nil && at.info.Attempt == n && at.info.Hop == o.hop {
		info = at.info
	} // else refused before it started (an open breaker, the rate limit): nothing was sent
	ri := RetryInfo{AttemptInfo: info, Err: err}
	ri.Attempt = n
	if resp != nil {
		ri.StatusCode = resp.StatusCode
	}
	return ri
}

// gaveUp reports that the policy would retry attempt n, which got resp,
// but does not, and why.
func (c *call) gaveUp(n int, resp *http.Response, why string) {
	ri := RetryInfo{AttemptInfo: c.obs.last.info, StatusCode: resp.StatusCode, GivenUp: true, Reason: why}
	ri.Attempt = n
	c.obs.retry(c.ctx, ri)
}

// retriedOutside reports a retry the session makes outside a call (a
// Download resuming a body that broke, an event stream reconnecting): try
// n of method to u failed with err (nil: an event stream that ended) and
// is sent again after wait.
func (s *Session) retriedOutside(ctx context.Context, method string, u *url.URL, n int, wait time.Duration, err error) {
	if len(s.cfg.observers) == 0 || u == nil {
		return
	}
	o := observation{obs: s.cfg.observers}
	o.retry(ctx, RetryInfo{AttemptInfo: AttemptInfo{RequestInfo: requestInfo(method, u), Attempt: n}, Err: err, Wait: wait})
}

func (o *observation) retry(ctx context.Context, ri RetryInfo) {
	for i := range o.obs {
		if f := o.obs[i].Retry; f != nil {
			f(ctx, ri)
		}
	}
}

// redirected reports the redirect from prev, answered with status, to
// next, the request of the next hop.
func (c *call) redirected(prev, next *http.Request, status int) {
	o := c.obs
	o.hop++
	ri := RedirectInfo{StatusCode: status, Hop: o.hop, To: o.requestInfo(next)}
	if o.last != nil {
		ri.From = o.last.info.RequestInfo
	} else {
		ri.From = requestInfo(prev.Method, prev.URL)
	}
	for k := range prev.Header {
		if _, kept := next.Header[k]; !kept && secretHeader(k, o.sensitive) {
			ri.Dropped = append(ri.Dropped, k)
		}
	}
	slices.Sort(ri.Dropped)
	for i := range o.obs {
		if f := o.obs[i].Redirect; f != nil {
			f(c.ctx, ri)
		}
	}
}

// notify reports n about req. Features call it at their point of the
// pipeline; it costs nothing when nothing observes the call:
//
//	c.notify(req, Notice{Kind: NoticeRateLimitWait, Wait: d})
func (c *call) notify(req *http.Request, n Notice) { c.obs.notice(c.ctx, req, n) }

// notice reports n about req under ctx; o nil observes nothing.
func (o *observation) notice(ctx context.Context, req *http.Request, n Notice) {
	if o != nil {
		notify(ctx, o.obs, req, n)
	}
}

// notice reports n about req, with req's context: for a feature's event
// outside the call's own steps (the cache's, storing a body at its end or
// revalidating in the background).
func (s *Session) notice(req *http.Request, n Notice) {
	if obs := s.cfg.observers; len(obs) > 0 {
		notify(req.Context(), obs, req, n)
	}
}

func notify(ctx context.Context, obs []Observer, req *http.Request, n Notice) {
	n.RequestInfo = requestInfo(req.Method, req.URL)
	for i := range obs {
		if f := obs[i].Notice; f != nil {
			f(ctx, n)
		}
	}
}

// attempt is the seam's record of one physical request, from its start
// to its end, reported once.
type attempt struct {
	o       *observation
	callCtx context.Context // the call's (not the call itself, which stays on the stack)
	ctx     context.Context // the attempt's, as the observers left it
	req     *http.Request   // as sent
	info    AttemptInfo
	start   time.Time
	once    sync.Once

	ct httptrace.ClientTrace // GotConn only, unless Timings were asked for

	mu sync.Mutex // guards ev, written by the transport's goroutines
	ev connEvents
}

// connEvents are the times of one attempt's connection events.
type connEvents struct {
	getConn, firstByte,
	dnsStart, dnsDone,
	connStart, connDone,
	tlsStart, tlsDone time.Time
	reused, gotConn bool
}

// startAttempt reports attempt n of the hop req (a hedge: a copy of it
// sent while an earlier one waits), and returns the request to send: with
// the attempt's context (its connection traced) and the headers the
// observers added. It fails, the attempt reported ended, when an added
// header is invalid.
func (c *call) startAttempt(req *http.Request, n int, hedge bool) (*http.Request, *attempt, error) {
	o := c.obs
	at := &attempt{o: o, callCtx: c.ctx, start: time.Now()}
	at.info = AttemptInfo{RequestInfo: o.requestInfo(req), Attempt: n, Hop: o.hop, Resends: o.sent, Hedge: hedge}
	o.sent++
	o.last = at
	ctx := req.Context()
	var add http.Header
	for i := range o.obs {
		if f := o.obs[i].AttemptStart; f != nil {
			if add == nil {
				add = http.Header{}
			}
			ctx = f(ctx, at.info, add)
		}
	}
	at.ctx = ctx
	at.req = req
	// The call owns the hop's header (merge made it; a retry and a
	// redirect copy it), so the added headers go straight in: each
	// attempt sets its own again.
	for k, vs := range add {
		for _, v := range vs {
			if !httpguts.ValidHeaderFieldName(k) || !httpguts.ValidHeaderFieldValue(v) {
				err := errorf(ErrInvalidHeader, "bad header "+quote(k)+" from an Observer")
				at.done(nil, 0, err)
				return nil, nil, err
			}
		}
		req.Header[http.CanonicalHeaderKey(k)] = vs
	}
	if o.trace {
		ctx = httptrace.WithClientTrace(ctx, at.clientTrace())
	} else {
		at.ct.GotConn = at.gotConn
		ctx = httptrace.WithClientTrace(ctx, &at.ct)
	}
	req = req.WithContext(ctx)
	at.req = req
	return req, at, nil
}

func (at *attempt) gotConn(info httptrace.GotConnInfo) {
	at.mu.Lock()
	at.ev.reused, at.ev.gotConn = info.Reused, true
	at.mu.Unlock()
}

// clientTrace records all the attempt's connection events, for Timings.
func (at *attempt) clientTrace() *httptrace.ClientTrace {
	return &httptrace.ClientTrace{
		GetConn: func(string) {
			at.mu.Lock()
			at.ev = connEvents{getConn: time.Now()}
			at.mu.Unlock()
		},
		GotConn:  at.gotConn,
		DNSStart: func(httptrace.DNSStartInfo) { at.mark(&at.ev.dnsStart, true) },
		DNSDone:  func(httptrace.DNSDoneInfo) { at.mark(&at.ev.dnsDone, false) },
		ConnectStart: func(string, string) {
			at.mark(&at.ev.connStart, true)
		},
		ConnectDone: func(_, _ string, err error) {
			if err == nil {
				at.mark(&at.ev.connDone, true)
			}
		},
		TLSHandshakeStart: func() { at.mark(&at.ev.tlsStart, true) },
		TLSHandshakeDone: func(_ tls.ConnectionState, err error) {
			if err == nil {
				at.mark(&at.ev.tlsDone, false)
			}
		},
		GotFirstResponseByte: func() { at.mark(&at.ev.firstByte, false) },
	}
}

// mark sets *t to now; with first, only if it is not set yet (a dial may
// try several addresses: the first start and first success count).
func (at *attempt) mark(t *time.Time, first bool) {
	now := time.Now()
	at.mu.Lock()
	if !first || t.IsZero() {
		*t = now
	}
	at.mu.Unlock()
}

// timings are the attempt's phases, and whether it got a connection.
func (at *attempt) timings() (Timings, bool) {
	at.mu.Lock()
	defer at.mu.Unlock()
	e := &at.ev
	out := Timings{ConnReused: e.reused}
	if !e.reused {
		out.DNS = span(e.dnsStart, e.dnsDone)
		out.Connect = span(e.connStart, e.connDone)
		out.TLS = span(e.tlsStart, e.tlsDone)
	}
	out.TimeToFirstByte = span(e.getConn, e.firstByte)
	return out, e.gotConn
}

// end returns resp with its body watched, so the attempt is reported when
// the body ends; at once when it has none (or it is a WebSocket's).
func (at *attempt) end(resp *http.Response) *http.Response {
	if resp.Body == http.NoBody || resp.StatusCode == http.StatusSwitchingProtocols {
		at.done(resp, 0, nil)
		return resp
	}
	resp.Body = &observedBody{r: resp.Body, at: at, resp: resp}
	return resp
}

// done reports the end of the attempt, once: resp (nil if none came)
// after n body bytes, or err.
func (at *attempt) done(resp *http.Response, n int64, err error) {
	at.once.Do(func() {
		d := AttemptDone{AttemptInfo: at.info, Err: err, Bytes: n}
		d.Timings, d.GotConn = at.timings()
		d.Timings.Total = time.Since(at.start)
		d.RequestHeader = Headers{at.req.Header, at.o.sensitive}
		if resp != nil {
			d.StatusCode, d.Proto = resp.StatusCode, resp.Proto
			d.ResponseHeader = Headers{resp.Header, at.o.sensitive}
		}
		for i := range at.o.obs {
			if f := at.o.obs[i].AttemptEnd; f != nil {
				f(at.ctx, d)
			}
		}
	})
}

// observedBody counts a response body in wire bytes and reports its
// attempt at its end or close.
//
// n is atomic: Close may run while a Read is under way in another goroutine
// (a stream aborted from outside).
type observedBody struct {
	r    io.ReadCloser
	at   *attempt
	resp *http.Response
	n    atomic.Int64
}

func (b *observedBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	total := b.n.Add(int64(n))
	if err == io.EOF {
		b.at.done(b.resp, total, nil)
	} else if err != nil {
		b.at.done(b.resp, total, classifyAttempt(b.at.callCtx, b.at.ctx, err))
	}
	return n, err
}

func (b *observedBody) Close() error {
	err := b.r.Close()
	b.at.done(b.resp, b.n.Load(), nil)
	return err
}
