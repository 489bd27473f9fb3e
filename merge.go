// Merge: the session's headers, auth and cookies applied to a request,
// then the OnRequest hooks, in the order the contract fixes.

package reqivo

import (
	"maps"
	"net/http"
	"slices"

	"golang.org/x/net/http/httpguts"
)

// prepare merges the session into req, which it owns: session headers,
// req's own headers over them, auth, cookies, then the OnRequest hooks.
// The WebSocket handshake goes through it; requests use merge, which also
// starts their redirect chain.
func (s *Session) prepare(req *http.Request, st *state) error {
	var ch chain
	return s.merge(req, st, "", &ch)
}

// merge is prepare with the Content-Type of a body option (or ""), which
// counts as one of req's own headers unless req has one, and the chain
// written to ch (which execute keeps on its stack).
func (s *Session) merge(req *http.Request, st *state, contentType string, ch *chain) error {
	// Sensitive session headers (an X-Api-Key set with SetHeader ...) are
	// credentials too: they are scoped as session auth.
	credOK := s.credentialsAllowed(req.URL)
	h := st.header.Clone()
	if !credOK {
		for k := range s.cfg.sensitive {
			delete(h, k)
		}
	}
	// The values merge adds share one allocation, each a slice of
	// capacity 1 of it: req.Header is the caller's to change (a hook, code
	// holding Response.Request), so none of its slices may be shared with
	// the session or another request.
	added := make([]string, 0, 3)
	add := func(k, v string) {
		added = append(added, v)
		n := len(added)
		h[k] = added[n-1 : n : n]
	}
	own := canonicalHeader(req.Header)
	for k, v := range own {
		h[k] = v
	}
	if contentType != "" {
		if _, ok := own["Content-Type"]; !ok {
			add("Content-Type", contentType)
		}
	}
	req.Header = h
	if _, ok := h["Authorization"]; !ok {
		if ui := req.URL.User; ui != nil {
			// Credentials in the URL are the caller's for that URL, as in
			// net/http and curl; they go no further than its origin.
			pass, _ := ui.Password()
			add("Authorization", basicAuthHeader(ui.Username(), pass))
		} else if credOK && st.auth != "" {
			add("Authorization", st.auth)
		}
	}
	if _, ok := h["Accept-Encoding"]; !ok {
		add("Accept-Encoding", s.cfg.compression.accept())
	}
	*ch = chain{s: s, st: st, credOK: credOK, first: originOf(req.URL), userCookie: h.Get("Cookie")}
	if err := ch.setCookies(req); err != nil {
		return err
	}
	if len(st.onRequest) > 0 {
		for _, hook := range st.onRequest {
			if err := hook(req); err != nil {
				return err
			}
		}
		// What the hooks leave is checked as the caller's own input is,
		// and the chain starts where it now points.
		req.Header = canonicalHeader(req.Header)
		if err := validateHeader(req.Header); err != nil {
			return err
		}
		if req.URL == nil {
			return errorf(ErrInvalidURL, "no URL after the OnRequest hooks")
		}
		if err := checkAbsolute(req.URL); err != nil {
			return err
		}
		ch.first = originOf(req.URL)
	}
	// One check for every Host, however it was set (Header("Host"), Do's
	// req.Host, a hook): net/http would send a bad one as no Host at all.
	if !httpguts.ValidHostHeader(req.Host) {
		return errorf(ErrInvalidHeader, "bad Host "+quote(req.Host))
	}
	return nil
}

// canonicalHeader returns h with every key in canonical form (values of
// keys that differ only in case joined, in sorted key order), or h itself
// when it already is. net/http lets a caller put any key in the map, but
// the merge and the redirect rules look names up canonically: a
// "authorization" key would be sent beside the session's Authorization
// and carried across origins.
func canonicalHeader(h http.Header) http.Header {
	clean := true
	for k := range h {
		if http.CanonicalHeaderKey(k) != k {
			clean = false
			break
		}
	}
	if clean {
		return h
	}
	out := make(http.Header, len(h))
	for _, k := range slices.Sorted(maps.Keys(h)) {
		ck := http.CanonicalHeaderKey(k)
		out[ck] = append(out[ck], h[k]...)
	}
	return out
}
