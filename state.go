// State: the run-time changeable part of a session (persistent headers,
// auth, manual cookies, hooks, bad settings), published as an immutable
// snapshot that each request loads once, and the setters that change it
// by copy-on-write.

package reqivo

import (
	"maps"
	"net/http"
	"slices"
)

// state is the run-time changeable part of a session. A published state is
// never modified: writers copy it, change the copy and publish that.
type state struct {
	header     http.Header
	auth       string      // the Authorization value, or ""
	digest     *digestAuth // SetDigestAuth; nil: none (auth is "" when set)
	cookies    []*http.Cookie
	onRequest  []func(*http.Request) error
	onResponse []func(*Response) error
	invalid    map[string]invalidSetting // bad persistent settings, keyed by what set them
	nInvalid   uint64                    // settings recorded in invalid so far, for their order
}

// invalidSetting is a bad persistent setting and when it was made.
type invalidSetting struct {
	err error
	seq uint64
}

// update publishes a changed copy of the state.
func (s *Session) update(f func(st *state)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := *s.state.Load()
	f(&st)
	s.state.Store(&st)
}

// setInvalid records that the setting key is bad (err) or good (nil).
func (st *state) setInvalid(key string, err error) {
	if err == nil && st.invalid[key].err == nil {
		return
	}
	st.invalid = maps.Clone(st.invalid)
	if err == nil {
		delete(st.invalid, key)
		return
	}
	if st.invalid == nil {
		st.invalid = map[string]invalidSetting{}
	}
	st.nInvalid++
	st.invalid[key] = invalidSetting{err: err, seq: st.nInvalid}
}

// firstInvalid returns the error of the most recent bad setting still in
// force, or nil.
func (st *state) firstInvalid() error {
	var last invalidSetting
	for _, v := range st.invalid {
		if v.seq >= last.seq {
			last = v
		}
	}
	return last.err
}

// SetHeader sets a persistent header. A name or value with CR, LF, NUL or
// another forbidden byte is not sent: requests fail with ErrInvalidHeader
// until the header is set again or deleted. A sensitive header (see
// WithSensitiveHeaders) is scoped like session auth: with a base URL, it
// goes only to the base URL's origin.
func (s *Session) SetHeader(key, value string) {
	err := validateHeaderField(key, value)
	err = bySetter("SetHeader", err)
	ck := http.CanonicalHeaderKey(key)
	s.update(func(st *state) {
		st.setInvalid("header "+ck, err)
		if err == nil {
			st.header = st.header.Clone()
			st.header[ck] = []string{value}
		}
	})
}

// DelHeader removes a persistent header.
func (s *Session) DelHeader(key string) {
	ck := http.CanonicalHeaderKey(key)
	s.update(func(st *state) {
		st.setInvalid("header "+ck, nil)
		st.header = st.header.Clone()
		delete(st.header, ck)
	})
}

// Header returns a copy of the persistent headers.
func (s *Session) Header() http.Header { return s.state.Load().header.Clone() }

// OnRequest adds a hook run once per request (not per redirect hop or
// retry), in the order added, after headers, auth and cookies are merged.
// The hook may change the request; what it leaves is checked as the
// caller's own input is. A hook is the caller's own code: if it points
// the request at another origin, what was merged for the first (auth,
// cookies) goes there too, and redirects are judged from there. An error
// from a hook stops the request before anything is sent and is the cause
// of the *RequestError the request returns, unchanged (see the kinds in
// errors.go).
func (s *Session) OnRequest(hook func(*http.Request) error) {
	if hook == nil {
		return
	}
	s.update(func(st *state) { st.onRequest = append(slices.Clip(st.onRequest), hook) })
}

// OnResponse adds a hook run once per request with the final response, in
// the order added. An error from a hook closes the response and is the
// cause of the *RequestError the request returns, unchanged.
func (s *Session) OnResponse(hook func(*Response) error) {
	if hook == nil {
		return
	}
	s.update(func(st *state) { st.onResponse = append(slices.Clip(st.onResponse), hook) })
}
