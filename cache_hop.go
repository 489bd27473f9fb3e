// Cache in the pipeline: what a session's cache does around the attempts
// of one redirect hop (look up, serve, revalidate, store, invalidate), and
// how it reports it (Response.CacheStatus, the Cache-Status header, Stats,
// log records).

package reqivo

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/reqivo/reqivo/internal/httpcache"
)

// cacheHop sends one redirect hop: through the cache when the session
// has one, else straight to the attempts.
func (c *call) cacheHop(req *http.Request) (hopResult, hop, error) {
	if c.s.cache == nil {
		return c.hop(req)
	}
	return c.s.cache.hop(c, req)
}

// cacheState is what the cache keeps in a call: the status of the latest
// hop, and the store to arrange when the attempts' answer is final.
type cacheState struct {
	fill func(resp *http.Response) // nil: store nothing
}

// fillFinal lets the cache copy the final response's wire bytes as the
// body stack reads them (see bodyStack).
func (c *call) fillFinal(resp *http.Response) {
	if c.cacheFill.fill != nil {
		c.cacheFill.fill(resp)
	}
}

// hop is the cache's side of one hop: look up before the attempts, serve
// or revalidate, store what comes back.
func (sc *sessionCache) hop(c *call, req *http.Request) (hopResult, hop, error) {
	s := c.s
	ctx := req.Context()
	c.retries = nil // a hit has no tries; the attempts set their own
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		hr, next, err := c.hop(req)
		if err == nil {
			resp := hr.response()
			attempt := ""
			if !c.stripped {
				attempt = sc.attemptIdentity(c.auth)
			}
			for _, u := range invalidated(req.Method, req.URL, resp.StatusCode, resp.Header) {
				sc.invalidate(ctx, s, u, req.Host, req.Header, attempt)
			}
			s.n.cacheMisses.Add(1)
			sc.mark(c, hr, cacheMiss, "fwd=method")
		}
		return hr, next, err
	}
	if _, ranged := req.Header["Range"]; ranged {
		return sc.forward(c, req, "fwd=request")
	}
	var attempt string
	if !c.stripped {
		attempt = sc.attemptIdentity(c.auth)
	}
	base, err := sc.baseKey(ctx, req.Method, req.URL, req.Host, req.Header, s.cfg.sensitive, attempt)
	if err != nil {
		s.logCache(ctx, slog.LevelWarn, "reqivo: cache secret unavailable", req, err)
		return sc.forward(c, req, "fwd=bypass")
	}
	var e *cacheEntry
	key := base
	fwd := "fwd=uri-miss"
	if !hasConditional(req.Header) {
		e, key, fwd = sc.lookup(ctx, s, base, req)
	}
	var d decision
	if e != nil {
		d = decide(req.Header, &e.storedMeta, s.clock.now())
		if d.use == useFresh || d.use == useStale || d.use == useStaleSWR {
			closeBody(req) // answered from the store: not sent
		}
		switch d.use {
		case useFresh:
			s.n.cacheHits.Add(1)
			return sc.serve(c, e, req, d.age, cacheHit, "hit; ttl="+ttlParam(e, d.age))
		case useStale:
			s.n.cacheHits.Add(1)
			return sc.serve(c, e, req, d.age, cacheStale, "hit; ttl="+ttlParam(e, d.age))
		case useStaleSWR:
			s.n.cacheHits.Add(1)
			var auth *attemptAuth
			if !c.stripped {
				auth = c.auth
			}
			sc.background(s, req, key, e, auth)
			return sc.serve(c, e, req, d.age, cacheStale, "hit; ttl="+ttlParam(e, d.age)+"; detail=stale-while-revalidate")
		}
		fwd = "fwd=stale"
		if parseDirectives(req.Header).has("no-cache") {
			fwd = "fwd=request"
		}
	}

	sreq := req
	validating := false
	if e != nil {
		e = e.clone()         // a memory store's decoded entry is shared: update a copy
		sreq = req.Clone(ctx) // the next hop copies req's header: keep it clean
		validating = conditional(sreq.Header, e.header)
	}
	sent := s.clock.now()
	stored := false
	c.cacheFill.fill = func(resp *http.Response) {
		if validating && resp.StatusCode == http.StatusNotModified {
			return
		}
		if storable(req.Method, req.Header, resp.StatusCode, resp.Header) {
			stored = sc.fill(ctx, s, req, base, resp, sent, s.clock.now())
		}
	}
	hr, next, err := c.hop(sreq)
	c.cacheFill.fill = nil
	if err != nil {
		if e != nil && d.staleIfError && ctx.Err() == nil {
			s.logCache(ctx, slog.LevelWarn, "reqivo: cache served stale on error", req, err)
			s.n.cacheHits.Add(1)
			return sc.serve(c, e, req, d.age, cacheStale, "hit; ttl="+ttlParam(e, d.age)+"; detail=stale-if-error")
		}
		return hr, next, err
	}
	resp := hr.response()
	got := s.clock.now()
	if e != nil && d.staleIfError && serverError(resp.StatusCode) {
		hr.drop()
		s.n.cacheHits.Add(1)
		return sc.serve(c, e, req, d.age, cacheStale, "hit; ttl="+ttlParam(e, d.age)+"; detail=stale-if-error")
	}
	if validating && resp.StatusCode == http.StatusNotModified {
		if !notModifiedMatches(e.header, resp.Header) {
			// A 304 for another representation than the stored one
			// (RFC 9111 4.3.4): ask again, unconditionally.
			hr.drop()
			sc.delete(ctx, s, key)
			return sc.forward(c, req, "fwd=stale")
		}
		mergeNotModified(e.header, resp.Header)
		e.reqTime, e.respTime, e.ccSet, e.dateSet = sent, got, false, false
		sc.put(ctx, s, key, encodeEntry(entryResponse, &e.storedMeta, e.body), keepFor(&e.storedMeta))
		hr.drop()
		s.n.cacheRevalidate.Add(1)
		return sc.serve(c, e, req, e.age(got), cacheRevalidated, "fwd=stale; fwd-status=304")
	}
	s.n.cacheMisses.Add(1)
	if hr.final == nil && storable(req.Method, req.Header, resp.StatusCode, resp.Header) {
		// A redirect to follow: its body is drained by the chain, which
		// completes the entry.
		stored = sc.fill(ctx, s, req, base, resp, sent, got)
	}
	if !stored && e != nil {
		sc.delete(ctx, s, key)
	}
	if stored {
		fwd += "; stored"
	}
	sc.mark(c, hr, cacheMiss, fwd)
	return hr, next, nil
}

// response is the hop's response: the final one's, or the redirect's.
func (hr hopResult) response() *http.Response {
	if hr.final != nil {
		return hr.final.Response
	}
	return hr.resp
}

// drop closes a hop's response the cache answers instead of. The call
// goes on (it is served from the store, or asks again): a streamed body
// ends its attempt, not the call's context.
func (hr hopResult) drop() {
	if hr.final != nil {
		body := hr.final.Body
		if p, ok := body.(*prefixedBody); ok {
			body = p.rest
		}
		if lb, ok := body.(*liveBody); ok {
			lb.once.Do(lb.w.stop)
		}
		hr.final.Close()
		return
	}
	discard(hr.resp)
	hr.w.stop()
}

// forward sends a hop the cache does not answer or store.
func (sc *sessionCache) forward(c *call, req *http.Request, fwd string) (hopResult, hop, error) {
	hr, next, err := c.hop(req)
	if err == nil {
		c.s.n.cacheMisses.Add(1)
		sc.mark(c, hr, cacheMiss, fwd)
	}
	return hr, next, err
}

// mark records what the cache did for the hop's response.
func (sc *sessionCache) mark(c *call, hr hopResult, status, detail string) {
	resp := hr.response()
	if hr.final != nil {
		hr.final.cacheStatus = status
	}
	if resp.Header == nil {
		resp.Header = http.Header{}
	}
	appendCacheStatus(resp.Header, detail)
	c.s.logCache(resp.Request.Context(), slog.LevelDebug, "reqivo: cache "+status, resp.Request, nil)
	c.notify(resp.Request, Notice{Kind: cacheNotice[status], Detail: detail})
}

// cacheNotice is the Notice kind of each cache status (see Observer).
var cacheNotice = map[string]NoticeKind{
	cacheHit:         NoticeCacheHit,
	cacheStale:       NoticeCacheStale,
	cacheRevalidated: NoticeCacheRevalidated,
	cacheMiss:        NoticeCacheMiss,
}

// appendCacheStatus adds this cache's member to the Cache-Status list
// (RFC 9211): the cache nearest the user comes last.
func appendCacheStatus(h http.Header, params string) {
	v := "reqivo; " + params
	if old := h.Get("Cache-Status"); old != "" {
		v = old + ", " + v
	}
	h["Cache-Status"] = []string{v}
}

func ttlParam(e *cacheEntry, age time.Duration) string {
	life, _ := e.lifetime()
	return strconv.FormatInt(int64((life-age)/time.Second), 10)
}

func serverError(status int) bool {
	switch status {
	case http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// lookup finds the stored response for req under base, following a Vary
// index to the variant. It returns the entry (nil on a miss), its key and
// the Cache-Status fwd parameter of a miss.
func (sc *sessionCache) lookup(ctx context.Context, s *Session, base string, req *http.Request) (*cacheEntry, string, string) {
	e := sc.get(ctx, s, base, req)
	if e == nil {
		return nil, base, "fwd=uri-miss"
	}
	if e.kind != entryVaryIndex {
		return e, base, ""
	}
	key, err := sc.variantKey(ctx, base, e.vary, req.Header, s.cfg.sensitive)
	if err != nil {
		return nil, base, "fwd=bypass"
	}
	if v := sc.get(ctx, s, key, req); v != nil && v.kind == entryResponse {
		return v, key, ""
	}
	return nil, key, "fwd=vary-miss"
}

// get reads and decodes one entry; a store error or a corrupt entry is a
// miss (a corrupt one is removed).
func (sc *sessionCache) get(ctx context.Context, s *Session, key string, req *http.Request) *cacheEntry {
	if m, ok := sc.store.(*memoryCache); ok {
		// The memory store keeps the decoded entry beside the bytes:
		// a hit decodes nothing.
		e, ok := m.getEntry(key)
		if !ok {
			return nil
		}
		if e == nil {
			s.logCache(ctx, slog.LevelWarn, "reqivo: cache entry corrupt, removed", req, errCorruptEntry)
		}
		return e
	}
	b, ok, err := sc.store.Get(ctx, key)
	if err != nil {
		s.logCache(ctx, slog.LevelWarn, "reqivo: cache get failed", req, err)
		return nil
	}
	if !ok {
		return nil
	}
	e, err := decodeEntry(b)
	if err != nil {
		s.logCache(ctx, slog.LevelWarn, "reqivo: cache entry corrupt, removed", req, err)
		sc.delete(ctx, s, key)
		return nil
	}
	return e
}

func (sc *sessionCache) delete(ctx context.Context, s *Session, key string) {
	if err := sc.store.Delete(ctx, key); err != nil {
		s.logCache(ctx, slog.LevelWarn, "reqivo: cache delete failed", nil, err)
	}
}

// put stores an encoded entry for as long as it may be of use.
func (sc *sessionCache) put(ctx context.Context, s *Session, key string, value []byte, ttl time.Duration) {
	if err := sc.store.Set(ctx, key, value, ttl); err != nil {
		s.logCache(ctx, slog.LevelWarn, "reqivo: cache set failed", nil, err)
	}
}

// keepValidatable is how long a stale response with a validator is kept
// for revalidation.
const keepValidatable = 24 * time.Hour

// keepFor is the TTL of a stored response: its freshness, plus the
// windows in which it may be served stale, plus a day to revalidate it
// when it has a validator.
func keepFor(m *storedMeta) time.Duration {
	life, _ := m.lifetime()
	cc := m.directives()
	var extra time.Duration
	if v, _, ok := cc.seconds("stale-while-revalidate"); ok {
		extra = v
	}
	if v, _, ok := cc.seconds("stale-if-error"); ok {
		extra = max(extra, v)
	}
	if m.header.Get("ETag") != "" || m.header.Get("Last-Modified") != "" {
		extra = max(extra, keepValidatable)
	}
	// The Age the response came with counts against it; the apparent age
	// from Date is left out (it costs a date parse per store, and a TTL
	// a little long only keeps an entry the policy will call stale).
	return max(life-parseAge(m.header.Get("Age")), 0) + extra + time.Second
}

// fill arranges for resp to be stored once its body has been read to
// the end; the body is appended to the entry as it streams, with no
// second copy. A body over the entry limit is not stored.
func (sc *sessionCache) fill(ctx context.Context, s *Session, req *http.Request, base string, resp *http.Response, sent, got time.Time) bool {
	// resp.Header as it is now: encodeHead copies what is stored of it
	// (not the hop-by-hop fields, nor Set-Cookie) into the entry at once.
	m := &storedMeta{status: resp.StatusCode, header: resp.Header, reqTime: sent, respTime: got}
	ttl := keepFor(m)
	key := base
	if names := sc.variantNames(base, resp.Header); len(names) > 0 {
		var err error
		if key, err = sc.variantKey(ctx, base, names, req.Header, s.cfg.sensitive); err != nil {
			return false
		}
		sc.put(ctx, s, base, encodeVaryIndex(names, got), ttl)
	}
	if req.Method == http.MethodHead || resp.Body == nil || resp.Body == http.NoBody {
		sc.put(ctx, s, key, encodeEntry(entryResponse, m, nil), ttl)
		return true
	}
	if resp.ContentLength > int64(sc.maxEntry) {
		return false
	}
	hint := 512
	if resp.ContentLength >= 0 {
		hint = int(resp.ContentLength)
	}
	resp.Body = &fillBody{
		rc:    resp.Body,
		buf:   encodeHead(entryResponse, m, hint),
		limit: sc.maxEntry,
		done: func(b []byte) {
			sc.put(ctx, s, key, finishEntry(b), ttl)
		},
	}
	return true
}

// fillBody passes a body on and appends what it reads to an entry; at EOF
// it hands the entry over, once. A body read only in part, or over the
// limit, is not stored.
type fillBody struct {
	rc    io.ReadCloser
	buf   []byte
	limit int
	read  int
	done  func([]byte) // nil once called or given up
}

func (b *fillBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if b.done != nil {
		b.read += n
		if b.read > b.limit {
			b.done, b.buf = nil, nil
		} else {
			b.buf = append(b.buf, p[:n]...)
		}
		if err == io.EOF && b.done != nil {
			done, buf := b.done, b.buf
			b.done, b.buf = nil, nil
			done(buf)
		}
	}
	return n, err
}

func (b *fillBody) Close() error {
	b.done, b.buf = nil, nil
	return b.rc.Close()
}

// serve answers the hop from a stored response: a redirect for the chain
// to follow, or the final Response through the body stack.
func (sc *sessionCache) serve(c *call, e *cacheEntry, req *http.Request, age time.Duration, status, detail string) (hopResult, hop, error) {
	h := e.header.Clone()
	h["Age"] = []string{strconv.FormatInt(int64(age/time.Second), 10)}
	appendCacheStatus(h, detail)
	resp := &http.Response{
		Status:        strconv.Itoa(e.status) + " " + http.StatusText(e.status),
		StatusCode:    e.status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        h,
		ContentLength: int64(len(e.body)),
		Body:          http.NoBody,
		Request:       req,
	}
	if req.Method == http.MethodHead {
		resp.ContentLength = -1
		if cl, err := strconv.ParseInt(h.Get("Content-Length"), 10, 64); err == nil {
			resp.ContentLength = cl
		}
	} else if len(e.body) > 0 {
		resp.Body = io.NopCloser(bytes.NewReader(e.body))
	}
	c.s.logCache(req.Context(), slog.LevelDebug, "reqivo: cache "+status, req, nil)
	c.notify(req, Notice{Kind: cacheNotice[status], Detail: detail})
	if next, follow := c.nextHop(req, resp); follow {
		return hopResult{resp: resp}, next, nil
	}
	final, err := c.finish(resp, nil)
	if err != nil {
		return hopResult{}, hop{}, err
	}
	final.cacheStatus = status
	return hopResult{final: final}, hop{}, nil
}

// invalidate removes the stored responses of u for the requester's
// credentials and for none (RFC 9111 4.4). Other users' entries, keyed by
// credentials this session cannot know, run out by their freshness.
func (sc *sessionCache) invalidate(ctx context.Context, s *Session, u *url.URL, host string, h http.Header, attempt string) {
	for _, m := range [...]string{http.MethodGet, http.MethodHead} {
		keys := [...]struct {
			h       http.Header
			attempt string
		}{{nil, ""}, {h, attempt}}
		for _, k := range keys {
			if key, err := sc.baseKey(ctx, m, u, host, k.h, s.cfg.sensitive, k.attempt); err == nil {
				sc.delete(ctx, s, key)
			}
		}
	}
}

// background revalidates key once, out of band, for
// stale-while-revalidate; a second call while one is in flight does
// nothing.
func (sc *sessionCache) background(s *Session, req *http.Request, key string, e *cacheEntry, auth *attemptAuth) {
	sc.bgMu.Lock()
	if sc.bgKeys[key] || sc.bgCtx.Err() != nil {
		sc.bgMu.Unlock()
		return
	}
	sc.bgKeys[key] = true
	sc.bgWG.Add(1)
	sc.bgMu.Unlock()

	// Bounded like a request: by the total timeout, or with none by the
	// read timeout (one round trip, nobody waiting on it).
	bound := s.cfg.timeouts.Total
	if bound <= 0 {
		bound = s.cfg.timeouts.Read
	}
	ctx, cancel := context.WithCancel(sc.bgCtx)
	if bound > 0 {
		cancel()
		ctx, cancel = context.WithTimeout(sc.bgCtx, bound)
	}
	// req is the caller's once the stale hit is returned (its
	// Response.Request): the goroutine reads only its own copies.
	breq := req.Clone(ctx)
	method, reqHdr := req.Method, breq.Header.Clone()
	req = breq
	conditional(breq.Header, e.header)
	go func() {
		defer func() {
			cancel()
			sc.bgMu.Lock()
			delete(sc.bgKeys, key)
			sc.bgMu.Unlock()
			sc.bgWG.Done()
		}()
		sent := s.clock.now()
		// One attempt, as send makes it: the host's guards (rate limit,
		// breaker), then the per-attempt auth the hop would get.
		var g guard
		if s.limiters != nil || s.breakers != nil {
			var err error
			if g, err = (&call{s: s, ctx: ctx}).guard(breq); err != nil { // unobserved: no notices
				s.logCache(ctx, slog.LevelDebug, "reqivo: cache background revalidation not sent", req, err)
				return
			}
		}
		var resp *http.Response
		var err error
		if auth != nil {
			resp, err = auth.roundTrip(breq, s.roundTrip)
		} else {
			resp, err = s.roundTrip(breq)
		}
		if err != nil {
			err = classify(ctx, err) // the breaker counts kinds, as for any attempt
		}
		g.after(resp, err)
		if err != nil {
			s.logCache(ctx, slog.LevelWarn, "reqivo: cache background revalidation failed", req, err)
			return
		}
		got := s.clock.now()
		switch {
		case resp.StatusCode == http.StatusNotModified && notModifiedMatches(e.header, resp.Header):
			discard(resp)
			m := e.storedMeta
			m.header = e.header.Clone()
			mergeNotModified(m.header, resp.Header)
			m.reqTime, m.respTime, m.ccSet, m.dateSet = sent, got, false, false
			sc.put(ctx, s, key, encodeEntry(entryResponse, &m, e.body), keepFor(&m))
			s.n.cacheRevalidate.Add(1)
		case storable(method, reqHdr, resp.StatusCode, resp.Header):
			_ = sc.fill(ctx, s, breq, trimVariant(key), resp, sent, got)
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, int64(sc.maxEntry)+1))
			resp.Body.Close()
		default:
			discard(resp)
		}
	}()
}

// trimVariant returns the base key of a variant key.
func trimVariant(key string) string {
	return httpcache.Base(key)
}

// logCache writes a cache record when the session has a logger.
func (s *Session) logCache(ctx context.Context, level slog.Level, msg string, req *http.Request, err error) {
	l := s.cfg.logger
	if l == nil || !l.Enabled(ctx, level) {
		return
	}
	attrs := make([]slog.Attr, 0, 3)
	if req != nil {
		attrs = append(attrs, slog.String("method", req.Method), slog.String("url", redactURL(req.URL)))
	}
	if err != nil {
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	l.LogAttrs(ctx, level, msg, attrs...)
}
