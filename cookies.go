// Cookies: the session's jar (net/http/cookiejar with the public suffix
// list, guarded as cookiejar.go says) and the cookies set by hand, scoped
// like credentials.

package reqivo

import (
	"net/http"
	"slices"
	"strings"
)

// newJar is the session's default jar: net/http/cookiejar with the public
// suffix list, behind the prefix rules and caps of guardedJar
// (cookiejar.go).
func newJar() http.CookieJar {
	return newGuardedJar()
}

// SetCookie sets a cookie by hand, as Python requests' session.cookies[k] = v.
// It is sent like session credentials: with a base URL, only to the base
// URL's origin; without one, to the host of each request the caller makes,
// never to a redirect that leaves it. It replaces a jar cookie of the same
// name. An empty value deletes the cookie. A name that is not an HTTP token,
// or a value with bytes a cookie cannot carry (control bytes, bytes past
// ASCII, '"', ';', '\\'), is not sent: requests fail with ErrInvalidHeader
// until the cookie is set again or deleted.
func (s *Session) SetCookie(name, value string) {
	err := validateCookie("SetCookie", name, value)
	if value == "" {
		err = nil // deleting is always allowed, a badly named cookie included
	}
	s.update(func(st *state) {
		st.setInvalid("cookie "+name, err)
		st.cookies = slices.DeleteFunc(slices.Clone(st.cookies), func(c *http.Cookie) bool { return c.Name == name })
		if err == nil && value != "" {
			st.cookies = append(st.cookies, &http.Cookie{Name: name, Value: value})
		}
	})
}

// Cookies returns the cookies the session would send to rawURL: the jar's
// and those set by hand; "" means the base URL. A URL that does not parse
// has none.
func (s *Session) Cookies(rawURL string) []*http.Cookie {
	u, err := s.resolve(rawURL)
	if err != nil {
		return nil
	}
	st := s.state.Load()
	var out []*http.Cookie
	manual := st.cookies
	if !s.credentialsAllowed(u) {
		manual = nil
	}
	for _, c := range manual {
		out = append(out, &http.Cookie{Name: c.Name, Value: c.Value})
	}
	if s.jar != nil {
		for _, c := range s.jar.Cookies(u) {
			if !hasCookie(manual, c.Name) {
				out = append(out, c)
			}
		}
	}
	return out
}

// cookieValue quotes a value holding a space or a comma, as net/http does.
func cookieValue(v string) string {
	if strings.ContainsAny(v, " ,") {
		return "\"" + v + "\""
	}
	return v
}
