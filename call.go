// Call: one request in flight, owned by one value from the moment the
// session takes it until its Response or error is returned. The request
// path reads one way: facade -> session -> call (prepare, redirect chain,
// attempts, transport) -> body stack -> Response; no step writes back into
// an earlier one.

package reqivo

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"
)

// call owns one logical request in flight: its context and deadlines, the
// state snapshot it was merged from, its tracer, its redirect chain and
// what the session asked of the response. Only the goroutine running the
// request touches it, until the final body is handed over (then only the
// body stack, through release).
type call struct {
	s      *Session
	st     *state
	rc     *requestConfig
	method string
	start  time.Time

	// ctx is the caller's context with the total deadline; cancel releases
	// that deadline (nil when there is none).
	ctx    context.Context
	cancel context.CancelFunc
	// read bounds each silence of an attempt (the wait for its headers,
	// each read of its body) when the total deadline does not already:
	// 0 then. Each attempt's watch holds its own timer and cancel.
	read time.Duration
	obs  *observation // nil unless observed (observe.go)
	slot *slots       // the slot the call holds (an AsyncSession's); nil: none

	chain             // the redirect chain, started by prepare
	retries []Attempt // the final hop's tries that were retried
	sent    int       // the hop's attempts that reached the wire (not refused by a guard)
}

// execute runs one logical request on the call begin opened. in is owned
// by execute, which sends a copy of it with the call's context (so in may
// live on the caller's stack); in.Header holds the per-request headers only
// (or is nil), and rc.contentType the Content-Type of a body option.
func (c *call) execute(in *http.Request) (*Response, error) {
	req := in.WithContext(c.ctx)
	ch, err := c.s.prepare(req, c.st, c.rc.contentType)
	if err != nil {
		c.release(nil)
		return nil, refuse(c.method, req, err)
	}
	c.chain = ch
	if c.obs != nil {
		req = c.startRequest(req)
	}
	r, err := c.run(req)
	for i := 0; err == nil && i < len(c.st.onResponse); i++ {
		if herr := c.st.onResponse[i](r); herr != nil {
			r.Close()
			r, err = nil, newRequestError(c.method, redactURL(r.Request.URL), herr)
		}
	}
	if c.obs != nil {
		c.endRequest(r, err)
	}
	return r, err
}

// deadlines sets the call's context: ctx with the total deadline (the
// session's, or Timeout's), and the read timeout its attempts arm when it
// is shorter than the total (IdleTimeout's, or the session's).
func (c *call) deadlines(ctx context.Context) {
	total := c.s.cfg.timeouts.Total
	if c.rc.timeoutSet {
		total = c.rc.timeout
	}
	c.ctx = ctx
	if total > 0 {
		c.ctx, c.cancel = context.WithTimeout(ctx, total)
	}
	read := c.s.cfg.timeouts.Read
	if c.rc.idleSet {
		read = c.rc.idle
	}
	if read > 0 && (total == 0 || read < total) {
		c.read = read
	}
	c.observe(c.s.cfg.trace || c.rc.extra != nil && c.rc.extra.trace)
}

// outOfBand is a call of its own, under ctx, for a request of method the
// session sends on c's behalf with nobody waiting for its answer (the
// cache's background revalidation): c's session, snapshot and redirect
// chain (its per-attempt auth), deadlines as a request's. Its attempts are
// observed as any (with no RequestStart: nobody asked for the request).
func (c *call) outOfBand(ctx context.Context, method string) *call {
	oc := &call{s: c.s, st: c.st, rc: &requestConfig{}, method: method, start: time.Now(), chain: c.chain}
	oc.deadlines(ctx)
	return oc
}

// release ends the call: the attempt's watch w (if any) and the total
// deadline are released, and on a closed session the connections the
// request put back are closed, over HTTP/2 as over HTTP/1.
func (c *call) release(w *watch) {
	if w != nil {
		w.stop()
	}
	if c.cancel != nil {
		c.cancel()
	}
	c.slot.leave()
	c.s.done()
}

// fail ends the call with err, classified against ctx, for the hop req.
func (c *call) fail(req *http.Request, err error) error {
	err = requestError(c.ctx, c.method, req.URL, err) // before release: it reads ctx
	c.release(nil)
	return err
}

// run sends req, follows its redirects and returns the final Response,
// its body read unless the request streams.
func (c *call) run(req *http.Request) (*Response, error) {
	var history []*http.Response
	var visited map[string]bool
	for n := 0; ; n++ {
		c.retries = nil // a hop the cache answers has no tries
		hr, next, err := c.cacheHop(req)
		if err != nil {
			closeAll(history)
			return nil, c.fail(req, err)
		}
		if hr.final != nil {
			hr.final.history = history
			if !c.rc.stream {
				c.release(nil)
			}
			return hr.final, nil
		}
		resp := hr.resp
		switch {
		case n >= c.s.cfg.maxRedirects:
			err = errorf(ErrTooManyRedirects, "stopped after "+strconv.Itoa(c.s.cfg.maxRedirects)+" redirects")
		default:
			if visited == nil {
				visited = map[string]bool{req.Method + " " + req.URL.String(): true}
			}
			key := next.method + " " + next.url.String()
			if visited[key] && len(resp.Header["Set-Cookie"]) == 0 {
				err = errorf(ErrRedirectLoop, "back to "+quote(redactURL(next.url)))
			}
			visited[key] = true
		}
		discard(resp)
		hr.w.stop()
		if err != nil {
			closeAll(history)
			return nil, c.fail(req, err)
		}
		history = append(history, resp)
		nreq, err := c.newHop(req, next)
		if err != nil {
			closeAll(history)
			return nil, c.fail(req, err)
		}
		if c.obs != nil {
			c.redirected(req, nreq, resp.StatusCode)
		}
		req = nreq
	}
}

// cacheHop sends one redirect hop: through the cache's stage when the
// session has one (cache_hop.go), which wraps hop.
func (c *call) cacheHop(req *http.Request) (hopResult, hop, error) {
	if c.s.cache == nil {
		return c.hop(req, nil)
	}
	return c.s.cache.hop(c, req)
}

// hopResult is how one hop ended: the final Response, or resp, its body
// still open and its watch w still to stop once the body is drained: a
// redirect to follow, or (cached) an answer the cache's plan takes for
// itself. stored says the cache's plan stores the answer.
type hopResult struct {
	final  *Response
	resp   *http.Response
	w      *watch
	cached bool
	stored bool
}

// hop sends one hop of the chain, retrying it as the policy says. The
// final response's body stack is built, and read whole unless the request
// streams, within the attempt: a body cut off in the middle is that
// attempt's failure, which the policy may retry with the whole response
// read again. plan is the cache's for this hop (nil: none).
func (c *call) hop(req *http.Request, plan *cachePlan) (hopResult, hop, error) {
	p := c.s.cfg.retry
	c.retries, c.sent = nil, 0
	for n := 1; ; n++ {
		if n == 1 {
			c.deposit(req) // the host's retry budget (budget.go)
		}
		resp, w, err := c.try(req, n) // sent once, or hedged (hedge.go)
		var next hop
		follow := false
		if err == nil {
			next, follow = c.nextHop(req, resp)
		}
		retry := c.retryable(p, n, req, resp, err)
		if !retry && err == nil && !follow {
			hr, ferr := c.answer(resp, w, plan)
			if ferr == nil {
				return hr, hop{}, nil
			}
			resp, w, err = nil, nil, ferr
			retry = c.retryable(p, n, req, nil, err)
		}
		wait := time.Duration(0)
		if retry {
			wait, retry = c.backoff(p, n, resp, err)
		}
		if retry {
			retry = c.spend(req, n, resp, err, false) // the host's retry budget (budget.go)
		}
		if !retry {
			switch {
			case err != nil:
				if n > 1 && c.sent > 0 {
					err = &givenUpError{sent: c.sent, err: err}
				}
				return hopResult{}, hop{}, err
			case follow:
				return c.redirect(resp, w, plan), next, nil
			}
			// The policy would retry, but the wait is not to be had: this
			// response is the answer.
			hr, ferr := c.answer(resp, w, plan)
			if ferr != nil {
				return hopResult{}, hop{}, ferr
			}
			return hr, hop{}, nil
		}
		try := Attempt{Wait: wait, Err: err}
		if resp != nil {
			try.StatusCode = resp.StatusCode
			discard(resp)
			w.stop()
		}
		if c.obs != nil {
			c.retried(req, n, wait, resp, err)
		}
		c.retries = append(c.retries, try)
		if serr := c.s.clock.sleep(c.ctx, wait); serr != nil {
			if err == nil {
				err = serr
			}
			return hopResult{}, hop{}, err
		}
		if req, err = retryRequest(req, c.ctx); err != nil {
			return hopResult{}, hop{}, err
		}
	}
}

// retryable reports whether the policy p retries attempt n of req, which
// got resp or err. The attempts an entry point sent before this request
// (a Download's earlier bodies) count against MaxAttempts.
func (c *call) retryable(p *RetryPolicy, n int, req *http.Request, resp *http.Response, err error) bool {
	return p != nil && n+c.rc.prior < p.MaxAttempts && replayable(req) && p.Retry(req, resp, err)
}

// backoff is the wait before retrying attempt n, and whether to retry at
// all (see retryWait): a wait not to be had ends the retries with what the
// attempt got, reported to the observers when that is a response.
func (c *call) backoff(p *RetryPolicy, n int, resp *http.Response, err error) (time.Duration, bool) {
	wait, why, ok := c.s.retryWait(c.ctx, p, n+c.rc.prior, resp, err)
	if !ok && c.obs != nil && resp != nil && why != "" {
		c.gaveUp(n, resp, why)
	}
	return wait, ok
}

// retryRequest is req again, with its body replayed, for the next attempt.
func retryRequest(req *http.Request, ctx context.Context) (*http.Request, error) {
	next := req.Clone(ctx)
	if req.GetBody != nil {
		body, err := req.GetBody()
		if err != nil {
			return nil, err
		}
		next.Body = body
	}
	return next, nil
}

// send is one attempt on the wire: the host's guards (breaker, rate limit)
// passed, the attempt's watch armed for the wait for headers, the attempt
// reported to the observers, the round trip, and the jar updated from the
// response. A failure is returned classified, so the retry policy sees its
// kind; the watch is stopped then. The hedge stage (hedge.go) runs the same
// three steps for each copy, the exchanges side by side.
func (c *call) send(req *http.Request, n int) (*http.Response, *watch, error) {
	a, err := c.ready(req, n, 0)
	if err != nil {
		return nil, nil, err
	}
	resp, err := c.exchange(a)
	return c.received(a, resp, err)
}

// sending is an attempt between its start and its end.
type sending struct {
	g   guard
	req *http.Request // as sent: the attempt's context, the observers' headers
	w   *watch
	at  *attempt // nil unless observed
}

// ready passes the host's guards, arms the attempt's watch and reports its
// start. copyNo is 0 for a plain attempt, or the copy's number in a hedged
// try (from 1): a copy always gets a watch, whose cancel ends it, and the
// copies after the first are reported as hedges.
func (c *call) ready(req *http.Request, n, copyNo int) (sending, error) {
	s := c.s
	var a sending
	if s.limiters != nil || s.breakers != nil {
		var err error
		if a.g, err = c.guard(req); err != nil {
			closeBody(req) // never sent: closed as a sent one's would be
			return a, classify(c.ctx, err)
		}
	}
	if copyNo > 0 {
		a.req, a.w = c.armCopy(req)
	} else {
		a.req, a.w = c.arm(req)
	}
	if c.obs != nil {
		var err error
		if a.req, a.at, err = c.startAttempt(a.req, n, copyNo > 1); err != nil {
			a.g.unsent()
			closeBody(req)
			a.w.stop()
			return a, err
		}
	}
	c.sent++ // ready: reported and about to be sent (hedged copies too)
	return a, nil
}

// exchange is the attempt's round trip. It touches nothing of the call's
// but what it reads, so hedged copies run it side by side.
func (c *call) exchange(a sending) (*http.Response, error) {
	if c.auth != nil && !c.stripped {
		// A token or Digest answer per attempt; each round trip it takes
		// has its own wait for headers.
		return c.auth.roundTrip(a.req, func(r *http.Request) (*http.Response, error) {
			a.w.rearm()
			return c.s.roundTrip(r)
		})
	}
	return c.s.roundTrip(a.req)
}

// received ends the attempt's wait for headers and tells its guards and
// observers how it went: resp, with its watch, or err classified.
func (c *call) received(a sending, resp *http.Response, err error) (*http.Response, *watch, error) {
	if a.w != nil {
		a.w.headersIn()
	}
	if err != nil {
		err = classifyAttempt(c.ctx, a.req.Context(), err)
		a.g.after(nil, err)
		if a.at != nil {
			a.at.done(nil, 0, err)
		}
		a.w.stop()
		return nil, nil, err
	}
	a.g.after(resp, nil)
	if a.at != nil {
		resp = a.at.end(resp)
	}
	return resp, a.w, nil
}

// classifyAttempt gives an attempt's error its kind: a timeout of the
// attempt's own (its read timeout fired while the call's context is still
// live) is ErrReadTimeout, which the policy may retry; anything else is
// classified against the call's context.
func classifyAttempt(callCtx, attemptCtx context.Context, err error) error {
	if callCtx.Err() == nil && attemptCtx != callCtx && errors.Is(context.Cause(attemptCtx), ErrReadTimeout) {
		return wrapKind(ErrReadTimeout, "", err)
	}
	return classify(callCtx, err)
}

// roundTrip is one round trip through the middleware and the transport,
// with the response completed where a RoundTripper of the caller's left
// out what net/http's always sets, and the jar updated.
func (s *Session) roundTrip(req *http.Request) (*http.Response, error) {
	resp, err := s.rt.RoundTrip(req)
	if err != nil {
		if resp != nil && resp.Body != nil {
			resp.Body.Close()
		}
		return nil, err
	}
	if resp == nil {
		return nil, errorf(ErrInvalidResponse, "transport returned neither a response nor an error")
	}
	if resp.Body == nil {
		if resp.ContentLength > 0 && req.Method != http.MethodHead {
			return nil, errorf(ErrInvalidResponse, "transport returned no body with a Content-Length")
		}
		resp.Body = http.NoBody
	}
	if resp.Request == nil {
		resp.Request = req
	}
	if resp.Header == nil {
		resp.Header = http.Header{}
	}
	if s.jar != nil && len(resp.Header["Set-Cookie"]) > 0 {
		s.jar.SetCookies(req.URL, resp.Cookies())
	}
	return resp, nil
}

// answer ends the hop with resp, the final answer of its attempts: handed
// back unread when the cache's plan takes it (a 304 that confirms the
// stored response, an error a stale one stands in for), else made the
// final Response with the plan's fill layer, if it stores resp.
func (c *call) answer(resp *http.Response, w *watch, plan *cachePlan) (hopResult, error) {
	fill, stored, cached := plan.take(resp)
	if cached {
		return hopResult{resp: resp, w: w, cached: true}, nil
	}
	final, err := c.finish(resp, w, fill)
	if err != nil {
		return hopResult{}, err
	}
	return hopResult{final: final, stored: stored}, nil
}

// redirect ends the hop with resp, a redirect to follow: the chain drains
// its body, through the cache's fill layer when the plan stores it.
func (c *call) redirect(resp *http.Response, w *watch, plan *cachePlan) hopResult {
	fill, stored, _ := plan.take(resp) // a redirect is never the cache's own
	if fill != nil {
		fill.rc, resp.Body = resp.Body, fill
	}
	return hopResult{resp: resp, w: w, stored: stored}
}

// served ends a hop the cache answered from its store, nothing sent: resp
// is a redirect to follow, or made the final Response.
func (c *call) served(req *http.Request, resp *http.Response) (hopResult, hop, error) {
	if next, follow := c.nextHop(req, resp); follow {
		return hopResult{resp: resp}, next, nil
	}
	final, err := c.finish(resp, nil, nil)
	if err != nil {
		return hopResult{}, hop{}, err
	}
	return hopResult{final: final}, hop{}, nil
}

// finish makes the final Response of the call from resp: its body stack
// (with the cache's fill layer, if any), then (unless the request streams)
// the body read whole. A streamed body releases the call when it is closed.
func (c *call) finish(resp *http.Response, w *watch, fill *fillBody) (*Response, error) {
	r := &Response{Response: resp}
	if c.obs != nil && c.obs.trace {
		r.timings = c.obs.last
	}
	c.bodyStack(r, w, fill)
	if c.rc.stream {
		r.peekError()
		r.retries = c.retries
		r.elapsed = time.Since(c.start)
		return r, nil
	}
	err := r.buffer(resp.Body, c.s.cfg.limits.MaxResponseBytes)
	if w != nil {
		w.stop()
	}
	if err != nil {
		return nil, classifyAttempt(c.ctx, resp.Request.Context(), err)
	}
	r.retries = c.retries
	r.elapsed = time.Since(c.start)
	return r, nil
}
