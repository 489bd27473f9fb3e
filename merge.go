// Merge: the session's headers, auth and cookies applied to a request,
// then the OnRequest hooks, in the order the contract fixes.

package reqivo

import (
	"maps"
	"net/http"
	"slices"

	"golang.org/x/net/http/httpguts"
)

// prepare is the preamble every request shares, the WebSocket handshake
// included: merge, the first hop's cookies, the OnRequest hooks, and the
// checks of what they leave. It writes req, which it owns, and returns
// the start of its redirect chain.
func (s *Session) prepare(req *http.Request, st *state, contentType string) (chain, error) {
	m := s.merge(req, st, contentType)
	req.Header = m.header
	ch := chain{credOK: m.credOK, first: originOf(req.URL), userCookie: m.header.Get("Cookie"), compress: m.compress}
	if err := s.setCookies(req, st, &ch); err != nil {
		return ch, err
	}
	if len(st.onRequest) > 0 {
		for _, hook := range st.onRequest {
			if err := hook(req); err != nil {
				return ch, err
			}
		}
		// What the hooks leave is checked as the caller's own input is,
		// and the chain starts where it now points.
		req.Header = canonicalHeader(req.Header)
		if err := validateHeader(req.Header); err != nil {
			return ch, err
		}
		if req.URL == nil {
			return ch, errorf(ErrInvalidURL, "no URL after the OnRequest hooks")
		}
		if err := checkAbsolute(req.URL); err != nil {
			return ch, err
		}
		ch.first = originOf(req.URL)
	}
	// One check for every Host, however it was set (Header("Host"), Do's
	// req.Host, a hook): net/http would send a bad one as no Host at all.
	if !httpguts.ValidHostHeader(req.Host) {
		return ch, errorf(ErrInvalidHeader, "bad Host "+quote(req.Host))
	}
	ch.auth = s.planAuth(req, st)
	return ch, nil
}

// merged is what merge makes of a request and a state snapshot.
type merged struct {
	header   http.Header // the headers to send, before cookies and hooks
	credOK   bool        // session credentials and manual cookies may go to the request's origin
	compress bool        // the session asked for compression: it decodes the body
}

// merge is a pure function of req's URL and headers, the snapshot st and
// the Content-Type of a body option (or ""), which counts as one of req's
// own headers unless req has one. Merge order: session headers (sensitive
// ones only where credentials may go), req's own over them, then auth.
// The session asks for compression unless the request set its own
// Accept-Encoding or asks for a Range, whose bytes a coding would shift
// (as net/http does).
func (s *Session) merge(req *http.Request, st *state, contentType string) merged {
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
	compress := false
	if _, ok := h["Accept-Encoding"]; !ok {
		if _, ranged := h["Range"]; !ranged {
			add("Accept-Encoding", s.cfg.compression.accept())
			compress = true
		}
	}
	return merged{header: h, credOK: credOK, compress: compress}
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
