// Redirects: the chain of hops one request follows, and the rules that keep
// credentials from crossing origins on the way.

package reqivo

import (
	"io"
	"net/http"
	"net/url"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// chain is the redirect chain of one logical request: what decides the
// credentials and cookies of each hop. prepare starts it; the call's
// newHop moves it on.
type chain struct {
	credOK     bool   // session credentials and manual cookies went to the first hop
	first      origin // the first hop's origin
	stripped   bool   // the chain has left the first origin: sensitive headers are gone for good
	userCookie string // the Cookie header the caller set, before the jar's and the manual ones
	compress   bool   // the session asked for compression: it decodes the final body

	auth *attemptAuth // per-attempt auth (authplan.go) while the chain is not stripped; nil: none
}

// setCookies writes the Cookie header of a hop of ch: the caller's own
// (unless stripped), the manual cookies of st (while the chain has not
// left an origin they may go to), and the jar's for the hop's URL.
func (s *Session) setCookies(req *http.Request, st *state, c *chain) error {
	var b strings.Builder
	if c.userCookie != "" && !c.stripped {
		b.WriteString(c.userCookie)
	}
	var manual []*http.Cookie
	if c.credOK && !c.stripped {
		manual = st.cookies
	}
	for _, ck := range manual {
		if b.Len() > 0 {
			b.WriteString("; ")
		}
		b.WriteString(ck.Name)
		b.WriteByte('=')
		b.WriteString(cookieValue(ck.Value))
	}
	if s.jar != nil {
		for _, ck := range s.jar.Cookies(req.URL) {
			if hasCookie(manual, ck.Name) {
				continue // a cookie set by hand wins over the jar's
			}
			if b.Len() > 0 {
				b.WriteString("; ")
			}
			b.WriteString(ck.Name)
			b.WriteByte('=')
			b.WriteString(cookieValue(ck.Value))
		}
	}
	if b.Len() == 0 {
		delete(req.Header, "Cookie")
		return nil
	}
	v := b.String()
	if !httpguts.ValidHeaderFieldValue(v) {
		return errorf(ErrInvalidHeader, "bad Cookie header")
	}
	req.Header["Cookie"] = []string{v}
	return nil
}

func hasCookie(cs []*http.Cookie, name string) bool {
	for _, c := range cs {
		if c.Name == name {
			return true
		}
	}
	return false
}

// hop is where a redirect leads.
type hop struct {
	method   string
	url      *url.URL
	withBody bool
}

// nextHop reports whether resp is a redirect to follow and where to.
func (c *call) nextHop(req *http.Request, resp *http.Response) (hop, bool) {
	if c.s.cfg.maxRedirects == 0 {
		return hop{}, false
	}
	var h hop
	switch resp.StatusCode {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther:
		h.method = http.MethodGet
		if req.Method == http.MethodHead {
			h.method = http.MethodHead
		}
	case http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		h.method = req.Method
		h.withBody = true
		if req.GetBody == nil && req.Body != nil && req.Body != http.NoBody {
			// The body cannot be sent again: hand the 307/308 back, as
			// net/http does.
			return hop{}, false
		}
	default:
		return hop{}, false
	}
	loc := resp.Header.Get("Location")
	if loc == "" {
		return hop{}, false
	}
	u, err := req.URL.Parse(loc)
	if err != nil || checkAbsolute(u) != nil {
		// Only http and https targets with a host the caller could have
		// named are followed; the 3xx is the answer.
		return hop{}, false
	}
	h.url = u
	return h, true
}

// newHop builds the request for the next hop from the previous one.
func (c *call) newHop(prev *http.Request, next hop) (*http.Request, error) {
	hdr := prev.Header.Clone()
	delete(hdr, "Cookie")
	delete(hdr, "Proxy-Authorization") // never past the first hop
	if !c.stripped && originOf(next.url) != c.first {
		c.stripped = true
	}
	if c.stripped {
		for k := range c.s.cfg.sensitive {
			delete(hdr, k)
		}
	}
	delete(hdr, "Referer")
	if ref := referer(prev.URL, next.url); ref != "" {
		hdr["Referer"] = []string{ref}
	}
	req := &http.Request{
		Method:     next.method,
		URL:        next.url,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     hdr,
		Host:       next.url.Host,
	}
	if next.withBody && prev.GetBody != nil {
		body, err := prev.GetBody()
		if err != nil {
			return nil, err
		}
		req.Body, req.GetBody, req.ContentLength = body, prev.GetBody, prev.ContentLength
	} else {
		for k := range hdr {
			if strings.HasPrefix(k, "Content-") {
				delete(hdr, k)
			}
		}
	}
	req = req.WithContext(c.ctx)
	if err := c.s.setCookies(req, c.st, &c.chain); err != nil {
		return nil, err
	}
	return req, nil
}

// referer is the Referer for a hop from last to next: none from https to
// http, never with user information, and only the origin to another
// origin (as browsers' strict-origin-when-cross-origin), since a path or
// query may carry secrets.
func referer(last, next *url.URL) string {
	if last.Scheme == "https" && next.Scheme == "http" {
		return ""
	}
	r := *last
	r.User = nil
	r.Fragment, r.RawFragment = "", ""
	if originOf(last) != originOf(next) {
		r.Path, r.RawPath, r.RawQuery, r.ForceQuery = "/", "", "", false
	}
	return r.String()
}

// discard drains a little of a body so its connection can be reused, then
// closes it.
func discard(resp *http.Response) {
	const maxDrain = 64 << 10
	if resp.Body == http.NoBody { // a 304's, a HEAD's: nothing to drain
		return
	}
	_, _ = io.CopyN(io.Discard, resp.Body, maxDrain)
	resp.Body.Close()
}

func closeAll(rs []*http.Response) {
	for _, r := range rs {
		r.Body.Close()
	}
}
