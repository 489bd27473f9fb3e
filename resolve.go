// URL resolution: request URLs made absolute against the base URL, with a
// small cache of the resolutions a session repeats.

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
	r := base.ResolveReference(u)
	return r, checkAbsolute(r)
}
