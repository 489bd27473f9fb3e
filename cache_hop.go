// Cache in the pipeline: the cache's stage of one redirect hop, around the
// hop's attempts. Its steps are separate functions: lookup (the stored
// response and what it allows), serve (answer from the store), plan (how
// the attempts' answer is stored, applied by the hop), revalidate (a 304
// confirms the stored response, in the hop or in the background) and
// invalidate. It writes no field of the call: the hop takes the plan and
// hands back what the plan took. Everything it does is reported through
// the observer seam (Notices), Response.CacheStatus, the Cache-Status
// header and Stats.

package reqivo

import (
	"bytes"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// hop is the cache's stage of one hop: look up before the attempts, serve
// or revalidate, store what comes back.
func (sc *sessionCache) hop(c *call, req *http.Request) (hopResult, hop, error) {
	switch {
	case req.Method != http.MethodGet && req.Method != http.MethodHead:
		return sc.unsafe(c, req)
	case streaming(req.Header.Get("Accept")):
		// An event or JSON Lines stream is live: never answered from the
		// store, never stored (as the WHATWG standard fetches one with
		// no-store).
		return sc.forward(c, req, "fwd=request; detail=stream")
	case len(req.Header["Range"]) > 0:
		return sc.forward(c, req, "fwd=request")
	}
	l, err := sc.lookup(c, req)
	if err != nil {
		c.s.notice(req, Notice{Kind: NoticeCacheError, Detail: "cache secret unavailable", Err: err})
		return sc.forward(c, req, "fwd=bypass")
	}
	if l.e != nil {
		if u := l.d.use; u == useFresh || u == useStale || u == useStaleSWR {
			closeBody(req) // answered from the store: not sent
		}
		switch l.d.use {
		case useFresh:
			return sc.serve(c, req, l, cacheHit, "")
		case useStale:
			return sc.serve(c, req, l, cacheStale, "")
		case useStaleSWR:
			sc.background(c, req, l)
			return sc.serve(c, req, l, cacheStale, "; detail=stale-while-revalidate")
		}
	}
	plan, sreq := sc.plan(c.s, req, l)
	hr, next, err := c.hop(sreq, plan)
	switch {
	case err != nil && plan.staleIfError && req.Context().Err() == nil:
		return sc.serve(c, req, l, cacheStale, "; detail=stale-if-error")
	case err != nil:
		return hr, next, err
	case hr.cached && hr.resp.StatusCode == http.StatusNotModified:
		return sc.revalidated(c, req, l, plan, hr)
	case hr.cached: // a server error the stale response stands in for
		discard(hr.resp)
		hr.w.stop()
		return sc.serve(c, req, l, cacheStale, "; detail=stale-if-error")
	}
	c.s.n.cacheMisses.Add(1)
	if !hr.stored && l.e != nil {
		sc.delete(c.s, req, l.key)
	}
	fwd := l.fwd
	if hr.stored {
		fwd += "; stored"
	}
	sc.mark(c.s, req, hr, cacheMiss, fwd)
	return hr, next, nil
}

// streaming reports whether an Accept field asks for a live stream: Server-
// Sent Events or JSON Lines.
func streaming(accept string) bool {
	for accept != "" {
		var t string
		t, accept, _ = cutByte(accept, ',')
		if mt, _, err := mime.ParseMediaType(t); err == nil && streamTypes[mt] {
			return true
		}
	}
	return false
}

// streamTypes are the media types of live streams, never stored.
var streamTypes = map[string]bool{
	"text/event-stream":     true,
	"application/x-ndjson":  true,
	"application/jsonl":     true,
	"application/jsonlines": true,
}

func cutByte(s string, sep byte) (before, after string, found bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == sep {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

// unsafe sends a request of an unsafe method, and removes what its answer
// says it changed (RFC 9111 4.4).
func (sc *sessionCache) unsafe(c *call, req *http.Request) (hopResult, hop, error) {
	hr, next, err := c.hop(req, nil)
	if err != nil {
		return hr, next, err
	}
	resp := hr.response()
	attempt := ""
	if !c.stripped {
		attempt = sc.attemptIdentity(c.auth)
	}
	for _, u := range invalidated(req.Method, req.URL, resp.StatusCode, resp.Header) {
		sc.invalidate(c.s, req, u, attempt)
	}
	c.s.n.cacheMisses.Add(1)
	sc.mark(c.s, req, hr, cacheMiss, "fwd=method")
	return hr, next, nil
}

// forward sends a hop the cache does not answer or store.
func (sc *sessionCache) forward(c *call, req *http.Request, fwd string) (hopResult, hop, error) {
	hr, next, err := c.hop(req, nil)
	if err == nil {
		c.s.n.cacheMisses.Add(1)
		sc.mark(c.s, req, hr, cacheMiss, fwd)
	}
	return hr, next, err
}

// cacheLookup is what the lookup found for a request.
type cacheLookup struct {
	base string      // the key of the URI (and credentials)
	key  string      // the entry's key: base, or its variant's
	e    *cacheEntry // nil: a miss
	d    decision    // what e allows, when found
	fwd  string      // the Cache-Status fwd parameter of a miss
}

// lookup finds the stored response for req, following a Vary index to the
// variant, and decides what it allows now. A request with validators of
// its own is not answered from the store.
func (sc *sessionCache) lookup(c *call, req *http.Request) (*cacheLookup, error) {
	var attempt string
	if !c.stripped {
		attempt = sc.attemptIdentity(c.auth)
	}
	base, err := sc.baseKey(req.Context(), req.Method, req.URL, req.Host, req.Header, c.s.cfg.sensitive, attempt)
	if err != nil {
		return nil, err
	}
	l := &cacheLookup{base: base, key: base, fwd: "fwd=uri-miss"}
	if hasConditional(req.Header) {
		return l, nil
	}
	e := sc.get(c.s, req, base)
	if e != nil && e.kind == entryVaryIndex {
		if l.key, err = sc.variantKey(req.Context(), base, e.vary, req.Header, c.s.cfg.sensitive); err != nil {
			return nil, err
		}
		l.fwd = "fwd=vary-miss"
		if e = sc.get(c.s, req, l.key); e != nil && e.kind != entryResponse {
			e = nil
		}
	}
	if e == nil {
		return l, nil
	}
	l.e, l.d = e, decide(req.Header, &e.storedMeta, c.s.clock.now())
	l.fwd = "fwd=stale"
	if parseDirectives(req.Header).has("no-cache") {
		l.fwd = "fwd=request"
	}
	return l, nil
}

// get reads and decodes one entry; a store error or a corrupt entry is a
// miss (a corrupt one is removed), reported as a NoticeCacheError.
func (sc *sessionCache) get(s *Session, req *http.Request, key string) *cacheEntry {
	if m, ok := sc.store.(*memoryCache); ok {
		// The memory store keeps the decoded entry beside the bytes:
		// a hit decodes nothing.
		e, ok := m.getEntry(key)
		if ok && e == nil {
			s.notice(req, Notice{Kind: NoticeCacheError, Detail: "corrupt entry removed", Err: errCorruptEntry})
		}
		return e
	}
	b, ok, err := sc.store.Get(req.Context(), key)
	if err != nil {
		s.notice(req, Notice{Kind: NoticeCacheError, Detail: "get failed", Err: err})
		return nil
	}
	if !ok {
		return nil
	}
	e, err := decodeEntry(b)
	if err != nil {
		s.notice(req, Notice{Kind: NoticeCacheError, Detail: "corrupt entry removed", Err: err})
		sc.delete(s, req, key)
		return nil
	}
	return e
}

// serve answers the hop from the stored response of l, nothing sent: a
// redirect for the chain to follow, or the final Response through the
// body stack.
func (sc *sessionCache) serve(c *call, req *http.Request, l *cacheLookup, status, detail string) (hopResult, hop, error) {
	e := l.e
	if status == cacheRevalidated {
		c.s.n.cacheRevalidate.Add(1)
		detail = "fwd=stale; fwd-status=304"
	} else {
		c.s.n.cacheHits.Add(1)
		detail = "hit; ttl=" + ttlParam(e, l.d.age) + detail
	}
	h := e.header.Clone()
	h["Age"] = []string{strconv.FormatInt(int64(l.d.age/time.Second), 10)}
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
	c.s.notice(req, Notice{Kind: cacheNotice[status], Detail: detail})
	hr, next, err := c.served(req, resp)
	if hr.final != nil {
		hr.final.cacheStatus = status
	}
	return hr, next, err
}

// revalidated ends a hop whose 304 the plan took: the stored response
// confirmed, updated and served; or, for a 304 about another
// representation than the stored one (RFC 9111 4.3.4), asked for again
// unconditionally.
func (sc *sessionCache) revalidated(c *call, req *http.Request, l *cacheLookup, plan *cachePlan, hr hopResult) (hopResult, hop, error) {
	discard(hr.resp)
	hr.w.stop()
	if !notModifiedMatches(l.e.header, hr.resp.Header) {
		sc.delete(c.s, req, l.key)
		return sc.forward(c, req, "fwd=stale")
	}
	got := c.s.clock.now()
	e := l.e.clone() // a memory store's decoded entry is shared: update a copy
	sc.refresh(c.s, req, l.key, &e.storedMeta, e.body, hr.resp.Header, plan.sent, got)
	return sc.serve(c, req, &cacheLookup{e: e, d: decision{age: e.age(got)}}, cacheRevalidated, "")
}

// refresh stores m, with body, updated by a 304's header got at got for a
// request sent at sent. m.header is updated in place.
func (sc *sessionCache) refresh(s *Session, req *http.Request, key string, m *storedMeta, body []byte, notModified http.Header, sent, got time.Time) {
	mergeNotModified(m.header, notModified)
	m.reqTime, m.respTime, m.ccSet, m.dateSet = sent, got, false, false
	sc.put(s, req, key, encodeEntry(entryResponse, m, body), keepFor(m))
}

// mark records what the cache did for the hop's response.
func (sc *sessionCache) mark(s *Session, req *http.Request, hr hopResult, status, detail string) {
	resp := hr.response()
	if hr.final != nil {
		hr.final.cacheStatus = status
	}
	if resp.Header == nil {
		resp.Header = http.Header{}
	}
	appendCacheStatus(resp.Header, detail)
	s.notice(req, Notice{Kind: cacheNotice[status], Detail: detail})
}

// response is the hop's response: the final one's, or the redirect's.
func (hr hopResult) response() *http.Response {
	if hr.final != nil {
		return hr.final.Response
	}
	return hr.resp
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

func (sc *sessionCache) delete(s *Session, req *http.Request, key string) {
	if err := sc.store.Delete(req.Context(), key); err != nil {
		s.notice(req, Notice{Kind: NoticeCacheError, Detail: "delete failed", Err: err})
	}
}

// put stores an encoded entry for as long as it may be of use.
func (sc *sessionCache) put(s *Session, req *http.Request, key string, value []byte, ttl time.Duration) {
	if err := sc.store.Set(req.Context(), key, value, ttl); err != nil {
		s.notice(req, Notice{Kind: NoticeCacheError, Detail: "set failed", Err: err})
	}
}

// invalidate removes the stored responses of u for the requester's
// credentials and for none (RFC 9111 4.4). Other users' entries, keyed by
// credentials this session cannot know, run out by their freshness.
func (sc *sessionCache) invalidate(s *Session, req *http.Request, u *url.URL, attempt string) {
	for _, m := range [...]string{http.MethodGet, http.MethodHead} {
		keys := [...]struct {
			h       http.Header
			attempt string
		}{{nil, ""}, {req.Header, attempt}}
		for _, k := range keys {
			if key, err := sc.baseKey(req.Context(), m, u, req.Host, k.h, s.cfg.sensitive, k.attempt); err == nil {
				sc.delete(s, req, key)
			}
		}
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
