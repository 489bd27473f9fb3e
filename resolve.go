// URL resolution: request URLs made absolute under the base URL, path
// parameters filled in, and a small cache of the resolutions a session
// repeats.

package reqivo

import (
	"maps"
	"net/url"
	"strings"
)

// The cache of resolve keeps at most maxResolved URLs, each at most
// maxResolvedLen bytes long, so it holds under a MiB whatever the caller
// sends.
const (
	maxResolved    = 256
	maxResolvedLen = 1 << 10
)

// resolve turns a request URL into an absolute one. The URL returned is
// the caller's to change. Resolutions without user information or a query
// are cached (the first maxResolved of them): a session tends to call the
// same few URLs, and copying one costs less than parsing and resolving it.
func (s *Session) resolve(raw string) (*url.URL, error) {
	m := s.resolved.Load()
	if m != nil {
		if c, ok := (*m)[raw]; ok {
			u := *c
			return &u, nil
		}
	}
	u, err := s.resolveURL(raw)
	if err == nil && raw != "" && len(raw) <= maxResolvedLen && u.User == nil && u.RawQuery == "" && !u.ForceQuery &&
		(m == nil || len(*m) < maxResolved) { // full: no lock taken
		s.cacheResolved(raw, u)
	}
	return u, err
}

// resolvePath is resolve for a URL that may be a template ("users/{id}")
// whose {name} slots params fill (name, value pairs). The template itself
// is resolved, and cached under its own text, and the values are filled
// into the resolved path: a session calling one template with many values
// resolves it once, rather than filling the cache with the first values
// seen. A template that does not resolve as one (a slot outside the path)
// is filled first, and not cached.
func (s *Session) resolvePath(raw string, params []string) (*url.URL, error) {
	if len(params) == 0 && strings.IndexByte(raw, '{') < 0 {
		return s.resolve(raw)
	}
	filled, err := fillPath(raw, params) // a slot left unfilled is refused here
	if err != nil {
		return nil, err
	}
	t, err := s.resolve(raw)
	if err != nil {
		return s.resolveURL(filled)
	}
	ep := t.EscapedPath()
	for i := 0; i+1 < len(params); i += 2 {
		ep = strings.ReplaceAll(ep, escapedSlot(params[i]), escapeSegment(params[i+1]))
	}
	p, err := url.PathUnescape(ep)
	if err != nil {
		return s.resolveURL(filled)
	}
	t.Path, t.RawPath = p, ep
	return t, nil
}

// escapedSlot is the slot {name} as it stands in an escaped path.
func escapedSlot(name string) string {
	for i := 0; i < len(name); i++ {
		if c := name[i]; !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-' || c == '.') {
			return (&url.URL{Path: "{" + name + "}"}).EscapedPath()
		}
	}
	return "%7B" + name + "%7D"
}

// cacheResolved publishes a copy of the map of resolve with raw -> a copy
// of u added, unless it is full.
func (s *Session) cacheResolved(raw string, u *url.URL) {
	s.resolvedMu.Lock()
	defer s.resolvedMu.Unlock()
	var old map[string]*url.URL
	if m := s.resolved.Load(); m != nil {
		old = *m
	}
	if _, ok := old[raw]; ok || len(old) >= maxResolved {
		return
	}
	m := make(map[string]*url.URL, len(old)+1)
	maps.Copy(m, old)
	c := *u
	m[raw] = &c
	s.resolved.Store(&m)
}

// resolveURL is resolve without the cache.
func (s *Session) resolveURL(raw string) (*url.URL, error) {
	base := s.cfg.baseURL
	if raw == "" {
		if base == nil {
			return nil, errorf(ErrInvalidURL, "empty URL")
		}
		u := *base
		return &u, nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, wrapKind(ErrInvalidURL, "", redactParseError(err))
	}
	if u.Scheme != "" {
		return u, checkAbsolute(u)
	}
	if base == nil {
		return nil, errorf(ErrInvalidURL, "relative URL "+quote(redactURL(u))+" and no base URL")
	}
	if u.Host != "" || strings.HasPrefix(raw, "//") {
		return nil, errorf(ErrInvalidURL, "scheme-relative URL "+quote(redactURL(u))+" would leave the base URL's host")
	}
	return joinBase(base, u)
}

// fillPath fills the {name} segments of raw's path with params (name,
// value pairs), escaped; a {name} left in the path is ErrInvalidURL.
func fillPath(raw string, params []string) (string, error) {
	end := strings.IndexAny(raw, "?#")
	if end < 0 {
		end = len(raw)
	}
	p, rest := raw[:end], raw[end:]
	for i := 0; i+1 < len(params); i += 2 {
		p = strings.ReplaceAll(p, "{"+params[i]+"}", escapeSegment(params[i+1]))
	}
	if i := strings.IndexByte(p, '{'); i >= 0 {
		if j := strings.IndexByte(p[i:], '}'); j > 0 {
			return "", errorf(ErrInvalidURL, "path parameter "+quote(p[i:i+j+1])+" not filled")
		}
	}
	return p + rest, nil
}

// escapeSegment escapes v as one path segment: PathEscape, and the dot
// segments escaped too, which PathEscape leaves as they are.
func escapeSegment(v string) string {
	switch v {
	case ".":
		return "%2E"
	case "..":
		return "%2E%2E"
	}
	return url.PathEscape(v)
}

// joinBase puts the relative reference ref under base's path, as resty,
// req and httpx do: base https://h/v1 (with or without a trailing slash)
// and users or /users give https://h/v1/users. An empty path keeps the
// base's. Dot segments are resolved, but never climb above the base path.
func joinBase(base, ref *url.URL) (*url.URL, error) {
	bp := strings.TrimSuffix(base.EscapedPath(), "/")
	p := base.EscapedPath()
	if rp := ref.EscapedPath(); rp != "" {
		p = bp + "/" + strings.TrimPrefix(rp, "/")
	}
	if p == "" {
		p = "/"
	}
	pu, err := url.Parse(p)
	if err != nil || pu.Host != "" || pu.Scheme != "" {
		return nil, errorf(ErrInvalidURL, "bad path in "+quote(redactURL(ref)))
	}
	r := base.ResolveReference(&url.URL{Path: pu.Path, RawPath: pu.RawPath})
	if ep := r.EscapedPath(); ep != bp && !strings.HasPrefix(ep, bp+"/") {
		return nil, errorf(ErrInvalidURL, "relative URL "+quote(redactURL(ref))+" climbs above the base path")
	}
	r.RawQuery, r.ForceQuery = ref.RawQuery, ref.ForceQuery
	r.Fragment, r.RawFragment = ref.Fragment, ref.RawFragment
	return r, checkAbsolute(r)
}
