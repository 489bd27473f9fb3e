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
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/reqivo/reqivo/internal/httpcache"
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
		if u := l.d.Use; u == httpcache.UseFresh || u == httpcache.UseStale || u == httpcache.UseStaleSWR {
			closeBody(req) // answered from the store: not sent
		}
		switch l.d.Use {
		case httpcache.UseFresh:
			return sc.serve(c, req, l.e, l.d, cacheHit, "")
		case httpcache.UseStale:
			return sc.serve(c, req, l.e, l.d, cacheStale, "")
		case httpcache.UseStaleSWR:
			sc.background(c, req, l)
			return sc.serve(c, req, l.e, l.d, cacheStale, "; detail=stale-while-revalidate")
		}
	}
	plan, sreq := sc.plan(c.s, req, &l)
	hr, next, err := c.hop(sreq, plan)
	switch {
	case err != nil && plan.staleIfError && req.Context().Err() == nil:
		return sc.serve(c, req, l.e, l.d, cacheStale, "; detail=stale-if-error")
	case err != nil:
		return hr, next, err
	case hr.cached && hr.resp.StatusCode == http.StatusNotModified:
		return sc.revalidated(c, req, &l, plan, hr)
	case hr.cached: // a server error the stale response stands in for
		discard(hr.resp)
		hr.w.stop()
		return sc.serve(c, req, l.e, l.d, cacheStale, "; detail=stale-if-error")
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

// sameOrigin is the origin check of invalidation (RFC 9111 4.4), as the
// session's other origin checks read it.
func sameOrigin(a, b *url.URL) bool { return originOf(a) == originOf(b) }

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
	for _, u := range httpcache.Invalidated(req.Method, req.URL, resp.StatusCode, resp.Header, sameOrigin) {
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
	base string             // the key of the URI (and credentials)
	key  string             // the entry's key: base, or its variant's
	e    *cacheEntry        // nil: a miss
	d    httpcache.Decision // what e allows, when found
	fwd  string             // the Cache-Status fwd parameter of a miss
}

// lookup finds the stored response for req, following a Vary index to the
// variant, and decides what it allows now. A request with validators of
// its own is not answered from the store.
func (sc *sessionCache) lookup(c *call, req *http.Request) (cacheLookup, error) {
	var attempt string
	if !c.stripped {
		attempt = sc.attemptIdentity(c.auth)
	}
	base, err := sc.baseKey(req.Context(), req.Method, req.URL, req.Host, req.Header, c.s.cfg.sensitive, attempt)
	if err != nil {
		return cacheLookup{}, err
	}
	l := cacheLookup{base: base, key: base, fwd: "fwd=uri-miss"}
	if httpcache.HasConditional(req.Header) {
		return l, nil
	}
	e := sc.get(c.s, req, base)
	if e != nil && e.kind == entryVaryIndex {
		if l.key, err = sc.variantKey(req.Context(), base, e.vary, req.Header, c.s.cfg.sensitive); err != nil {
			return cacheLookup{}, err
		}
		l.fwd = "fwd=vary-miss"
		if e = sc.get(c.s, req, l.key); e != nil && e.kind != entryResponse {
			e = nil
		}
	}
	if e == nil {
		return l, nil
	}
	l.e, l.d = e, httpcache.Decide(req.Header, &e.Stored, c.s.clock.now())
	l.fwd = "fwd=stale"
	if httpcache.ParseDirectives(req.Header).Has("no-cache") {
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

// serve answers the hop from the stored response e, as the policy decided
// on it (its age, and its lifetime for a hit), nothing sent: a redirect
// for the chain to follow, or the final Response through the body stack.
func (sc *sessionCache) serve(c *call, req *http.Request, e *cacheEntry, d httpcache.Decision, status, detail string) (hopResult, hop, error) {
	return sc.serveIn(c, req, e, d, status, detail, nil, servedIn{})
}

// servedResponse is the memory a served response is made in: the
// Response and its body's reader, one allocation.
type servedResponse struct {
	resp http.Response
	body entryBody
}

// servedIn is what a revalidation lends the response it serves: the 304's
// header map, which only the session holds once its body is closed (it
// becomes the served one's, its values kept where e has the same), and
// spare room for the values it lacks.
type servedIn struct {
	header http.Header
	spare  []string
}

// serveIn is serve, the response made in out (nil: a new one) and its
// header made of in's when it has one.
func (sc *sessionCache) serveIn(c *call, req *http.Request, e *cacheEntry, d httpcache.Decision, status, detail string, out *servedResponse, in servedIn) (hopResult, hop, error) {
	// This cache's Cache-Status member, made once: the notice's detail is
	// its parameters.
	var member string
	if status == cacheRevalidated {
		c.s.n.cacheRevalidate.Add(1)
		member = cacheStatusName + "; fwd=stale; fwd-status=304"
	} else {
		c.s.n.cacheHits.Add(1)
		ttl := strconv.FormatInt(int64((d.Lifetime-d.Age)/time.Second), 10)
		member = cacheStatusName + "; hit; ttl=" + ttl + detail
	}
	detail = strings.TrimPrefix(member, cacheStatusName+"; ")
	// The stored fields are shared (a memory store's decoded entry): the
	// response gets its own copy, made at once with Age and Cache-Status.
	age := strconv.FormatInt(int64(d.Age/time.Second), 10)
	cs := cacheStatusList(e.Header.Get("Cache-Status"), member)
	var h http.Header
	if in.header != nil {
		h = ownHeader(in.header, e.Header, in.spare, "Age", age, "Cache-Status", cs)
	} else {
		h = cloneHeader(e.Header, "Age", age, "Cache-Status", cs)
	}
	if out == nil {
		out = new(servedResponse)
	}
	resp := &out.resp
	*resp = http.Response{
		Status:        e.statusLine,
		StatusCode:    e.Status,
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
		out.body.Reset(e.body)
		resp.Body = &out.body
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
// unconditionally. The served response is made in the plan's memory and
// the 304's header map.
func (sc *sessionCache) revalidated(c *call, req *http.Request, l *cacheLookup, plan *cachePlan, hr hopResult) (hopResult, hop, error) {
	discard(hr.resp)
	hr.w.stop()
	if !httpcache.NotModifiedMatches(l.e.Header, hr.resp.Header) {
		sc.delete(c.s, req, l.key)
		return sc.forward(c, req, "fwd=stale")
	}
	got := c.s.clock.now()
	e, spare := sc.refresh(c.s, req, l, hr.resp.Header, plan.sent, got, true)
	return sc.serveIn(c, req, e, httpcache.Decision{Age: e.Age(got)}, cacheRevalidated, "",
		&plan.cond.out, servedIn{header: hr.resp.Header, spare: spare})
}

// refresh stores the stored response of l updated by a 304's header, got
// at got for a request sent at sent, and returns it. l's entry is left as
// it is (a memory store's is shared); the new one is handed to a memory
// store decoded, so the next hit decodes nothing. When serving, spare is
// room for the values of the served header, made with the entry's.
func (sc *sessionCache) refresh(s *Session, req *http.Request, l *cacheLookup, notModified http.Header, sent, got time.Time, serving bool) (e *cacheEntry, spare []string) {
	old := l.e
	h, spare := httpcache.Updated(old.Header, notModified, serving)
	cc := old.CC // parsed again only when the 304 changed them
	if !slices.Equal(h["Cache-Control"], old.Header["Cache-Control"]) {
		cc = httpcache.ParseDirectives(h)
	}
	e = &cacheEntry{kind: entryResponse, statusLine: old.statusLine}
	e.Stored = httpcache.Stored{Status: old.Status, Header: h, CC: cc, Date: httpcache.ResponseDate(h, got),
		ReqTime: sent, RespTime: got}
	ttl := keepFor(&e.Stored)
	if m, ok := sc.store.(*memoryCache); ok {
		e.body = old.body // read only, so shared with the old entry
		m.set(l.key, nil, ttl, e)
		return e, spare
	}
	value := encodeEntry(entryResponse, &e.Stored, old.body)
	end := len(value) - entryTrailer
	e.body = value[end-len(old.body) : end] // the body is the entry's last part
	sc.put(s, req, l.key, value, ttl)
	return e, spare
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

// cacheStatusName names this cache in Cache-Status (RFC 9211).
const cacheStatusName = "reqivo"

// appendCacheStatus adds this cache's member, with params, to the
// Cache-Status list of h.
func appendCacheStatus(h http.Header, params string) {
	h["Cache-Status"] = []string{cacheStatusList(h.Get("Cache-Status"), cacheStatusName+"; "+params)}
}

// cacheStatusList is the Cache-Status list old with member added: the
// cache nearest the user comes last.
func cacheStatusList(old, member string) string {
	if old == "" {
		return member
	}
	return old + ", " + member
}

// cloneHeader returns a copy of h with each field of set (name and value
// pairs) set to that one value: one map sized for them all, and one
// allocation for all the values.
func cloneHeader(h http.Header, set ...string) http.Header {
	values := len(set) / 2
	for _, vs := range h {
		values += len(vs)
	}
	c := make(http.Header, len(h)+len(set)/2)
	all := make([]string, 0, values)
	for k, vs := range h {
		if vs == nil {
			c[k] = nil // as Header.Clone keeps it
			continue
		}
		n := len(all)
		all = append(all, vs...)
		c[k] = all[n:len(all):len(all)]
	}
	for i := 0; i+1 < len(set); i += 2 {
		all = append(all, set[i+1])
		c[set[i]] = all[len(all)-1 : len(all) : len(all)]
	}
	return c
}

// ownHeader makes h, a header map no one else holds, a copy of stored with
// the fields of set (name, value pairs): the fields stored lacks are
// removed, and the values h does not already hold are copied into spare
// (or one allocation, if it is too small), none shared with stored.
func ownHeader(h, stored http.Header, spare []string, set ...string) http.Header {
	for k := range h {
		if _, ok := stored[k]; !ok {
			delete(h, k)
		}
	}
	own := func(k string, vs []string) bool { // h holds vs already
		hv, ok := h[k]
		return ok && (hv == nil) == (vs == nil) && slices.Equal(hv, vs)
	}
	values := len(set) / 2
	for k, vs := range stored {
		if !own(k, vs) {
			values += len(vs)
		}
	}
	all := spare[:0:cap(spare)]
	if cap(all) < values {
		all = make([]string, 0, values)
	}
	for k, vs := range stored {
		switch {
		case own(k, vs):
		case vs == nil:
			h[k] = nil
		default:
			n := len(all)
			all = append(all, vs...)
			h[k] = all[n:len(all):len(all)]
		}
	}
	for i := 0; i+1 < len(set); i += 2 {
		all = append(all, set[i+1])
		h[set[i]] = all[len(all)-1 : len(all) : len(all)]
	}
	return h
}

// entryBody reads a stored body (read only, never closed for good).
type entryBody struct{ bytes.Reader }

func (*entryBody) Close() error { return nil }

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
func keepFor(m *httpcache.Stored) time.Duration {
	life, _ := m.Lifetime()
	cc := m.CC
	var extra time.Duration
	if v, _, ok := cc.Seconds("stale-while-revalidate"); ok {
		extra = v
	}
	if v, _, ok := cc.Seconds("stale-if-error"); ok {
		extra = max(extra, v)
	}
	if m.Header.Get("ETag") != "" || m.Header.Get("Last-Modified") != "" {
		extra = max(extra, keepValidatable)
	}
	// The Age the response came with counts against it; the apparent age
	// from Date is left out (it costs a date parse per store, and a TTL
	// a little long only keeps an entry the policy will call stale).
	return max(life-httpcache.ParseAge(m.Header.Get("Age")), 0) + extra + time.Second
}
