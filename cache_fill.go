// Cache storing: the plan the cache's stage hands to a hop's attempts (how
// their answer is stored, and which answers are the cache's own), the fill
// layer the body stack reads a stored body through, and the background
// revalidation of stale-while-revalidate, sent as any attempt is.

package reqivo

import (
	"context"
	"io"
	"net/http"
	"time"

	"github.com/reqivo/reqivo/internal/httpcache"
)

// CacheEntryLimit is implemented by a Cache that keeps no value over a
// size. A session then stops copying a response into its entry, and gives
// up storing it, as soon as the entry would pass that size (or
// DefaultMaxCacheEntryBytes of body, whichever comes first), instead of
// holding the bytes of a long body for a store that will refuse them.
type CacheEntryLimit interface {
	// MaxEntryBytes is the size of the largest value the store keeps.
	MaxEntryBytes() int64
}

// cachePlan is what the cache's stage leaves to the attempts of one hop
// (see call.answer): how their answer is stored, and which answers are
// the cache's own. It is made per hop and read only.
type cachePlan struct {
	sc   *sessionCache
	s    *Session
	req  *http.Request // as looked up: its method and header decide storing and Vary
	base string        // the lookup's base key
	sent time.Time

	validating   bool // the attempts ask the origin to confirm the stored response: a 304 is the cache's
	staleIfError bool // a server error is answered with the stored response

	cond *conditional // nil unless a response is stored
}

// conditional is what a plan holds when a response is stored, in the
// plan's own allocation (see plan): a miss does not carry it.
type conditional struct {
	// req is the request the attempts send: the plan's req with the stored
	// response's validators (in validators).
	req        http.Request
	validators [2]string
	// out is where the response a 304 confirms is served from (see
	// revalidated).
	out servedResponse
}

// plan is how the hop's answer to req is stored, and the request the
// attempts send: req itself, or (with a stored response) a copy that asks
// the origin to confirm it.
func (sc *sessionCache) plan(s *Session, req *http.Request, l *cacheLookup) (*cachePlan, *http.Request) {
	if l.e == nil {
		p := &cachePlan{sc: sc, s: s, req: req, base: l.base, sent: s.clock.now()}
		return p, req
	}
	both := &struct {
		cachePlan
		conditional
	}{}
	p, c := &both.cachePlan, &both.conditional
	*p = cachePlan{sc: sc, s: s, req: req, base: l.base, sent: s.clock.now(), staleIfError: l.d.StaleIfError, cond: c}
	// A copy with its own header map, the validators added: req (the
	// caller's Response.Request, and what the next hop copies) stays
	// clean. The values are req's: nothing below the cache's stage
	// changes a request's values in place (middleware must not).
	inm, ims := httpcache.Validators(l.e.Header)
	c.validators = [2]string{inm, ims}
	c.req = *req
	c.req.Header = make(http.Header, len(req.Header)+2)
	for k, vs := range req.Header {
		c.req.Header[k] = vs
	}
	if inm != "" {
		c.req.Header["If-None-Match"] = c.validators[0:1:1]
	}
	if ims != "" {
		c.req.Header["If-Modified-Since"] = c.validators[1:2:2]
	}
	p.validating = inm != "" || ims != ""
	return p, &c.req
}

// take is what the plan makes of resp, the answer of the hop's attempts:
// cached when the cache answers in its place (the hop hands resp back
// unread); else the fill layer that stores its body as the body stack
// reads it (nil: none), and whether it is stored (at once when it has no
// body, else by the layer at its end). A nil plan takes nothing.
func (p *cachePlan) take(resp *http.Response) (fill *fillBody, stored, cached bool) {
	switch {
	case p == nil:
		return nil, false, false
	case p.validating && resp.StatusCode == http.StatusNotModified,
		p.staleIfError && serverError(resp.StatusCode):
		return nil, false, true
	case !httpcache.Storable(p.req.Method, p.req.Header, resp.StatusCode, resp.Header),
		streaming(resp.Header.Get("Content-Type")):
		return nil, false, false
	}
	fill, stored = p.store(resp)
	return fill, stored, false
}

// store stores resp, or returns the layer that stores it once its body
// has been read to the end; the body is appended to the entry as it
// streams, with no second copy.
func (p *cachePlan) store(resp *http.Response) (*fillBody, bool) {
	s, sc, req := p.s, p.sc, p.req
	got := s.clock.now()
	// resp.Header as it is now: encodeHead copies what is stored of it
	// (not the hop-by-hop fields, nor Set-Cookie) into the entry at once.
	m := httpcache.NewStored(resp.StatusCode, resp.Header, p.sent, got)
	ttl := keepFor(&m)
	key := p.base
	if names := sc.variantNames(p.base, resp.Header); len(names) > 0 {
		var err error
		if key, err = sc.variantKey(req.Context(), p.base, names, req.Header, s.cfg.sensitive); err != nil {
			return nil, false
		}
		sc.put(s, req, p.base, encodeVaryIndex(names, got), ttl)
	}
	if req.Method == http.MethodHead || resp.Body == nil || resp.Body == http.NoBody {
		sc.put(s, req, key, encodeEntry(entryResponse, &m, nil), ttl)
		return nil, true
	}
	if resp.ContentLength > int64(sc.maxEntry) {
		return nil, false
	}
	hint := 512
	if resp.ContentLength >= 0 {
		hint = int(resp.ContentLength)
	}
	buf := encodeHead(entryResponse, &m, hint)
	limit := int64(len(buf)+sc.maxEntry) + entryTrailer
	if l, ok := sc.store.(CacheEntryLimit); ok {
		limit = min(limit, l.MaxEntryBytes())
	}
	if resp.ContentLength >= 0 && int64(len(buf)+hint+entryTrailer) > limit {
		return nil, false // declared too long for the store
	}
	return &fillBody{p: p, key: key, ttl: ttl, buf: buf, limit: limit}, true
}

// fillBody passes a body on and appends what it reads to an entry; at EOF
// it stores the entry, once. A body read only in part is not stored; nor
// is one whose entry would pass the limit, and its bytes are let go as
// soon as it would.
type fillBody struct {
	rc    io.ReadCloser // set by the body stack
	p     *cachePlan    // nil once stored or given up
	key   string
	ttl   time.Duration
	buf   []byte
	limit int64 // of the entry's bytes, trailer included
}

func (b *fillBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if b.p == nil {
		return n, err
	}
	need := len(b.buf) + n
	if int64(need+entryTrailer) > b.limit {
		b.p, b.buf = nil, nil
		return n, err
	}
	if need+entryTrailer > cap(b.buf) {
		// Grown by doubling, but never past the limit.
		nb := make([]byte, len(b.buf), min(max(2*cap(b.buf), need+entryTrailer), int(b.limit)))
		copy(nb, b.buf)
		b.buf = nb
	}
	b.buf = append(b.buf, p[:n]...)
	if err == io.EOF {
		pl, buf := b.p, b.buf
		b.p, b.buf = nil, nil
		pl.sc.put(pl.s, pl.req, b.key, finishEntry(buf), b.ttl)
	}
	return n, err
}

func (b *fillBody) Close() error {
	b.p, b.buf = nil, nil
	return b.rc.Close()
}

// background revalidates the stored response of l once, out of band, for
// stale-while-revalidate: on a call of its own, through the hop's attempts
// as any request (the host's guards, the watch, the observers, the retry
// policy). A second one for the same key while one is in flight does
// nothing.
func (sc *sessionCache) background(c *call, req *http.Request, l cacheLookup) {
	sc.bgMu.Lock()
	if sc.bgKeys[l.key] || sc.bgCtx.Err() != nil {
		sc.bgMu.Unlock()
		return
	}
	sc.bgKeys[l.key] = true
	sc.bgWG.Add(1)
	sc.bgMu.Unlock()

	// The request's context values (a trace) without its end: the hit is
	// returned at once. Session.Close cancels it.
	ctx, cancel := context.WithCancel(context.WithoutCancel(req.Context()))
	stop := context.AfterFunc(sc.bgCtx, cancel)
	bc := c.outOfBand(ctx, req.Method)
	// req is the caller's once the stale hit is returned (its
	// Response.Request): the goroutine reads only its own copies.
	plan, sreq := sc.plan(c.s, req.Clone(bc.ctx), &l)
	go func() {
		defer func() {
			bc.release(nil)
			stop()
			cancel()
			sc.bgMu.Lock()
			delete(sc.bgKeys, l.key)
			sc.bgMu.Unlock()
			sc.bgWG.Done()
		}()
		sc.revalidate(bc, plan, &l, sreq)
	}()
}

// revalidate sends sreq, the conditional request of plan, through the
// hop's attempts on bc, and stores what comes back: the stored response of
// l confirmed by a 304, or the new response (its fill layer stores it as
// the hop reads it).
func (sc *sessionCache) revalidate(bc *call, plan *cachePlan, l *cacheLookup, sreq *http.Request) {
	s, req := bc.s, plan.req
	hr, _, err := bc.hop(sreq, plan)
	switch {
	case err != nil:
		s.notice(req, Notice{Kind: NoticeCacheError, Detail: "background revalidation failed", Err: err})
	case hr.cached:
		discard(hr.resp)
		hr.w.stop()
		if hr.resp.StatusCode == http.StatusNotModified && httpcache.NotModifiedMatches(l.e.Header, hr.resp.Header) {
			sc.refresh(s, req, l, hr.resp.Header, plan.sent, s.clock.now(), false)
			s.n.cacheRevalidate.Add(1)
			s.notice(req, Notice{Kind: NoticeCacheRevalidated, Detail: "fwd=stale; fwd-status=304; detail=stale-while-revalidate"})
		}
	case hr.final == nil: // a redirect: stored (or not) as its body drains
		discard(hr.resp)
		hr.w.stop()
	}
}
